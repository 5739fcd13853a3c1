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

    /// The attention kernels against a float64 reference, on lengths that cross the kernels' 4-row blocks
    /// and 64-position spans and leave tails of both (head size 32: the blocked path; 8: the generic one).
    func testAttentionKernelsMatchReference() {
        var rng = RandomGenerator(seed: 9)
        for (t, hd) in [(70, 32), (13, 8), (4, 32)] {
            let ld = 3 * hd, scale: Float = 0.2
            let qkv = (0..<(t * ld)).map { _ in rng.nextNormal() }, dy = (0..<(t * hd)).map { _ in rng.nextNormal() }
            func q(_ i: Int, _ c: Int) -> Double { Double(qkv[i * ld + c]) }
            func k(_ i: Int, _ c: Int) -> Double { Double(qkv[i * ld + hd + c]) }
            func v(_ i: Int, _ c: Int) -> Double { Double(qkv[i * ld + 2 * hd + c]) }
            var P = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
            var out = [Double](repeating: 0, count: t * hd), dq = out, dk = out, dv = out
            for i in 0..<t {
                let s = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + q(i, $1) * k(j, $1) } * Double(scale) }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                for j in 0...i { P[i][j] = e[j] / z; for c in 0..<hd { out[i * hd + c] += P[i][j] * v(j, c) } }
                let dP = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + Double(dy[i * hd + $1]) * v(j, $1) } }
                let dot = (0...i).reduce(0.0) { $0 + P[i][$1] * dP[$1] }
                for j in 0...i {
                    let ds = P[i][j] * (dP[j] - dot) * Double(scale)
                    for c in 0..<hd {
                        dq[i * hd + c] += ds * k(j, c); dk[j * hd + c] += ds * q(i, c); dv[j * hd + c] += P[i][j] * Double(dy[i * hd + c])
                    }
                }
            }
            var o = nanFilled(t * hd), p = nanFilled(t * t)
            var scratch = [Float](repeating: .nan, count: (hd + t) * ((t + 63) / 64 * 64))
            qkv.withUnsafeBufferPointer { b in
                tc_attention_forward(b.baseAddress!, b.baseAddress! + hd, b.baseAddress! + 2 * hd, ld, &o, hd, &p, t, hd, scale, &scratch)
            }
            var g = nanFilled(t * ld)
            qkv.withUnsafeBufferPointer { b in
                g.withUnsafeMutableBufferPointer { gb in
                    tc_attention_backward(b.baseAddress!, b.baseAddress! + hd, b.baseAddress! + 2 * hd, ld, p, dy, hd,
                                          gb.baseAddress!, gb.baseAddress! + hd, gb.baseAddress! + 2 * hd, t, hd, scale, 1, &scratch)
                }
            }
            func check(_ name: String, _ got: (Int, Int) -> Float, _ want: [Double]) {
                var worst = 0.0
                for i in 0..<t { for c in 0..<hd { worst = max(worst, abs(Double(got(i, c)) - want[i * hd + c])) } }
                XCTAssertLessThan(worst, 1e-4, "\(name), t \(t), head size \(hd)")
            }
            check("output", { o[$0 * hd + $1] }, out)
            check("dq", { g[$0 * ld + $1] }, dq)
            check("dk", { g[$0 * ld + hd + $1] }, dk)
            check("dv", { g[$0 * ld + 2 * hd + $1] }, dv)
            for i in 0..<t { for j in 0..<t { XCTAssertEqual(Double(p[i * t + j]), P[i][j], accuracy: 1e-5) } }
        }
    }

    /// The decoding steps' small-row linear kernel against a plain loop: every row-block size (8, 4, 2, 1)
    /// and a partial last span of outputs.
    func testLinearRowsKernel() {
        var rng = RandomGenerator(seed: 4)
        let (inF, outF) = (7, 40), ld = 64
        let w = (0..<(outF * inF)).map { _ in rng.nextNormal() }, b = (0..<outF).map { _ in rng.nextNormal() }
        var wt = [Float](repeating: 0, count: inF * ld)
        for o in 0..<outF { for k in 0..<inF { wt[k * ld + o] = w[o * inF + k] } }
        for m in [1, 2, 3, 7, 8, 15, 17] {
            let x = (0..<(m * inF)).map { _ in rng.nextNormal() }
            var y = nanFilled(m * outF)
            tc_linear_rows(x, m, inF, wt, ld, b, &y, outF)
            for r in 0..<m {
                for o in 0..<outF {
                    let want = b[o] + (0..<inF).reduce(Float(0)) { $0 + x[r * inF + $1] * w[o * inF + $1] }
                    XCTAssertEqual(y[r * outF + o], want, accuracy: 1e-4, "rows \(m), row \(r), output \(o)")
                }
            }
        }
    }

    /// Compute threads treat denormals as zero (a denormal operand costs a microcode assist per FMA).
    func testComputeThreadsFlushDenormals() {
        Parallel.indexedChunks(1, workers: 1) { _, _ in }
        var y: [Float] = [0]
        let x: [Float] = [Float.leastNonzeroMagnitude]
        tc_axpy(&y, x, 1, 1)
        XCTAssertEqual(y[0], 0, "a denormal input was not treated as zero")
    }
}
