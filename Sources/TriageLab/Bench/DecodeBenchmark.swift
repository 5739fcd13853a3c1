import Foundation
import TriageEngine
import TensorCore
import ExpertModel

/// The decoding workload of shared/peers/torch_tiny_transformer.py: the `tiny` model, greedy decoding
/// of a 48-byte prompt plus 16 new tokens (one prefill, 15 one-token steps) with a KV cache, at batch 1
/// (ms per request) and batch 32 (requests per second).
public enum DecodeBenchmark {
    /// One batch size's figures: median of the timed batches.
    public struct Result: Codable, Sendable {
        public let batch: Int
        public let msPerRequest: Double
        public let requestsPerS: Double
        public let msPerBatch: Double
        public let runs: Int
        public let threads: Int
        public let precision: Precision
        enum CodingKeys: String, CodingKey {
            case batch, msPerRequest = "ms_per_request", requestsPerS = "requests_per_s", msPerBatch = "ms_per_batch", runs, threads, precision
        }
    }

    /// The peer's workload: a 48-byte prompt and 16 new tokens.
    public static let (promptLength, newTokens) = (48, 16)

    /// Times greedy decoding of random prompts at each batch size, with products in `precision`.
    public static func run(threads: Int, batches: [Int] = [1, 32], newTokens: Int = DecodeBenchmark.newTokens,
                           precision: Precision = .fp32) throws -> [Result] {
        ComputeThreads.set(threads)
        let model = try Transformer(config: .tiny, seed: 0)
        let decoder = ExpertDecoder(model: model, precision: precision)
        var rng = RandomGenerator(seed: 2)
        return try batches.map { b in
            let prompts = (0..<8).map { _ in (0..<b).map { _ in (0..<promptLength).map { _ in Int32(rng.nextInt(below: 256)) } } }
            for i in 0..<3 { _ = try decoder.generate(prompts: prompts[i % 8], maxNewTokens: newTokens, stopAtEOS: false) }
            var times = [Double]()
            let need = b == 1 ? 60 : 12
            let start = MonotonicClock.now()
            while times.count < need || (MonotonicClock.now() - start < 1 && times.count < 400) {
                let t0 = MonotonicClock.now()
                let out = try decoder.generate(prompts: prompts[times.count % 8], maxNewTokens: newTokens, stopAtEOS: false)
                times.append(MonotonicClock.now() - t0)
                precondition(out.allSatisfy { $0.count == newTokens })
            }
            times.sort()
            let median = times[times.count / 2]
            return Result(batch: b, msPerRequest: median * 1e3 / Double(b), requestsPerS: Double(b) / median,
                          msPerBatch: median * 1e3, runs: times.count, threads: threads, precision: decoder.precision)
        }
    }
}
