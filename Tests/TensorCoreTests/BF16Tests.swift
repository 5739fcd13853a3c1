import XCTest
import CKernels
@testable import TensorCore

/// bf16 products: the conversion, the oneDNN product against a double reference, and the precision switch.
final class BF16Tests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipIf(MixedPrecision.kernel == .none, "this CPU has no bf16 kernels; the fp32 path is tested everywhere else")
    }

    /// Round to nearest even, written out in Swift from the bits, as the reference.
    func reference(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(b >> 16) | 0x40 }
        if x.isSubnormal { return UInt16((b >> 16) & 0x8000) }  // the instruction flushes denormal inputs
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    func testConversionRoundsToNearestEven() {
        let one: Float = 1
        let ulp = Float(bitPattern: one.bitPattern + 0x10000) - one  // 2^-7, one bf16 step at 1
        var values: [Float] = [0, -0, 1, -1, 3.14159, 65504, -1e-20, .infinity, -.infinity, .nan, .greatestFiniteMagnitude,
                               one + ulp / 2, one + 3 * ulp / 2, one + ulp / 2 + ulp / 256, Float.leastNormalMagnitude, Float(bitPattern: 0x0001_2345)]
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<5000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        var out = [UInt16](repeating: 0, count: values.count)
        tc_f32_to_bf16(values, &out, values.count)
        for (x, y) in zip(values, out) {
            if x.isNaN { XCTAssertTrue(Float(bitPattern: UInt32(y) << 16).isNaN); continue }
            XCTAssertEqual(y, reference(x), "\(x)")
        }
        XCTAssertEqual(out[11], reference(1), "a tie rounds to the even neighbour (1)")
        XCTAssertEqual(out[12], reference(one + 2 * ulp), "a tie rounds to the even neighbour (1 + 2 ulp)")
        XCTAssertEqual(Float(bitPattern: UInt32(out[13]) << 16), one + ulp, "just above a tie rounds up")
    }

    /// Each product of bf16 values is exact in fp32, so the error is fp32 summation's alone:
    /// |C − C_ref| ≤ (k + 3) · 2⁻²⁴ · (Σ|a·b| + |bias| + |beta·c|), with C_ref in double on the rounded inputs.
    func testProductMatchesADoubleReferenceOnEveryLayout() {
        var rng = RandomGenerator(seed: 9)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (m, n, k) in [(1, 7, 33), (33, 130, 7), (130, 33, 130), (64, 384, 128)] {
                for withBias in [false, true] {
                    let a = (0..<(m * k)).map { _ in rng.nextNormal() }, b = (0..<(k * n)).map { _ in rng.nextNormal() }
                    let bias = (0..<n).map { _ in rng.nextNormal() }, c0 = (0..<(m * n)).map { _ in rng.nextNormal() }
                    let ab = BF16Buffer(converting: a, count: a.count), bb = BF16Buffer(converting: b, count: b.count)
                    let ar = (0..<a.count).map { Float(bitPattern: UInt32(ab.pointer[$0]) << 16) }
                    let br = (0..<b.count).map { Float(bitPattern: UInt32(bb.pointer[$0]) << 16) }
                    var c = c0
                    let beta: Float = withBias ? 0 : 1
                    c.withUnsafeMutableBufferPointer { cp in
                        bias.withUnsafeBufferPointer { bp in
                            BLAS.bf16gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: ab.pointer, lda: ta ? m : k, b: bb.pointer,
                                          ldb: tb ? k : n, beta: beta, c: cp.baseAddress!, ldc: n, rowBias: withBias ? bp.baseAddress! : nil)
                        }
                    }
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var exact = 0.0, magnitude = 0.0
                            for p in 0..<k {
                                let x = Double(ar[ta ? p * m + i : i * k + p]) * Double(br[tb ? j * k + p : p * n + j])
                                exact += x
                                magnitude += abs(x)
                            }
                            let extra = withBias ? Double(bias[j]) : Double(beta) * Double(c0[i * n + j])
                            exact += extra
                            magnitude += abs(extra)
                            let bound = Double(k + 3) * pow(2, -24) * magnitude
                            worst = max(worst, abs(Double(c[i * n + j]) - exact) / max(bound, 1e-30))
                        }
                    }
                    XCTAssertLessThanOrEqual(worst, 1, "ta \(ta) tb \(tb) [\(m)×\(k)]·[\(k)×\(n)] bias \(withBias): error over bound \(worst)")
                }
            }
        }
    }

    func testSwitchRestoresThePreviousPrecision() throws {
        XCTAssertEqual(MixedPrecision.products, .fp32)
        MixedPrecision.with(.bf16) {
            XCTAssertEqual(MixedPrecision.products, .bf16)
            MixedPrecision.with(.fp32) { XCTAssertEqual(MixedPrecision.products, .fp32) }
            XCTAssertEqual(MixedPrecision.products, .bf16)
        }
        XCTAssertEqual(MixedPrecision.products, .fp32)
        XCTAssertEqual(try MixedPrecision.resolve(.auto), .bf16)
        XCTAssertEqual(try MixedPrecision.resolve(.fp32), .fp32)
    }

    /// bf16 results of `linear` (forward and both gradients) stay within bf16 rounding of fp32's:
    /// each operand carries a relative error of at most 2⁻⁹, so a product's error is below 2·2⁻⁹·Σ|terms|.
    func testLinearInBF16StaysWithinRoundingOfFP32() {
        func run() -> [[Float]] {
            let x = randn([256, 96], seed: 1).requiringGrad(), w = randn([128, 96], seed: 2).requiringGrad()
            let b = randn([128], seed: 3).requiringGrad()
            let y = linear(x, weight: w, bias: b)
            sum(y * randn([256, 128], seed: 4)).backward()
            return [y.values, x.grad!.values, w.grad!.values, b.grad!.values]
        }
        let fp32 = run(), bf16 = MixedPrecision.with(.bf16) { run() }
        // Σ|terms| ≈ k · E|x||w| = k · 2/π for unit normals: 96 for y, 128 for dx, 256 for dw.
        let names = ["y", "dx", "dw"], inner = [96, 128, 256]
        for i in 0..<3 {
            let (name, a, b, k) = (names[i], fp32[i], bf16[i], Float(inner[i]))
            // Worst case 2·2⁻⁹·Σ|terms|; Σ|terms| is k·2/π on average, up to ~1.5 times that over these outputs.
            let bound: Float = 2 * k * (2 / Float.pi) * 2 / 512
            var worst: Float = 0
            for j in a.indices { worst = max(worst, abs(a[j] - b[j])) }
            XCTAssertLessThan(worst, bound, "\(name): max |bf16 − fp32| \(worst), bound \(bound)")
            XCTAssertGreaterThan(worst, 0, "\(name): bf16 changed nothing: did it run?")
        }
        XCTAssertEqual(fp32[3], bf16[3], "the bias gradient is summed in fp32 either way")
    }

    /// Attention under bf16 (its six products as bf16 dot products, softmax in fp32) against the fp32 kernels,
    /// on sequences that are not whole blocks (37: neither 4 nor 32 divides it) and with the gradient added
    /// to (two uses of one projection). Each bf16 operand carries a relative error of at most 2⁻⁹; through the
    /// scores, softmax and the weighted sums that compounds to a few times that, so the check allows 2%
    /// relative error (L2) on the output and on the gradient; ~0.4% is typical.
    func testAttentionInBF16StaysWithinRoundingOfFP32() {
        for (seq, heads, hd) in [(37, 2, 16), (64, 4, 32), (1, 2, 32)] {
            let d = heads * hd
            func run() -> [[Float]] {
                let qkv = randn([2 * seq, 3 * d], seed: 5).requiringGrad()
                let y = causalSelfAttention(qkv, batch: 2, seq: seq, heads: heads)
                let z = causalSelfAttention(qkv, batch: 2, seq: seq, heads: heads)
                sum(y * randn([2 * seq, d], seed: 6) + z * randn([2 * seq, d], seed: 7)).backward()
                return [y.values, qkv.grad!.values]
            }
            let fp32 = run(), bf16 = MixedPrecision.with(.bf16) { run() }
            for (name, a, b) in [("output", fp32[0], bf16[0]), ("gradient", fp32[1], bf16[1])] {
                var err: Double = 0, norm: Double = 0
                for j in a.indices { err += Double(a[j] - b[j]) * Double(a[j] - b[j]); norm += Double(a[j]) * Double(a[j]) }
                let relative = (err / max(norm, 1e-30)).squareRoot()
                XCTAssertLessThan(relative, 0.02, "seq \(seq), head size \(hd): \(name) relative error \(relative)")
                if seq > 1 || name == "output" { XCTAssertGreaterThan(err, 0, "seq \(seq): bf16 changed nothing: did it run?") }
            }
        }
    }

    /// A head size the bf16 kernels do not take (not a multiple of 16) runs the fp32 kernels, bit for bit.
    func testAttentionWithAnOddHeadSizeFallsBackToFP32() {
        func run() -> [[Float]] {
            let qkv = randn([40, 3 * 48], seed: 8).requiringGrad()  // 2 heads of 24
            let y = causalSelfAttention(qkv, batch: 2, seq: 20, heads: 2)
            sum(y * randn([40, 48], seed: 9)).backward()
            return [y.values, qkv.grad!.values]
        }
        XCTAssertEqual(run(), MixedPrecision.with(.bf16) { run() })
    }
}
