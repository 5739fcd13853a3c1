import XCTest
import Foundation
import TensorCore
@testable import Router

final class NoveltyTests: XCTestCase {
    /// Digits fold to '0', so a request of the same template with other numbers has no novel n-gram;
    /// another operation word has.
    func testNoveltyIsTheShareOfNeverSeenDigitFoldedNgrams() {
        let index = NoveltyIndex(inputs: [["What is 12 + 30?", "What is 45 + 67?"], ["Sort 1, 2, 3."]], bits: 1 << 16, minn: 2, maxn: 5)
        XCTAssertEqual(index.novelty("What is 98 + 10?", expert: 0), 0)
        XCTAssertEqual(index.novelty("What is 98 + 10?", expert: 1) > 0.5, true)
        let times = index.novelty("What is 98 times 10?", expert: 0)
        XCTAssertGreaterThan(times, 0.2)
        XCTAssertLessThan(times, 1)
        XCTAssertEqual(index.novelty("   ", expert: 0), 0)
        XCTAssertGreaterThan(index.fill(expert: 0), 0)
        XCTAssertLessThan(index.fill(expert: 0), 0.01)
    }

    /// Trained on synthetic tasks: each expert's threshold accepts its validation inputs (at least the floor),
    /// a near-domain request in a task's clothes is refused as novel, and the task's own requests are not.
    func testRouterRefusesNovelRequestsAndKeepsItsOwn() throws {
        let tasks = ["add-or-sub", "compare", "sort"]
        let valid = SyntheticTasks.examples(tasks, perTask: 40, seed: 51)
        var config = SyntheticTasks.config
        config.noveltyBits = 1 << 16
        let (model, metrics) = try RouterTrainer.train(examples: SyntheticTasks.examples(tasks, perTask: 150, seed: 50),
                                                       validation: valid, background: SyntheticTasks.background(100, seed: 52),
                                                       config: config)
        let thresholds = try XCTUnwrap(metrics.noveltyThresholds)
        XCTAssertEqual(Set(thresholds.keys), Set(tasks))
        for t in thresholds.values { XCTAssertGreaterThanOrEqual(t, Float(config.noveltyFloor)) }
        let novelty = try XCTUnwrap(model.novelty)
        let refusedValidation = valid.filter { model.route($0.input).reason == .novel }.count
        XCTAssertLessThanOrEqual(Double(refusedValidation) / Double(valid.count), 1 - config.noveltyTargetAcceptance + 1e-9)

        let own = model.route("What is 417 + 23?")
        XCTAssertFalse(own.abstained)
        XCTAssertEqual(own.expert, "add-or-sub")
        XCTAssertEqual(own.novelty, 0)
        // "Multiply" is no template of any task: whatever the classifier thinks, novelty refuses it.
        let near = "Multiply 417 and 23 together, then halve the product."
        let without = model.route(near, checkNovelty: false)
        let with = model.route(near)
        XCTAssertTrue(with.abstained, "\(with)")
        if !without.abstained {
            XCTAssertEqual(with.reason, .novel)
            let e = model.experts.firstIndex(of: without.expert!)!
            XCTAssertGreaterThan(with.novelty ?? 0, novelty.thresholds[e])
        }
        // Without a novelty index the router behaves as before.
        let plain = try model.withNovelty(nil)
        XCTAssertNil(plain.route("What is 417 + 23?").novelty)
        XCTAssertEqual(plain.route(near).abstained, without.abstained)
    }

    func testNoveltyIndexSurvivesSaveAndLoadAndOldFilesLoadWithout() throws {
        let tasks = ["sort", "compare"]
        var config = SyntheticTasks.config
        config.noveltyBits = 1 << 12
        let (model, _) = try RouterTrainer.train(examples: SyntheticTasks.examples(tasks, perTask: 50, seed: 60),
                                                 validation: SyntheticTasks.examples(tasks, perTask: 10, seed: 61),
                                                 background: [], config: config)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("novelty-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("router.safetensors").path
        try model.save(to: path)
        let loaded = try RouterModel.load(from: path)
        XCTAssertEqual(loaded.novelty, model.novelty)
        for text in ["Sort 3, 1, 2.", "Which is bigger: 4 or 7?", "Sort the table by its second column."] {
            XCTAssertEqual(loaded.route(text), model.route(text))
        }
        // A router saved before novelty existed: no index, and its config reads novelty as off.
        let old = try model.withNovelty(nil)
        try old.save(to: path)
        let reread = try RouterModel.load(from: path)
        XCTAssertNil(reread.novelty)
        XCTAssertNil(reread.route("Sort 3, 1, 2.").novelty)
    }

    func testBadNoveltySettingsAreNamed() {
        var c = RouterConfig()
        c.noveltyBits = 1000
        XCTAssertThrowsError(try c.validate()) { XCTAssert("\($0)".contains("noveltyBits"), "\($0)") }
        c = RouterConfig()
        c.noveltyFloor = 2
        XCTAssertThrowsError(try c.validate()) { XCTAssert("\($0)".contains("noveltyFloor"), "\($0)") }
        XCTAssertThrowsError(try NoveltyIndex(bits: 128, words: [0, 0, 0], thresholds: [0.1], minn: 2, maxn: 5))
    }

    /// The near-domain background joins the background class without taking generic text's share.
    func testNearDomainBackgroundJoinsTheBackgroundClass() throws {
        let tasks = ["add-or-sub", "sort"]
        var config = SyntheticTasks.config
        config.noveltyBits = 0
        config.nearDomainWeight = 1
        config.epochs = 20
        let near = (0..<60).map { "Multiply \($0) and \($0 + 3)." }
        let (model, metrics) = try RouterTrainer.train(examples: SyntheticTasks.examples(tasks, perTask: 200, seed: 70),
                                                       validation: SyntheticTasks.examples(tasks, perTask: 10, seed: 71),
                                                       background: SyntheticTasks.background(50, seed: 72), nearDomain: near, config: config)
        XCTAssertEqual(metrics.nearDomainUsed, metrics.usedPerExpert)
        XCTAssertEqual(metrics.backgroundUsed, metrics.usedPerExpert + metrics.usedPerExpert)
        XCTAssertEqual(model.route("Multiply 7 and 11.").reason, .unlikeAnyTask)
        let own = model.route("What is 417 + 523?")
        XCTAssertEqual(own.top.first?.expert, "add-or-sub")
        XCTAssertNotEqual(own.reason, .unlikeAnyTask)
    }
}
