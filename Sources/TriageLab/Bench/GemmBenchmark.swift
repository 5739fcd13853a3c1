import Foundation
import TriageEngine
import TensorCore

/// sgemm throughput through TensorCore for 1024³ and the expert transformer's shapes.
public enum GemmBenchmark {
    /// One shape's figures.
    public struct Result: Codable, Sendable {
        public let m: Int, n: Int, k: Int
        /// Best of `calls` (the figure comparable with numpy's best-of-N).
        public let gflops: Double
        public let gflopsMedian: Double
        public let calls: Int
        public let threads: Int
        /// The OpenBLAS core (fp32) or the bf16 kernels (bf16).
        public let core: String
        public let precision: Precision
        enum CodingKeys: String, CodingKey { case m, n, k, gflops, gflopsMedian = "gflops_median", calls, threads, core, precision }
    }

    /// The shapes the issue names: [m,k]·[k,n].
    public static let shapes: [(m: Int, k: Int, n: Int)] = [(1024, 1024, 1024), (4096, 128, 384), (4096, 128, 512), (4096, 512, 128)]

    /// fp32: OpenBLAS sgemm; bf16: the operands already bf16 (as a training step holds them), oneDNN.
    public static func run(threads: Int, minSeconds: Double = 0.6, precision: Precision = .fp32) -> [Result] {
        ComputeThreads.set(threads)
        var rng = RandomGenerator(seed: 1)
        return shapes.map { s in
            let a = Tensor(randomNormal: [s.m, s.k], std: 1, rng: &rng)
            let b = Tensor(randomNormal: [s.k, s.n], std: 1, rng: &rng)
            let c = TensorStorage(count: s.m * s.n, zeroed: false)
            let ab = BF16Buffer(converting: a.storage.pointer, count: a.count), bb = BF16Buffer(converting: b.storage.pointer, count: b.count)
            let call = {
                if precision == .bf16 {
                    BLAS.bf16gemm(transA: false, transB: false, m: s.m, n: s.n, k: s.k, a: ab.pointer, lda: s.k,
                                  b: bb.pointer, ldb: s.n, c: c.pointer, ldc: s.n)
                } else {
                    BLAS.sgemm(transA: false, transB: false, m: s.m, n: s.n, k: s.k, a: a.storage.pointer, lda: s.k,
                               b: b.storage.pointer, ldb: s.n, c: c.pointer, ldc: s.n)
                }
            }
            for _ in 0..<3 { call() }
            var times = [Double]()
            let start = MonotonicClock.now()
            while times.count < 20 || (MonotonicClock.now() - start < minSeconds && times.count < 2000) {
                let t0 = MonotonicClock.now()
                call()
                times.append(MonotonicClock.now() - t0)
            }
            times.sort()
            let flop = 2.0 * Double(s.m * s.n * s.k)
            return Result(m: s.m, n: s.n, k: s.k, gflops: flop / times[0] / 1e9,
                          gflopsMedian: flop / times[times.count / 2] / 1e9, calls: times.count,
                          threads: BLAS.threads, core: precision == .bf16 ? MixedPrecision.kernel.rawValue : BLAS.coreName,
                          precision: precision)
        }
    }
}

extension GemmBenchmark {
    /// Why OpenBLAS runs the core it runs (the in-process core switch's report).
    public static var configurationNote: String { BLAS.configuration.reason }
}
