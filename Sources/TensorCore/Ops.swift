import CKernels

/// The parents an op records, or nil when no graph is needed (no input needs gradients, or noGrad).
@inline(__always)
func recordedParents(_ inputs: Tensor...) -> [GradNode]? {
    guard Autograd.isRecording else { return nil }
    let nodes = inputs.compactMap(\.node)
    return nodes.isEmpty ? nil : nodes
}

/// A result tensor, with a node whose backward closure is `backward` when the graph is recorded.
@inline(__always)
func result(_ shape: [Int], _ storage: TensorStorage, _ parents: [GradNode]?, saving: [Tensor] = [],
            op: String, started: UInt64, _ backward: @escaping (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    result(shape, storage, parents, saving: saving, op: op, started: started, gradient: { backward($0.pointer) })
}

/// The same, for a backward that takes the gradient buffer itself (to hand it on rather than copy it).
@inline(__always)
func result(_ shape: [Int], _ storage: TensorStorage, _ parents: [GradNode]?, saving: [Tensor] = [],
            op: String, started: UInt64, gradient backward: @escaping (TensorStorage) -> Void) -> Tensor {
    Profiler.add(op + "/forward", since: started)
    guard let parents else { return Tensor(shape: shape, storage: storage) }
    let node = GradNode(count: storage.count, parents: parents)
    node.saved = saving.map(\.storage)
    node.backwardFn = { n in
        let t0 = Profiler.now()
        backward(n.grad!)
        Profiler.add(op + "/backward", since: t0)
    }
    return Tensor(shape: shape, storage: storage, node: node)
}

// MARK: - Matrix products

/// Matrix product of 2-D tensors, or batched over the first dimension of 3-D tensors.
/// Transposes are BLAS flags on the stored operands, never copies.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let started = Profiler.now()
    precondition(a.rank == b.rank && (a.rank == 2 || a.rank == 3),
                 "matmul: needs two 2-D or two 3-D tensors, got \(a.shape) and \(b.shape)")
    let batched = a.rank == 3
    let batch = batched ? a.shape[0] : 1
    if batched { precondition(b.shape[0] == batch, "matmul: batch sizes differ, \(a.shape) and \(b.shape)") }
    let ar = a.shape[a.rank - 2], ac = a.shape[a.rank - 1], br = b.shape[b.rank - 2], bc = b.shape[b.rank - 1]
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    precondition(k == k2, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    if MixedPrecision.products == .bf16 && !batched && !transposeA {
        return matmulBF16(a, b, transposeB: transposeB, m: m, n: n, k: k, started: started)
    }
    let out = TensorStorage(count: batch * m * n, zeroed: false)
    let ap = a.storage.pointer, bp = b.storage.pointer
    let sa = ar * ac, sb = br * bc, sc = m * n
    for i in 0..<batch {
        BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: ap + i * sa, lda: ac,
                   b: bp + i * sb, ldb: bc, c: out.pointer + i * sc, ldc: n)
    }
    let shape = batched ? [batch, m, n] : [m, n]
    let (an, bn) = (a.node, b.node)
    return result(shape, out, recordedParents(a, b), saving: [a, b], op: "matmul", started: started) { dc in
        for i in 0..<batch {
            let dci = UnsafePointer(dc + i * sc)
            if let an {
                let da = an.gradPointer() + i * sa
                if !transposeA {  // dA[m,k] = dC · op(B)ᵀ
                    BLAS.sgemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dci, lda: n,
                               b: bp + i * sb, ldb: bc, beta: 1, c: da, ldc: ac)
                } else {          // dA[k,m] = op(B) · dCᵀ
                    BLAS.sgemm(transA: transposeB, transB: true, m: k, n: m, k: n, a: bp + i * sb, lda: bc,
                               b: dci, ldb: n, beta: 1, c: da, ldc: ac)
                }
            }
            if let bn {
                let db = bn.gradPointer() + i * sb
                if !transposeB {  // dB[k,n] = op(A)ᵀ · dC
                    BLAS.sgemm(transA: !transposeA, transB: false, m: k, n: n, k: m, a: ap + i * sa, lda: ac,
                               b: dci, ldb: n, beta: 1, c: db, ldc: bc)
                } else {          // dB[n,k] = dCᵀ · op(A)
                    BLAS.sgemm(transA: true, transB: transposeA, m: n, n: k, k: m, a: dci, lda: n,
                               b: ap + i * sa, ldb: ac, beta: 1, c: db, ldc: bc)
                }
            }
        }
    }
}

