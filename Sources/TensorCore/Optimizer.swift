#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// AdamW with decoupled weight decay and bias correction (PyTorch's update order), applied to
/// tensors of two or more dimensions only when `decayOnlyMatrices` is set.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public let decayOnlyMatrices: Bool
    /// Steps taken so far (bias correction uses it).
    public private(set) var step: Int = 0
    /// First and second moments, by parameter name.
    public private(set) var moments: [String: (m: TensorStorage, v: TensorStorage)] = [:]

    public init(learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8,
                weightDecay: Float = 0.1, decayOnlyMatrices: Bool = true) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decayOnlyMatrices = decayOnlyMatrices
    }

    /// One update of every parameter that has a gradient.
    public func update(_ parameters: [Parameter]) {
        step += 1
        let bc1 = 1 - Float(Double(beta1).power(step)), bc2 = 1 - Float(Double(beta2).power(step))
        for p in parameters {
            guard let g = p.value.node?.grad else { continue }
            let n = p.value.count
            let (m, v) = moments[p.name] ?? (TensorStorage(count: n), TensorStorage(count: n))
            moments[p.name] = (m, v)
            let wd = (!decayOnlyMatrices || p.decays) ? weightDecay : 0
            let pp = p.value.storage.pointer
            Parallel.chunks(n, minimumPerThread: 1 << 16) { r in
                let o = r.lowerBound
                tc_adamw(pp + o, g.pointer + o, m.pointer + o, v.pointer + o, r.count, learningRate, beta1, beta2,
                         eps, wd, bc1, bc2)
            }
        }
    }

    /// The state as tensors (for checkpoints): `adam.m.NAME`, `adam.v.NAME`; the step goes in metadata.
    public func stateTensors(shapes: [String: [Int]]) -> [String: Tensor] {
        var out = [String: Tensor]()
        for (name, mv) in moments {
            let shape = shapes[name] ?? [mv.m.count]
            out["adam.m.\(name)"] = Tensor(shape: shape, storage: mv.m)
            out["adam.v.\(name)"] = Tensor(shape: shape, storage: mv.v)
        }
        return out
    }

    /// Restores state saved by `stateTensors`.
    public func restore(step: Int, tensors: [String: Tensor]) {
        self.step = step
        moments = [:]
        for (key, t) in tensors where key.hasPrefix("adam.m.") {
            let name = String(key.dropFirst("adam.m.".count))
            guard let v = tensors["adam.v.\(name)"] else { continue }
            moments[name] = (TensorStorage(copying: t.storage.pointer, count: t.count),
                             TensorStorage(copying: v.storage.pointer, count: v.count))
        }
    }
}

extension Double {
    func power(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= self }
        return r
    }
}

/// Scales every gradient so that their global L2 norm is at most `maxNorm` (as torch's
/// clip_grad_norm_). Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters { if let g = p.value.node?.grad { total += tc_sum_squares(g.pointer, g.count) } }
    let norm = Float(total.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        for p in parameters { if let g = p.value.node?.grad { tc_scale(g.pointer, coef, g.pointer, g.count) } }
    }
    return norm
}

/// Linear warm-up to the peak rate, then cosine decay to `minRatio` of it at `totalSteps`.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let minRatio: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minRatio: Float = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// The rate for step `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Float(step - warmupSteps) / Float(span))
        let cosine = 0.5 * (1 + cosf(Float.pi * progress))
        return peak * (minRatio + (1 - minRatio) * cosine)
    }
}
