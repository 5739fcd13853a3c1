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

    /// Found by the router fuzzer: a router file with a NaN weight loaded, and routed "Sort 3, 1, 2." with
    /// confidence NaN instead of abstaining (NaN < threshold is false); then one with finite weights near
    /// Float.greatestFiniteMagnitude, whose sums overflow to the same NaN. Both are refused.
    func testNonFiniteWeightsAreRefused() throws {
        let tasks = ["sort", "compare"]
        let (model, _) = try RouterTrainer.train(examples: SyntheticTasks.examples(tasks, perTask: 30, seed: 50),
                                                 validation: [], background: [], config: SyntheticTasks.config)
        for bad in [Float.nan, .infinity, 3e38, -2e4] {
            let bias = Tensor(shape: model.outputBias.shape, values: [bad] + Array(model.outputBias.values.dropFirst()))
            XCTAssertThrowsError(try RouterModel(config: model.config, labels: model.labels, threshold: model.threshold,
                                                 thresholdMethod: "", inputWeights: model.inputWeights,
                                                 outputWeights: model.outputWeights, outputBias: bias)) { e in
                XCTAssert("\(e)".contains("out-of-range"), "\(e)")
            }
        }
    }

    /// Found by the router fuzzer: a router file whose config says minn 6, maxn 5 crashed the loader
    /// (FeatureHasher's precondition, building the novelty index) instead of being refused.
    func testARouterFileWithAnInvalidConfigIsRefused() throws {
        var config = SyntheticTasks.config
        config.noveltyBits = 64
        let (model, _) = try RouterTrainer.train(examples: SyntheticTasks.examples(["sort", "compare"], perTask: 30, seed: 51),
                                                 validation: [], background: [], config: config)
        XCTAssertNotNil(model.novelty)
        let path = NSTemporaryDirectory() + "router-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let file = try SafeTensors.read(path: path)
        var meta = file.metadata
        meta["config"] = meta["config"]!.replacingOccurrences(of: "\"minn\":2", with: "\"minn\":6")
        XCTAssertNotEqual(meta["config"], file.metadata["config"])
        var items = [String: SafeTensors.Item]()
        for (name, e) in file.entries { items[name] = e.integers.map { .init(integers: $0, shape: e.shape, as: e.dtype) } ?? .init(e.tensor) }
        XCTAssertThrowsError(try RouterModel.load(data: SafeTensors.encode(items, metadata: meta), origin: "bad.safetensors")) { e in
            XCTAssert("\(e)".contains("minn"), "\(e)")
        }
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
