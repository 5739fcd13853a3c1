/// Which byte n-grams each expert's training inputs contained, to tell a request in an expert's own
/// vocabulary from a near-domain one that only resembles it. "Multiply 105095 and -72." routes to add-or-sub
/// with high confidence (numbers and "and" dominate its features), but "<Mul", "Mult", "ltip" never
/// occur in add-or-sub's training inputs: the share of such never-seen n-grams is the request's novelty.
///
/// Features: the byte n-grams (the router's minn...maxn, with '<' '>' word boundaries) of each
/// whitespace-separated word after folding every digit to '0', so that numbers keep their shape
/// ("-0.54" → "-0.00") but not their value: a task's numbers are its free variables, its words and
/// layout are the task. Word unigrams and bigrams are left out, since a digit-folded number longer than any
/// in training would be novel as a whole word. Each expert has a bit set over `bits` hashed buckets
/// (FNV-1a 64, fmix64, multiply-shift: the router's hash, another range); a request's novelty for an
/// expert is the share of its n-grams whose bit is clear. It is abstained on when that share exceeds the
/// expert's threshold, chosen from the expert's validation inputs (`RouterConfig.noveltyTargetAcceptance`,
/// at least `noveltyFloor`).
public struct NoveltyIndex: Sendable, Equatable {
    /// Buckets per expert (a power of two, a multiple of 64).
    public let bits: Int
    /// Per expert, in the router's `experts` order: `bits / 64` words.
    let words: [UInt64]
    /// Per expert: novelty above this is abstained on.
    public let thresholds: [Float]
    let hasher: FeatureHasher

    /// Builds the bit sets from each expert's training inputs (`inputs[e]` for expert `e`); thresholds come later.
    init(inputs: [[String]], bits: Int, minn: Int, maxn: Int) {
        self.bits = bits
        hasher = FeatureHasher(buckets: bits, minn: minn, maxn: maxn, wordNgrams: 1, wordCount: false)
        let perExpert = bits / 64
        var words = [UInt64](repeating: 0, count: inputs.count * perExpert)
        for (e, texts) in inputs.enumerated() {
            let base = e * perExpert
            for t in texts {
                Self.forEachFeature(t, hasher: hasher) { b in words[base + Int(b >> 6)] |= 1 << UInt64(b & 63) }
            }
        }
        self.words = words
        thresholds = [Float](repeating: 1, count: inputs.count)
    }

    /// An index read back from a model file.
    init(bits: Int, words: [UInt64], thresholds: [Float], minn: Int, maxn: Int) throws {
        guard bits >= 64, bits <= 1 << 26, bits & (bits - 1) == 0 else {
            throw RouterError.malformedModel("novelty bits must be a power of two in 64...\(1 << 26), got \(bits)")
        }
        guard minn >= 1, minn <= maxn else { throw RouterError.malformedModel("novelty n-grams need 1 <= minn <= maxn, got \(minn), \(maxn)") }
        guard !thresholds.isEmpty, words.count == thresholds.count * (bits / 64) else {
            throw RouterError.malformedModel("novelty index has \(words.count) words for \(thresholds.count) experts of \(bits) bits")
        }
        guard thresholds.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { throw RouterError.malformedModel("novelty thresholds must be in [0, 1]") }
        self.bits = bits
        self.words = words
        self.thresholds = thresholds
        hasher = FeatureHasher(buckets: bits, minn: minn, maxn: maxn, wordNgrams: 1, wordCount: false)
    }

    /// The same bit sets with these thresholds.
    func withThresholds(_ t: [Float]) -> NoveltyIndex {
        NoveltyIndex(bits: bits, words: words, thresholdsUnchecked: t, hasher: hasher)
    }

    private init(bits: Int, words: [UInt64], thresholdsUnchecked: [Float], hasher: FeatureHasher) {
        (self.bits, self.words, self.thresholds, self.hasher) = (bits, words, thresholdsUnchecked, hasher)
    }

    /// Share of `text`'s digit-folded byte n-grams that expert `expert`'s training inputs never contained
    /// (0 for a request with none).
    public func novelty(_ text: String, expert: Int) -> Float {
        let base = expert * (bits / 64)
        var total = 0, novel = 0
        words.withUnsafeBufferPointer { w in
            Self.forEachFeature(text, hasher: hasher) { b in
                total += 1
                if w[base + Int(b >> 6)] & (1 << UInt64(b & 63)) == 0 { novel += 1 }
            }
        }
        return total == 0 ? 0 : Float(novel) / Float(total)
    }

    /// Fraction of expert `expert`'s bits that are set (how much of the space its training covered).
    public func fill(expert: Int) -> Double {
        let per = bits / 64
        return Double(words[(expert * per)..<((expert + 1) * per)].reduce(0) { $0 + $1.nonzeroBitCount }) / Double(bits)
    }

    /// Calls `body` with the bucket of every byte n-gram of every digit-folded word of `text`.
    @inline(__always)
    static func forEachFeature(_ text: String, hasher: FeatureHasher, _ body: (UInt32) -> Void) {
        var bytes = Array(text.utf8)
        for i in bytes.indices where bytes[i] >= 0x30 && bytes[i] <= 0x39 { bytes[i] = 0x30 }
        bytes.withUnsafeBufferPointer { buf in
            guard let p = buf.baseAddress else { return }
            let n = buf.count
            var i = 0
            while i < n {
                while i < n && FeatureHasher.isSpace(p[i]) { i += 1 }
                if i == n { break }
                let start = i
                while i < n && !FeatureHasher.isSpace(p[i]) { i += 1 }
                hasher.forEachCharNgram(UnsafeBufferPointer(start: p + start, count: i - start), body)
            }
        }
    }
}
