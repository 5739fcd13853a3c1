import TensorCore

/// Seeded, length-bucketed batches. Each epoch shuffles the examples, cuts them into pools of 50
/// batches, sorts each pool by length and slices it into batches (little padding), then shuffles the
/// batch order. The generator's state at the start of an epoch and the batch index fully determine
/// where a run is, so a checkpoint can resume it exactly.
public struct Batcher {
    public let examples: [[Int32]]
    public let batchSize: Int
    /// The generator as it was when the current epoch's order was drawn.
    public private(set) var epochStartState: [UInt64]
    public private(set) var epoch = 0
    public private(set) var indexInEpoch = 0
    private var order: [[Int]] = []
    /// The generator after this epoch's draw: the next epoch's start.
    private var nextEpochState: [UInt64]

    public init(examples: [[Int32]], batchSize: Int, seed: UInt64) {
        precondition(!examples.isEmpty && batchSize > 0, "Batcher: needs examples and a positive batch size")
        self.examples = examples
        self.batchSize = batchSize
        epochStartState = RandomGenerator(seed: seed).state
        nextEpochState = epochStartState
        order = Self.drawEpoch(count: examples.count, lengths: examples.map(\.count), batchSize: batchSize, state: &nextEpochState)
    }

    /// Resumes at `epoch`, batch `index`, from the saved epoch-start state.
    public init(examples: [[Int32]], batchSize: Int, epoch: Int, index: Int, epochStartState: [UInt64]) {
        self.examples = examples
        self.batchSize = batchSize
        self.epoch = epoch
        self.epochStartState = epochStartState
        nextEpochState = epochStartState
        order = Self.drawEpoch(count: examples.count, lengths: examples.map(\.count), batchSize: batchSize, state: &nextEpochState)
        indexInEpoch = index
    }

    /// Draws an epoch's order; on return `state` is the generator after the draw (the next epoch's start).
    private static func drawEpoch(count: Int, lengths: [Int], batchSize: Int, state: inout [UInt64]) -> [[Int]] {
        var rng = RandomGenerator(state: state)
        var idx = Array(0..<count)
        rng.shuffle(&idx)
        var batches = [[Int]]()
        let pool = batchSize * 50
        for start in stride(from: 0, to: count, by: pool) {
            let chunk = idx[start..<min(count, start + pool)].sorted { (lengths[$0], $0) < (lengths[$1], $1) }
            for b in stride(from: 0, to: chunk.count, by: batchSize) {
                batches.append(Array(chunk[b..<min(chunk.count, b + batchSize)]))
            }
        }
        rng.shuffle(&batches)
        state = rng.state
        return batches
    }

    /// The next batch of examples.
    public mutating func next() -> TokenBatch {
        if indexInEpoch >= order.count {
            epochStartState = nextEpochState
            order = Self.drawEpoch(count: examples.count, lengths: examples.map(\.count), batchSize: batchSize, state: &nextEpochState)
            epoch += 1
            indexInEpoch = 0
        }
        let ids = order[indexInEpoch]
        indexInEpoch += 1
        return TokenBatch(examples: ids.map { examples[$0] })
    }
}
