#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// The router's weights during training and fastText's sparse update: per example, the mean of its
/// feature rows goes through the linear layer and softmax; the output layer takes the full gradient, and
/// the gradient of the mean is added to just the rows the example touched (so a step costs
/// O(features × dim + classes × dim), whatever the table size). Single-threaded, in the order given:
/// that is what makes training bit-reproducible.
struct SoftmaxSGD {
    let buckets: Int, dim: Int, classes: Int
    /// [buckets, dim], uniform in ±1/dim as in fastText.
    let input: Tensor
    /// [classes, dim], zeros.
    let output: Tensor
    /// [classes], zeros.
    let bias: Tensor

    init(config: RouterConfig, classes: Int, rng: inout RandomGenerator) {
        buckets = config.buckets
        dim = config.dim
        self.classes = classes
        let table = TensorStorage(count: buckets * dim, zeroed: false)
        let p = table.pointer
        let scale = 2 / Float(dim), offset = 1 / Float(dim)
        for i in 0..<table.count { p[i] = rng.nextFloat() * scale - offset }
        input = Tensor(shape: [buckets, dim], storage: table)
        output = Tensor(zeros: [classes, dim])
        bias = Tensor(zeros: [classes])
    }

    /// Runs `epochs` passes, each over a fresh seeded permutation, with the step decaying linearly from
    /// `learningRate` to 0 across all of them. Returns the mean loss of the last epoch.
    func train(_ features: FeatureMatrix, targets: [Int32], epochs: Int, learningRate: Float,
               rng: inout RandomGenerator) -> Double {
        let n = features.count
        guard n > 0 else { return 0 }
        let total = Float(epochs * n)
        let E = input.storage.pointer, W = output.storage.pointer, B = bias.storage.pointer
        let dim = dim, classes = classes
        var order = Array(0..<n)
        var lastLoss = 0.0
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * dim + classes)
        defer { scratch.deallocate() }
        let hidden = scratch, grad = scratch + dim, probs = scratch + 2 * dim
        features.ids.withUnsafeBufferPointer { idsBuf in
            features.offsets.withUnsafeBufferPointer { offs in
                targets.withUnsafeBufferPointer { ys in
                    let ids = idsBuf.baseAddress!
                    var step = 0
                    for _ in 0..<epochs {
                        rng.shuffle(&order)
                        var loss = 0.0
                        for e in order {
                            let lr = learningRate * (1 - Float(step) / total)
                            step += 1
                            let lo = offs[e], hi = offs[e + 1]
                            let count = hi - lo
                            let y = Int(ys[e])
                            hidden.initialize(repeating: 0, count: dim)
                            for k in lo..<hi { RouterKernels.add(hidden, E + Int(ids[k]) * dim, dim) }
                            if count > 0 { RouterKernels.scale(hidden, 1 / Float(count), dim) }
                            RouterKernels.linearSoftmax(weights: W, bias: B, hidden: hidden, classes: classes, dim: dim, probs: probs)
                            loss -= Double(logf(max(probs[y], 1e-30)))
                            grad.initialize(repeating: 0, count: dim)
                            for c in 0..<classes {
                                let g = lr * ((c == y ? 1 : 0) - probs[c])
                                let w = W + c * dim
                                RouterKernels.axpy(grad, g, w, dim)
                                RouterKernels.axpy(w, g, hidden, dim)
                                B[c] += g
                            }
                            guard count > 0 else { continue }
                            RouterKernels.scale(grad, 1 / Float(count), dim)
                            for k in lo..<hi { RouterKernels.add(E + Int(ids[k]) * dim, grad, dim) }
                        }
                        lastLoss = loss / Double(n)
                    }
                }
            }
        }
        return lastLoss
    }
}
