import XCTest
@testable import TensorCore

final class BLASTests: XCTestCase {
    func testCoreIsNotWeakerThanCPU() {
        let cfg = BLAS.configuration
        if getenv("OPENBLAS_CORETYPE") == nil, let best = BLAS.bestCore(forFlags: BLAS.cpuFlags()) {
            XCTAssertGreaterThanOrEqual(BLAS.level(ofCore: BLAS.coreName), BLAS.level(ofCore: best), cfg.reason)
        }
        XCTAssertFalse(BLAS.coreName.isEmpty)
    }

    func testCoreChoiceFromFlags() {
        XCTAssertEqual(BLAS.bestCore(forFlags: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma"]), "SkylakeX")
        XCTAssertEqual(BLAS.bestCore(forFlags: ["avx512f", "avx2", "fma"]), "Haswell")
        XCTAssertEqual(BLAS.bestCore(forFlags: ["sse2"]), nil)
        XCTAssertLessThan(BLAS.level(ofCore: "Prescott"), BLAS.level(ofCore: "Haswell"))
    }

    func testSgemmMatchesNaiveProduct() {
        // Larger than OpenBLAS's small-matrix path, checked against a float64 reference.
        let (m, k, n) = (67, 129, 33)
        let a = randn([m, k], seed: 1), b = randn([k, n], seed: 2)
        let c = Autograd.noGrad { matmul(a, b) }
        var worst = 0.0
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a.storage.pointer[i * k + p]) * Double(b.storage.pointer[p * n + j]) }
            worst = max(worst, abs(s - Double(c.storage.pointer[i * n + j])))
        } }
        XCTAssertLessThan(worst, 1e-3)
    }
}
#if canImport(Glibc)
import Glibc
#endif
