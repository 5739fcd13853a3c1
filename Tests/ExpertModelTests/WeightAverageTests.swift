import XCTest
import TensorCore
@testable import ExpertModel

final class WeightAverageTests: XCTestCase {
    func testAverageIsTheWarmedUpMovingAverageAndSwapsBack() {
        let p = Parameter("w", Tensor(shape: [3], values: [1, 2, 3]))
        let average = WeightAverage([p], decay: 0.9)
        var expected: [Float] = [1, 2, 3]
        for step in 1...30 {
            for i in 0..<3 { p.value.storage.pointer[i] = Float(step * (i + 1)) }  // the "optimiser step"
            average.update()
            let d = min(Float(0.9), Float(1 + step) / Float(10 + step))
            for i in 0..<3 { expected[i] = d * expected[i] + (1 - d) * Float(step * (i + 1)) }
        }
        let live = p.value.values
        let inside = average.withAveragedWeights { p.value.values }
        for (a, b) in zip(inside, expected) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        XCTAssertEqual(p.value.values, live, "the live weights are back after validation")
        // A checkpoint round trip restores the same average.
        let other = WeightAverage([p], decay: 0.9)
        XCTAssertTrue(other.restore(average.stateTensors(), updates: average.updates))
        XCTAssertEqual(other.withAveragedWeights { p.value.values }, inside)
        XCTAssertFalse(other.restore([:], updates: 1))
    }

    /// With an average, an interrupted run resumes to the same weights and record as a straight one: the
    /// average, its update count and whether the kept weights are the average travel in the checkpoint.
    func testResumeWithAWeightAverageIsIdentical() throws {
        let train = reversalExamples(count: 500, seed: 1), valid = reversalExamples(count: 20, seed: 9)
        var opt = resumeTestOptions()
        opt.weightAverageDecay = 0.9
        let dir = NSTemporaryDirectory() + "average-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let straight = try Transformer(config: .nano, seed: 7)
        let full = try Trainer(model: straight, train: train, validation: valid, options: opt, checkpointPath: dir + "/a.ckpt").run()
        XCTAssertNotNil(full.bestIsAverage)

        let first = try Transformer(config: .nano, seed: 7)
        let t1 = try Trainer(model: first, train: train, validation: valid, options: opt, checkpointPath: dir + "/b.ckpt")
        let stopper = StopAtStep(23)
        stopper.trainer = t1
        _ = try t1.run(observer: stopper)
        XCTAssertEqual(stopper.averagedValidations, 2, "the average is validated at every validation")
        let resumed = try Transformer(config: .nano, seed: 99)
        let record = try Trainer(model: resumed, train: train, validation: valid, options: opt, checkpointPath: dir + "/b.ckpt").run(resume: true)
        XCTAssertEqual(record.bestIsAverage, full.bestIsAverage)
        XCTAssertEqual(record.bestStep, full.bestStep)
        XCTAssertEqual(record.bestValidationAccuracy, full.bestValidationAccuracy)
        for p in straight.parameters.all {
            XCTAssertEqual(p.value.values, resumed.parameters[p.name]!.value.values, p.name)
        }
    }
}
