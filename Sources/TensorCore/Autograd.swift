/// Reverse-mode autograd. Each op that has an input needing gradients records a `GradNode` with a
/// closure that, given the node's gradient, accumulates into its parents' gradients. `backward()`
/// runs the closures in reverse topological order. No tape exists when nothing needs gradients, and
/// `Autograd.noGrad` turns recording off for inference.
public enum Autograd {
    @TaskLocal public static var isRecording: Bool = true

    /// Runs `body` with no graph recorded: inference pays no autograd cost.
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $isRecording.withValue(false) { try body() }
    }
}

/// One recorded value in the autograd graph.
public final class GradNode {
    public let count: Int
    let parents: [GradNode]
    /// Reads `self.grad` and accumulates into the parents. Nil for leaves.
    var backwardFn: ((GradNode) -> Void)?
    /// Buffers the backward closure reads through raw pointers (inputs kept alive until backward ran).
    var saved: [TensorStorage] = []
    /// The accumulated gradient (nil until something flows in).
    public internal(set) var grad: TensorStorage?

    init(count: Int, parents: [GradNode] = []) {
        self.count = count
        self.parents = parents
    }

    public var isLeaf: Bool { parents.isEmpty }

    /// The gradient buffer, zero-filled on first use.
    public func gradPointer() -> UnsafeMutablePointer<Float> {
        if let g = grad { return g.pointer }
        let g = TensorStorage(count: count)
        grad = g
        return g.pointer
    }

    /// The gradient buffer for a writer that covers every element: when nothing has flowed in yet it is
    /// returned uninitialised with `fresh` set, and the writer stores instead of adding (no zero-fill pass).
    public func gradForWrite() -> (pointer: UnsafeMutablePointer<Float>, fresh: Bool) {
        if let g = grad { return (g.pointer, false) }
        let g = TensorStorage(count: count, zeroed: false)
        grad = g
        return (g.pointer, true)
    }

    /// grad += values
    func accumulate(_ values: UnsafePointer<Float>) {
        if grad == nil {
            grad = TensorStorage(copying: values, count: count)
        } else {
            tcAccumulate(grad!.pointer, values, count)
        }
    }

    /// grad += values, taking `values` itself when nothing has flowed in yet. Only for a buffer no one
    /// writes to afterwards: the gradient of the node whose backward is running, released after it.
    func accumulate(adopting values: TensorStorage) {
        if let g = grad { tcAccumulate(g.pointer, values.pointer, count) } else { grad = values }
    }

    /// Clears the gradient (parameters between steps).
    public func zeroGrad() { grad = nil }
}

extension Tensor {
    /// Back-propagates from this scalar: every leaf reachable from it accumulates d(self)/d(leaf).
    /// Intermediate gradients and closures are released as soon as they have been used.
    public func backward() {
        precondition(count == 1, "backward: needs a scalar loss, got shape \(shape)")
        guard let root = node else { preconditionFailure("backward: this tensor does not require gradients") }
        var one: Float = 1
        root.accumulate(&one)
        // Iterative DFS post-order gives a topological order without recursion limits.
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Bool)] = [(root, false)]
        while let (n, expanded) = stack.popLast() {
            if expanded { order.append(n); continue }
            if !visited.insert(ObjectIdentifier(n)).inserted { continue }
            stack.append((n, true))
            for p in n.parents where !visited.contains(ObjectIdentifier(p)) { stack.append((p, false)) }
        }
        for n in order.reversed() {
            guard let fn = n.backwardFn else { continue }
            if n.grad != nil { fn(n) }
            n.backwardFn = nil
            n.saved = []
            n.grad = nil
        }
    }
}
