// Registry: the SQLite registry of experts and routers, with weights and data as content-addressed blobs.
//
// Layout of a registry home (see `RegistryHome.resolve`): `registry.sqlite` (WAL mode) and `blobs/`.
// The module knows nothing of tensors: JSON fields are opaque strings and weights are bytes.
//
// Invariants kept by this file:
// - Blob files are written (BlobStore.put) before the transaction that references them; a change that
//   references a blob checks its file is there, so rows never point at missing files, and a crash leaves
//   at most unreferenced files (removed by `gc`).
// - Registering or removing an expert and installing the router that goes with it happen in ONE write
//   transaction: an expert is visible only together with its weights, its data and an active router.
// - The active router, if any, routes to exactly the registered experts (`routerOutOfDate` otherwise).
// - At most one router is active (a partial unique index enforces it too).
//
// Crash-safety scripts can set TRIAGE_FAILPOINT=<point> (throw there, rolling back) or <point>:crash
// (exit at once, status 75, without rolling back) for the points named in `failpoint(_:)` calls below.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The registry: one connection to `registry.sqlite` plus the blob store. Not thread-safe: open one per
/// thread (connections in several threads and processes may share a home safely).
public final class Registry {
    /// The home directory.
    public let home: String
    /// The SQLite connection (exposed for tools and tests; prefer the methods below).
    public let database: Database
    /// The content-addressed blob files.
    public let blobs: BlobStore
    /// Called with the name of each failpoint reached inside a write transaction; tests throw from it.
    var failpointHook: ((String) throws -> Void)?

    /// Opens (creating and migrating as needed) the registry at `home`. Throws `newerSchema` if the file
    /// was written by a newer triage. `migrations` is injectable for tests.
    public init(home: String, migrations: [Migration] = Migrations.all, busyTimeout: TimeInterval = 10) throws {
        self.home = home
        try BlobStore.makeDirectory(home)
        blobs = try BlobStore(directory: home + "/" + RegistryHome.blobsDirectoryName)
        let databasePath = home + "/" + RegistryHome.databaseFileName
        try Registry.refuseTruncatedDatabase(databasePath, blobs: blobs)
        database = try Database(path: databasePath, busyTimeout: busyTimeout)
        try Registry.checkIntegrity(database)
        try Migrations.migrate(database, migrations: migrations)
    }

