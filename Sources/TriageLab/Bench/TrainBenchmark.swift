import Foundation
import TriageEngine
import TensorCore
import ExpertModel

/// The training workload of shared/peers/torch_tiny_transformer.py: the `tiny` model on batches of
/// 32×128 random byte ids, cross-entropy over every position, AdamW(3e-4, (0.9, 0.95), wd 0.1 on every
/// parameter) and grad-norm clipping at 1.0.
public enum TrainBenchmark {
    /// Median and best step of the timed steps, and the loss at the first and last.
    public struct Result: Codable, Sendable {
        public let tokensPerS: Double
        public let tokensPerSBest: Double
        public let stepMs: Double
        public let stepMsBest: Double
        public let steps: Int
        public let threads: Int
        public let lossFirst: Float
        public let lossLast: Float
        public let params: Int
        /// The precision of the products, and the bf16 kernels the CPU offers.
        public let precision: Precision
        public let kernel: MixedPrecision.Kernel
        enum CodingKeys: String, CodingKey {
            case tokensPerS = "tokens_per_s", tokensPerSBest = "tokens_per_s_best", stepMs = "step_ms", stepMsBest = "step_ms_best"
            case steps, threads, lossFirst = "loss_first", lossLast = "loss_last", params, precision, kernel
        }
    }

    static let (batch, seq) = (32, 128)

    static func randomBatches(count: Int, seed: UInt64) -> [TokenBatch] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in
            let rows = (0..<batch).map { _ in (0...seq).map { _ in Int32(rng.nextInt(below: 256)) } }
            var tokens = [Int32](), targets = [Int32]()
            for r in rows { tokens += r[0..<seq]; targets += r[1...seq] }
            return TokenBatch(tokens: tokens, targets: targets, mask: [Float](repeating: 1, count: tokens.count), batch: batch, seq: seq)
        }
    }

    /// Trains `tiny` on random batches: `warmup` untimed steps, then `steps` timed, products in `precision`.
    /// With a `recipe`, the model has its architecture options and Muon (if chosen) updates the hidden
    /// matrices: what a recipe costs per step against the peers' workload.
    public static func run(threads: Int, warmup: Int = 5, steps: Int = 20, precision: Precision = .fp32, recipe: Recipe? = nil) throws -> Result {
        try MixedPrecision.with(precision) { try measure(threads: threads, warmup: warmup, steps: steps, precision: precision, recipe: recipe) }
    }

    static func measure(threads: Int, warmup: Int, steps: Int, precision: Precision, recipe: Recipe?) throws -> Result {
        ComputeThreads.set(threads)
        let model = try Transformer(config: recipe?.config(.tiny) ?? .tiny, seed: 0, zeroOutputProjections: recipe?.zeroOutputProjections ?? false)
        let opt = AdamW(learningRate: 3e-4, beta1: 0.9, beta2: 0.95, weightDecay: 0.1, decayOnlyMatrices: false)
        let muon = recipe?.optimizer == .muon ? Muon(learningRate: recipe!.muonLearningRate) : nil
        let hidden = muon == nil ? [] : model.hiddenMatrices
        let hiddenNames = Set(hidden.map(\.name))
        let adamParams = model.parameters.all.filter { !hiddenNames.contains($0.name) }
        let batches = randomBatches(count: 4, seed: 1)
        var first: Float = 0, last: Float = 0
        var times = [Double]()
        for i in 0..<(warmup + steps) {
            let t0 = MonotonicClock.now()
            model.parameters.zeroGrad()
            let loss = model.loss(batches[i % batches.count])
            loss.backward()
            clipGradNorm(model.parameters.all, maxNorm: 1)
            opt.update(adamParams)
            muon?.update(hidden) { $0.name.hasSuffix(".qkv.weight") ? 3 : 1 }
            if i == 0 { first = loss.item }
            last = loss.item
            if i >= warmup { times.append(MonotonicClock.now() - t0) }
        }
        times.sort()
        let median = times[times.count / 2], best = times[0]
        let tok = Double(batch * seq)
        return Result(tokensPerS: tok / median, tokensPerSBest: tok / best, stepMs: median * 1e3, stepMsBest: best * 1e3,
                      steps: steps, threads: threads, lossFirst: first, lossLast: last, params: model.parameters.count,
                      precision: MixedPrecision.products, kernel: MixedPrecision.kernel)
    }
}

/// A per-op time profile of one forward+backward pass of `tiny` at batch 32×128 (best of a few passes).
public enum OpsBenchmark {
    /// The best of `passes` profiled forward+backward passes, per op and pass.
    public static func run(threads: Int, passes: Int = 5, precision: Precision = .fp32, recipe: Recipe? = nil) throws -> (rows: [Profiler.Row], totalMs: Double) {
        try MixedPrecision.with(precision) { try measure(threads: threads, passes: passes, recipe: recipe) }
    }

    static func measure(threads: Int, passes: Int, recipe: Recipe?) throws -> (rows: [Profiler.Row], totalMs: Double) {
        ComputeThreads.set(threads)
        let model = try Transformer(config: recipe?.config(.tiny) ?? .tiny, seed: 0)
        let batch = TrainBenchmark.randomBatches(count: 1, seed: 1)[0]
        var best: (rows: [Profiler.Row], totalMs: Double)? = nil
        for _ in 0..<passes {
            model.parameters.zeroGrad()
            let profiler = Profiler()
            let t0 = MonotonicClock.now()
            profiler.record {
                let loss = model.loss(batch)
                loss.backward()
            }
            let total = (MonotonicClock.now() - t0) * 1e3
            if best == nil || total < best!.totalMs { best = (profiler.rows, total) }
        }
        return best!
    }
}
