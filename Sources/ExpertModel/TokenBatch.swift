/// A padded batch: tokens and next-token targets laid out [batch, seq], and a loss mask per position.
public struct TokenBatch {
    public let tokens: [Int32]
    public let targets: [Int32]
    public let mask: [Float]
    public let batch: Int
    public let seq: Int

    public init(tokens: [Int32], targets: [Int32], mask: [Float], batch: Int, seq: Int) {
        precondition(tokens.count == batch * seq && targets.count == tokens.count && mask.count == tokens.count,
                     "TokenBatch: arrays must each hold batch × seq = \(batch * seq) values")
        self.tokens = tokens
        self.targets = targets
        self.mask = mask
        self.batch = batch
        self.seq = seq
    }

    /// Examples (`BOS in SEP out EOS`) padded to the longest; the mask covers the output bytes and EOS.
    public init(examples: [[Int32]]) {
        let seq = examples.map { $0.count - 1 }.max() ?? 1
        var tokens = [Int32](repeating: Vocabulary.pad, count: examples.count * seq)
        var targets = tokens
        var mask = [Float](repeating: 0, count: tokens.count)
        for (b, ex) in examples.enumerated() {
            let sep = ex.firstIndex(of: Vocabulary.sep) ?? 0
            for t in 0..<(ex.count - 1) {
                tokens[b * seq + t] = ex[t]
                targets[b * seq + t] = ex[t + 1]
                if t >= sep { mask[b * seq + t] = 1 }  // predicts an output byte or EOS
            }
        }
        self.init(tokens: tokens, targets: targets, mask: mask, batch: examples.count, seq: seq)
    }

    /// Real (non-padding) tokens in the batch.
    public var realTokens: Int { tokens.reduce(0) { $0 + ($1 == Vocabulary.pad ? 0 : 1) } }
}
