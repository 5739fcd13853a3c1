import Benchmark
import TensorCore

/// TensorCore's core ops on the `tiny` transformer's shapes (batch 32×128 = 4096 rows, d = 128).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], warmupIterations: 3,
                                           maxDuration: .seconds(2), maxIterations: 200)
    var rng = RandomGenerator(seed: 1)
    let rows = 4096, d = 128
    let x = Tensor(randomNormal: [rows, d], std: 1, rng: &rng)
    let w = Tensor(randomNormal: [3 * d, d], std: 0.02, rng: &rng)
    let b = Tensor(zeros: [3 * d])
    let a1024 = Tensor(randomNormal: [1024, 1024], std: 1, rng: &rng)
    let ones = Tensor(filled: 1, shape: [d]), zeros = Tensor(zeros: [d])
    let qkv = Tensor(randomNormal: [rows, 3 * d], std: 1, rng: &rng)
    let logits = Tensor(randomNormal: [rows, 260], std: 1, rng: &rng)
    let targets = (0..<rows).map { Int32($0 % 260) }
    let hidden = Tensor(randomNormal: [rows, 4 * d], std: 1, rng: &rng)

    Benchmark("matmul 1024³") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Autograd.noGrad { matmul(a1024, a1024) }) }
    }
    Benchmark("linear [4096×128]→384 forward") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Autograd.noGrad { linear(x, weight: w, bias: b) }) }
    }
    Benchmark("linear [4096×128]→384 forward+backward") { benchmark in
        let xp = x.requiringGrad(), wp = w.requiringGrad(), bp = b.requiringGrad()
        for _ in benchmark.scaledIterations { sum(linear(xp, weight: wp, bias: bp)).backward() }
    }
    Benchmark("layerNorm [4096×128] forward+backward") { benchmark in
        let xp = x.requiringGrad(), g = ones.requiringGrad(), s = zeros.requiringGrad()
        for _ in benchmark.scaledIterations { sum(layerNorm(xp, weight: g, bias: s)).backward() }
    }
    Benchmark("gelu [4096×512] forward+backward") { benchmark in
        let hp = hidden.requiringGrad()
        for _ in benchmark.scaledIterations { sum(gelu(hp)).backward() }
    }
    Benchmark("causal attention 32×128, 4 heads, forward+backward") { benchmark in
        let q = qkv.requiringGrad()
        for _ in benchmark.scaledIterations { sum(causalSelfAttention(q, batch: 32, seq: 128, heads: 4)).backward() }
    }
    Benchmark("cross-entropy [4096×260] forward+backward") { benchmark in
        let l = logits.requiringGrad()
        for _ in benchmark.scaledIterations { crossEntropy(l, targets: targets).backward() }
    }
}
