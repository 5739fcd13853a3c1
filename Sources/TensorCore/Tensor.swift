import Foundation

/// A contiguous, row-major Float32 tensor. Value semantics: copies share storage until one of them
/// is written through `withMutableValues` (copy on write); ops read inputs in place and write new storage.
/// A tensor that takes part in autograd carries a `GradNode`.
public struct Tensor {
    public let shape: [Int]
    public private(set) var storage: TensorStorage
    /// The autograd record: set on parameters (leaves) and on results of ops whose inputs need gradients.
    public internal(set) var node: GradNode?

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var requiresGrad: Bool { node != nil }

    public init(shape: [Int], storage: TensorStorage, node: GradNode? = nil) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "Tensor: shape \(shape) holds \(shape.reduce(1, *)) values, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.node = node
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    /// A tensor from values in row-major order.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        let s = TensorStorage(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: values.count) }
        self.init(shape: shape, storage: s)
    }

    /// A scalar tensor (shape []).
    public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    public init(filled value: Float, shape: [Int]) {
        let s = TensorStorage(count: shape.reduce(1, *), zeroed: false)
        s.pointer.update(repeating: value, count: s.count)
        self.init(shape: shape, storage: s)
    }

    /// Normal(0, std) values from a seeded generator (std 0: zeros, drawing nothing).
    public init(randomNormal shape: [Int], std: Float, rng: inout RandomGenerator) {
        if std == 0 { self.init(zeros: shape); return }
        let s = TensorStorage(count: shape.reduce(1, *), zeroed: false)
        for i in 0..<s.count { s.pointer[i] = rng.nextNormal() * std }
        self.init(shape: shape, storage: s)
    }

    /// The values, copied out.
    public var values: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// The only value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "Tensor.item: tensor has \(count) values, shape \(shape)")
        return storage.pointer[0]
    }

    /// The gradient accumulated by `backward()`, if any.
    public var grad: Tensor? {
        guard let g = node?.grad else { return nil }
        return Tensor(shape: shape, storage: g)
    }

    /// Reads the values in place.
    public func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Writes the values in place, copying the storage first if another tensor shares it.
    public mutating func withMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = TensorStorage(copying: storage.pointer, count: storage.count)
        }
        return try body(storage.buffer)
    }

    /// The same values with no autograd record.
    public var detached: Tensor { Tensor(shape: shape, storage: storage) }

    /// Marks this tensor as a leaf whose gradient `backward()` accumulates (a parameter).
    public func requiringGrad() -> Tensor {
        Tensor(shape: shape, storage: storage, node: GradNode(count: count))
    }

    /// A view with another shape over the same values (gradients flow through).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) values")
            newShape[i] = count / known
        }
        precondition(newShape.reduce(1, *) == count, "reshape: \(shape) (\(count) values) cannot become \(newShape)")
        guard let node, Autograd.isRecording else { return Tensor(shape: newShape, storage: storage) }
        // Same storage, same element order: the gradient is the same buffer read with the old shape.
        let out = GradNode(count: count, parents: [node])
        out.backwardFn = { out in node.accumulate(out.grad!.pointer) }
        return Tensor(shape: newShape, storage: storage, node: out)
    }

    /// Row and column counts of a tensor read as a matrix whose rows are all but the last dimension.
    public var rowsAndColumns: (rows: Int, cols: Int) {
        precondition(rank >= 1, "expected a tensor of rank >= 1, got a scalar")
        let cols = shape[rank - 1]
        return (cols == 0 ? 0 : count / cols, cols)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = values.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 8 ? ", …" : "")])"
    }
}
