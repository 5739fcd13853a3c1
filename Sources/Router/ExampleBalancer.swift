import TensorCore

/// Gives every expert the same weight in training: experts with more inputs than the cap are subsampled,
/// smaller ones are upsampled (whole copies, then a random remainder) to the common count, the largest
/// expert's count capped at `maxPerGroup`. Each group draws from its own generator, seeded from the seed
/// and the group's name, so adding or removing another expert leaves a group's subsample unchanged
/// (only the common count may move). Exposed so that benchmark peers can be fed exactly the same inputs.
public enum ExampleBalancer {
    /// The common per-group count for groups of these sizes.
    public static func target(sizes: [Int], maxPerGroup: Int) -> Int {
        min(maxPerGroup, sizes.max() ?? 0)
    }

    /// Draws `count` items from `items` (without replacement while it can, then whole extra copies).
    public static func sample<T>(_ items: [T], count: Int, seed: UInt64, name: String) -> [T] {
        guard !items.isEmpty, count > 0 else { return [] }
        var rng = RandomGenerator(seed: seed ^ nameHash(name))
        var out = [T]()
        out.reserveCapacity(count)
        while out.count + items.count <= count { out.append(contentsOf: items) }
        let rest = count - out.count
        if rest > 0 {
            var idx = Array(items.indices)
            // Partial Fisher-Yates: only the first `rest` positions are needed.
            for i in 0..<rest { idx.swapAt(i, i + rng.nextInt(below: idx.count - i)) }
            out.append(contentsOf: idx[0..<rest].map { items[$0] })
        }
        return out
    }

    /// Balanced (input, expert) pairs, grouped by expert in sorted name order (shuffle before training).
    public static func balance(_ examples: [(input: String, expert: String)], maxPerGroup: Int,
                               seed: UInt64) -> [(input: String, expert: String)] {
        let groups = Dictionary(grouping: examples, by: \.expert).mapValues { $0.map(\.input) }
        let n = target(sizes: groups.values.map(\.count), maxPerGroup: maxPerGroup)
        var out = [(input: String, expert: String)]()
        for name in groups.keys.sorted() {
            out += sample(groups[name]!, count: n, seed: seed, name: name).map { (input: $0, expert: name) }
        }
        return out
    }

    /// FNV-1a 64 of the name's UTF-8, a fixed hash (Swift's `Hasher` is seeded per process).
    static func nameHash(_ name: String) -> UInt64 {
        var h = FeatureHasher.fnvOffset
        for b in name.utf8 { h = (h ^ UInt64(b)) &* FeatureHasher.fnvPrime }
        return h
    }
}
