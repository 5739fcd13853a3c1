import CKernels

// The bf16 forms of the products in `linear`, `matmul` and `causalSelfAttention`. Operands are cast where they are used,
// once each: an activation when the product reads it (the copy is kept for the backward product that
// reads it again), a weight once per forward pass (kept for its backward product), a gradient once in
// the backward pass for both of its products. Casting a [4096×128] activation takes ~17 µs on two
// cores, 2% of the product it feeds (Benchmarks/bf16_kernels.md), so it is not fused further.

/// `linear` with bf16 products: y = x · Wᵀ + b.
func linearBF16(_ x: Tensor, weight: Tensor, bias: Tensor?, rows: Int, inF: Int, outF: Int, started: UInt64) -> Tensor {
    let out = TensorStorage(count: rows * outF, zeroed: false)
    let xb = BF16Buffer(converting: x.storage.pointer, count: rows * inF)
    let wb = BF16Buffer(converting: weight.storage.pointer, count: outF * inF)
    BLAS.bf16gemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: xb.pointer, lda: inF, b: wb.pointer, ldb: inF,
                  c: out.pointer, ldc: outF, rowBias: bias.map { UnsafePointer($0.storage.pointer) })
    var shape = x.shape
    shape[shape.count - 1] = outF
    let (xn, wn, bn) = (x.node, weight.node, bias?.node)
    let parents = bias.map { recordedParents(x, weight, $0) } ?? recordedParents(x, weight)
    return result(shape, out, parents, op: "linear", started: started) { dy in
        // The bias gradient is summed while dY is cast (one pass over dY instead of two), split by columns
        // so each column is summed over the rows in order, exactly as `tc_sum_rows_into` sums it in fp32.
        let db = bn?.gradPointer()
        let dyb: BF16Buffer
        if let db {
            dyb = BF16Buffer(count: rows * outF)
            let parts = rows * outF >= 1 << 16 ? min(2, Parallel.threads) : 1, width = ((outF + parts - 1) / parts + 15) & ~15
            Parallel.indexedChunks(parts, workers: parts) { w, _ in
                let c0 = min(w * width, outF)
                tc_f32_to_bf16_sum_rows(dy, outF, dyb.pointer, rows, c0, min(c0 + width, outF), db)
            }
        } else {
            dyb = BF16Buffer(converting: dy, count: rows * outF)
        }
        let dx = xn.map { $0.gradForWrite() }, dw = wn.map { $0.gradForWrite() }
        let inputGrad = { (workers: Int) in  // dX[rows, in] = dY · W
            if let (g, fresh) = dx {
                BLAS.bf16gemm(transA: false, transB: false, m: rows, n: inF, k: outF, a: dyb.pointer, lda: outF, b: wb.pointer, ldb: inF,
                              beta: fresh ? 0 : 1, c: g, ldc: inF, maxWorkers: workers)
            }
        }
        let weightGrad = { (workers: Int) in  // dW[out, in] = dYᵀ · X
            if let (g, fresh) = dw {
                BLAS.bf16gemm(transA: true, transB: false, m: outF, n: inF, k: rows, a: dyb.pointer, lda: outF, b: xb.pointer, ldb: inF,
                              beta: fresh ? 0 : 1, c: g, ldc: inF, maxWorkers: workers)
            }
        }
        runLinearBackward(dy, rows: rows, inF: inF, outF: outF, bothProducts: dx != nil && dw != nil,
                          biasGrad: nil, inputGrad: inputGrad, weightGrad: weightGrad)
        withExtendedLifetime((xb, wb, dyb)) {}
    }
}

