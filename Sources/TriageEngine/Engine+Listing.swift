import Foundation
import Registry

/// One registered expert as `experts list` and `experts import` report it.
public struct ExpertSummary: Codable, Sendable {
    /// The expert's registered name.
    public var name: String
    /// Goes up by one each time the name is registered again (`--replace`).
    public var version: Int
    /// What the expert does, in the words of whoever registered it.
    public var description: String?
    /// Model parameters.
    public var parameters: Int
    /// Test exact match recorded at registration.
    public var exactMatch: Double?
    /// When it was registered (UTC, ISO 8601).
    public var created: String?
    /// `task` or `completion` (for a completion expert `exact_match` is next-line exact match).
    public var kind: ExpertKind = .task
    enum CodingKeys: String, CodingKey { case name, version, description, parameters, exactMatch = "exact_match", created, kind }

    init(_ r: ExpertRecord) {
        let m = r.metricsJSON.flatMap { try? JSONDecoder().decode(ExpertMetrics.self, from: Data($0.utf8)) }
        self.init(name: r.name, version: r.version, description: r.description, parameters: r.paramCount,
                  exactMatch: m?.exactMatch, created: r.createdAt)
        kind = Engine.kind(of: r)
    }

    init(name: String, version: Int, description: String?, parameters: Int, exactMatch: Double?, created: String?) {
        (self.name, self.version, self.description, self.parameters, self.exactMatch, self.created) =
            (name, version, description, parameters, exactMatch, created)
    }
}

/// What `gc` removed.
public struct GarbageReport: Codable, Sendable {
    /// SHA-256 of every blob file removed.
    public var removed: [String]
    /// Bytes of blob and temporary files removed.
    public var bytesFreed: Int
    enum CodingKeys: String, CodingKey { case removed, bytesFreed = "bytes_freed" }
}

extension Engine {
    /// The registered experts, by name.
    public func listExperts() throws -> [ExpertSummary] {
        try registry.listExperts().map(ExpertSummary.init)
    }

    /// An expert's summary and its manifest (`expert.json` as registered).
    public func manifest(of name: String) throws -> (summary: ExpertSummary, json: String) {
        let r = try expertRecord(name)
        guard let json = r.manifestJSON else { throw TriageError.corrupt("expert '\(name)' has no manifest in the registry; re-import it") }
        return (ExpertSummary(r), json)
    }

    /// Removes blobs nothing refers to (superseded routers' included) and this home's scratch files.
    /// `now`: also blobs written in the last hour, which another running command may be about to register.
    public func collectGarbage(now: Bool) throws -> GarbageReport {
        let r = try registry.gc(minimumAge: now ? 0 : 3600)
        if now { try? FileManager.default.removeItem(atPath: scratchDirectory) }
        return GarbageReport(removed: r.removed, bytesFreed: r.bytesFreed)
    }
}
