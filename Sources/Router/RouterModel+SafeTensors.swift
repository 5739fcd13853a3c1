import Foundation
import TensorCore

/// A router is one safetensors file: the three weight tensors, and in `__metadata__` everything needed to
/// use them the same way again (labels, threshold, the config that fixes the feature hashing).
extension RouterModel {
    public static let formatName = "triage-router"
    public static let formatVersion = "1"
    /// Names the feature hash; a file made with another scheme is refused rather than silently misread.
    public static let hashScheme = "fnv1a64+fmix64+mulshift/v1"

    enum Key {
        static let input = "router.input_embeddings"
        static let output = "router.output_weights"
        static let bias = "router.output_bias"
        static let noveltyBits = "router.novelty_bits"
        static let noveltyThresholds = "router.novelty_thresholds"
    }

    /// Writes atomically (temporary file, fsync, rename), so a crash never leaves half a router.
    public func save(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let metadata: [String: String] = [
            "format": Self.formatName,
            "format_version": Self.formatVersion,
            "hash_scheme": Self.hashScheme,
            "labels": String(decoding: try enc.encode(labels), as: UTF8.self),
            "background_label": Self.backgroundLabel,
            "threshold": "\(threshold)",
            "threshold_method": thresholdMethod,
            "config": String(decoding: try enc.encode(config), as: UTF8.self),
        ]
        var items: [String: SafeTensors.Item] = [Key.input: .init(inputWeights), Key.output: .init(outputWeights), Key.bias: .init(outputBias)]
        if let n = novelty {
            // Each 64-bit word as two I32s, low half first.
            var ints = [Int64]()
            ints.reserveCapacity(n.words.count * 2)
            for w in n.words {
                ints.append(Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: w))))
                ints.append(Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: w >> 32))))
            }
            items[Key.noveltyBits] = .init(integers: ints, shape: [n.thresholds.count, n.bits / 32], as: .i32)
            items[Key.noveltyThresholds] = .init(Tensor(shape: [n.thresholds.count], values: n.thresholds))
        }
        try SafeTensors.write(items, metadata: metadata, to: path)
    }

    public static func load(from path: String) throws -> RouterModel {
        try load(SafeTensors.read(path: path), origin: path)
    }

    /// A router from the bytes of its file (`origin` names it in errors).
    public static func load(data: Data, origin: String) throws -> RouterModel {
        let file: SafeTensors.File
        // Borrowing: the embedding table stays in `data` (a mapped blob) instead of being copied; a
        // router's tensors are never written.
        do { file = try SafeTensors.read(data: data, borrowing: true) } catch let e as TensorCoreError { throw TensorCoreError.malformed("\(origin): \(e.description)") }
        return try load(file, origin: origin)
    }

    static func load(_ file: SafeTensors.File, origin path: String) throws -> RouterModel {
        let m = file.metadata
        func field(_ k: String) throws -> String {
            guard let v = m[k] else { throw RouterError.malformedModel("\(path): __metadata__ has no \"\(k)\"") }
            return v
        }
        guard try field("format") == formatName else { throw RouterError.malformedModel("\(path): not a router file (format \(m["format"] ?? "?"))") }
        guard try field("format_version") == formatVersion else {
            throw RouterError.malformedModel("\(path): format version \(m["format_version"] ?? "?"), this build reads \(formatVersion)")
        }
        guard try field("hash_scheme") == hashScheme else {
            throw RouterError.malformedModel("\(path): feature hash \(m["hash_scheme"] ?? "?"), this build hashes with \(hashScheme)")
        }
        let dec = JSONDecoder()
        guard let labels = try? dec.decode([String].self, from: Data(try field("labels").utf8)) else {
            throw RouterError.malformedModel("\(path): labels are not a JSON list of strings")
        }
        guard let config = try? dec.decode(RouterConfig.self, from: Data(try field("config").utf8)) else {
            throw RouterError.malformedModel("\(path): config is not a router config")
        }
        // Before the novelty index is built from its n-gram lengths (the router fuzzer: minn > maxn
        // reached FeatureHasher's precondition and crashed instead of refusing the file).
        do { try config.validate() } catch { throw RouterError.malformedModel("\(path): \(error)") }
        guard let threshold = Float(try field("threshold")) else { throw RouterError.malformedModel("\(path): threshold is not a number") }
        guard let input = file[Key.input], let output = file[Key.output], let bias = file[Key.bias] else {
            throw RouterError.malformedModel("\(path): needs tensors \(Key.input), \(Key.output), \(Key.bias)")
        }
        var novelty: NoveltyIndex?
        if let bitsEntry = file.entries[Key.noveltyBits] {
            guard bitsEntry.dtype == .i32, bitsEntry.shape.count == 2,
                  let th = file[Key.noveltyThresholds], th.shape == [bitsEntry.shape[0]] else {
                throw RouterError.malformedModel("\(path): \(Key.noveltyBits) must be I32 [experts, bits/32] with \(Key.noveltyThresholds) F32 [experts]")
            }
            // Two I32s per word, low half first: the same bytes as one little-endian UInt64, read straight
            // from the file (megabytes of bits; no [Int64] in between on every cold start).
            let words = bitsEntry.withIntegerBytes { raw in
                [UInt64](unsafeUninitializedCapacity: raw.count / 8) { out, n in
                    for i in 0..<(raw.count / 8) { out[i] = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
                    n = raw.count / 8
                }
            } ?? []
            novelty = try NoveltyIndex(bits: bitsEntry.shape[1] * 32, words: words, thresholds: th.values,
                                       minn: config.minn, maxn: config.maxn)
        }
        return try RouterModel(config: config, labels: labels, threshold: threshold,
                               thresholdMethod: m["threshold_method"] ?? "", inputWeights: input,
                               outputWeights: output, outputBias: bias, novelty: novelty)
    }
}
