import CKernels

/// LayerNorm over the last dimension, fused forward and backward (mean and 1/std are kept).
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float = 1e-5) -> Tensor {
    let started = Profiler.now()
    let (rows, d) = x.rowsAndColumns
    precondition(weight.shape == [d] && bias.shape == [d],
                 "layerNorm: weight \(weight.shape) and bias \(bias.shape) must be [\(d)] for input \(x.shape)")
    let out = TensorStorage(count: x.count, zeroed: false)
    let parents = recordedParents(x, weight, bias)
    let stats = parents == nil ? nil : TensorStorage(count: 2 * rows, zeroed: false)
    let xp = x.storage.pointer, wp = weight.storage.pointer, bp = bias.storage.pointer
    Parallel.chunks(rows, minimumPerThread: 256) { r in
        tc_layernorm_forward(xp + r.lowerBound * d, wp, bp, out.pointer + r.lowerBound * d,
                             stats.map { $0.pointer + r.lowerBound }, stats.map { $0.pointer + rows + r.lowerBound },
                             r.count, d, eps)
    }
    let (xn, wn, bn) = (x.node, weight.node, bias.node)
    return result(x.shape, out, parents, saving: [x, weight], op: "layerNorm", started: started) { dy in
        let mean = stats!.pointer, rstd = stats!.pointer + rows
        // Each worker accumulates dw, db into its own slice; the slices are summed after.
        let workers = Parallel.workers(for: rows, minimumPerThread: 256)
        let partial = TensorStorage(count: workers * 2 * d)
        let scratchDx = xn == nil ? TensorStorage(count: x.count, zeroed: false) : nil  // discarded when x needs no gradient
        let (dxp, fresh) = xn?.gradForWrite() ?? (scratchDx!.pointer, true)
        Parallel.indexedChunks(rows, workers: workers) { w, r in
            let pw = partial.pointer + w * 2 * d
            tc_layernorm_backward(xp + r.lowerBound * d, wp, mean + r.lowerBound, rstd + r.lowerBound,
                                  dy + r.lowerBound * d, dxp + r.lowerBound * d, pw, pw + d, r.count, d, fresh ? 1 : 0)
        }
        withExtendedLifetime(scratchDx) {}
        for w in 0..<workers {
            let pw = partial.pointer + w * 2 * d
            if let wn { tc_accumulate(wn.gradPointer(), pw, d) }
            if let bn { tc_accumulate(bn.gradPointer(), pw + d, d) }
        }
    }
}

/// Rows of `table` picked by `ids`: [ids.count, dim]. The backward pass scatter-adds into the table.
public func embedding(_ ids: [Int32], table: Tensor) -> Tensor {
    let started = Profiler.now()
    precondition(table.rank == 2, "embedding: table must be [count, dim], got \(table.shape)")
    let (v, d) = (table.shape[0], table.shape[1])
    let out = TensorStorage(count: ids.count * d, zeroed: false)
    let tp = table.storage.pointer
    for (i, id) in ids.enumerated() {
        precondition(id >= 0 && Int(id) < v, "embedding: id \(id) at \(i) is outside 0..<\(v)")
        (out.pointer + i * d).update(from: tp + Int(id) * d, count: d)
    }
    let tn = table.node
    return result([ids.count, d], out, recordedParents(table), op: "embedding", started: started) { dy in
        let g = tn!.gradPointer()
        for (i, id) in ids.enumerated() { tc_accumulate(g + Int(id) * d, dy + i * d, d) }
    }
}