/// y = x · Wᵀ + b over the last dimension of x, with W stored [out, in] as in PyTorch.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let started = Profiler.now()
    precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
    let (rows, inF) = x.rowsAndColumns
    let outF = weight.shape[0]
    precondition(weight.shape[1] == inF, "linear: input has \(inF) features, weight \(weight.shape) expects \(weight.shape[1])")
    if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) does not match \(outF) outputs") }
    if MixedPrecision.products == .bf16 {
        return linearBF16(x, weight: weight, bias: bias, rows: rows, inF: inF, outF: outF, started: started)
    }
    let out = TensorStorage(count: rows * outF, zeroed: false)
    let xp = x.storage.pointer, wp = weight.storage.pointer
    BLAS.sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: xp, lda: inF, b: wp, ldb: inF,
               c: out.pointer, ldc: outF, rowBias: bias.map { UnsafePointer($0.storage.pointer) })
    var shape = x.shape
    shape[shape.count - 1] = outF
    let (xn, wn, bn) = (x.node, weight.node, bias?.node)
    let parents = bias.map { recordedParents(x, weight, $0) } ?? recordedParents(x, weight)
    return result(shape, out, parents, saving: [x, weight], op: "linear", started: started) { dy in
        let dx = xn.map { $0.gradForWrite() }, dw = wn.map { $0.gradForWrite() }
        let inputGrad = { (workers: Int) in
            if let (g, fresh) = dx {
                BLAS.sgemm(transA: false, transB: false, m: rows, n: inF, k: outF, a: dy, lda: outF, b: wp, ldb: inF,
                           beta: fresh ? 0 : 1, c: g, ldc: inF, maxWorkers: workers)
            }
        }
        let weightGrad = { (workers: Int) in
            if let (g, fresh) = dw {
                BLAS.sgemm(transA: true, transB: false, m: outF, n: inF, k: rows, a: dy, lda: outF, b: xp, ldb: inF,
                           beta: fresh ? 0 : 1, c: g, ldc: inF, maxWorkers: workers)
            }
        }
        runLinearBackward(dy, rows: rows, inF: inF, outF: outF, bothProducts: dx != nil && dw != nil,
                          biasGrad: bn?.gradPointer(), inputGrad: inputGrad, weightGrad: weightGrad)
    }
}

/// Schedules a linear layer's backward pass (fp32 or bf16 products alike). The two products have the
/// same FLOPs: on two or more cores they run side by side, each on one core, rather than one after the
/// other split in halves (one wake-up instead of two, and neither repacks the operand the halves would
/// share). The bias gradient (column sums of dy) is split the same way: each worker sums half the
/// columns after its product, so it costs no wake-up of its own and no single-threaded pass.
/// `inputGrad` and `weightGrad` take the workers they may use.
func runLinearBackward(_ dy: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int, bothProducts: Bool,
                       biasGrad db: UnsafeMutablePointer<Float>?, inputGrad: (Int) -> Void, weightGrad: (Int) -> Void) {
    let biasGrad = { (columns: Range<Int>) in
        if let db { tc_sum_rows_into(dy + columns.lowerBound, outF, db + columns.lowerBound, rows, columns.count) }
    }
    if bothProducts && BLAS.threads >= 2 && rows * inF * outF >= BLAS.splitThreshold {
        let half = (outF / 2 + 15) & ~15
        Parallel.indexedChunks(2, workers: 2) { w, _ in
            if w == 0 { inputGrad(1); biasGrad(0..<min(half, outF)) } else { weightGrad(1); biasGrad(min(half, outF)..<outF) }
        }
    } else {
        inputGrad(.max)
        weightGrad(.max)
        biasGrad(0..<outF)
    }
}

