import XCTest
@testable import TensorCore

/// Finite-difference checks of the recipe's architecture ops, and what each must preserve.
final class ArchitectureOpsTests: XCTestCase {
    func testReluSquaredGradient() {
        // Away from the kink at 0, where the finite difference is defined.
        let x = Tensor(shape: [2, 4], values: [-1.3, 0.7, 2.1, -0.4, 0.9, -2.2, 0.35, -0.8])
        checkGradients([x]) { reluSquared($0[0]) }
        XCTAssertEqual(Autograd.noGrad { reluSquared(x) }.values[1], 0.49, accuracy: 1e-6)
    }

    func testQKNormGradient() {
        let (rows, heads, d) = (3, 2, 8)
        checkGradients([randn([rows, 3 * d], seed: 21, std: 1.5), randn([d / heads], seed: 22), randn([d / heads], seed: 23)]) {
            normalizeQueriesKeys($0[0], heads: heads, qGain: $0[1], kGain: $0[2])
        }
    }

    func testQKNormGivesUnitRMSAndPassesValues() {
        let (heads, d) = (2, 8)
        let x = randn([2, 3 * d], seed: 5, std: 3)
        let ones = Tensor(filled: 1, shape: [d / heads])
        let y = Autograd.noGrad { normalizeQueriesKeys(x, heads: heads, qGain: ones, kGain: ones) }.values
        for r in 0..<2 {
            for s in 0..<(2 * heads) {
                let seg = y[(r * 3 * d + s * 4)..<(r * 3 * d + s * 4 + 4)]
                XCTAssertEqual(seg.reduce(0) { $0 + $1 * $1 } / 4, 1, accuracy: 1e-4)
            }
            XCTAssertEqual(Array(y[(r * 3 * d + 2 * d)..<((r + 1) * 3 * d)]), Array(x.values[(r * 3 * d + 2 * d)..<((r + 1) * 3 * d)]))
        }
    }

    func testRotaryGradient() {
        let (rows, heads, d) = (4, 2, 8)
        let table = RotaryTable(positions: 16, headDim: d / heads)
        checkGradients([randn([rows, 3 * d], seed: 31)]) { rotaryEmbedding($0[0], heads: heads, positions: [0, 3, 7, 15], table: table) }
    }

    func testRotaryScoresDependOnRelativePositionOnly() {
        // q·k after rotation by positions (p, p + 2) is the same for every p.
        let (heads, d) = (1, 8)
        let table = RotaryTable(positions: 32, headDim: d)
        let x = randn([1, 3 * d], seed: 9)
        func score(_ pq: Int32, _ pk: Int32) -> Float {
            let two = Tensor(shape: [2, 3 * d], values: x.values + x.values)
            let y = Autograd.noGrad { rotaryEmbedding(two, heads: heads, positions: [pq, pk], table: table) }.values
            return (0..<d).reduce(0) { $0 + y[$1] * y[3 * d + d + $1] }
        }
        XCTAssertEqual(score(0, 2), score(5, 7), accuracy: 1e-4)
        XCTAssertEqual(score(3, 5), score(20, 22), accuracy: 1e-4)
        XCTAssertNotEqual(score(0, 2), score(0, 9), accuracy: 1e-3)
        // Position 0 is the identity.
        let y0 = Autograd.noGrad { rotaryEmbedding(x, heads: heads, positions: [0], table: table) }.values
        XCTAssertEqual(y0, x.values)
    }

    func testMuonOrthogonalisesTheUpdate() {
        // An ill-conditioned gradient (one row 30× the rest) comes out with every singular value near 1
        // (the quintic iteration leaves them within about 0.7...1.2): the Rayleigh quotients of its Gram
        // matrix along random directions stay in 0.4...1.45, for a tall and a wide matrix.
        let precisions: [Precision] = MixedPrecision.kernel == .none ? [.fp32] : [.fp32, .bf16]
        for precision in precisions {
          for (rows, cols) in [(12, 4), (4, 10), (40, 24)] {
            var rng = RandomGenerator(seed: 3)
            var buf = Tensor(randomNormal: [rows, cols], std: 1, rng: &rng).values
            for c in 0..<cols { buf[c] *= 30 }
            MixedPrecision.with(precision) { buf.withUnsafeMutableBufferPointer { Muon().orthogonalize($0.baseAddress!, rows: rows, cols: cols) } }
            let wide = rows <= cols
            let (r, k) = wide ? (rows, cols) : (cols, rows)
            func at(_ i: Int, _ c: Int) -> Float { wide ? buf[i * cols + c] : buf[c * cols + i] }
            for trial in 0..<20 {
                var v = (0..<r).map { _ in rng.nextNormal() }
                if trial < r { v = (0..<r).map { $0 == trial ? 1 : 0 } }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                v = v.map { $0 / norm }
                var q: Float = 0
                for c in 0..<k {
                    let y = (0..<r).reduce(Float(0)) { $0 + v[$1] * at($1, c) }
                    q += y * y
                }
                XCTAssert((0.4...1.45).contains(q), "Rayleigh quotient \(q) for \(rows)×\(cols) in \(precision)")
            }
          }
        }
    }

    func testMuonStepMovesEachBlockByTheLearningRate() {
        // A fused [3·n, n] weight orthogonalised as three blocks: each block moves by lr·O with ‖O‖_F² ≈ n.
        let n = 6
        let p = Parameter("w", Tensor(zeros: [3 * n, n]))
        var rng = RandomGenerator(seed: 4)
        let g = Tensor(randomNormal: [3 * n, n], std: 1, rng: &rng)
        let loss = sum(p.value * g)
        loss.backward()
        let muon = Muon(learningRate: 0.1, momentum: 0.95)
        muon.update([p]) { _ in 3 }
        let w = p.value.values
        for b in 0..<3 {
            let norm2 = w[(b * n * n)..<((b + 1) * n * n)].reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(norm2 / (0.01 * Float(n)), 1, accuracy: 0.35, "block \(b)")
        }
        XCTAssertNotNil(muon.stateTensors(shapes: ["w": [3 * n, n]])["muon.m.w"])
    }
}
