import Foundation
import TensorCore

// Beam search over the decoder's KV cache. Each request owns `width` cache slots; a step runs one row per
// live hypothesis, and hypotheses that share a parent copy the parent's cache (the positions written so
// far) into a slot whose hypothesis died. Scores are sums of log-probabilities, with no length penalty:
// the answers are short and exact-match scored, so the most probable whole answer is what is wanted.

extension ExpertDecoder {
    /// The most probable answers found by beam search of `width` hypotheses per request, each ending at
    /// EOS, after `maxNewTokens`, or at the end of the context; `width` 1 is greedy decoding
    /// (`generateScored`). The log-probabilities are those of the answer's tokens (and of its EOS), as
    /// with greedy decoding, so the answer's confidence is scored the same way.
    /// A request's answer does not depend on the other requests of the batch.
    public func generateBeam(prompts: [[Int32]], width: Int, maxNewTokens: Int) throws -> [ScoredTokens] {
        precondition(width >= 1, "beam width must be at least 1")
        if width == 1 || maxNewTokens == 0 { return try generateScored(prompts: prompts, maxNewTokens: maxNewTokens) }
        try checkPromptLengths(prompts)
        guard !prompts.isEmpty else { return [] }
        if let out = try sharded(prompts, { try $0.generateBeam(prompts: $1, width: width, maxNewTokens: maxNewTokens) }) {
            return out
        }
        let count = prompts.count, v = cfg.vocab
        let totalPrompt = prompts.reduce(0) { $0 + $1.count }
        reserve(sequences: count * width, rows: max(totalPrompt, count * width))

        // Prefill every prompt once, into its request's first slot.
        var tokens = [Int32](), slots = [Int](), positions = [Int](), wanted = [Int](), runs = [(Int, Int)]()
        for (s, p) in prompts.enumerated() {
            runs.append((tokens.count, p.count))
            for (t, tok) in p.enumerated() { tokens.append(tok); slots.append(s * width); positions.append(t) }
            wanted.append(tokens.count - 1)
        }
        _ = forward(tokens: tokens, slots: slots, positions: positions, wanted: wanted, prefillRuns: runs)

        var live = (0..<count).map { s in [Hypothesis(tokens: [], logProbs: [], score: 0, slot: s * width)] }
        var best = [Hypothesis?](repeating: nil, count: count)
        // Row of `logits` holding each live hypothesis's next-token distribution, in `live` order.
        var rowOf = (0..<count).map { [$0] }
        var pending = Array(0..<count)  // requests still searching
        while !pending.isEmpty {
            var stepRows = [(request: Int, hypothesis: Int)]()
            var still = [Int]()
            for s in pending {
                let (next, finished) = expand(live[s], rows: rowOf[s], width: width, vocab: v,
                                              promptLength: prompts[s].count, maxNewTokens: maxNewTokens)
                for f in finished where best[s].map({ f.score > $0.score }) ?? true { best[s] = f }
                // Scores only fall as tokens are added: once the best finished answer scores at least the best
                // live hypothesis, no live one can overtake it.
                if next.isEmpty || (best[s].map { $0.score >= next[0].score } ?? false) {
                    live[s] = []
                    continue
                }
                live[s] = assignSlots(next, owned: s * width ..< (s + 1) * width, length: prompts[s].count)
                still.append(s)
                for h in live[s].indices { stepRows.append((s, h)) }
            }
            pending = still
            guard !stepRows.isEmpty else { break }
            let toks = stepRows.map { live[$0.request][$0.hypothesis].tokens.last! }
            let rowSlots = stepRows.map { live[$0.request][$0.hypothesis].slot }
            let pos = stepRows.map { prompts[$0.request].count + live[$0.request][$0.hypothesis].tokens.count - 1 }
            _ = forward(tokens: toks, slots: rowSlots, positions: pos, wanted: Array(0..<stepRows.count))
            for s in pending { rowOf[s] = [] }
            for (row, r) in stepRows.enumerated() { rowOf[r.request].append(row) }
        }
        return best.map { ScoredTokens(tokens: $0?.tokens ?? [], logProbs: $0?.logProbs ?? []) }
    }

    /// One hypothesis: its tokens so far, the log-probability of each (and of EOS once it ended), their
    /// sum, and the cache slot holding its positions.
    struct Hypothesis {
        var tokens: [Int32]
        var logProbs: [Float]
        var score: Float
        var slot: Int
    }

