import XCTest
@testable import Router

final class AbstentionTests: XCTestCase {
    static let tasks = ["add-or-sub", "compare", "conversion", "pronounce", "sort"]

    static let trained: (RouterModel, RouterMetrics) = {
        let train = SyntheticTasks.examples(tasks, perTask: 150, seed: 30)
        let valid = SyntheticTasks.examples(tasks, perTask: 40, seed: 31)
        return try! RouterTrainer.train(examples: train, validation: valid,
                                        background: SyntheticTasks.background(200, seed: 32), config: SyntheticTasks.config)
    }()

    func testTextUnlikeAnyTaskIsAbstainedOn() {
        let (model, metrics) = Self.trained
        let unlike = ["the children walked along the quiet lake while birds sang",
                      "her letter arrived late because the storm closed every station in town",
                      "an old man played in the sunny park near the road"]
        for text in unlike {
            let d = model.route(text)
            XCTAssertTrue(d.abstained, "\(text) → \(d)")
            XCTAssertNil(d.expert)
            XCTAssertFalse(d.usedFallback)
            XCTAssertNotNil(d.reason)
            XCTAssertEqual(d.top.count, 3, "closest candidates are still given")
            XCTAssertFalse(d.top.contains { $0.expert == RouterModel.backgroundLabel })
        }
        XCTAssertGreaterThanOrEqual(metrics.backgroundRejectRate ?? 0, 0.9)
        let inDomain = model.route("Sort 5, -3, 12 in ascending order.")
        XCTAssertFalse(inDomain.abstained)
        XCTAssertEqual(inDomain.expert, "sort")
        XCTAssertEqual(inDomain.confidence, inDomain.top[0].p)
        XCTAssertGreaterThanOrEqual(inDomain.confidence, model.threshold)
    }

    func testFallbackTakesAbstainedRequests() {
        let (model, _) = Self.trained
        let d = model.route("the old man walked slowly along the road", fallback: "generalist")
        XCTAssertEqual(d.expert, "generalist")
        XCTAssertTrue(d.abstained)
        XCTAssertTrue(d.usedFallback)
        let routed = model.route("Which is bigger: 3 or 8?", fallback: "generalist")
        XCTAssertEqual(routed.expert, "compare")
        XCTAssertFalse(routed.usedFallback)
    }

    func testThresholdOverrideAndEmptyRequest() {
        let (model, _) = Self.trained
        let sure = model.route("What is 12 + 30?")
        XCTAssertFalse(sure.abstained)
        let strict = model.route("What is 12 + 30?", threshold: 1.01)
        XCTAssertTrue(strict.abstained)
        XCTAssertEqual(strict.reason, .belowThreshold)
        XCTAssertEqual(strict.top, sure.top)
        let empty = model.route("   ")
        XCTAssertTrue(empty.abstained)
        XCTAssertEqual(empty.reason, .empty)
    }

    func testThresholdSelectorKeepsTheTargetShare() {
        let conf: [Float] = (0..<100).map { Float($0) / 100 }
        let t = ThresholdSelector.select(confidences: conf, targetAcceptance: 0.9)
        XCTAssertEqual(t, 0.10, accuracy: 1e-6)
        XCTAssertEqual(conf.filter { $0 >= t }.count, 90)
        XCTAssertEqual(ThresholdSelector.select(confidences: conf, targetAcceptance: 1), 0)
        XCTAssertEqual(ThresholdSelector.select(confidences: [], targetAcceptance: 0.99), 0)
    }
}

final class ThresholdSelectorTests: XCTestCase {
    func testEveryExpertWeighsTheSame() {
        // Expert 0: 1000 confident inputs; expert 1: 10 inputs, none as sure. Unweighted, refusing all of
        // expert 1 still accepts 99% of inputs; weighted, expert 1's 10 inputs count as much as expert 0's 1000.
        let conf: [Float] = [Float](repeating: 0.99, count: 1000) + [0.2, 0.3] + [Float](repeating: 0.9, count: 8)
        let groups = [Int](repeating: 0, count: 1000) + [Int](repeating: 1, count: 10)
        XCTAssertEqual(ThresholdSelector.select(confidences: conf, targetAcceptance: 0.99), 0.99)
        XCTAssertEqual(ThresholdSelector.select(confidences: conf, groups: groups, targetAcceptance: 0.99), 0.2)
        XCTAssertEqual(ThresholdSelector.select(confidences: conf, groups: groups, targetAcceptance: 0.95), 0.3)
        XCTAssertEqual(ThresholdSelector.select(confidences: conf, groups: groups, targetAcceptance: 0.9), 0.9)
    }
}