/// Causal multi-head self-attention from a fused projection.
///
/// `qkv` is [batch·seq, 3·dim] (or [batch, seq, 3·dim]) with columns q, then k, then v, heads contiguous
/// inside each. Returns [batch·seq, dim] with heads merged back (head h in columns h·hd..<(h+1)·hd).
/// Scores, mask, softmax and the weighted sum run per (sequence, head) on strided views of `qkv`,
/// split across cores; the probabilities are kept for the backward pass.
public func causalSelfAttention(_ qkv: Tensor, batch: Int, seq: Int, heads: Int) -> Tensor {
    let started = Profiler.now()
    let (rows, threeD) = qkv.rowsAndColumns
    precondition(rows == batch * seq, "attention: \(rows) rows is not batch \(batch) × seq \(seq)")
    precondition(threeD % 3 == 0 && (threeD / 3) % heads == 0, "attention: width \(threeD) is not 3 × heads × head size")
    let d = threeD / 3, hd = d / heads, t = seq
    precondition(t <= 4096 && hd <= 512, "attention: sequences up to 4096 and heads up to 512 wide (got \(t), \(hd))")
    let scale = 1 / Float(hd).squareRoot()
    if MixedPrecision.products == .bf16 && hd % 16 == 0 {
        return causalSelfAttentionBF16(qkv, batch: batch, seq: seq, heads: heads, scale: scale, started: started)
    }
    let parents = recordedParents(qkv)
    let probs = TensorStorage(count: batch * heads * t * t, zeroed: false)
    let out = TensorStorage(count: rows * d, zeroed: false)
    let qp = qkv.storage.pointer
    // One C kernel per (sequence, head): only the causal half is computed, keys transposed into a
    // scratch tile (rows padded to 64, see CKernels) so scores vectorise along positions.
    let tile = (t + 63) / 64 * 64
    forEachSequenceHead(batch: batch, heads: heads, seq: t, headSize: hd, scratchFloats: hd * tile) { bh, at, outAt, scratch in
        let base = qp + at
        tc_attention_forward(base, base + d, base + 2 * d, threeD, out.pointer + outAt, d, probs.pointer + bh * t * t, t, hd, scale, scratch)
    }
    let qn = qkv.node
    return result([rows, d], out, parents, saving: [qkv], op: "attention", started: started) { dy in
        // Each (sequence, head) block of dQ, dK and dV is written by exactly one kernel call: a fresh buffer is stored, not added to.
        let (dqkv, fresh) = qn!.gradForWrite()
        forEachSequenceHead(batch: batch, heads: heads, seq: t, headSize: hd, scratchFloats: (hd + t) * tile) { bh, at, outAt, scratch in
            let (base, dbase) = (qp + at, dqkv + at)
            tc_attention_backward(base, base + d, base + 2 * d, threeD, probs.pointer + bh * t * t, dy + outAt, d,
                                  dbase, dbase + d, dbase + 2 * d, t, hd, scale, fresh ? 1 : 0, scratch)
        }
    }
}

/// Runs `body` once per (sequence, head) of an attention, the pairs split across cores, each worker with
/// its own scratch of `scratchFloats` floats. `body` gets the pair's index (sequence · heads + head) and
/// where its head starts in the fused projection [batch·seq, 3·d] and in the merged output [batch·seq, d].
func forEachSequenceHead(batch: Int, heads: Int, seq t: Int, headSize hd: Int, scratchFloats: Int,
                         _ body: (_ pair: Int, _ qkvOffset: Int, _ outOffset: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
    let d = heads * hd
    Parallel.chunks(batch * heads, minimumPerThread: 4) { range in
        let scratch = TensorStorage(count: scratchFloats, zeroed: false)
        for bh in range {
            let (b, h) = (bh / heads, bh % heads)
            body(bh, b * t * 3 * d + h * hd, b * t * d + h * hd, scratch.pointer)
        }
        withExtendedLifetime(scratch) {}
    }
}

/// Mean cross-entropy of rows of `logits` [rows, vocab] against `targets`, with a log-softmax fused in.
/// `weights` (one per row, e.g. a 0/1 mask) make the loss sum(w·ce)/sum(w); rows of weight 0 are ignored.
public func crossEntropy(_ logits: Tensor, targets: [Int32], weights: [Float]? = nil) -> Tensor {
    let started = Profiler.now()
    let (rows, v) = logits.rowsAndColumns
    precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows")
    if let weights { precondition(weights.count == rows, "crossEntropy: \(weights.count) weights for \(rows) rows") }
    for (i, t) in targets.enumerated() where (weights?[i] ?? 1) != 0 {
        precondition(t >= 0 && Int(t) < v, "crossEntropy: target \(t) at row \(i) is outside 0..<\(v)")
    }
    let total = weights.map { $0.reduce(0, +) } ?? Float(rows)
    precondition(total > 0, "crossEntropy: the weights sum to zero; nothing to average")
    let parents = recordedParents(logits)
    let dlogits = parents == nil ? nil : TensorStorage(count: rows * v, zeroed: false)
    let lp = logits.storage.pointer
    var loss = 0.0
    targets.withUnsafeBufferPointer { tp in
        let wbuf = weights ?? []
        wbuf.withUnsafeBufferPointer { wp in
            let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: Parallel.threads + 1)
            defer { partial.deallocate() }
            partial.initialize(repeating: 0)
            let workers = Parallel.workers(for: rows, minimumPerThread: 256)
            Parallel.indexedChunks(rows, workers: workers) { w, r in
                partial[w] = tc_cross_entropy(lp + r.lowerBound * v, tp.baseAddress! + r.lowerBound,
                                              weights == nil ? nil : wp.baseAddress! + r.lowerBound,
                                              dlogits.map { $0.pointer + r.lowerBound * v }, 1 / total, r.count, v)
            }
            loss = partial.reduce(0, +)
        }
    }
    let ln = logits.node, n = rows * v
    let out = TensorStorage(count: 1, zeroed: false)
    out.pointer[0] = Float(loss / Double(total))
    return result([], out, parents, op: "crossEntropy", started: started) { dy in tc_axpy(ln!.gradPointer(), dlogits!.pointer, dy[0], n) }
}
