import XCTest
import TensorCore
@testable import Router

final class RouterTrainingTests: XCTestCase {
    static let tasks = ["add-or-sub", "compare", "conversion", "pronounce", "sort"]

    func testSameSeedGivesIdenticalWeights() throws {
        let data = SyntheticTasks.examples(["sort", "pronounce", "compare"], perTask: 60, seed: 1)
        let bg = SyntheticTasks.background(40, seed: 2)
        let (a, ma) = try RouterTrainer.train(examples: data, validation: [], background: bg, config: SyntheticTasks.config)
        let (b, mb) = try RouterTrainer.train(examples: data, validation: [], background: bg, config: SyntheticTasks.config)
        XCTAssertEqual(a.inputWeights.values, b.inputWeights.values)
        XCTAssertEqual(a.outputWeights.values, b.outputWeights.values)
        XCTAssertEqual(a.outputBias.values, b.outputBias.values)
        XCTAssertEqual(ma.finalLoss, mb.finalLoss)
        // Another seed gives other weights.
        var other = SyntheticTasks.config
        other.seed += 1
        let (c, _) = try RouterTrainer.train(examples: data, validation: [], background: bg, config: other)
        XCTAssertNotEqual(a.outputWeights.values, c.outputWeights.values)
    }

    func testLearnsSyntheticTasks() throws {
        let train = SyntheticTasks.examples(Self.tasks, perTask: 150, seed: 10)
        let valid = SyntheticTasks.examples(Self.tasks, perTask: 40, seed: 11)
        let test = SyntheticTasks.examples(Self.tasks, perTask: 40, seed: 12)
        let (model, metrics) = try RouterTrainer.train(examples: train, validation: valid,
                                                       background: SyntheticTasks.background(150, seed: 13),
                                                       config: SyntheticTasks.config)
        XCTAssertEqual(model.experts, Self.tasks)
        XCTAssertEqual(model.labels, Self.tasks + [RouterModel.backgroundLabel])
        let correct = test.filter { model.route($0.input, threshold: 0).top.first?.expert == $0.expert }.count
        XCTAssertGreaterThanOrEqual(Double(correct) / Double(test.count), 0.95)
        XCTAssertGreaterThanOrEqual(metrics.validationAccuracy, 0.95)
        XCTAssertGreaterThanOrEqual(metrics.acceptanceRate, 0.98)
        XCTAssertEqual(metrics.validationExamples, valid.count)
        XCTAssertEqual(metrics.usedPerExpert, 150)
        XCTAssertEqual(metrics.backgroundHeldOut, 15)
        XCTAssertEqual(metrics.trainExamples, 150 * 5 + 150)
        XCTAssertTrue(metrics.thresholdMethod.hasPrefix("quantile"))
        XCTAssertGreaterThan(metrics.threshold, 0)
        XCTAssertGreaterThan(metrics.trainSeconds, 0)
        let p = model.scores("Sort 4, 9, -2 in ascending order.")
        XCTAssertEqual(p.count, model.labels.count)
        XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testAddedLabelIsRoutableAndRemovedLabelGetsNoRoutes() throws {
        let three = ["sort", "pronounce", "conversion"]
        let train3 = SyntheticTasks.examples(three, perTask: 100, seed: 20)
        let (m3, _) = try RouterTrainer.train(examples: train3, validation: [], background: [], config: SyntheticTasks.config)
        let probes = SyntheticTasks.examples(three, perTask: 30, seed: 21)
        let conversionProbes = probes.filter { $0.expert == "conversion" }
        let routed3 = conversionProbes.filter { m3.route($0.input, threshold: 0).expert == "conversion" }.count
        XCTAssertGreaterThanOrEqual(Double(routed3) / Double(conversionProbes.count), 0.9, "the added label is routable")

        let train2 = train3.filter { $0.expert != "conversion" }
        let (m2, _) = try RouterTrainer.train(examples: train2, validation: [], background: [], config: SyntheticTasks.config)
        XCTAssertEqual(m2.experts, ["pronounce", "sort"])
        for probe in probes {
            let d = m2.route(probe.input, top: 5, threshold: 0)
            XCTAssertNotEqual(d.expert, "conversion")
            XCTAssertFalse(d.top.contains { $0.expert == "conversion" })
            XCTAssertEqual(d.top.count, 2, "top lists at most the registered experts")
        }
    }

    func testValidationForUnknownExpertIsRefused() {
        let train = SyntheticTasks.examples(["sort", "pronounce"], perTask: 10, seed: 1)
        XCTAssertThrowsError(try RouterTrainer.train(examples: train, validation: [(input: "x", expert: "nope")],
                                                     background: [], config: SyntheticTasks.config))
        XCTAssertThrowsError(try RouterTrainer.train(examples: [(input: "x", expert: RouterModel.backgroundLabel)],
                                                     validation: [], background: [], config: SyntheticTasks.config))
        XCTAssertThrowsError(try RouterTrainer.train(examples: [], validation: [], background: [], config: SyntheticTasks.config))
    }
}
