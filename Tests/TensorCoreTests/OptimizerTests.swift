import XCTest
@testable import TensorCore

final class OptimizerTests: XCTestCase {
    /// A two-layer MLP on a fixed non-linear problem: AdamW must drive the loss far down, and the same
    /// run with a zero learning rate must not (so the test fails if the optimiser does nothing).
    func testMLPTrainsWithAdamW() {
        func run(lr: Float) -> (first: Float, last: Float) {
            var rng = RandomGenerator(seed: 42)
            let l1 = Linear("l1", inFeatures: 2, outFeatures: 16, std: 0.5, rng: &rng)
            let l2 = Linear("l2", inFeatures: 16, outFeatures: 2, std: 0.5, rng: &rng)
            let params = ParameterSet(l1.parameters + l2.parameters)
            // XOR-like: class = sign(x0 * x1)
            var xs = [Float](), ys = [Int32]()
            for _ in 0..<64 {
                let a = rng.nextFloat() * 2 - 1, b = rng.nextFloat() * 2 - 1
                xs += [a, b]
                ys.append(a * b > 0 ? 1 : 0)
            }
            let x = Tensor(shape: [64, 2], values: xs)
            let opt = AdamW(learningRate: lr, weightDecay: 0.0)
            var first: Float = 0, last: Float = 0
            for step in 0..<300 {
                params.zeroGrad()
                let loss = crossEntropy(l2(gelu(l1(x))), targets: ys)
                loss.backward()
                clipGradNorm(params.all, maxNorm: 1)
                opt.update(params.all)
                if step == 0 { first = loss.item }
                last = loss.item
            }
            return (first, last)
        }
        let trained = run(lr: 3e-2), frozen = run(lr: 0)
        XCTAssertLessThan(trained.last, 0.25 * trained.first, "AdamW did not reduce the loss: \(trained)")
        XCTAssertEqual(frozen.last, frozen.first, accuracy: 1e-5)
    }

    /// One AdamW step against PyTorch's formula computed by hand.
    func testAdamWStepMatchesFormula() {
        let p = Parameter("w", Tensor(shape: [1, 2], values: [1.0, -2.0]))
        sum(p.value * Tensor(shape: [1, 2], values: [0.5, -3])).backward()  // grad = [0.5, -3]
        let opt = AdamW(learningRate: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        opt.update([p])
        // step 1: m = 0.1 g, v = 0.05 g², m̂ = g, v̂ = g², update = sign(g)
        let expected: [Float] = [1.0 * (1 - 0.01) - 0.1 * 1, -2.0 * (1 - 0.01) + 0.1 * 1]
        for (a, e) in zip(p.value.values, expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
    }

    func testBiasesAreNotDecayed() {
        let b = Parameter("b", Tensor(shape: [2], values: [1, 1]))
        b.value.node!.accumulate([0, 0])
        AdamW(learningRate: 0.1, weightDecay: 0.5).update([b])
        XCTAssertEqual(b.value.values, [1, 1])
    }

    func testClipGradNorm() {
        let p = Parameter("w", Tensor(shape: [2], values: [0, 0]))
        p.value.node!.accumulate([3, 4])
        XCTAssertEqual(clipGradNorm([p], maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(p.grad!.values[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(p.grad!.values[1], 0.8, accuracy: 1e-5)
    }

    func testScheduleWarmupThenCosine() {
        let s = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, minRatio: 0.1)
        XCTAssertEqual(s.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 60), 0.55, accuracy: 1e-5)
        XCTAssertEqual(s.rate(at: 110), 0.1, accuracy: 1e-6)
    }

    func testRandomGeneratorIsSeededAndRestorable() {
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5), c = RandomGenerator(seed: 6)
        let xs = (0..<5).map { _ in a.next() }
        XCTAssertEqual(xs, (0..<5).map { _ in b.next() })
        XCTAssertNotEqual(xs, (0..<5).map { _ in c.next() })
        var d = RandomGenerator(state: a.state)
        XCTAssertEqual(a.next(), d.next())
        // Normal draws have about the right moments.
        var r = RandomGenerator(seed: 1)
        let n = (0..<20000).map { _ in Double(r.nextNormal()) }
        let mean = n.reduce(0, +) / Double(n.count)
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }
}