/// A 2-D `matmul` with bf16 products (the tied output head: logits = h · Eᵀ), A not transposed.
func matmulBF16(_ a: Tensor, _ b: Tensor, transposeB: Bool, m: Int, n: Int, k: Int, started: UInt64) -> Tensor {
    let (ar, ac) = (a.shape[0], a.shape[1]), (br, bc) = (b.shape[0], b.shape[1])
    let out = TensorStorage(count: m * n, zeroed: false)
    let abuf = BF16Buffer(converting: a.storage.pointer, count: ar * ac)
    let bbuf = BF16Buffer(converting: b.storage.pointer, count: br * bc)
    BLAS.bf16gemm(transA: false, transB: transposeB, m: m, n: n, k: k, a: abuf.pointer, lda: ac, b: bbuf.pointer, ldb: bc,
                  c: out.pointer, ldc: n)
    let (an, bn) = (a.node, b.node)
    return result([m, n], out, recordedParents(a, b), op: "matmul", started: started) { dc in
        let dcb = BF16Buffer(converting: dc, count: m * n)
        if let an {  // dA[m,k] = dC · op(B)ᵀ
            BLAS.bf16gemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dcb.pointer, lda: n, b: bbuf.pointer, ldb: bc,
                          beta: 1, c: an.gradPointer(), ldc: ac)
        }
        if let bn {
            if !transposeB {  // dB[k,n] = Aᵀ · dC
                BLAS.bf16gemm(transA: true, transB: false, m: k, n: n, k: m, a: abuf.pointer, lda: ac, b: dcb.pointer, ldb: n,
                              beta: 1, c: bn.gradPointer(), ldc: bc)
            } else {          // dB[n,k] = dCᵀ · A
                BLAS.bf16gemm(transA: true, transB: false, m: n, n: k, k: m, a: dcb.pointer, lda: n, b: abuf.pointer, ldb: ac,
                              beta: 1, c: bn.gradPointer(), ldc: bc)
            }
        }
        withExtendedLifetime((abuf, bbuf, dcb)) {}
    }
}

/// `causalSelfAttention` with bf16 products (scores, weighted values and their four backward products as
/// AVX512-BF16 dot products, `CKernels/attention_bf16.c`); softmax and its gradient stay fp32, and the
/// probabilities are kept in bf16, half the bytes the fp32 kernels write and read again.
func causalSelfAttentionBF16(_ qkv: Tensor, batch: Int, seq t: Int, heads: Int, scale: Float, started: UInt64) -> Tensor {
    let (rows, threeD) = qkv.rowsAndColumns
    let d = threeD / 3, hd = d / heads, tp = (t + 31) / 32 * 32
    let probs = BF16Buffer(count: batch * heads * tp * tp)
    let out = TensorStorage(count: rows * d, zeroed: false)
    let qp = qkv.storage.pointer
    let scratchFloats = { (backward: Int32) in (tc_attention_bf16_scratch_bytes(t, hd, backward) + 3) / 4 }
    forEachSequenceHead(batch: batch, heads: heads, seq: t, headSize: hd, scratchFloats: scratchFloats(0)) { bh, at, outAt, scratch in
        let base = qp + at
        let status = tc_attention_forward_bf16(base, base + d, base + 2 * d, threeD, out.pointer + outAt, d,
                                               probs.pointer + bh * tp * tp, t, hd, scale, scratch)
        precondition(status == 0, "bf16 attention refused t \(t), head size \(hd)")
    }
    let qn = qkv.node
    return result([rows, d], out, recordedParents(qkv), saving: [qkv], op: "attention", started: started) { dy in
        let (dqkv, fresh) = qn!.gradForWrite()
        forEachSequenceHead(batch: batch, heads: heads, seq: t, headSize: hd, scratchFloats: scratchFloats(1)) { bh, at, outAt, scratch in
            let (base, dbase) = (qp + at, dqkv + at)
            let status = tc_attention_backward_bf16(base, base + d, base + 2 * d, threeD, probs.pointer + bh * tp * tp,
                                                    dy + outAt, d, dbase, dbase + d, dbase + 2 * d, t, hd, scale, fresh ? 1 : 0, scratch)
            precondition(status == 0, "bf16 attention refused t \(t), head size \(hd)")
        }
        withExtendedLifetime(probs) {}
    }
}
