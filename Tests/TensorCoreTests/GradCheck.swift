import XCTest
@testable import TensorCore

/// Central finite differences against autograd. The probe loss is Σ y·r with a fixed random r, summed
/// in float64 outside autograd, so rounding stays near 1e-4 while a wrong gradient is off by O(1).
func checkGradients(_ inputs: [Tensor], seed: UInt64 = 7, eps: Float = 1e-2, absTol: Double = 2e-3, relTol: Double = 2e-2,
                    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    var rng = RandomGenerator(seed: seed)
    let params = inputs.map { $0.detached.requiringGrad() }
    let y = f(params)
    let r = Tensor(randomNormal: y.shape, std: 1, rng: &rng)
    let loss = sum(y * r)
    loss.backward()
    func probe(_ xs: [Tensor]) -> Double {
        let out = Autograd.noGrad { f(xs) }
        var s = 0.0
        for i in 0..<out.count { s += Double(out.storage.pointer[i]) * Double(r.storage.pointer[i]) }
        return s
    }
    var checked = 0
    for k in inputs.indices {
        guard let analytic = params[k].grad else { XCTFail("input \(k) got no gradient", file: file, line: line); continue }
        for j in 0..<inputs[k].count {
            var plus = inputs.map { $0.detached }, minus = plus
            plus[k] = Tensor(shape: inputs[k].shape, values: inputs[k].values)
            minus[k] = Tensor(shape: inputs[k].shape, values: inputs[k].values)
            plus[k].storage.pointer[j] += eps
            minus[k].storage.pointer[j] -= eps
            let numeric = (probe(plus) - probe(minus)) / Double(2 * eps)
            let a = Double(analytic.storage.pointer[j])
            if abs(a - numeric) > absTol + relTol * abs(numeric) {
                XCTFail("input \(k)[\(j)]: autograd \(a), finite difference \(numeric)", file: file, line: line)
                return
            }
            checked += 1
        }
    }
    XCTAssertGreaterThan(checked, 0, file: file, line: line)
}

func randn(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor(randomNormal: shape, std: std, rng: &rng)
}
