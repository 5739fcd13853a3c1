import XCTest
@testable import TensorCore

/// One finite-difference test per differentiable op.
final class GradientTests: XCTestCase {
    func testMatmulAllTransposes() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randn(ta ? [4, 3] : [3, 4], seed: 1), b = randn(tb ? [5, 4] : [4, 5], seed: 2)
            checkGradients([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        }
    }

    func testBatchedMatmul() {
        let a = randn([2, 3, 4], seed: 3), b = randn([2, 5, 4], seed: 4)
        checkGradients([a, b]) { matmul($0[0], $0[1], transposeB: true) }
        checkGradients([randn([2, 4, 3], seed: 5), randn([2, 4, 2], seed: 6)]) { matmul($0[0], $0[1], transposeA: true) }
    }

    func testLinear() {
        checkGradients([randn([2, 3, 4], seed: 1), randn([5, 4], seed: 2), randn([5], seed: 3)]) {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
    }

    /// Large enough that with two cores the input and weight gradients run side by side (and forward
    /// products split): the same gradients as on one core. Small shapes above are finite-difference checked.
    func testLinearGradientsOnTwoCoresMatchOne() {
        func grads(threads: Int) -> [[Float]] {
            let saved = BLAS.threads
            defer { BLAS.setThreads(saved) }
            BLAS.setThreads(threads)
            let x = randn([512, 96], seed: 1).requiringGrad(), w = randn([128, 96], seed: 2).requiringGrad()
            let b = randn([128], seed: 3).requiringGrad()
            let y = linear(x, weight: w, bias: b)
            sum(y * randn([512, 128], seed: 4)).backward()
            return [y.values, x.grad!.values, w.grad!.values, b.grad!.values]
        }
        let one = grads(threads: 1), two = grads(threads: 2)
        for (name, (a, b)) in zip(["output", "input grad", "weight grad", "bias grad"], zip(one, two)) {
            XCTAssertEqual(a.count, b.count)
            let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($0)) }.max()!
            XCTAssertLessThan(worst, 1e-4, name)
        }
    }

    func testAddMulBroadcast() {
        checkGradients([randn([3, 4], seed: 1), randn([3, 4], seed: 2)]) { $0[0] + $0[1] }
        checkGradients([randn([3, 4], seed: 1), randn([4], seed: 2)]) { $0[0] + $0[1] }
        checkGradients([randn([3, 4], seed: 1), randn([3, 4], seed: 2)]) { $0[0] * $0[1] }
        checkGradients([randn([3, 4], seed: 1), randn([4], seed: 2)]) { $0[0] * $0[1] }
        checkGradients([randn([3, 4], seed: 1)]) { scale($0[0], -1.5) }
        // add hands its gradient buffer on to its first operand: the same tensor on both sides, and a
        // residual stream whose adopted gradient later receives more, still give the right sums.
        checkGradients([randn([3, 4], seed: 1)]) { $0[0] + $0[0] }
        checkGradients([randn([3, 4], seed: 1), randn([3, 4], seed: 2)]) { let h = $0[0] + $0[1]; return (h + gelu(h)) * h }
    }

    func testActivations() {
        checkGradients([randn([4, 5], seed: 1, std: 2)]) { gelu($0[0]) }
        // ReLU's kink: keep inputs away from 0 so the finite difference is defined.
        let x = Tensor(shape: [2, 4], values: [-1.3, 0.7, 2.1, -0.4, 0.9, -2.2, 0.35, -0.8])
        checkGradients([x]) { relu($0[0]) }
        checkGradients([randn([3, 6], seed: 2)]) { softmax($0[0]) }
    }

    func testLayerNorm() {
        checkGradients([randn([4, 6], seed: 1, std: 2), randn([6], seed: 2), randn([6], seed: 3)]) {
            layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testEmbeddingScatterAdd() {
        // id 2 appears twice: its gradient is the sum of both rows' gradients.
        checkGradients([randn([5, 3], seed: 1)]) { embedding([2, 0, 2, 4], table: $0[0]) }
    }

    func testCausalSelfAttention() {
        let (b, t, heads, d) = (2, 5, 2, 4)
        checkGradients([randn([b * t, 3 * d], seed: 11)]) { causalSelfAttention($0[0], batch: b, seq: t, heads: heads) }
    }

    func testCausalSelfAttentionHead32() {
        // Head size 32 takes the kernels' register-blocked path (the experts' heads are all 32 wide).
        let (b, t, heads, d) = (2, 5, 2, 64)
        checkGradients([randn([b * t, 3 * d], seed: 12, std: 0.5)]) { causalSelfAttention($0[0], batch: b, seq: t, heads: heads) }
    }

    func testAttentionIsCausal() {
        // Changing the last position's q, k, v must not change earlier outputs.
        let (b, t, heads, d) = (1, 4, 2, 4)
        let x = randn([b * t, 3 * d], seed: 3)
        var y = x
        y.withMutableValues { for j in 0..<(3 * d) { $0[(t - 1) * 3 * d + j] += 1 } }
        let ox = Autograd.noGrad { causalSelfAttention(x, batch: b, seq: t, heads: heads) }.values
        let oy = Autograd.noGrad { causalSelfAttention(y, batch: b, seq: t, heads: heads) }.values
        XCTAssertEqual(Array(ox[0..<((t - 1) * d)]), Array(oy[0..<((t - 1) * d)]))
        XCTAssertNotEqual(Array(ox[((t - 1) * d)...]), Array(oy[((t - 1) * d)...]))
    }

    func testCrossEntropyWithIgnoreMask() {
        let logits = randn([4, 6], seed: 5, std: 2)
        checkGradients([logits]) { crossEntropy($0[0], targets: [1, 5, 0, 3], weights: [1, 0, 1, 1]) }
        checkGradients([logits]) { crossEntropy($0[0], targets: [1, 5, 0, 3]) }
        // The masked row's target is ignored entirely, even out of range.
        let l = Autograd.noGrad { crossEntropy(logits, targets: [1, 99, 0, 3], weights: [1, 0, 1, 1]) }
        XCTAssert(l.item.isFinite)
    }

    func testCrossEntropyValue() {
        // Uniform logits over 4 classes: loss = ln 4.
        let l = crossEntropy(Tensor(zeros: [2, 4]), targets: [0, 3])
        XCTAssertEqual(l.item, logf(4), accuracy: 1e-6)
    }

    func testReductionsAndShapes() {
        checkGradients([randn([3, 4], seed: 1)]) { sum($0[0]) }
        checkGradients([randn([3, 4], seed: 1)]) { mean($0[0]) }
        checkGradients([randn([3, 4], seed: 1)]) { transpose($0[0]) }
        checkGradients([randn([3, 4], seed: 1), randn([6, 2], seed: 2)]) { $0[0].reshaped([6, 2]) * $0[1] }
    }

    func testGradientsAccumulateAcrossUses() {
        // x used twice: d(sum(x*x))/dx = 2x.
        let x = Tensor(shape: [3], values: [1, -2, 3]).requiringGrad()
        sum(x * x).backward()
        XCTAssertEqual(x.grad!.values, [2, -4, 6])
        // A second backward accumulates.
        sum(x * x).backward()
        XCTAssertEqual(x.grad!.values, [4, -8, 12])
    }

    func testNoGradRecordsNothing() {
        let x = randn([2, 2], seed: 1).requiringGrad()
        let y = Autograd.noGrad { gelu(x) }
        XCTAssertNil(y.node)
        XCTAssertNotNil(gelu(x).node)
    }
}
#if canImport(Glibc)
import Glibc
#endif
