import Foundation
import TensorCore

/// What a completion expert learns from: the bytes of a set of text files, each framed as
/// `BOS bytes EOS`, read as one language-modelling stream per file (no example boundaries, no answers).
public struct TextCorpus: Sendable {
    /// The files' bytes, in a fixed order (the order their relative paths sort in).
    public let files: [[UInt8]]
    /// Bytes in all files.
    public let byteCount: Int

    public init(files: [[UInt8]]) {
        self.files = files.filter { !$0.isEmpty }
        byteCount = self.files.reduce(0) { $0 + $1.count }
    }
}

/// Fill-in-the-middle (Bavarian et al., 2022, "Efficient Training of Language Models to Fill in the
/// Middle"): a window cut into prefix, middle and suffix is trained as `PRE prefix SUF suffix MID middle
/// EOS`, so the same model completes at the end of a text or between two parts of it. The three markers
/// are bytes that never occur in UTF-8 (corpora are checked to be valid UTF-8), so the vocabulary and the
/// model format stay as they are.
public enum FillInTheMiddle {
    public static let prefixMarker: Int32 = 0xFA
    public static let suffixMarker: Int32 = 0xFB
    public static let middleMarker: Int32 = 0xFC
    /// Fraction of training windows given the FIM transform.
    public static let defaultRate = 0.5

    /// The prompt for completing between `prefix` and `suffix` with at most `maxNew` tokens in a context of
    /// `context`: the tail of the prefix and the head of the suffix that fit (the suffix gets at most a third).
    public static func prompt(prefix: [UInt8], suffix: [UInt8], context: Int, maxNew: Int) -> [Int32] {
        let room = max(2, context - 3 - max(1, maxNew))
        let suffixBytes = min(suffix.count, room / 3)
        let prefixBytes = min(prefix.count, room - suffixBytes)
        return [prefixMarker] + prefix.suffix(prefixBytes).map { Int32($0) }
            + [suffixMarker] + suffix.prefix(suffixBytes).map { Int32($0) } + [middleMarker]
    }

    /// The prompt for continuing `prefix` (no suffix): `BOS prefix` when all of it fits, otherwise its tail.
    public static func continuationPrompt(prefix: [UInt8], context: Int, maxNew: Int) -> [Int32] {
        let room = max(1, context - max(1, maxNew))
        if prefix.count + 1 <= room { return [Vocabulary.bos] + prefix.map { Int32($0) } }
        return prefix.suffix(room).map { Int32($0) }
    }
}

/// Random training windows of a corpus, a pure function of the step: batch `k` is drawn from a generator
/// seeded by (seed, k), so a resumed run sees exactly the batches it would have seen, with no sampler
/// state in the checkpoint. A window starts at a uniformly random byte of the corpus (files weighted by
/// length); with probability `fimRate` it is cut into prefix/middle/suffix and reordered (FIM).
public struct WindowSampler: Sendable {
    public let corpus: TextCorpus
    public let batchSize: Int
    /// Tokens per training row (the model's context).
    public let length: Int
    public let fimRate: Double
    public let seed: UInt64
    /// Running totals of the framed streams' lengths (`BOS bytes EOS`), to pick a file by a uniform offset.
    private let ends: [Int]

    public init(corpus: TextCorpus, batchSize: Int, length: Int, fimRate: Double = FillInTheMiddle.defaultRate, seed: UInt64) {
        precondition(!corpus.files.isEmpty && batchSize > 0 && length > 8, "WindowSampler: needs files, a batch size and a context")
        self.corpus = corpus
        self.batchSize = batchSize
        self.length = length
        self.fimRate = fimRate
        self.seed = seed
        var total = 0
        ends = corpus.files.map { total += $0.count + 2; return total }
    }