// MARK: - Elementwise

/// Broadcasting rule shared by add and mul: equal shapes, or b is a row [last dim] repeated over a's rows.
private func broadcastKind(_ a: Tensor, _ b: Tensor, _ op: String) -> Bool {
    if a.shape == b.shape { return false }
    precondition(b.rank == 1 && a.rank >= 1 && b.shape[0] == a.shape[a.rank - 1],
                 "\(op): shapes \(a.shape) and \(b.shape) are neither equal nor a row broadcast")
    return true
}

/// a + b, with b either the same shape or one row broadcast over a's rows.
public func + (a: Tensor, b: Tensor) -> Tensor {
    let started = Profiler.now()
    let rowBroadcast = broadcastKind(a, b, "add")
    let n = a.count
    let out = TensorStorage(count: n, zeroed: false)
    let ap = a.storage.pointer, bp = b.storage.pointer
    if rowBroadcast {
        let (rows, d) = a.rowsAndColumns
        tc_add_rows(ap, bp, out.pointer, rows, d)
    } else {
        Parallel.chunks(n, minimumPerThread: 1 << 17) { r in tc_add(ap + r.lowerBound, bp + r.lowerBound, out.pointer + r.lowerBound, r.count) }
    }
    let (an, bn) = (a.node, b.node)
    // A residual stream's gradient passes through unchanged: b gets a copy (or a row sum), a takes the
    // buffer itself, which is released right after this closure. b goes first, so a + a still doubles.
    return result(a.shape, out, recordedParents(a, b), op: "add", started: started, gradient: { g in
        let dy = g.pointer
        if let bn {
            if rowBroadcast { tc_sum_rows_into(dy, b.count, bn.gradPointer(), a.rowsAndColumns.rows, b.count) } else { bn.accumulate(dy) }
        }
        an?.accumulate(adopting: g)
    })
}

/// a * b elementwise, with b either the same shape or one row broadcast over a's rows.
public func * (a: Tensor, b: Tensor) -> Tensor {
    let started = Profiler.now()
    let rowBroadcast = broadcastKind(a, b, "mul")
    let n = a.count
    let out = TensorStorage(count: n, zeroed: false)
    let ap = a.storage.pointer, bp = b.storage.pointer
    let (rows, d) = rowBroadcast ? a.rowsAndColumns : (1, n)
    if rowBroadcast {
        for r in 0..<rows { tc_mul(ap + r * d, bp, out.pointer + r * d, d) }
    } else {
        tc_mul(ap, bp, out.pointer, n)
    }
    let (an, bn) = (a.node, b.node)
    return result(a.shape, out, recordedParents(a, b), saving: [a, b], op: "mul", started: started) { dy in
        if let an {  // da += dy * b
            let da = an.gradPointer()
            for r in 0..<(rowBroadcast ? rows : 1) {
                let w = rowBroadcast ? d : n
                for j in 0..<w { da[r * w + j] += dy[r * w + j] * bp[rowBroadcast ? j : r * w + j] }
            }
        }
        if let bn {  // db += dy * a (summed over rows when broadcast)
            let db = bn.gradPointer()
            if rowBroadcast {
                for r in 0..<rows { for j in 0..<d { db[j] += dy[r * d + j] * ap[r * d + j] } }
            } else {
                for i in 0..<n { db[i] += dy[i] * ap[i] }
            }
        }
    }
}

/// alpha * x
public func scale(_ x: Tensor, _ alpha: Float) -> Tensor {
    let started = Profiler.now()
    let out = TensorStorage(count: x.count, zeroed: false)
    tc_scale(x.storage.pointer, alpha, out.pointer, x.count)
    let xn = x.node
    return result(x.shape, out, recordedParents(x), op: "scale", started: started) { dy in tc_axpy(xn!.gradPointer(), dy, alpha, x.count) }
}

