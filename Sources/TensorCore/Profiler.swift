import Foundation

/// Per-op wall time of forward and backward passes, for `triage bench ops`. Off by default: then an
/// op pays one load and branch. Not thread-safe by design: profile from one thread.
public final class Profiler {
    public struct Row: Codable, Sendable {
        public let op: String
        public let pass: String
        public let calls: Int
        public let ms: Double
    }

    nonisolated(unsafe) static var active: Profiler?
    private var totals: [String: (calls: Int, ns: UInt64)] = [:]
    private var order: [String] = []

    public init() {}

    /// Runs `body` with this profiler recording every op.
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        let saved = Profiler.active
        Profiler.active = self
        defer { Profiler.active = saved }
        return try body()
    }

    @inline(__always) static func now() -> UInt64 {
        guard active != nil else { return 0 }
        return DispatchTime.now().uptimeNanoseconds
    }

    @inline(__always) static func add(_ key: String, since start: UInt64) {
        guard let p = active, start != 0 else { return }
        let dt = DispatchTime.now().uptimeNanoseconds - start
        if p.totals[key] == nil { p.order.append(key) }
        p.totals[key, default: (0, 0)].calls += 1
        p.totals[key, default: (0, 0)].ns += dt
    }

    /// Rows in first-seen order, keyed "op/forward" and "op/backward".
    public var rows: [Row] {
        order.map { key in
            let parts = key.split(separator: "/")
            let t = totals[key]!
            return Row(op: String(parts[0]), pass: String(parts[1]), calls: t.calls, ms: Double(t.ns) / 1e6)
        }
    }

    public func reset() {
        totals = [:]
        order = []
    }
}