    /// The `step`-th batch.
    public func batch(at step: Int) -> TokenBatch {
        var rng = RandomGenerator(seed: seed &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
        let rowLength = length  // tokens; targets are the next tokens
        var tokens = [Int32](repeating: Vocabulary.pad, count: batchSize * rowLength)
        var targets = tokens
        var mask = [Float](repeating: 0, count: tokens.count)
        for b in 0..<batchSize {
            let row = window(&rng)
            let n = min(row.count - 1, rowLength)
            for t in 0..<n {
                tokens[b * rowLength + t] = row[t]
                targets[b * rowLength + t] = row[t + 1]
                mask[b * rowLength + t] = 1
            }
        }
        return TokenBatch(tokens: tokens, targets: targets, mask: mask, batch: batchSize, seq: rowLength)
    }

    /// One row's tokens (up to `length + 1`: inputs and the last target).
    func window(_ rng: inout RandomGenerator) -> [Int32] {
        let offset = rng.nextInt(below: ends.last!)
        var lo = 0, hi = ends.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if ends[mid] > offset { hi = mid } else { lo = mid + 1 } }
        let file = corpus.files[lo]
        let start = offset - (lo == 0 ? 0 : ends[lo - 1])  // position in BOS bytes EOS
        let fim = rng.nextDouble() < fimRate
        if !fim {
            return Self.framed(file, from: start, count: length + 1)
        }
        // FIM: a chunk of file bytes, cut at two uniform points; three markers and EOS take four places.
        let chunkLength = length + 1 - 4
        let first = min(max(0, start - 1), max(0, file.count - 1))
        let chunk = Array(file[first..<min(file.count, first + chunkLength)])
        var i = rng.nextInt(below: chunk.count + 1), j = rng.nextInt(below: chunk.count + 1)
        if i > j { swap(&i, &j) }
        var out = [FillInTheMiddle.prefixMarker]
        out.reserveCapacity(chunk.count + 4)
        out += chunk[0..<i].map { Int32($0) }
        out.append(FillInTheMiddle.suffixMarker)
        out += chunk[j...].map { Int32($0) }
        out.append(FillInTheMiddle.middleMarker)
        out += chunk[i..<j].map { Int32($0) }
        out.append(Vocabulary.eos)
        return out
    }

    /// Up to `count` tokens of the stream `BOS file EOS` from position `start`.
    static func framed(_ file: [UInt8], from start: Int, count: Int) -> [Int32] {
        var out = [Int32]()
        out.reserveCapacity(count)
        var p = start
        while out.count < count && p < file.count + 2 {
            out.append(p == 0 ? Vocabulary.bos : p == file.count + 1 ? Vocabulary.eos : Int32(file[p - 1]))
            p += 1
        }
        return out
    }
}

/// Bits per byte of a model on whole files: each file is read as `BOS bytes EOS` in windows of the
/// context that overlap by half, and every byte is scored once, with at least half a context before it
/// (all of it at the start of a file). The EOS prediction is not counted: bits are per byte of text.
public enum BitsPerByte {
    /// The scored windows of `files`, batched for `model`'s context.
    public static func batches(files: [[UInt8]], context: Int, batchSize: Int = 16) -> [TokenBatch] {
        var rows = [(tokens: [Int32], targets: [Int32], mask: [Float])]()
        let stride = context / 2
        for file in files where !file.isEmpty {
            let stream = WindowSampler.framed(file, from: 0, count: file.count + 2)
            var start = 0
            while true {
                let end = min(stream.count - 1, start + context)  // inputs stream[start..<end], targets shifted by one
                var tokens = [Int32](repeating: Vocabulary.pad, count: context), targets = tokens
                var mask = [Float](repeating: 0, count: context)
                let firstScored = start == 0 ? 0 : context - stride
                for t in 0..<(end - start) {
                    tokens[t] = stream[start + t]
                    targets[t] = stream[start + t + 1]
                    if t >= firstScored && targets[t] != Vocabulary.eos { mask[t] = 1 }
                }
                rows.append((tokens, targets, mask))
                if end >= stream.count - 1 { break }
                start += stride
            }
        }
        return Swift.stride(from: 0, to: rows.count, by: batchSize).map { s in
            let part = rows[s..<min(rows.count, s + batchSize)]
            return TokenBatch(tokens: part.flatMap(\.tokens), targets: part.flatMap(\.targets), mask: part.flatMap(\.mask), batch: part.count, seq: context)
        }
    }

    /// Mean bits per scored byte over `batches` (from `batches(files:context:)`).
    public static func measure(_ model: Transformer, batches: [TokenBatch]) -> Double {
        var nats = 0.0, bytes = 0.0
        Autograd.noGrad {
            for b in batches {
                let count = Double(b.mask.reduce(0, +))
                guard count > 0 else { continue }
                nats += Double(model.loss(b).item) * count
                bytes += count
            }
        }
        return bytes > 0 ? nats / bytes / log(2) : .nan
    }
}
