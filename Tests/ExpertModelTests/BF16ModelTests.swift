import XCTest
@testable import ExpertModel
@testable import TensorCore

/// The expert transformer with bf16 products against fp32 on the same weights.
final class BF16ModelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipIf(MixedPrecision.kernel == .none, "this CPU has no bf16 kernels")
    }

    func batch(_ model: Transformer) -> TokenBatch {
        TokenBatch(examples: reversalExamples(count: 16, seed: 5).map(\.tokens))
    }

    /// bf16 keeps 8 significant bits (unit roundoff u = 2⁻⁹). Every product's operands are rounded once,
    /// so a product is off by at most 2u of its Σ|terms|; through the 2 blocks of `nano` and the head that
    /// stays within 16u of the logits' scale: max |Δ| ≤ 16 · 2⁻⁹ · max |logit| (measured: 3.9u).
    func testLogitsAndGradientsStayWithinBF16RoundingOfFP32() throws {
        let model = try Transformer(config: .nano, seed: 3)
        // Trained-looking weights: larger than the 0.02 initialisation, so the products matter.
        var rng = RandomGenerator(seed: 8)
        for p in model.parameters.all where p.shape.count == 2 {
            p.load(Tensor(randomNormal: p.shape, std: 0.15, rng: &rng))
        }
        let b = batch(model)
        func run() -> (logits: [Float], loss: Float, grads: [String: [Float]]) {
            model.parameters.zeroGrad()
            let logits = model.logits(tokens: b.tokens, batch: b.batch, seq: b.seq)
            let loss = crossEntropy(logits, targets: b.targets, weights: b.mask)
            loss.backward()
            return (logits.values, loss.item, Dictionary(uniqueKeysWithValues: model.parameters.all.map { ($0.name, $0.grad!.values) }))
        }
        let fp32 = run(), bf16 = MixedPrecision.with(.bf16) { run() }
        let scale = fp32.logits.map(abs).max()!
        let worst = zip(fp32.logits, bf16.logits).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 16 * scale / 512, "logits: max |bf16 − fp32| \(worst), max |logit| \(scale)")
        XCTAssertGreaterThan(worst, 0)
        print("bf16 logits: max |Δ| \(worst) = \(worst / (scale / 512)) u·max|logit|")
        XCTAssertEqual(bf16.loss, fp32.loss, accuracy: 0.01 * fp32.loss)
        // Gradients: relative error ‖g_bf16 − g_fp32‖ / ‖g_fp32‖ ≤ 5% for every parameter tensor
        // (a few times 2u·√(depth) for the ones that pass through every block; measured: at most 1.0%).
        var worstGradient: Float = 0
        defer { print("bf16 gradients: worst relative error \(worstGradient)") }
        for (name, g) in fp32.grads {
            let h = bf16.grads[name]!
            let norm = sqrt(g.map { $0 * $0 }.reduce(0, +)), diff = sqrt(zip(g, h).map { ($0 - $1) * ($0 - $1) }.reduce(0, +))
            XCTAssertLessThan(diff, 0.05 * norm + 1e-7, "\(name): relative gradient error \(diff / norm)")
            worstGradient = max(worstGradient, diff / max(norm, 1e-12))
        }
    }

    /// A bf16 decoder runs its prompt products in bf16 and greedy-decodes nearly the same tokens as fp32
    /// (a near-tie in an argmax may flip with bf16 rounding, so not all of them).
    func testBF16DecodingAgreesWithFP32() throws {
        let model = try Transformer(config: .nano, seed: 4)
        let prompts = ["a much longer request here", "the quick brown fox jumps", "0123456789 0123456789", "lorem ipsum dolor sit"]
            .map(Vocabulary.prompt)
        let fp32 = try ExpertDecoder(model: model).generate(prompts: prompts, maxNewTokens: 8, stopAtEOS: false)
        let decoder = ExpertDecoder(model: model, precision: .bf16)
        XCTAssertEqual(decoder.precision, .bf16)
        let bf16 = try decoder.generate(prompts: prompts, maxNewTokens: 8, stopAtEOS: false)
        XCTAssertEqual(bf16.map(\.count), fp32.map(\.count))
        let same = zip(fp32.joined(), bf16.joined()).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(same) / Double(fp32.joined().count), 0.75, "bf16 \(bf16) against fp32 \(fp32)")
    }

    func testBF16TrainingIsReproducibleAndResumesBitForBit() throws {
        let train = reversalExamples(count: 300, seed: 1), valid = reversalExamples(count: 10, seed: 9)
        var opt = TrainingOptions(steps: 24, seed: 3)
        opt.batchSize = 16
        opt.warmupSteps = 4
        opt.validateEvery = 12
        opt.checkpointEvery = 6
        opt.precision = .bf16
        let dir = NSTemporaryDirectory() + "bf16-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func straight(_ name: String) throws -> (Transformer, TrainingRecord) {
            let m = try Transformer(config: .nano, seed: 7)
            let r = try Trainer(model: m, train: train, validation: valid, options: opt, checkpointPath: dir + "/\(name).ckpt").run()
            return (m, r)
        }
        let (a, record) = try straight("a"), (b, _) = try straight("b")
        XCTAssertEqual(record.precision, .bf16)
        final class StopAt: TrainingObserver {
            weak var trainer: Trainer?
            func trainingProgress(_ p: TrainingProgress, validated: Bool) { if p.step == 13 { trainer?.stopRequested = true } }
        }
        let first = try Transformer(config: .nano, seed: 7)
        let t1 = try Trainer(model: first, train: train, validation: valid, options: opt, checkpointPath: dir + "/c.ckpt")
        let stopper = StopAt()
        stopper.trainer = t1
        XCTAssertEqual(try t1.run(observer: stopper).steps, 13)
        let resumed = try Transformer(config: .nano, seed: 99)
        _ = try Trainer(model: resumed, train: train, validation: valid, options: opt, checkpointPath: dir + "/c.ckpt").run(resume: true)
        let fp32 = try Transformer(config: .nano, seed: 7)
        var o32 = opt
        o32.precision = .fp32
        _ = try Trainer(model: fp32, train: train, validation: valid, options: o32).run()
        var differs = false
        for p in a.parameters.all {
            XCTAssertEqual(p.value.values, b.parameters[p.name]!.value.values, "\(p.name): two bf16 runs differ")
            XCTAssertEqual(p.value.values, resumed.parameters[p.name]!.value.values, "\(p.name): the resumed bf16 run differs")
            if p.value.values != fp32.parameters[p.name]!.value.values { differs = true }
        }
        XCTAssertTrue(differs, "bf16 training gave fp32's weights: were the products in bf16?")
    }
}
