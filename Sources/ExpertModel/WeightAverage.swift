import CKernels
import TensorCore

/// An exponential moving average of a model's weights, updated after every optimiser step, that the
/// trainer validates beside the live weights (and keeps when it validates better).
///
/// The decay warms up as min(decay, (1 + t) / (10 + t)), so the average of the first steps is not
/// dominated by the random initialisation.
final class WeightAverage {
    let decay: Float
    private let parameters: [Parameter]
    private var average: [TensorStorage]
    private(set) var updates = 0

    init(_ parameters: [Parameter], decay: Float) {
        self.decay = decay
        self.parameters = parameters
        average = parameters.map { TensorStorage(copying: $0.value.storage.pointer, count: $0.value.count) }
    }

    /// avg ← d·avg + (1 − d)·w for every parameter.
    func update() {
        updates += 1
        let t = Float(updates)
        let d = min(decay, (1 + t) / (10 + t))
        for (p, a) in zip(parameters, average) {
            tc_scale(a.pointer, d, a.pointer, a.count)
            tc_axpy(a.pointer, p.value.storage.pointer, 1 - d, a.count)
        }
    }

    /// Runs `body` with the averaged weights in the model, then puts the live ones back.
    func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        let live = parameters.map { TensorStorage(copying: $0.value.storage.pointer, count: $0.value.count) }
        for (p, a) in zip(parameters, average) { p.value.storage.pointer.update(from: a.pointer, count: a.count) }
        defer { for (p, l) in zip(parameters, live) { p.value.storage.pointer.update(from: l.pointer, count: l.count) } }
        return try body()
    }

    /// The averages as checkpoint tensors (`average.NAME`), and the update count for the metadata.
    func stateTensors() -> [String: Tensor] {
        var out = [String: Tensor]()
        for (p, a) in zip(parameters, average) { out["average.\(p.name)"] = Tensor(shape: p.shape, storage: a) }
        return out
    }

    /// Restores what `stateTensors` saved; false when a parameter's average is missing or misshapen.
    func restore(_ tensors: [String: Tensor], updates: Int) -> Bool {
        var restored = [TensorStorage]()
        for p in parameters {
            guard let t = tensors["average.\(p.name)"], t.count == p.value.count else { return false }
            restored.append(TensorStorage(copying: t.storage.pointer, count: t.count))
        }
        average = restored
        self.updates = updates
        return true
    }
}
