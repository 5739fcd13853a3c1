import CKernels

/// Muon (Jordan et al., 2024): momentum SGD whose update for a weight matrix is orthogonalised by five
/// Newton–Schulz iterations, so every direction of the update moves at the same rate. For the hidden
/// matrices of small transformers it reaches a given loss in fewer steps than AdamW; embeddings, the
/// head, norms and biases stay on AdamW (the caller splits the parameters).
///
/// A parameter may be orthogonalised as stacked row blocks (a fused q/k/v projection is three matrices).
public final class Muon {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float
    /// Momentum buffers, by parameter name.
    public private(set) var momenta: [String: TensorStorage] = [:]
    private var scratch = TensorStorage(count: 0)
    private var scratchBF16 = BF16Buffer(count: 0)

    public init(learningRate: Float = 0.02, momentum: Float = 0.95, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// One update of every parameter that has a gradient; `blocks(p)` says into how many equal row blocks
    /// `p` [rows, cols] is cut before orthogonalising.
    public func update(_ parameters: [Parameter], blocks: (Parameter) -> Int = { _ in 1 }) {
        for p in parameters {
            guard let g = p.value.node?.grad else { continue }
            precondition(p.value.rank == 2, "Muon: \(p.name) is not a matrix (\(p.shape))")
            let n = p.value.count
            let m = momenta[p.name] ?? TensorStorage(count: n)
            momenta[p.name] = m
            let u = TensorStorage(count: n, zeroed: false)
            // m ← β·m + (1−β)·g; Nesterov: u ← (1−β)·g + β·m
            let (beta, mp, gp, up) = (momentum, m.pointer, g.pointer, u.pointer)
            for i in 0..<n {
                mp[i] = beta * mp[i] + (1 - beta) * gp[i]
                up[i] = (1 - beta) * gp[i] + beta * mp[i]
            }
            let count = blocks(p), rows = p.shape[0] / count, cols = p.shape[1]
            precondition(p.shape[0] % count == 0, "Muon: \(p.name) \(p.shape) does not split into \(count) row blocks")
            let wp = p.value.storage.pointer
            let scale = learningRate * Float(max(1, Double(rows) / Double(cols)).squareRoot())
            let decay = 1 - learningRate * weightDecay
            for b in 0..<count {
                let block = up + b * rows * cols
                orthogonalize(block, rows: rows, cols: cols)
                let w = wp + b * rows * cols
                for i in 0..<(rows * cols) { w[i] = w[i] * decay - scale * block[i] }
            }
        }
    }

    /// Replaces x [rows, cols] by an approximation of U·Vᵀ (its SVD's orthogonal factor) with the quintic
    /// Newton–Schulz iteration of Muon's reference (coefficients 3.4445, −4.7750, 2.0315; 5 steps),
    /// working on the wide orientation so that the Gram matrix is the small one.
    func orthogonalize(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let (a, b, c): (Float, Float, Float) = (3.4445, -4.7750, 2.0315)
        let wide = rows <= cols
        let (r, k) = wide ? (rows, cols) : (cols, rows)  // X is [r, k], r ≤ k
        let need = 2 * r * k + 2 * r * r
        if scratch.count < need { scratch = TensorStorage(count: need, zeroed: false) }
        let xs = scratch.pointer, ys = xs + r * k, gram = ys + r * k, poly = gram + r * r
        if wide { xs.update(from: x, count: r * k) } else { tc_transpose(x, cols, rows, cols, xs, rows) }
        let norm = Float(tc_sum_squares(xs, r * k).squareRoot()) + 1e-7
        tc_scale(xs, 1 / norm, xs, r * k)
        var (cur, next) = (xs, ys)
        // Under bf16 products the iteration's products take bf16 operands too (as Muon's reference runs
        // it): it only has to land the singular values near 1, and it is a third of a small step's FLOPs.
        let bf16 = MixedPrecision.products == .bf16
        if bf16 && scratchBF16.count < r * k + 2 * r * r { scratchBF16 = BF16Buffer(count: r * k + 2 * r * r) }
        let xb = scratchBF16.pointer, gb = xb + r * k, pb = gb + r * r
        for _ in 0..<5 {
            // A = X·Xᵀ; B = b·A + c·A·A; X ← a·X + B·X
            if bf16 {
                tc_f32_to_bf16(cur, xb, r * k)
                BLAS.bf16gemm(transA: false, transB: true, m: r, n: r, k: k, a: xb, lda: k, b: xb, ldb: k, c: gram, ldc: r)
                tc_f32_to_bf16(gram, gb, r * r)
                BLAS.bf16gemm(transA: false, transB: false, m: r, n: r, k: r, a: gb, lda: r, b: gb, ldb: r, c: poly, ldc: r)
                tc_scale(poly, c, poly, r * r)
                tc_axpy(poly, gram, b, r * r)
                tc_f32_to_bf16(poly, pb, r * r)
                tc_scale(cur, a, next, r * k)
                BLAS.bf16gemm(transA: false, transB: false, m: r, n: k, k: r, a: pb, lda: r, b: xb, ldb: k, beta: 1, c: next, ldc: k)
            } else {
                BLAS.sgemm(transA: false, transB: true, m: r, n: r, k: k, a: cur, lda: k, b: cur, ldb: k, c: gram, ldc: r)
                BLAS.sgemm(transA: false, transB: false, m: r, n: r, k: r, alpha: c, a: gram, lda: r, b: gram, ldb: r, c: poly, ldc: r)
                tc_axpy(poly, gram, b, r * r)
                next.update(from: cur, count: r * k)
                BLAS.sgemm(transA: false, transB: false, m: r, n: k, k: r, a: poly, lda: r, b: cur, ldb: k, beta: a, c: next, ldc: k)
            }
            swap(&cur, &next)
        }
        if wide { x.update(from: cur, count: r * k) } else { tc_transpose(cur, k, r, k, x, cols) }
    }

    /// The momenta as tensors (for checkpoints): `muon.m.NAME`.
    public func stateTensors(shapes: [String: [Int]]) -> [String: Tensor] {
        var out = [String: Tensor]()
        for (name, m) in momenta { out["muon.m.\(name)"] = Tensor(shape: shapes[name] ?? [m.count], storage: m) }
        return out
    }

    /// Restores state saved by `stateTensors`.
    public func restore(tensors: [String: Tensor]) {
        momenta = [:]
        for (key, t) in tensors where key.hasPrefix("muon.m.") {
            momenta[String(key.dropFirst("muon.m.".count))] = TensorStorage(copying: t.storage.pointer, count: t.count)
        }
    }
}
