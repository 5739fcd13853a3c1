/// Turns a request into the bucket ids of its hashed features, straight from its UTF-8 bytes (no String
/// per n-gram, no allocation while routing). The ids depend only on the bytes and these parameters: the hash
/// is FNV-1a 64 (the same function as CKernels' `tc_fnv1a64`) followed by MurmurHash3's 64-bit finaliser
/// and a multiply-shift range reduction, all fixed-width integer arithmetic, never Swift's per-process
/// seeded `Hasher`, so a saved model means the same on every run and platform.
///
/// Features, in this order for each whitespace-separated word (space, tab, newline, CR, VT, FF, NUL):
/// 1. the word itself (a unigram);
/// 2. every byte n-gram, minn...maxn long, of the word wrapped in boundary marks: "<word>";
/// 3. the word n-grams (2...wordNgrams words) that end at this word;
/// and last, when `wordCount` is on, one feature for the number of words (capped at 16). A bag of
/// features cannot otherwise tell a one-word request from a sentence that shares its n-grams, and length
/// separates tasks well (a pronunciation request is one word, a shell command a few).
/// A byte sequence that appears twice counts twice, as in fastText.
public struct FeatureHasher: Sendable, Equatable {
    public static let maxWordNgrams = 4

    public let buckets: Int
    public let minn: Int
    public let maxn: Int
    public let wordNgrams: Int
    public let wordCount: Bool

    public init(buckets: Int, minn: Int = 2, maxn: Int = 5, wordNgrams: Int = 2, wordCount: Bool = true) {
        precondition(buckets >= 1 && buckets <= Int(UInt32.max), "FeatureHasher: buckets must be in 1...\(UInt32.max)")
        precondition(minn >= 1 && minn <= maxn, "FeatureHasher: need 1 <= minn <= maxn")
        precondition((1...Self.maxWordNgrams).contains(wordNgrams), "FeatureHasher: wordNgrams must be in 1...\(Self.maxWordNgrams)")
        self.buckets = buckets
        self.minn = minn
        self.maxn = maxn
        self.wordNgrams = wordNgrams
        self.wordCount = wordCount
    }

    public init(config: RouterConfig) {
        self.init(buckets: config.buckets, minn: config.minn, maxn: config.maxn, wordNgrams: config.wordNgrams,
                  wordCount: config.wordCountFeature)
    }

    /// The bucket ids of `text`'s features, in feature order.
    public func features(_ text: String) -> [UInt32] {
        var out = [UInt32]()
        out.reserveCapacity(text.utf8.count * (maxn - minn + 1) + 8)
        forEachFeature(text) { out.append($0) }
        return out
    }

    // MARK: Hash constants (changing any of them changes every trained model's meaning)

    static let fnvOffset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01b3
    /// fastText's word n-gram combiner.
    static let ngramMultiplier: UInt64 = 116_049_371
    /// XORed into a word (n-gram) key so that a word and a byte n-gram with the same bytes land apart.
    static let wordTag: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// Plus the (capped) word count, the word-count feature's key.
    static let wordCountTag: UInt64 = 0x776F_7264_636E_7400  // "wordcnt\0"
    static let maxCountedWords = 16
    static let boundaryStart: UInt8 = 0x3C  // '<'
    static let boundaryEnd: UInt8 = 0x3E    // '>'

    /// MurmurHash3's fmix64: FNV-1a's high bits barely depend on the last bytes; this spreads every bit.
    @inline(__always)
    static func finalize(_ key: UInt64) -> UInt64 {
        var h = key
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Lemire's multiply-shift reduction of the high 32 bits to 0..<buckets (no division).
    @inline(__always)
    func bucket(_ key: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: ((Self.finalize(key) >> 32) &* UInt64(buckets)) >> 32)
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || (b >= 0x09 && b <= 0x0D) || b == 0
    }

    // MARK: Walking the features

    /// Calls `body` with each feature's bucket id, in feature order, without allocating.
    @inline(__always)
    func forEachFeature(_ text: String, _ body: (UInt32) -> Void) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { forEachFeature(bytes: $0, body) }
        if done == nil {
            let copy = Array(text.utf8)
            copy.withUnsafeBufferPointer { forEachFeature(bytes: $0, body) }
        }
    }

    @inline(__always)
    func forEachFeature(bytes: UnsafeBufferPointer<UInt8>, _ body: (UInt32) -> Void) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        // Keys of the last words (most recent first), for word n-grams.
        var prev1: UInt64 = 0, prev2: UInt64 = 0, prev3: UInt64 = 0
        var wordsSeen = 0
        var i = 0
        while i < n {
            while i < n && Self.isSpace(base[i]) { i += 1 }
            if i == n { break }
            let start = i
            while i < n && !Self.isSpace(base[i]) { i += 1 }
            let word = UnsafeBufferPointer(start: base + start, count: i - start)

            var wh = Self.fnvOffset
            for b in word { wh = (wh ^ UInt64(b)) &* Self.fnvPrime }
            body(bucket(wh ^ Self.wordTag))
            forEachCharNgram(word, body)
            if wordNgrams >= 2 && wordsSeen >= 1 {
                var key = prev1 &* Self.ngramMultiplier &+ wh
                body(bucket(key ^ Self.wordTag))
                if wordNgrams >= 3 && wordsSeen >= 2 {
                    key = (prev2 &* Self.ngramMultiplier &+ prev1) &* Self.ngramMultiplier &+ wh
                    body(bucket(key ^ Self.wordTag))
                    if wordNgrams >= 4 && wordsSeen >= 3 {
                        key = ((prev3 &* Self.ngramMultiplier &+ prev2) &* Self.ngramMultiplier &+ prev1) &* Self.ngramMultiplier &+ wh
                        body(bucket(key ^ Self.wordTag))
                    }
                }
            }
            prev3 = prev2; prev2 = prev1; prev1 = wh
            wordsSeen += 1
        }
        if wordCount && wordsSeen > 0 {
            body(bucket(Self.wordCountTag &+ UInt64(min(wordsSeen, Self.maxCountedWords))))
        }
    }

    /// Byte n-grams of "<word>": from each start, FNV-1a runs forward one byte at a time, so every length
    /// from that start shares the prefix's work. As in fastText, a 1-gram of a lone boundary mark is skipped.
    @inline(__always)
    func forEachCharNgram(_ word: UnsafeBufferPointer<UInt8>, _ body: (UInt32) -> Void) {
        let w = word.baseAddress!
        let len = word.count + 2  // with both marks
        for start in 0..<len {
            var h = Self.fnvOffset
            var end = start
            var size = 1
            while end < len && size <= maxn {
                let b = end == 0 ? Self.boundaryStart : (end == len - 1 ? Self.boundaryEnd : w[end - 1])
                h = (h ^ UInt64(b)) &* Self.fnvPrime
                end += 1
                if size >= minn && !(size == 1 && (start == 0 || end == len)) { body(bucket(h)) }
                size += 1
            }
        }
    }
}
