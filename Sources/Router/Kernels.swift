#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few float loops of routing and training, on raw pointers: class-held arrays would pay an
/// exclusivity check per element, and these run hundreds of times per request.
enum RouterKernels {
    /// y[0..<n] += x[0..<n]
    @inline(__always)
    static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for j in 0..<n { y[j] += x[j] }
    }

    /// y[0..<n] += a * x[0..<n]
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        for j in 0..<n { y[j] += a * x[j] }
    }

    @inline(__always)
    static func scale(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ n: Int) {
        for j in 0..<n { y[j] *= a }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Float = 0
        for j in 0..<n { s += a[j] * b[j] }
        return s
    }

    /// probs = softmax(W · hidden + bias) for W of shape [classes, dim].
    @inline(__always)
    static func linearSoftmax(weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, hidden: UnsafePointer<Float>,
                              classes: Int, dim: Int, probs: UnsafeMutablePointer<Float>) {
        var maxLogit = -Float.infinity
        for c in 0..<classes {
            let z = dot(weights + c * dim, hidden, dim) + bias[c]
            probs[c] = z
            if z > maxLogit { maxLogit = z }
        }
        var sum: Float = 0
        for c in 0..<classes {
            let e = expf(probs[c] - maxLogit)
            probs[c] = e
            sum += e
        }
        let inv = 1 / sum
        for c in 0..<classes { probs[c] *= inv }
    }
}
