import XCTest
import CKernels
@testable import TensorCore

/// Kernels that store into a fresh (uninitialised) gradient buffer must never read it: recycled heap
/// memory can hold NaN bit patterns, and 0 × NaN is NaN.
final class KernelTests: XCTestCase {
    func nanFilled(_ n: Int) -> [Float] { [Float](repeating: .nan, count: n) }

    func testOverwritingKernelsIgnoreGarbage() {
        var rng = RandomGenerator(seed: 3)
        func rand(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextNormal() } }
        let n = 64
        let x = rand(n), dy = rand(n)
        var dx = nanFilled(n)
        tc_gelu_backward(x, dy, &dx, n, 1)
        XCTAssert(dx.allSatisfy(\.isFinite), "gelu")

        let (rows, d) = (4, 16)
        let lx = rand(rows * d), w = rand(d), b = rand(d), ldy = rand(rows * d)
        var y = [Float](repeating: 0, count: rows * d), mean = [Float](repeating: 0, count: rows), rstd = mean
        tc_layernorm_forward(lx, w, b, &y, &mean, &rstd, rows, d, 1e-5)
        var ldx = nanFilled(rows * d), dw = [Float](repeating: 0, count: d), db = dw
        tc_layernorm_backward(lx, w, mean, rstd, ldy, &ldx, &dw, &db, rows, d, 1)
        XCTAssert(ldx.allSatisfy(\.isFinite), "layernorm")

        for hd in [32, 8] {  // the register-blocked path and the generic one
            let t = 7, ld = 3 * hd
            let qkv = rand(t * ld), ady = rand(t * hd)
            var out = [Float](repeating: 0, count: t * hd), p = [Float](repeating: 0, count: t * t)
            var scratch = [Float](repeating: 0, count: (hd + t) * 64)
            qkv.withUnsafeBufferPointer { q in
                tc_attention_forward(q.baseAddress!, q.baseAddress! + hd, q.baseAddress! + 2 * hd, ld, &out, hd, &p, t, hd, 0.3, &scratch)
            }
            var dqkv = nanFilled(t * ld)
            qkv.withUnsafeBufferPointer { q in
                dqkv.withUnsafeMutableBufferPointer { g in
                    tc_attention_backward(q.baseAddress!, q.baseAddress! + hd, q.baseAddress! + 2 * hd, ld, p, ady, hd,
                                          g.baseAddress!, g.baseAddress! + hd, g.baseAddress! + 2 * hd, t, hd, 0.3, 1, &scratch)
                }
            }
            XCTAssert(dqkv.allSatisfy(\.isFinite), "attention, head size \(hd)")
        }
    }
}
