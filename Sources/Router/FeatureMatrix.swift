import TensorCore

/// Every training text's bucket ids, hashed once and kept flat (ids of text i are
/// `ids[offsets[i]..<offsets[i+1]]`), so epochs after the first do no hashing and no allocation.
/// Hashing is split across cores; each chunk's ids are joined in text order, so the result is the same
/// for any thread count.
struct FeatureMatrix {
    var ids: [UInt32]
    var offsets: [Int]
    var count: Int { offsets.count - 1 }

    init(_ texts: [String], hasher: FeatureHasher) {
        let n = texts.count
        let workers = Parallel.workers(for: n, minimumPerThread: 2_000)
        var parts = [([UInt32], [Int])](repeating: ([], []), count: workers)
        parts.withUnsafeMutableBufferPointer { partsBuf in
            let out = partsBuf.baseAddress!
            Parallel.indexedChunks(n, workers: workers) { w, range in
                var ids = [UInt32]()
                ids.reserveCapacity(range.count * 64)
                var lengths = [Int]()
                lengths.reserveCapacity(range.count)
                for i in range {
                    let before = ids.count
                    hasher.forEachFeature(texts[i]) { ids.append($0) }
                    lengths.append(ids.count - before)
                }
                (out + w).pointee = (ids, lengths)
            }
        }
        ids = []
        ids.reserveCapacity(parts.reduce(0) { $0 + $1.0.count })
        offsets = [0]
        offsets.reserveCapacity(n + 1)
        for (partIds, lengths) in parts {
            ids += partIds
            for l in lengths { offsets.append(offsets[offsets.count - 1] + l) }
        }
    }
}
