import CKernels
import Foundation
import TensorCore

/// Greedy decoding with a KV cache, for one request or many at once.
///
/// All sequences' tokens are packed as rows (no padding): a prefill processes every prompt token of
/// every request in one pass, and each later step processes one row per unfinished request. Linear
/// layers run as one sgemm over all rows; attention runs per row and head over that request's own
/// cache, so a request's answer does not depend on what else is in the batch. Buffers are allocated
/// once per capacity and reused (llm.c style); no autograd graph is built.
public final class ExpertDecoder {
    public let model: Transformer
    let cfg: ExpertConfig
    private struct LayerWeights {
        let ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fc1w, fc1b, fc2w, fc2b: UnsafeMutablePointer<Float>
        /// QK-norm gains (nil without QK-norm).
        let qGain, kGain: UnsafeMutablePointer<Float>?
        let qkvT, projT, fc1T, fc2T: TransposedWeights
        let qkvB, projB, fc1B, fc2B: BF16Weights
    }
    /// A weight in bf16, made on first use (a bf16 decoder's first large product), shared like the transposes.
    private final class BF16Weights {
        let source: UnsafePointer<Float>, count: Int
        private var built: BF16Buffer?
        init(_ w: UnsafePointer<Float>, count: Int) { (source, self.count) = (w, count) }
        var pointer: UnsafeMutablePointer<UInt16> {
            if let built { return built.pointer }
            let b = BF16Buffer(converting: source, count: count)
            built = b
            return b.pointer
        }
    }
    /// A linear layer's weight transposed once to [in, out] (columns padded to 32), for the small-row
    /// kernel of decoding steps: sgemm would repack the weights on every step, a fifth of the time.
    /// Built on first use: a process answering one request never needs it. Shards share one instance,
    /// built before they start (`materialize`), so no two threads build it.
    private final class TransposedWeights {
        let source: UnsafePointer<Float>, out: Int, inF: Int, ld: Int
        private var built: TensorStorage?
        init(_ w: UnsafePointer<Float>, out: Int, in inF: Int) {
            (source, self.out, self.inF, ld) = (w, out, inF, (out + 31) / 32 * 32)
        }
        var pointer: UnsafeMutablePointer<Float> {
            if let built { return built.pointer }
            let s = TensorStorage(count: inF * ld)
            for o in 0..<out { for k in 0..<inF { s.pointer[k * ld + o] = source[o * inF + k] } }
            built = s
            return s.pointer
        }
    }
    /// Steps with at most this many rows use `tc_linear_rows`; larger ones (prompts) use sgemm.
    static let smallRowLimit = 48
    private let layers: [LayerWeights]
    private let tokW, lnfw, lnfb: UnsafeMutablePointer<Float>
    /// Learned positions (nil with rotary ones).
    private let posW: UnsafeMutablePointer<Float>?
    private let headT: TransposedWeights
    private let headB: BF16Weights
    /// Sequences the cache holds, and rows the scratch buffers hold.
    // Internal (not private) for the beam search's extension (BeamSearch.swift): it reads the logits and copies cache slots.
    private(set) var seqCapacity = 0, rowCapacity = 0
    private(set) var kCache = TensorStorage(count: 0), vCache = TensorStorage(count: 0)
    private var x = TensorStorage(count: 0), h = TensorStorage(count: 0), qkv = TensorStorage(count: 0)
    private var att = TensorStorage(count: 0), ff = TensorStorage(count: 0), tmp = TensorStorage(count: 0)
    private(set) var logits = TensorStorage(count: 0)
    private var scores = TensorStorage(count: 0)
    /// Prompt attention's per-worker scratch: a [ctx, ctx] probability block in `scores` and a key tile
    /// here, for this many workers (the thread count when the buffers were sized).
    private var promptTiles = TensorStorage(count: 0), promptWorkers = 0
    private lazy var zeroBias = TensorStorage(count: cfg.vocab)
    /// Cores this decoder's own loops may use; 1 inside a shard, where the cores are already split by request.
    private let workerLimit: Int
    /// One decoder (own buffers, shared weights) per core, for batches split by request.
    private var shards = [ExpertDecoder]()

    /// Requests per core below which a batch is not split by request: with few rows per step, two
    /// independent single-threaded decoders beat splitting every product of every step across cores
    /// (each split costs a wake-up per product: ~13 per step); with very few requests one core is enough.
    public static let minimumRequestsPerShard = 4

