import XCTest
import TensorCore
@testable import ExpertModel

/// Format-2 models (rotary positions, QK-norm, squared ReLU) and Muon: they load, decode like their
/// full forward pass, resume bit for bit, and leave format 1 exactly as it was.
final class RecipeTests: XCTestCase {
    let options = ExpertConfig.nano.with(positions: .rope, qkNorm: true, activation: .relu2)

    func testFormatOneMetadataIsUnchanged() throws {
        XCTAssertEqual(ExpertConfig.nano.formatVersion, 1)
        XCTAssertEqual(Set(ExpertConfig.nano.metadata.keys), ["d_model", "n_layers", "n_heads", "d_ff", "context", "vocab"])
        let json = String(decoding: try JSONEncoder().encode(ExpertConfig.nano), as: UTF8.self)
        XCTAssertFalse(json.contains("positions") || json.contains("qk_norm") || json.contains("activation"), json)
        XCTAssertEqual(try JSONDecoder().decode(ExpertConfig.self, from: Data(json.utf8)), .nano)
    }

    func testFormatTwoSavesLoadsAndCountsParameters() throws {
        let model = try Transformer(config: options, seed: 2)
        let names = Set(model.parameters.names)
        XCTAssertFalse(names.contains("pos.weight"))
        XCTAssert(names.contains("blocks.1.qnorm.weight") && names.contains("blocks.1.knorm.weight"))
        XCTAssertEqual(model.parameters.count, options.parameterCount)
        let path = NSTemporaryDirectory() + "f2-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        XCTAssertEqual(try SafeTensors.read(path: path).metadata["format"], "2")
        let back = try Transformer.load(from: path)
        XCTAssertEqual(back.config, options)
        let json = try JSONEncoder().encode(options)
        XCTAssertEqual(try JSONDecoder().decode(ExpertConfig.self, from: json), options)
    }

    func testUnknownFormatIsRefusedWithAClearError() {
        var m = ExpertConfig.nano.metadata
        m["format"] = "3"
        XCTAssertThrowsError(try ExpertConfig(metadata: m)) { XCTAssert("\($0)".contains("format 3"), "\($0)") }
        m["format"] = "2"
        XCTAssertThrowsError(try ExpertConfig(metadata: m)) { XCTAssert("\($0)".contains("positions"), "\($0)") }
    }

    func testEachOptionChangesTheModel() throws {
        let tokens = Vocabulary.prompt("abc12")
        func logits(_ c: ExpertConfig) throws -> [Float] {
            let m = try Transformer(config: c, seed: 3)
            return Autograd.noGrad { m.logits(tokens: tokens, batch: 1, seq: tokens.count) }.values
        }
        let base = try logits(.nano)
        for c in [ExpertConfig.nano.with(positions: .rope), .nano.with(qkNorm: true), .nano.with(activation: .relu2)] {
            XCTAssertNotEqual(try logits(c), base, "\(c)")
        }
    }

    func testKVCacheDecodingMatchesFullForward() throws {
        let model = try Transformer(config: options, seed: 3)
        // Make the gains and the MLP matter: random, not the initial ones and zeros.
        var rng = RandomGenerator(seed: 8)
        for p in model.parameters.all where p.name.contains("norm.weight") {
            p.load(Tensor(randomNormal: p.shape, std: 0.5, rng: &rng) + Tensor(filled: 1, shape: p.shape))
        }
        for prompt in ["hello", "a longer prompt, with positions far apart"] {
            let tokens = Vocabulary.prompt(prompt)
            let cached = try ExpertDecoder(model: model).generate(prompts: [tokens], maxNewTokens: 8, stopAtEOS: false)[0]
            var seq = tokens, full = [Int32]()
            for _ in 0..<8 {
                let logits = Autograd.noGrad { model.logits(tokens: seq, batch: 1, seq: seq.count) }.values
                let last = Array(logits[((seq.count - 1) * Vocabulary.size)...])
                let next = Int32(last.indices.max { last[$0] < last[$1] }!)
                full.append(next)
                seq.append(next)
            }
            XCTAssertEqual(cached, full, prompt)
        }
        // Batched (prefill runs, then one row per request) gives each request its own answer.
        let inputs = ["a", "mid size", "0123456789", "the quick brown fox", "xyz"]
        let dec = ExpertDecoder(model: model)
        let alone = try inputs.map { try dec.generate(prompts: [Vocabulary.prompt($0)], maxNewTokens: 6)[0] }
        XCTAssertEqual(try dec.generate(prompts: inputs.map(Vocabulary.prompt), maxNewTokens: 6), alone)
    }

    func testMuonAndFormatTwoLearnAndResumeBitForBit() throws {
        let train = reversalExamples(count: 500, seed: 1), valid = reversalExamples(count: 20, seed: 9)
        var opt = Recipe(positions: .rope, qkNorm: true, activation: .relu2, zeroOutputProjections: true, optimizer: .muon,
                         learningRate: 3e-3, muonLearningRate: 0.03, warmupFraction: 0.1, maxWarmupSteps: 100,
                         minLearningRateRatio: 0.1, batchSize: 16).options(steps: 40, seed: 3)
        opt.validateEvery = 10
        opt.checkpointEvery = 10
        XCTAssertEqual(opt.optimizer, .muon)
        let dir = NSTemporaryDirectory() + "muon-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Transformer(config: options, seed: 7, zeroOutputProjections: true)
        XCTAssert(straight.parameters["blocks.0.proj.weight"]!.value.values.allSatisfy { $0 == 0 })
        let full = try Trainer(model: straight, train: train, validation: valid, options: opt, checkpointPath: dir + "/a.ckpt").run()
        XCTAssertLessThan(full.finalLoss, 3.0)

        final class StopAt: TrainingObserver {
            weak var trainer: Trainer?
            func trainingProgress(_ p: TrainingProgress, validated: Bool) { if p.step == 23 { trainer?.stopRequested = true } }
        }
        let first = try Transformer(config: options, seed: 7, zeroOutputProjections: true)
        let t1 = try Trainer(model: first, train: train, validation: valid, options: opt, checkpointPath: dir + "/b.ckpt")
        let stopper = StopAt()
        stopper.trainer = t1
        XCTAssertEqual(try t1.run(observer: stopper).steps, 23)
        let resumed = try Transformer(config: options, seed: 99)
        XCTAssertEqual(try Trainer(model: resumed, train: train, validation: valid, options: opt, checkpointPath: dir + "/b.ckpt").run(resume: true).steps, 40)
        for p in straight.parameters.all { XCTAssertEqual(p.value.values, resumed.parameters[p.name]!.value.values, p.name) }
    }

    func testMuonLearnsToReverseStrings() throws {
        let train = reversalExamples(count: 4000, seed: 1)
        let held = reversalExamples(count: 200, seed: 2).filter { ex in !train.contains { $0.input == ex.input } }
        var recipe = Recipe.gpt2
        (recipe.optimizer, recipe.learningRate, recipe.muonLearningRate) = (.muon, 3e-3, 0.03)
        var opt = recipe.options(steps: 300, seed: 5)
        opt.validateEvery = 1000
        opt.checkpointEvery = 0
        let model = try Transformer(config: options, seed: 5)
        try Trainer(model: model, train: train, validation: Array(held.prefix(50)), options: opt).run()
        let answers = try ExpertDecoder(model: model).answer(held.map(\.input), maxOutputBytes: 8)
        let acc = Double(zip(answers, held).filter { $0 == $1.output }.count) / Double(held.count)
        XCTAssertGreaterThanOrEqual(acc, 0.95, "held-out exact match \(acc)")
    }
}