/// GELU, tanh form (as PyTorch's approximate="tanh").
public func gelu(_ x: Tensor) -> Tensor {
    elementwise(x, op: "gelu", forward: tc_gelu_forward, backward: tc_gelu_backward)
}

/// An elementwise activation from a C kernel pair (forward y = f(x); backward dx (+)= f'(x)·dy, stored
/// when `overwrite` is 1), split across cores.
func elementwise(_ x: Tensor, op: String,
                 forward: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                 backward: @escaping (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int32) -> Void) -> Tensor {
    let started = Profiler.now()
    let n = x.count, xp = x.storage.pointer
    let out = TensorStorage(count: n, zeroed: false)
    Parallel.chunks(n) { r in forward(xp + r.lowerBound, out.pointer + r.lowerBound, r.count) }
    let xn = x.node
    return result(x.shape, out, recordedParents(x), saving: [x], op: op, started: started) { dy in
        let (dx, fresh) = xn!.gradForWrite()
        Parallel.chunks(n) { r in backward(xp + r.lowerBound, dy + r.lowerBound, dx + r.lowerBound, r.count, fresh ? 1 : 0) }
    }
}

/// max(x, 0)
public func relu(_ x: Tensor) -> Tensor {
    let started = Profiler.now()
    let n = x.count, xp = x.storage.pointer
    let out = TensorStorage(count: n, zeroed: false)
    for i in 0..<n { out.pointer[i] = max(xp[i], 0) }
    let xn = x.node
    return result(x.shape, out, recordedParents(x), saving: [x], op: "relu", started: started) { dy in
        let dx = xn!.gradPointer()
        for i in 0..<n where xp[i] > 0 { dx[i] += dy[i] }
    }
}

/// Softmax over the last dimension.
public func softmax(_ x: Tensor) -> Tensor {
    let started = Profiler.now()
    let (rows, d) = x.rowsAndColumns
    let out = TensorStorage(count: x.count, zeroed: false)
    tc_softmax_rows(x.storage.pointer, out.pointer, rows, d)
    let xn = x.node
    return result(x.shape, out, recordedParents(x), op: "softmax", started: started) { dy in
        tc_softmax_rows_backward(out.pointer, dy, xn!.gradPointer(), rows, d)
    }
}

// MARK: - Reductions and shapes

/// The sum of all values, as a scalar.
public func sum(_ x: Tensor) -> Tensor {
    let started = Profiler.now()
    let s = Float(tc_sum(x.storage.pointer, x.count))
    let xn = x.node, n = x.count
    return result([], TensorStorage(copying: [s], count: 1), recordedParents(x), op: "sum", started: started) { dy in
        let g = dy[0], dx = xn!.gradPointer()
        for i in 0..<n { dx[i] += g }
    }
}

/// The mean of all values, as a scalar.
public func mean(_ x: Tensor) -> Tensor {
    precondition(x.count > 0, "mean: empty tensor")
    return scale(sum(x), 1 / Float(x.count))
}

/// The transpose of a 2-D tensor (a copy: TensorCore tensors are contiguous).
public func transpose(_ x: Tensor) -> Tensor {
    let started = Profiler.now()
    precondition(x.rank == 2, "transpose: needs a 2-D tensor, got \(x.shape)")
    let (r, c) = (x.shape[0], x.shape[1])
    let out = TensorStorage(count: x.count, zeroed: false)
    let xp = x.storage.pointer
    for i in 0..<r { for j in 0..<c { out.pointer[j * r + i] = xp[i * c + j] } }
    let xn = x.node
    return result([c, r], out, recordedParents(x), op: "transpose", started: started) { dy in
        let dx = xn!.gradPointer()
        for i in 0..<r { for j in 0..<c { dx[i * c + j] += dy[j * r + i] } }
    }
}
