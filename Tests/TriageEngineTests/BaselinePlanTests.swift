import XCTest
@testable import ExpertModel
@testable import TriageLab

final class BaselinePlanTests: XCTestCase {
    func record(steps: Int, flops: Double) -> TrainingRecord {
        TrainingRecord(steps: steps, seconds: 1, seed: 1, tokens: 0, trainExamples: 0, bestValidationAccuracy: 0, bestStep: 0,
                       finalLoss: 0, threads: 1, flops: flops)
    }

    func testSameSizeSumsTheExpertsStepsAndSameParamsMatchesTheirFLOPs() {
        var o = TrainingOptions(steps: 100, seed: 1)
        o.batchSize = 32
        let experts = ["a", "b", "c"].map {
            BaselinePlan.ExpertCompute(name: $0, config: .nano, options: o, record: record(steps: 100, flops: 1e12))
        }
        let same = BaselinePlan.sameSize(experts: experts)
        XCTAssertEqual(same.options.steps, 300)
        XCTAssertEqual(same.config, .nano)
        XCTAssertEqual(same.plannedFLOPs, 3e12)
        XCTAssertEqual(same.expertSet, ["a", "b", "c"])
        let big = BaselinePlan.sameParams(experts: experts)
        XCTAssertEqual(Double(big.config.parameterCount), Double(3 * ExpertConfig.nano.parameterCount), accuracy: 0.15 * Double(3 * ExpertConfig.nano.parameterCount))
        XCTAssertLessThan(big.options.steps!, 300, "a larger model gets fewer steps for the same FLOPs")
        XCTAssertTrue(same.matches(same))
        var moved = same
        moved.plannedFLOPs *= 1.01
        XCTAssertTrue(same.matches(moved), "FLOPs within 2% still match")
        moved.plannedFLOPs = same.plannedFLOPs * 1.05
        XCTAssertFalse(same.matches(moved))
    }
}