    /// SQLite reads an empty file as a new, empty database, so a registry file truncated to nothing would
    /// silently become an empty registry (and the shipped suite be imported into it). A real new registry
    /// has no blobs yet, and a registry that ever held data has a WAL-mode header: an empty file (without
    /// a WAL) beside stored blobs can only be a truncated one.
    static func refuseTruncatedDatabase(_ path: String, blobs: BlobStore) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size == 0 else { return }
        var wal = stat()
        if stat(path + "-wal", &wal) == 0, wal.st_size > 0 { return }
        let stored = try blobs.scan().blobs.count
        guard stored > 0 else { return }
        throw RegistryError.corruptDatabase(path: path, problem: "the file is empty, yet \(blobs.directory) holds \(stored) blobs: it was truncated")
    }

    /// `PRAGMA quick_check` (a millisecond for a registry: rows are small, weights live in blobs), so that
    /// a damaged file is reported as such when opened — not as a failure somewhere in a command, and
    /// before a migration writes to it.
    static func checkIntegrity(_ database: Database) throws {
        let rows = try database.query("PRAGMA quick_check").compactMap { $0[0].stringValue }
        guard rows == ["ok"] else {
            throw RegistryError.corruptDatabase(path: database.path, problem: rows.prefix(2).joined(separator: "; "))
        }
    }

    /// Opens the registry a command should use: `--home` value, else `TRIAGE_HOME`, else the XDG default.
    public static func open(explicitHome: String?) throws -> Registry {
        try Registry(home: RegistryHome.resolve(explicit: explicitHome))
    }

    // MARK: - Experts

    /// Registers `record` with its weights, data splits and the router that knows it, atomically, and makes
    /// that router the only active one. A new name gets version 1; an existing name throws `alreadyExists`
    /// unless `replace`, which bumps its version. `record.weightsBlob`/`dataBlobs` are taken from `weights`
    /// and `data`. The router must route to exactly the experts registered after the change.
    /// The blob files must already be in the store (`blobs.put`).
    @discardableResult
    public func registerExpert(_ record: ExpertRecord, weights: BlobRef, data: [DataRole: BlobRef] = [:],
                               router: RouterRecord, replace: Bool = false) throws -> (expert: ExpertRecord, router: RouterRecord) {
        let result = try registerExperts([ExpertRegistration(record: record, weights: weights, data: data)], router: router, replace: replace)
        return (result.experts[0], result.router)
    }

    /// Registers several experts and the router that knows all of them in one transaction (importing the
    /// shipped suite): either all of them appear, with the router, or none does.
    @discardableResult
    public func registerExperts(_ items: [ExpertRegistration], router: RouterRecord,
                                replace: Bool = false) throws -> (experts: [ExpertRecord], router: RouterRecord) {
        for item in items { try ExpertName.validate(item.record.name) }
        return try database.transaction {
            for item in items { try insertExpert(item.record, weights: item.weights, data: item.data, replace: replace) }
            try ensureBlobRow(router.weightsBlob, size: nil, owner: .other("the new router's weights"))
            try checkRouter(router, against: try expertNames())
            let stored = try insertRouter(router)
            try failpoint("register.beforeCommit")
            return (try items.map { try expert(named: $0.record.name)! }, stored)
        }
    }

    private func insertExpert(_ record: ExpertRecord, weights: BlobRef, data: [DataRole: BlobRef], replace: Bool) throws {
        let name = record.name
        try ensureBlobRow(weights.sha256, size: weights.size, owner: .expertWeights(name))
        for role in data.keys.sorted() {
            try ensureBlobRow(data[role]!.sha256, size: data[role]!.size, owner: .expertData(name, role: role.rawValue))
        }
        let columns: [SQLValue] = [
            .text(record.description), .text(record.configJSON), .int(Int64(record.paramCount)), .text(weights.sha256),
            .int(record.maxOutputBytes), .text(record.metricsJSON), .text(record.trainingJSON), .text(record.manifestJSON),
        ]
        let expertID: Int64
        if let existing = try database.query("SELECT id, version FROM experts WHERE name = ?", [.text(name)]).first {
            guard replace else { throw RegistryError.alreadyExists(kind: "expert", name: name) }
            expertID = Int64(existing.int("id")!)
            let version = Int64(existing.int("version")! + 1)
            try database.run("""
                UPDATE experts SET description = ?, config_json = ?, param_count = ?, weights_blob = ?,
                    max_output_bytes = ?, metrics_json = ?, training_json = ?, manifest_json = ?,
                    version = ?, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                WHERE id = ?
                """, columns + [.int(version), .int(expertID)])
            try database.run("DELETE FROM expert_data WHERE expert_id = ?", [.int(expertID)])
        } else {
            try database.run("""
                INSERT INTO experts (description, config_json, param_count, weights_blob, max_output_bytes,
                    metrics_json, training_json, manifest_json, name, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                """, columns + [.text(name)])
            expertID = database.lastInsertRowID
        }
        try failpoint("register.afterExpert")
        for role in data.keys.sorted() {
            try database.run("INSERT INTO expert_data (expert_id, role, blob) VALUES (?, ?, ?)",
                             [.int(expertID), .text(role.rawValue), .text(data[role]!.sha256)])
        }
    }

    /// Removes the expert `name` (and its data rows) atomically, installing `newRouter` (which must route
    /// to exactly the remaining experts) as the active router. With no new router, an active router that
    /// routes to `name` is deactivated, so `ask` never routes to a missing expert. Blob files stay until `gc`.
    /// Returns the new active router, if any.
    @discardableResult
    public func removeExpert(name: String, newRouter: RouterRecord? = nil) throws -> RouterRecord? {
        try database.transaction {
            guard let id = try database.scalar("SELECT id FROM experts WHERE name = ?", [.text(name)]).intValue else {
                throw RegistryError.notFound(kind: "expert", name: name)
            }
            try database.run("DELETE FROM experts WHERE id = ?", [.int(Int64(id))])
            try failpoint("remove.afterDelete")
            var result: RouterRecord?
            if let newRouter {
                try ensureBlobRow(newRouter.weightsBlob, size: nil, owner: .other("the new router's weights"))
                try checkRouter(newRouter, against: try expertNames())
                result = try insertRouter(newRouter)
            } else if let active = try activeRouter(), active.expertSet.contains(name) {
                try database.run("UPDATE routers SET active = 0 WHERE active = 1")
            } else {
                result = try activeRouter()
            }
            try failpoint("remove.beforeCommit")
            return result
        }
    }

    /// The names of the registered experts, sorted: what a new router must route to.
    public func expertNames() throws -> [String] {
        try database.query("SELECT name FROM experts ORDER BY name").compactMap { $0.string("name") }
    }

    /// Every registered expert, sorted by name, with its data blobs.
    public func listExperts() throws -> [ExpertRecord] {
        try database.read {
            var data: [String: [String: String]] = [:]
            for row in try database.query("""
                SELECT e.name AS name, d.role AS role, d.blob AS blob
                FROM expert_data d JOIN experts e ON e.id = d.expert_id
                """) {
                data[row.string("name")!, default: [:]][row.string("role")!] = row.string("blob")!
            }
            return try database.query("SELECT * FROM experts ORDER BY name").map {
                Registry.expertRecord($0, dataBlobs: data[$0.string("name")!] ?? [:])
            }
        }
    }

    /// The expert named `name`, or nil.
    public func expert(named name: String) throws -> ExpertRecord? {
        try database.read {
            guard let row = try database.query("SELECT * FROM experts WHERE name = ?", [.text(name)]).first else { return nil }
            var data: [String: String] = [:]
            for d in try database.query("SELECT role, blob FROM expert_data WHERE expert_id = ?", [row["id"]]) {
                data[d.string("role")!] = d.string("blob")!
            }
            return Registry.expertRecord(row, dataBlobs: data)
        }
    }

    /// Loads and verifies the weights of `expert` (a damaged file throws `corruptBlob` naming the expert).
    public func loadWeights(of expert: ExpertRecord) throws -> Data {
        try blobs.load(expert.weightsBlob, owner: .expertWeights(expert.name))
    }

    /// Loads and verifies one data split of `expert`; nil if it has none for `role`.
    public func loadData(of expert: ExpertRecord, role: DataRole) throws -> Data? {
        guard let sha = expert.dataBlobs[role.rawValue] else { return nil }
        return try blobs.load(sha, owner: .expertData(expert.name, role: role.rawValue))
    }

    // MARK: - Routers

    /// Registers `router` as the next version and makes it the active one; the router it supersedes is
    /// deleted (its blob becomes garbage for `gc`). It must route to exactly the registered experts.
    @discardableResult
    public func registerRouter(_ router: RouterRecord) throws -> RouterRecord {
        try database.transaction {
            try ensureBlobRow(router.weightsBlob, size: nil, owner: .other("the new router's weights"))
            try checkRouter(router, against: try expertNames())
            return try insertRouter(router)
        }
    }

    /// The router `ask` uses, or nil if none is active (no experts, or the last one was removed).
    public func activeRouter() throws -> RouterRecord? {
        try database.query("SELECT * FROM routers WHERE active = 1").first.map(Registry.routerRecord)
    }

    /// Router `version`, or nil.
    public func router(version: Int) throws -> RouterRecord? {
        try database.query("SELECT * FROM routers WHERE version = ?", [.int(Int64(version))]).first.map(Registry.routerRecord)
    }

    /// All routers, oldest first.
    public func routers() throws -> [RouterRecord] {
        try database.query("SELECT * FROM routers ORDER BY version").map(Registry.routerRecord)
    }

    /// Loads and verifies the weights of `router`.
    public func loadWeights(of router: RouterRecord) throws -> Data {
        try blobs.load(router.weightsBlob, owner: .router(version: router.version))
    }

    /// Parses `router`'s file with `parse` while its hash is checked on another core.
    public func loadWeights<T>(of router: RouterRecord, parse: (Data) throws -> T) throws -> T {
        try blobs.load(router.weightsBlob, owner: .router(version: router.version), parse: parse)
    }

    /// Parses `expert`'s weights and returns with their hash still being checked (`BlobStore.loadCheckingLater`).
    public func loadWeightsCheckingLater<T>(of expert: ExpertRecord, parse: (Data) throws -> T) throws -> (T, PendingCheck) {
        try blobs.loadCheckingLater(expert.weightsBlob, owner: .expertWeights(expert.name), parse: parse)
    }

    /// Parses `router`'s file and returns with its hash still being checked (`BlobStore.loadCheckingLater`).
    public func loadWeightsCheckingLater<T>(of router: RouterRecord, parse: (Data) throws -> T) throws -> (T, PendingCheck) {
        try blobs.loadCheckingLater(router.weightsBlob, owner: .router(version: router.version), parse: parse)
    }

    // MARK: - Baselines

    /// Stores (or replaces) a single-model baseline of `triage compare`, with its weights if kept.
    @discardableResult
    public func putBaseline(_ record: BaselineRecord, weights: BlobRef? = nil) throws -> BaselineRecord {
        try ExpertName.validate(record.name)
        return try database.transaction {
            let sha = weights?.sha256 ?? record.weightsBlob
            if let sha { try ensureBlobRow(sha, size: weights?.size, owner: .baseline(record.name)) }
            try database.run("""
                INSERT INTO baselines (name, config_json, weights_blob, metrics_json, training_json, expert_set_json)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, weights_blob = excluded.weights_blob,
                    metrics_json = excluded.metrics_json, training_json = excluded.training_json,
                    expert_set_json = excluded.expert_set_json, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """, [.text(record.name), .text(record.configJSON), .text(sha), .text(record.metricsJSON),
                      .text(record.trainingJSON), .text(record.expertSet.map(Registry.encodeNames))])
            return try baseline(named: record.name)!
        }
    }

    /// The baseline `name`, or nil.
    public func baseline(named name: String) throws -> BaselineRecord? {
        try database.query("SELECT * FROM baselines WHERE name = ?", [.text(name)]).first.map(Registry.baselineRecord)
    }

    /// All baselines, by name.
    public func baselines() throws -> [BaselineRecord] {
        try database.query("SELECT * FROM baselines ORDER BY name").map(Registry.baselineRecord)
    }

    /// Deletes baseline `name` (throws `notFound` if absent); its blob file stays until `gc`.
    public func removeBaseline(named name: String) throws {
        let changed = try database.transaction { try database.run("DELETE FROM baselines WHERE name = ?", [.text(name)]) }
        if changed == 0 { throw RegistryError.notFound(kind: "baseline", name: name) }
    }

    /// Loads and verifies the weights of `baseline`; nil if none were kept.
    public func loadWeights(of baseline: BaselineRecord) throws -> Data? {
        guard let sha = baseline.weightsBlob else { return nil }
        return try blobs.load(sha, owner: .baseline(baseline.name))
    }

    // MARK: - Settings

    /// The value of setting `key` (e.g. "fallback_expert"), or nil.
    public func setting(_ key: String) throws -> String? {
        try database.scalar("SELECT value FROM settings WHERE key = ?", [.text(key)]).stringValue
    }

    /// Sets `key` to `value`; nil deletes the setting.
    public func setSetting(_ key: String, _ value: String?) throws {
        try database.transaction {
            if let value {
                try database.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                 [.text(key), .text(value)])
            } else {
                try database.run("DELETE FROM settings WHERE key = ?", [.text(key)])
            }
        }
    }

    /// All settings.
    public func settings() throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try database.query("SELECT key, value FROM settings") {
            if let key = row.string("key"), let value = row.string("value") { result[key] = value }
        }
        return result
    }

    // MARK: - Blobs and garbage collection

    private static let referencedSQL = """
        SELECT weights_blob FROM experts
        UNION SELECT blob FROM expert_data
        UNION SELECT weights_blob FROM routers
        UNION SELECT weights_blob FROM baselines WHERE weights_blob IS NOT NULL
        UNION SELECT value FROM settings WHERE key LIKE 'blob.%'
        """

    /// Stores a setting whose value is a blob (key prefixed `blob.`), so `gc` keeps the blob while it is set.
    public func setBlobSetting(_ key: String, _ ref: BlobRef) throws {
        try database.transaction {
            try ensureBlobRow(ref.sha256, size: ref.size, owner: .other("setting \(key)"))
            try database.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             [.text("blob." + key), .text(ref.sha256)])
        }
    }

    /// The blob a `setBlobSetting` key refers to.
    public func blobSetting(_ key: String) throws -> String? { try setting("blob." + key) }

    /// Hashes of every blob some expert, data split, router or baseline refers to.
    public func referencedBlobs() throws -> Set<String> {
        Set(try database.query(Registry.referencedSQL).compactMap { $0[0].stringValue })
    }

    /// Deletes unreferenced blob rows, the files of blobs that have no row (after that) and stray temporary
    /// files older than a minute. Files modified less than `minimumAge` seconds ago are kept, because another
    /// command may have just written them for a registration it has not committed yet (pass 0 to remove
    /// every orphan at once when nothing else runs). Runs under the write lock, so it cannot race with a
    /// registration. Returns the removed blobs' hashes (sorted) and the bytes freed (temporary files included).
    @discardableResult
    public func gc(minimumAge: TimeInterval = 3600) throws -> (removed: [String], bytesFreed: Int) {
        try database.transaction {
            // Registries written before routers were pruned on insert keep superseded ones: drop them now
            // (while a router is active, an inactive one is never used again).
            try database.run("DELETE FROM routers WHERE active = 0 AND EXISTS (SELECT 1 FROM routers WHERE active = 1)")
            try database.run("DELETE FROM blobs WHERE sha256 NOT IN (\(Registry.referencedSQL))")
            let known = Set(try database.query("SELECT sha256 FROM blobs").compactMap { $0.string("sha256") })
            let scan = try blobs.scan()
            var removed: [String] = []
            var bytes = 0
            for blob in scan.blobs where !known.contains(blob.sha) && blob.age >= minimumAge {
                if try blobs.removeFile(blobs.path(for: blob.sha)) {
                    removed.append(blob.sha)
                    bytes += blob.size
                }
            }
            for temp in scan.temps where temp.age >= 60 {
                if try blobs.removeFile(temp.path) { bytes += temp.size }
            }
            return (removed.sorted(), bytes)
        }
    }

    // MARK: - Dump

    /// A deterministic text dump of the logical content: `user_version`, then every table (by name) with
    /// every row ordered by primary key, all columns but `created_at`. Equal dumps mean equal registries,
    /// which is how tests and crash-safety scripts check that a failed command changed nothing.
    public func dump() throws -> String {
        try database.read {
            var out = "user_version \(try database.userVersion())\n"
            let tables = try database.query("""
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
                """).compactMap { $0.string("name") }
            for table in tables {
                let info = try database.query("PRAGMA table_info(\(Registry.quote(table)))")
                let columns = info.compactMap { $0.string("name") }.filter { $0 != "created_at" }
                let keys = info.filter { ($0.int("pk") ?? 0) > 0 }.sorted { $0.int("pk")! < $1.int("pk")! }
                    .compactMap { $0.string("name") }
                let order = keys.isEmpty ? "rowid" : keys.map(Registry.quote).joined(separator: ", ")
                out += "table \(table) (\(columns.joined(separator: ", ")))\n"
                let select = columns.isEmpty ? "NULL" : columns.map(Registry.quote).joined(separator: ", ")
                for row in try database.query("SELECT \(select) FROM \(Registry.quote(table)) ORDER BY \(order)") {
                    out += "  (" + row.values.map(\.description).joined(separator: ", ") + ")\n"
                }
            }
            return out
        }
    }

    // MARK: - Helpers

    /// Inserts the blob row for `sha` after checking its file is in the store (with `size`, if given).
    private func ensureBlobRow(_ sha: String, size: Int?, owner: BlobOwner) throws {
        guard BlobStore.isValidSHA(sha) else {
            throw RegistryError.corruptBlob(sha: sha, path: blobs.directory + "/" + BlobStore.filePrefix + sha, owner: owner)
        }
        guard let fileSize = blobs.fileSize(of: sha), size == nil || size == fileSize else {
            throw RegistryError.corruptBlob(sha: sha, path: blobs.path(for: sha), owner: owner)
        }
        try database.run("INSERT INTO blobs (sha256, size) VALUES (?, ?) ON CONFLICT(sha256) DO NOTHING",
                         [.text(sha), .int(Int64(fileSize))])
    }

    /// Throws unless `router` routes to exactly `names`, each once.
    private func checkRouter(_ router: RouterRecord, against names: [String]) throws {
        let set = Set(router.expertSet)
        if set.count != router.expertSet.count {
            throw RegistryError.invalidRecord(reason: "the router lists an expert more than once")
        }
        let registered = Set(names)
        if set != registered {
            throw RegistryError.routerOutOfDate(missing: registered.subtracting(set).sorted(),
                                                unknown: set.subtracting(registered).sorted())
        }
    }

    /// Inserts `router` as the next version and the only router: the superseded ones are deleted, so each
    /// `experts add` or `remove` does not leave a router's weights (~8 MB for the suite) behind. Versions
    /// keep counting up (the number is taken before the delete), so a process that cached a router by
    /// version always sees a change.
    private func insertRouter(_ router: RouterRecord) throws -> RouterRecord {
        let version = (try database.scalar("SELECT MAX(version) FROM routers").intValue ?? 0) + 1
        try database.run("DELETE FROM routers")
        try database.run("""
            INSERT INTO routers (version, expert_set_json, weights_blob, metrics_json, active) VALUES (?, ?, ?, ?, 1)
            """, [.int(Int64(version)), .text(Registry.encodeNames(router.expertSet)), .text(router.weightsBlob),
                  .text(router.metricsJSON)])
        return try self.router(version: version)!
    }

    /// Runs the test hook, then honours `TRIAGE_FAILPOINT` (see `Failpoint`).
    private func failpoint(_ point: String) throws {
        try failpointHook?(point)
        try Failpoint.reach(point)
    }

    private static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func encodeNames(_ names: [String]) -> String {
        let data = (try? JSONEncoder().encode(names)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeNames(_ json: String?) -> [String] {
        guard let json, let names = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else { return [] }
        return names
    }

    private static func expertRecord(_ row: Row, dataBlobs: [String: String]) -> ExpertRecord {
        ExpertRecord(name: row.string("name") ?? "", version: row.int("version") ?? 1, description: row.string("description"),
                     configJSON: row.string("config_json") ?? "{}", paramCount: row.int("param_count") ?? 0,
                     weightsBlob: row.string("weights_blob") ?? "", maxOutputBytes: row.int("max_output_bytes"),
                     metricsJSON: row.string("metrics_json"), trainingJSON: row.string("training_json"),
                     manifestJSON: row.string("manifest_json"), dataBlobs: dataBlobs, createdAt: row.string("created_at"))
    }

    private static func routerRecord(_ row: Row) -> RouterRecord {
        RouterRecord(id: row.int("id"), version: row.int("version") ?? 0, expertSet: decodeNames(row.string("expert_set_json")),
                     weightsBlob: row.string("weights_blob") ?? "", metricsJSON: row.string("metrics_json"),
                     active: row.int("active") == 1, createdAt: row.string("created_at"))
    }

    private static func baselineRecord(_ row: Row) -> BaselineRecord {
        BaselineRecord(name: row.string("name") ?? "", configJSON: row.string("config_json"),
                       weightsBlob: row.string("weights_blob"), metricsJSON: row.string("metrics_json"),
                       trainingJSON: row.string("training_json"),
                       expertSet: row.string("expert_set_json").map { decodeNames($0) }, createdAt: row.string("created_at"))
    }
}