    /// The `width` best continuations of a request's live hypotheses (best first, each still holding its
    /// parent's slot), and the hypotheses that finished at this step: by EOS, or by reaching the output
    /// or context limit.
    private func expand(_ hyps: [Hypothesis], rows: [Int], width: Int, vocab v: Int, promptLength: Int,
                        maxNewTokens: Int) -> (next: [Hypothesis], finished: [Hypothesis]) {
        struct Candidate { var score: Float, parent: Int, token: Int32, logProb: Float }
        var candidates = [Candidate]()
        candidates.reserveCapacity(hyps.count * (width + 1))
        let lp = logits.pointer
        for (i, h) in hyps.enumerated() {
            let row = lp + rows[i] * v
            var top: Float = -.infinity
            for j in 0..<v { top = max(top, row[j]) }
            var sum: Float = 0
            for j in 0..<v { sum += expf(row[j] - top) }
            let logZ = top + logf(sum)
            // width + 1 best tokens: enough for `width` continuations besides EOS. Ties keep the lower token id, as greedy's argmax does.
            var best = [(logit: Float, token: Int32)]()
            for j in 0..<v {
                let x = row[j]
                if best.count == width + 1 && x <= best[width].logit { continue }
                var at = best.count
                while at > 0 && best[at - 1].logit < x { at -= 1 }
                best.insert((x, Int32(j)), at: at)
                if best.count > width + 1 { best.removeLast() }
            }
            for b in best { candidates.append(Candidate(score: h.score + (b.logit - logZ), parent: i, token: b.token, logProb: b.logit - logZ)) }
        }
        candidates.sort { ($0.score, -$0.parent, -$0.token) > ($1.score, -$1.parent, -$1.token) }
        var next = [Hypothesis](), finished = [Hypothesis]()
        for c in candidates {
            let parent = hyps[c.parent]
            if c.token == Vocabulary.eos {
                finished.append(Hypothesis(tokens: parent.tokens, logProbs: parent.logProbs + [c.logProb], score: c.score, slot: parent.slot))
                continue
            }
            guard next.count < width else { continue }
            let h = Hypothesis(tokens: parent.tokens + [c.token], logProbs: parent.logProbs + [c.logProb], score: c.score, slot: parent.slot)
            // At the output limit or the end of the context a hypothesis ends without EOS, as a greedy answer does.
            if h.tokens.count >= maxNewTokens || promptLength + h.tokens.count > cfg.context { finished.append(h) } else { next.append(h) }
        }
        return (next, finished)
    }

    /// Gives each continuation a cache slot among the request's `owned` ones: the first child of a parent
    /// keeps the parent's slot, and every further child gets a slot no continuation kept, into which the
    /// parent's cached positions are copied first (the sources are kept slots, so no copy overwrites one).
    private func assignSlots(_ next: [Hypothesis], owned: Range<Int>, length promptLength: Int) -> [Hypothesis] {
        var kept = Set<Int>()
        var out = next
        var needCopy = [Int]()
        for i in out.indices {
            if kept.insert(out[i].slot).inserted { continue }
            needCopy.append(i)
        }
        var free = owned.filter { !kept.contains($0) }.makeIterator()
        for i in needCopy {
            let target = free.next()!
            // The parent's cache holds the prompt and every token but the newest (the next step writes that one).
            copySlot(from: out[i].slot, to: target, positions: promptLength + out[i].tokens.count - 1)
            out[i].slot = target
        }
        return out
    }

    /// Copies the first `positions` cached keys and values of every layer from one slot to another.
    private func copySlot(from source: Int, to target: Int, positions n: Int) {
        let d = cfg.dModel, ctx = cfg.context
        for l in 0..<cfg.nLayers {
            // Keys: [slot, head, hd, ctx] (d rows of ctx positions); values: [slot, ctx, d].
            let kBase = kCache.pointer + l * seqCapacity * ctx * d, vBase = vCache.pointer + l * seqCapacity * ctx * d
            for row in 0..<d {
                (kBase + target * d * ctx + row * ctx).update(from: kBase + source * d * ctx + row * ctx, count: n)
            }
            (vBase + target * ctx * d).update(from: vBase + source * ctx * d, count: n * d)
        }
    }
}