    /// `precision` bf16: the products of steps with `bf16MinimumRows` rows or more (prompts, large
    /// batches) take bf16 copies of the weights, made once, and of the activations; fp32 otherwise. The
    /// answers of an fp32 decoder are what every recorded metric was measured with.
    public convenience init(model: Transformer, precision: Precision = .fp32) {
        self.init(model: model, workerLimit: Int.max, sharing: nil, precision: precision)
    }

    /// The products' precision.
    public let precision: Precision
    /// Rows from which a bf16 decoder runs a product in bf16. Prompts (rows > 48) gain most; at batch 32
    /// (16 rows a core) bf16 and the fp32 row kernel measured the same (`bench decode --precision bf16
    /// --bf16-minimum-rows 8` against `49`: 1,624/1,514 against 1,585/1,605 requests/s), and one row stays fp32 (gemv).
    nonisolated(unsafe) public static var bf16MinimumRows = 8
    /// bf16 activations of the current product, sized with the row buffers.
    private var xBF16 = BF16Buffer(count: 0)

    /// `sharing`: a decoder of the same model whose weight views (and transposes) this one reuses.
    private init(model: Transformer, workerLimit: Int, sharing other: ExpertDecoder?, precision: Precision) {
        self.model = model
        // Asked only for bf16: finding the kernel opens oneDNN, which an fp32 cold start never needs.
        self.precision = precision == .bf16 && MixedPrecision.kernel == .none ? .fp32 : precision
        self.workerLimit = workerLimit
        cfg = model.config
        func p(_ q: Parameter) -> UnsafeMutablePointer<Float> { q.value.storage.pointer }
        tokW = p(model.tok.weight); posW = model.pos.map { p($0.weight) }; lnfw = p(model.lnf.weight); lnfb = p(model.lnf.bias)
        if let other {
            layers = other.layers
            headT = other.headT
            headB = other.headB
            return
        }
        let (d, ff) = (cfg.dModel, cfg.dFF)
        layers = model.blocks.map { b in
            LayerWeights(ln1w: p(b.ln1.weight), ln1b: p(b.ln1.bias), qkvw: p(b.qkv.weight), qkvb: p(b.qkv.bias!),
                         projw: p(b.proj.weight), projb: p(b.proj.bias!), ln2w: p(b.ln2.weight), ln2b: p(b.ln2.bias),
                         fc1w: p(b.fc1.weight), fc1b: p(b.fc1.bias!), fc2w: p(b.fc2.weight), fc2b: p(b.fc2.bias!),
                         qGain: b.qGain.map(p), kGain: b.kGain.map(p),
                         qkvT: TransposedWeights(p(b.qkv.weight), out: 3 * d, in: d),
                         projT: TransposedWeights(p(b.proj.weight), out: d, in: d),
                         fc1T: TransposedWeights(p(b.fc1.weight), out: ff, in: d),
                         fc2T: TransposedWeights(p(b.fc2.weight), out: d, in: ff),
                         qkvB: BF16Weights(p(b.qkv.weight), count: 3 * d * d), projB: BF16Weights(p(b.proj.weight), count: d * d),
                         fc1B: BF16Weights(p(b.fc1.weight), count: ff * d), fc2B: BF16Weights(p(b.fc2.weight), count: d * ff))
        }
        headT = TransposedWeights(tokW, out: cfg.vocab, in: d)
        headB = BF16Weights(tokW, count: cfg.vocab * d)
    }

    /// Capacities grow in powers of two (at least 16): a server's batches vary in size from one to the
    /// next, and growing by a few rows each time freed buffers of ever new sizes into the buffer pool,
    /// where they stayed (RSS kept rising under load). Results do not depend on the capacity.
    private static func capacity(for n: Int) -> Int { max(16, 1 << (Int.bitWidth - (max(n, 1) - 1).leadingZeroBitCount)) }

