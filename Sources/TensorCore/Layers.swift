/// A named, trainable tensor. The optimiser writes its values in place (parameters are shared state by nature).
public final class Parameter {
    /// Stable name, as stored in safetensors (e.g. `blocks.0.qkv.weight`).
    public let name: String
    public private(set) var value: Tensor
    /// AdamW decays tensors of two or more dimensions only (weights, embeddings), as GPT-2 recipes do.
    public var decays: Bool { value.rank >= 2 }

    public init(_ name: String, _ initial: Tensor) {
        self.name = name
        self.value = initial.detached.requiringGrad()
    }

    public var shape: [Int] { value.shape }
    public var grad: Tensor? { value.grad }
    public func zeroGrad() { value.node?.zeroGrad() }

    /// Replaces the values (loading weights); shapes must match.
    public func load(_ values: Tensor) {
        precondition(values.shape == value.shape, "\(name): loading shape \(values.shape) into \(value.shape)")
        value.storage.pointer.update(from: values.storage.pointer, count: values.count)
    }
}

/// y = x · Wᵀ + b, W stored [out, in].
public struct Linear {
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true, std: Float = 0.02,
                rng: inout RandomGenerator) {
        weight = Parameter("\(name).weight", Tensor(randomNormal: [outFeatures, inFeatures], std: std, rng: &rng))
        self.bias = bias ? Parameter("\(name).bias", Tensor(zeros: [outFeatures])) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight.value, bias: bias?.value) }
    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
}

/// A lookup table of `count` rows of width `dim`.
public struct Embedding {
    public let weight: Parameter

    public init(_ name: String, count: Int, dim: Int, std: Float = 0.02, rng: inout RandomGenerator) {
        weight = Parameter("\(name).weight", Tensor(randomNormal: [count, dim], std: std, rng: &rng))
    }

    public func callAsFunction(_ ids: [Int32]) -> Tensor { embedding(ids, table: weight.value) }
    public var parameters: [Parameter] { [weight] }
}

/// LayerNorm over the last dimension with learned scale and shift.
public struct LayerNorm {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Float

    public init(_ name: String, dim: Int, eps: Float = 1e-5) {
        weight = Parameter("\(name).weight", Tensor(filled: 1, shape: [dim]))
        bias = Parameter("\(name).bias", Tensor(zeros: [dim]))
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight.value, bias: bias.value, eps: eps) }
    public var parameters: [Parameter] { [weight, bias] }
}

/// An ordered collection of parameters with unique names.
public struct ParameterSet {
    public let all: [Parameter]
    private let index: [String: Parameter]

    public init(_ parameters: [Parameter]) {
        all = parameters
        var idx = [String: Parameter]()
        for p in parameters {
            precondition(idx[p.name] == nil, "ParameterSet: duplicate parameter name \(p.name)")
            idx[p.name] = p
        }
        index = idx
    }

    public subscript(name: String) -> Parameter? { index[name] }
    public var count: Int { all.reduce(0) { $0 + $1.value.count } }
    public var names: [String] { all.map(\.name) }
    public func zeroGrad() { all.forEach { $0.zeroGrad() } }

    /// The values as safetensors entries (F32).
    public func entries() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.value.detached) })
    }

    /// Loads every parameter from `tensors`; the names and shapes must match exactly.
    public func load(_ tensors: [String: Tensor]) throws {
        let missing = all.map(\.name).filter { tensors[$0] == nil }
        guard missing.isEmpty else { throw TensorCoreError.mismatch("missing tensors: \(missing.prefix(5).joined(separator: ", "))") }
        for p in all {
            let t = tensors[p.name]!
            guard t.shape == p.shape else {
                throw TensorCoreError.mismatch("\(p.name) has shape \(t.shape), the model expects \(p.shape)")
            }
            p.load(t)
        }
    }
}
