import XCTest
import Foundation
import TensorCore
@testable import Router

final class PersistenceTests: XCTestCase {
    func testSaveLoadRoundTripGivesIdenticalScores() throws {
        let tasks = ["sort", "pronounce", "compare"]
        let (model, _) = try RouterTrainer.train(examples: SyntheticTasks.examples(tasks, perTask: 60, seed: 40),
                                                 validation: SyntheticTasks.examples(tasks, perTask: 10, seed: 41),
                                                 background: SyntheticTasks.background(30, seed: 42),
                                                 config: SyntheticTasks.config)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("router-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("router.safetensors").path
        try model.save(to: path)
        let loaded = try RouterModel.load(from: path)
        XCTAssertEqual(loaded.labels, model.labels)
        XCTAssertEqual(loaded.experts, model.experts)
        XCTAssertEqual(loaded.threshold, model.threshold)
        XCTAssertEqual(loaded.thresholdMethod, model.thresholdMethod)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertNotNil(model.novelty)
        XCTAssertEqual(loaded.novelty, model.novelty)
        for text in ["Sort 3, 1, 2.", "Pronounce castle.", "Which is bigger: 4 or 7?", "", "something else entirely"] {
            XCTAssertEqual(loaded.scores(text), model.scores(text))
            XCTAssertEqual(loaded.route(text), model.route(text))
        }
    }

    func testLoadRefusesOtherFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("router-bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("other.safetensors").path
        try SafeTensors.write(["x": Tensor(zeros: [2])], metadata: ["format": "something-else"], to: path)
        XCTAssertThrowsError(try RouterModel.load(from: path))
    }

    func testConfigDecodesWithMissingKeys() throws {
        let c = try JSONDecoder().decode(RouterConfig.self, from: Data(#"{"buckets": 1024, "dim": 8}"#.utf8))
        var expected = RouterConfig()
        expected.buckets = 1024
        expected.dim = 8
        // A config from before novelty and the near-domain background existed had neither: they decode as off.
        expected.noveltyBits = 0
        expected.nearDomainWeight = 0
        XCTAssertEqual(c, expected)
    }
}