    func reserve(sequences wantedSequences: Int, rows wantedRows: Int) {
        let d = cfg.dModel
        let sequences = wantedSequences > seqCapacity ? ExpertDecoder.capacity(for: wantedSequences) : wantedSequences
        let rows = wantedRows > rowCapacity ? ExpertDecoder.capacity(for: wantedRows) : wantedRows
        if sequences > seqCapacity {
            seqCapacity = sequences
            let n = cfg.nLayers * sequences * cfg.context * d
            kCache = TensorStorage(count: n, zeroed: false)
            vCache = TensorStorage(count: n, zeroed: false)
        }
        if rows > rowCapacity {
            rowCapacity = rows
            x = TensorStorage(count: rows * d, zeroed: false)
            h = TensorStorage(count: rows * d, zeroed: false)
            att = TensorStorage(count: rows * d, zeroed: false)
            tmp = TensorStorage(count: rows * d, zeroed: false)
            qkv = TensorStorage(count: rows * 3 * d, zeroed: false)
            ff = TensorStorage(count: rows * cfg.dFF, zeroed: false)
            logits = TensorStorage(count: rows * cfg.vocab, zeroed: false)
            if precision == .bf16 { xBF16 = BF16Buffer(count: rows * max(cfg.dFF, d)) }
            // Row-wise attention needs a score row per (row, head); prompt attention a [ctx, ctx] block per worker.
            promptWorkers = Parallel.threads
            scores = TensorStorage(count: max(rows * cfg.nHeads * cfg.context, promptWorkers * cfg.context * cfg.context), zeroed: false)
            promptTiles = TensorStorage(count: promptWorkers * promptTileCount, zeroed: false)
        }
    }

