import CKernels

// The ops behind the expert recipe's architecture options (squared ReLU, QK-norm, rotary positions).
// Each works on plain rows and has a finite-difference test; the kernels are in CKernels/qk.c, shared
// with the decoder.

/// max(x, 0)²: the squared-ReLU activation (Primer), cheaper than GELU and as good or better in small
/// transformers.
public func reluSquared(_ x: Tensor) -> Tensor {
    elementwise(x, op: "relu2", forward: tc_relu2_forward, backward: tc_relu2_backward)
}

/// QK-norm on a fused projection `qkv` [rows, 3·d]: each head's query and key is RMS-normalised and
/// scaled by `qGain` / `kGain` [d/heads]; values pass through. Bounded attention logits let training
/// use larger learning rates without the logit growth that makes small transformers diverge.
public func normalizeQueriesKeys(_ qkv: Tensor, heads: Int, qGain: Tensor, kGain: Tensor, eps: Float = 1e-6) -> Tensor {
    let started = Profiler.now()
    let (rows, threeD) = qkv.rowsAndColumns
    let d = threeD / 3, hd = d / heads
    precondition(threeD % 3 == 0 && d % heads == 0 && qGain.shape == [hd] && kGain.shape == [hd],
                 "normalizeQueriesKeys: qkv \(qkv.shape) with \(heads) heads needs gains [\(hd)], got \(qGain.shape) and \(kGain.shape)")
    let parents = recordedParents(qkv, qGain, kGain)
    let out = TensorStorage(count: qkv.count, zeroed: false)
    let rinv = parents == nil ? nil : TensorStorage(count: rows * 2 * heads, zeroed: false)
    let xp = qkv.storage.pointer, qg = qGain.storage.pointer, kg = kGain.storage.pointer
    Parallel.chunks(rows, minimumPerThread: 128) { r in
        let o = r.lowerBound
        tc_qk_rmsnorm_forward(xp + o * threeD, threeD, out.pointer + o * threeD, threeD, r.count, d, heads, qg, kg,
                              rinv.map { $0.pointer + o * 2 * heads }, eps)
        for row in r { (out.pointer + row * threeD + 2 * d).update(from: xp + row * threeD + 2 * d, count: d) }
    }
    let (xn, qn, kn) = (qkv.node, qGain.node, kGain.node)
    return result(qkv.shape, out, parents, saving: [qkv, qGain, kGain], op: "qkNorm", started: started) { dy in
        let workers = Parallel.workers(for: rows, minimumPerThread: 128)
        let partial = TensorStorage(count: workers * 2 * hd)  // per-worker gain gradients, summed after
        let scratch = xn == nil ? TensorStorage(count: qkv.count, zeroed: false) : nil
        let (dx, fresh) = xn?.gradForWrite() ?? (scratch!.pointer, true)
        let tmp = fresh ? nil : TensorStorage(count: qkv.count, zeroed: false)
        let target = tmp?.pointer ?? dx
        Parallel.indexedChunks(rows, workers: workers) { w, r in
            let o = r.lowerBound, pw = partial.pointer + w * 2 * hd
            tc_qk_rmsnorm_backward(xp + o * threeD, threeD, dy + o * threeD, threeD, target + o * threeD, threeD, r.count, d, heads,
                                   qg, kg, rinv!.pointer + o * 2 * heads, pw, pw + hd)
            for row in r { (target + row * threeD + 2 * d).update(from: dy + row * threeD + 2 * d, count: d) }
        }
        if let tmp { tc_accumulate(dx, tmp.pointer, qkv.count) }
        withExtendedLifetime(scratch) {}
        for w in 0..<workers {
            let pw = partial.pointer + w * 2 * hd
            if let qn { tc_accumulate(qn.gradPointer(), pw, hd) }
            if let kn { tc_accumulate(kn.gradPointer(), pw + hd, hd) }
        }
    }
}

/// Rotary position embeddings' cos/sin table for `positions` × headDim/2 angles (made once per model).
public final class RotaryTable: @unchecked Sendable {
    public let positions: Int, headDim: Int, base: Float
    let cos: TensorStorage, sin: TensorStorage
    /// `base` 10,000 as in RoFormer; the head size must be even.
    public init(positions: Int, headDim: Int, base: Float = 10_000) {
        precondition(headDim % 2 == 0 && positions > 0, "RotaryTable: the head size \(headDim) must be even")
        (self.positions, self.headDim, self.base) = (positions, headDim, base)
        cos = TensorStorage(count: positions * headDim / 2, zeroed: false)
        sin = TensorStorage(count: positions * headDim / 2, zeroed: false)
        tc_rope_table(cos.pointer, sin.pointer, positions, headDim, base)
    }
    public var cosPointer: UnsafePointer<Float> { UnsafePointer(cos.pointer) }
    public var sinPointer: UnsafePointer<Float> { UnsafePointer(sin.pointer) }
}

/// RoPE on a fused projection `qkv` [rows, 3·d]: each head's query and key in row r is rotated by the
/// angle of `positions[r]`, so attention scores depend on relative positions only; values pass through.
public func rotaryEmbedding(_ qkv: Tensor, heads: Int, positions: [Int32], table: RotaryTable) -> Tensor {
    let started = Profiler.now()
    let (rows, threeD) = qkv.rowsAndColumns
    let d = threeD / 3
    precondition(positions.count == rows && d / heads == table.headDim,
                 "rotaryEmbedding: \(positions.count) positions for \(rows) rows, head size \(d / heads) against the table's \(table.headDim)")
    precondition(positions.allSatisfy { $0 >= 0 && Int($0) < table.positions }, "rotaryEmbedding: a position is outside the table's \(table.positions)")
    let out = TensorStorage(count: qkv.count, zeroed: false)
    let pos = positions, xp = qkv.storage.pointer
    pos.withUnsafeBufferPointer { pp in
        let base = pp.baseAddress!
        Parallel.chunks(rows, minimumPerThread: 128) { r in
            let o = r.lowerBound
            tc_rope_rows(xp + o * threeD, threeD, out.pointer + o * threeD, threeD, r.count, d, heads, base + o, table.cosPointer, table.sinPointer, 0)
            for row in r { (out.pointer + row * threeD + 2 * d).update(from: xp + row * threeD + 2 * d, count: d) }
        }
    }
    let xn = qkv.node
    return result(qkv.shape, out, recordedParents(qkv), saving: [qkv], op: "rope", started: started) { dy in
        // The gradient of a rotation is the inverse rotation, written straight into a fresh gradient.
        let (dx, fresh) = xn!.gradForWrite()
        let g = fresh ? nil : TensorStorage(count: rows * threeD, zeroed: false)
        let target = g?.pointer ?? dx
        pos.withUnsafeBufferPointer { pp in
            let base = pp.baseAddress!
            Parallel.chunks(rows, minimumPerThread: 128) { r in
                let o = r.lowerBound
                tc_rope_rows(dy + o * threeD, threeD, target + o * threeD, threeD, r.count, d, heads, base + o, table.cosPointer, table.sinPointer, 1)
                for row in r { (target + row * threeD + 2 * d).update(from: dy + row * threeD + 2 * d, count: d) }
            }
        }
        if let g { tc_accumulate(dx, g.pointer, rows * threeD) }
        withExtendedLifetime(table) {}
    }
}
