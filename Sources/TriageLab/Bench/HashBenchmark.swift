import Foundation
import Registry
import TensorCore

/// SHA-256 throughput of the registry's hasher (every blob is hashed on write and on load): best of
/// five passes over 32 MiB, in MB/s.
public enum HashBenchmark {
    /// Bytes hashed per pass and the best pass's rate.
    public struct Result: Codable, Sendable {
        public var bytes: Int
        public var mbPerS: Double
        enum CodingKeys: String, CodingKey { case bytes, mbPerS = "mb_per_s" }
    }

    /// Hashes `megabytes` MiB five times.
    public static func run(megabytes: Int = 32) -> Result {
        let data = [UInt8](repeating: 0x5a, count: megabytes << 20)
        var best = 0.0
        for _ in 0..<5 {
            let t0 = MonotonicClock.now()
            _ = SHA256.hex(of: data)
            best = max(best, Double(data.count) / 1e6 / (MonotonicClock.now() - t0))
        }
        return Result(bytes: data.count, mbPerS: best)
    }
}