    /// y[rows, out] = x[rows, in] · Wᵀ + b
    @inline(__always)
    private func linear(_ xp: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ wt: TransposedWeights, _ wb: BF16Weights,
                        _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int) {
        if precision == .bf16 && rows >= ExpertDecoder.bf16MinimumRows {
            tc_f32_to_bf16(xp, xBF16.pointer, rows * inF)
            BLAS.bf16gemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: xBF16.pointer, lda: inF, b: wb.pointer, ldb: inF,
                          c: y, ldc: outF, rowBias: b)
            return
        }
        if rows > 1 && rows <= ExpertDecoder.smallRowLimit {
            tc_linear_rows(xp, rows, inF, wt.pointer, wt.ld, b, y, outF)
            return
        }
        tc_fill_rows(y, outF, b, rows, outF)
        if rows == 1 {  // gemv reads W once; sgemm would pack it on every call
            BLAS.sgemv(m: outF, n: inF, a: w, lda: inF, x: xp, beta: 1, y: y)
            return
        }
        BLAS.sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: xp, lda: inF, b: w, ldb: inF, beta: 1, c: y, ldc: outF)
    }

    /// Runs rows (token, sequence slot, position) through the model, filling the cache, and returns
    /// the argmax next token of each row listed in `wanted`.
    /// `prefillRuns` lists (first row, length) of whole prompts starting at position 0: their attention
    /// runs as small matrix products per prompt and head instead of row by row.
    func forward(tokens: [Int32], slots: [Int], positions: [Int], wanted: [Int], prefillRuns: [(Int, Int)]? = nil) -> (next: [Int32], logProbs: [Float]) {
        let rows = tokens.count, d = cfg.dModel, hd = d / cfg.nHeads, ctx = cfg.context, heads = cfg.nHeads
        let xp = x.pointer, hp = h.pointer, qp = qkv.pointer, ap = att.pointer, fp = ff.pointer
        for r in 0..<rows {
            if let posW { tc_add(tokW + Int(tokens[r]) * d, posW + positions[r] * d, xp + r * d, d) }
            else { (xp + r * d).update(from: tokW + Int(tokens[r]) * d, count: d) }
        }
        let rowPositions = model.rotary == nil ? [] : positions.map(Int32.init)
        let scale = 1 / Float(hd).squareRoot()
        for (l, w) in layers.enumerated() {
            tc_layernorm_forward(xp, w.ln1w, w.ln1b, hp, nil, nil, rows, d, 1e-5)
            linear(hp, w.qkvw, w.qkvT, w.qkvB, w.qkvb, qp, rows: rows, inF: d, outF: 3 * d)
            // The same kernels as training's ops, in place on the rows: QK-norm, then rotary positions.
            if let qg = w.qGain, let kg = w.kGain { tc_qk_rmsnorm_forward(qp, 3 * d, qp, 3 * d, rows, d, heads, qg, kg, nil, 1e-6) }
            if let rotary = model.rotary {
                rowPositions.withUnsafeBufferPointer { tc_rope_rows(qp, 3 * d, qp, 3 * d, rows, d, heads, $0.baseAddress, rotary.cosPointer, rotary.sinPointer, 0) }
            }
            // Keys are cached transposed per head ([slot, head, hd, ctx]) so scoring runs along positions;
            // values stay [slot, ctx, d] so the weighted sum runs along the head's components.
            let kBase = kCache.pointer + l * seqCapacity * ctx * d, vBase = vCache.pointer + l * seqCapacity * ctx * d
            // `count` consecutive rows from `first` hold positions `position`… of one sequence.
            func cache(first: Int, count: Int, slot: Int, position: Int) {
                tc_transpose(qp + first * 3 * d + d, 3 * d, count, d, kBase + slot * d * ctx + position, ctx)
                for r in 0..<count {
                    (vBase + (slot * ctx + position + r) * d).update(from: qp + (first + r) * 3 * d + 2 * d, count: d)
                }
            }
            if let runs = prefillRuns {  // whole prompts: one transpose per prompt
                for (start, len) in runs { cache(first: start, count: len, slot: slots[start], position: 0) }
            } else {
                for r in 0..<rows { cache(first: r, count: 1, slot: slots[r], position: positions[r]) }
            }
            if let runs = prefillRuns {
                prefillAttention(runs: runs, qkv: qp, out: ap, scale: scale)
            } else {
                let sp = scores.pointer
                Parallel.indexedChunks(rows * heads, workers: min(workerLimit, Parallel.workers(for: rows * heads, minimumPerThread: 256))) { _, range in
                    for job in range {
                        let (r, hh) = (job / heads, job % heads)
                        tc_attend_cached(qp + r * 3 * d + hh * hd, kBase + slots[r] * d * ctx + hh * hd * ctx,
                                         vBase + slots[r] * ctx * d + hh * hd, positions[r] + 1, hd, ctx, d, scale,
                                         sp + job * ctx, ap + r * d + hh * hd)
                    }
                }
            }
            linear(ap, w.projw, w.projT, w.projB, w.projb, tmp.pointer, rows: rows, inF: d, outF: d)
            tc_accumulate(xp, tmp.pointer, rows * d)
            tc_layernorm_forward(xp, w.ln2w, w.ln2b, hp, nil, nil, rows, d, 1e-5)
            linear(hp, w.fc1w, w.fc1T, w.fc1B, w.fc1b, fp, rows: rows, inF: d, outF: cfg.dFF)
            if cfg.activation == .relu2 { tc_relu2_forward(fp, fp, rows * cfg.dFF) } else { tc_gelu_forward(fp, fp, rows * cfg.dFF) }
            linear(fp, w.fc2w, w.fc2T, w.fc2B, w.fc2b, tmp.pointer, rows: rows, inF: cfg.dFF, outF: d)
            tc_accumulate(xp, tmp.pointer, rows * d)
        }
        // Final LayerNorm and the tied head only for the rows whose next token is needed.
        for (i, r) in wanted.enumerated() {
            tc_layernorm_forward(xp + r * d, lnfw, lnfb, hp + i * d, nil, nil, 1, d, 1e-5)
        }
        let n = wanted.count, v = cfg.vocab
        linear(hp, tokW, headT, headB, zeroBias.pointer, logits.pointer, rows: n, inF: d, outF: v)  // the tied head has no bias
        var next = [Int32](repeating: 0, count: n)
        next.withUnsafeMutableBufferPointer { tc_argmax_rows(logits.pointer, $0.baseAddress!, n, v) }
        // The greedy token's log-probability: its logit minus the row's log-sum-exp (a few hundred exps
        // per row, nothing beside the products).
        var logProbs = [Float](repeating: 0, count: n)
        let lp = logits.pointer
        for r in 0..<n {
            let row = lp + r * v
            let top = row[Int(next[r])]
            var sum: Float = 0
            for j in 0..<v { sum += expf(row[j] - top) }
            logProbs[r] = -logf(sum)
        }
        return (next, logProbs)
    }

    /// Causal attention over whole prompts with the training kernel (per prompt and head, on strided
    /// views of the qkv rows), split across cores. No BLAS call, so no BLAS thread-count switching.
    private func prefillAttention(runs: [(Int, Int)], qkv qp: UnsafeMutablePointer<Float>, out ap: UnsafeMutablePointer<Float>, scale: Float) {
        let d = cfg.dModel, heads = cfg.nHeads, hd = d / heads, ctx = cfg.context
        let sp = scores.pointer
        let jobs = runs.count * heads
        let tiles = promptTiles.pointer, tileCount = promptTileCount
        Parallel.indexedChunks(jobs, workers: min(workerLimit, promptWorkers, max(1, jobs / 4))) { w, range in
            let p = sp + w * ctx * ctx, tile = tiles + w * tileCount
            for job in range {
                let (start, len) = runs[job / heads]
                let hh = job % heads
                let base = qp + start * 3 * d + hh * hd
                tc_attention_forward(base, base + d, base + 2 * d, 3 * d, ap + start * d + hh * hd, d, p, len, hd, scale, tile)
            }
        }
    }

    /// Floats of one key tile of `tc_attention_forward`: head size × context padded to 64 positions.
    private var promptTileCount: Int { cfg.dModel / cfg.nHeads * ((cfg.context + 63) / 64 * 64) }

    private func materializeTransposes() {
        for w in layers { _ = (w.qkvT.pointer, w.projT.pointer, w.fc1T.pointer, w.fc2T.pointer) }
        _ = headT.pointer
        if precision == .bf16 {
            for w in layers { _ = (w.qkvB.pointer, w.projB.pointer, w.fc1B.pointer, w.fc2B.pointer) }
            _ = headB.pointer
        }
    }

    /// A decoder of the same model (shared weights, own buffers) whose loops stay on the calling thread,
    /// for running several experts' batches side by side, one per core, under `BLAS.singleThreaded`.
    public func singleThreadedCopy() -> ExpertDecoder {
        materializeTransposes()
        return ExpertDecoder(model: model, workerLimit: 1, sharing: self, precision: precision)
    }

    /// The longest prompt (in tokens, with BOS and SEP) this model accepts: one position must remain for output.
    public var maxPromptTokens: Int { cfg.context - 1 }

    /// Greedy continuations of `prompts` (token ids, usually `Vocabulary.prompt`), each stopping at EOS,
    /// after `maxNewTokens`, or at the end of the context. Returns the generated tokens without EOS.
    /// With `stopAtEOS` false every request gets exactly `maxNewTokens` (benchmarks).
    public func generate(prompts: [[Int32]], maxNewTokens: Int, stopAtEOS: Bool = true) throws -> [[Int32]] {
        try generateScored(prompts: prompts, maxNewTokens: maxNewTokens, stopAtEOS: stopAtEOS).map(\.tokens)
    }

    /// `generate`, with the model's log-probability of every greedy choice: one per generated token, plus
    /// one for the EOS that ended the answer (when it did), so that stopping is scored too. These are what
    /// an answer's confidence is made of (`AnswerConfidence`).
    /// `stopAfter`: a token that ends a sequence once generated (kept in its output): a newline, for a
    /// completion that ends at the end of the line.
    /// `deadline` (`MonotonicClock` seconds): no new step starts after it (a completion's time limit).
    public func generateScored(prompts: [[Int32]], maxNewTokens: Int, stopAtEOS: Bool = true, stopAfter: Int32? = nil,
                               deadline: Double? = nil) throws -> [ScoredTokens] {
        try checkPromptLengths(prompts)
        let count = prompts.count
        guard count > 0 else { return [] }
        if let out = try sharded(prompts, { try $0.generateScored(prompts: $1, maxNewTokens: maxNewTokens, stopAtEOS: stopAtEOS,
                                                                  stopAfter: stopAfter, deadline: deadline) }) {
            return out
        }
        let totalPrompt = prompts.reduce(0) { $0 + $1.count }
        reserve(sequences: count, rows: max(totalPrompt, count))
        var tokens = [Int32](), slots = [Int](), positions = [Int](), wanted = [Int](), runs = [(Int, Int)]()
        tokens.reserveCapacity(totalPrompt)
        for (s, p) in prompts.enumerated() {
            runs.append((tokens.count, p.count))
            for (t, tok) in p.enumerated() { tokens.append(tok); slots.append(s); positions.append(t) }
            wanted.append(tokens.count - 1)
        }
        var (next, logp) = forward(tokens: tokens, slots: slots, positions: positions, wanted: wanted, prefillRuns: runs)
        var outputs = [[Int32]](repeating: [], count: count)
        var scores = [[Float]](repeating: [], count: count)
        var length = prompts.map(\.count)
        var active = [Int]()
        for s in 0..<count {
            if maxNewTokens == 0 { continue }
            scores[s].append(logp[s])
            if stopAtEOS && next[s] == Vocabulary.eos { continue }
            outputs[s].append(next[s])
            if outputs[s].count < maxNewTokens && length[s] < cfg.context && next[s] != stopAfter { active.append(s) }
        }
        while !active.isEmpty {
            if let deadline, MonotonicClock.now() >= deadline { break }
            let toks = active.map { outputs[$0].last! }
            let pos = active.map { length[$0] }
            (next, logp) = forward(tokens: toks, slots: active, positions: pos, wanted: Array(0..<active.count))
            var still = [Int]()
            for (i, s) in active.enumerated() {
                length[s] += 1
                scores[s].append(logp[i])
                if stopAtEOS && next[i] == Vocabulary.eos { continue }
                outputs[s].append(next[i])
                if outputs[s].count < maxNewTokens && length[s] < cfg.context && next[i] != stopAfter { still.append(s) }
            }
            active = still
        }
        return zip(outputs, scores).map { ScoredTokens(tokens: $0, logProbs: $1) }
    }

    /// Refuses an empty prompt or one that leaves no position for the answer.
    func checkPromptLengths(_ prompts: [[Int32]]) throws {
        for p in prompts where p.isEmpty || p.count > maxPromptTokens {
            throw ExpertError.inputTooLong(bytes: max(0, p.count - 2), limit: maxPromptTokens - 2)
        }
    }

    /// `decode` run on contiguous shards of `prompts`, each decoded start to finish on one core by a
    /// decoder of its own with single-threaded products; nil when the batch is too small to split. A
    /// request's answer does not depend on which shard (or batch) it is in.
    func sharded<T>(_ prompts: [[Int32]], _ decode: (ExpertDecoder, [[Int32]]) throws -> [T]) throws -> [T]? {
        let count = prompts.count
        let shardCount = min(Parallel.threads, workerLimit, count / ExpertDecoder.minimumRequestsPerShard)
        guard shardCount > 1 else { return nil }
        while shards.count < shardCount { shards.append(ExpertDecoder(model: model, workerLimit: 1, sharing: self, precision: precision)) }
        materializeTransposes()
        var results = [[T]](repeating: [], count: shardCount)
        var failure: Error?
        let lock = NSLock()
        BLAS.singleThreaded {
            Parallel.indexedChunks(count, workers: shardCount) { w, range in
                do {
                    let out = try decode(shards[w], Array(prompts[range]))
                    lock.lock(); results[w] = out; lock.unlock()
                } catch {
                    lock.lock(); failure = error; lock.unlock()
                }
            }
        }
        if let failure { throw failure }
        return results.flatMap { $0 }
    }

    /// Answers for text inputs, decoded in batches of `batchSize`.
    public func answer(_ inputs: [String], maxOutputBytes: Int, batchSize: Int = 64) throws -> [String] {
        try inBatches(inputs, of: batchSize) { try generate(prompts: $0, maxNewTokens: maxOutputBytes).map(Vocabulary.text) }
    }

    /// `answer` with each answer's per-token log-probabilities (see `generateScored`); `beamWidth` above 1
    /// decodes by beam search (`generateBeam`) instead of greedily.
    public func answerScored(_ inputs: [String], maxOutputBytes: Int, batchSize: Int = 64, beamWidth: Int = 1) throws -> [ScoredAnswer] {
        try inBatches(inputs, of: batchSize) {
            try generateBeam(prompts: $0, width: beamWidth, maxNewTokens: maxOutputBytes)
                .map { ScoredAnswer(text: Vocabulary.text($0.tokens), logProbs: $0.logProbs) }
        }
    }

    /// `decode` on the prompts of consecutive batches of `inputs`, results in input order.
    private func inBatches<T>(_ inputs: [String], of batchSize: Int, _ decode: ([[Int32]]) throws -> [T]) rethrows -> [T] {
        var out = [T]()
        out.reserveCapacity(inputs.count)
        for start in stride(from: 0, to: inputs.count, by: batchSize) {
            out += try decode(inputs[start..<min(inputs.count, start + batchSize)].map(Vocabulary.prompt))
        }
        return out
    }
}

/// Generated tokens and the log-probability of each greedy choice (the last one may be EOS's, which is
/// not among `tokens`).
public struct ScoredTokens: Sendable, Equatable {
    public var tokens: [Int32]
    public var logProbs: [Float]
    public init(tokens: [Int32], logProbs: [Float]) { (self.tokens, self.logProbs) = (tokens, logProbs) }
}

/// A decoded answer and the log-probability of each of its greedy choices, EOS included.
public struct ScoredAnswer: Sendable, Equatable {
    public var text: String
    public var logProbs: [Float]
    public init(text: String, logProbs: [Float]) { (self.text, self.logProbs) = (text, logProbs) }
    /// How sure the expert was of this answer (see `AnswerConfidence`).
    public var confidence: Double { AnswerConfidence.score(logProbs) }
}
