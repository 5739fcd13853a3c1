// Versioned schema migrations. The file's `PRAGMA user_version` says how far it has been migrated; a newer
// binary applies the missing steps in order, in one write transaction, so an older registry is upgraded in
// place and a crash mid-upgrade leaves the old version intact. A file from a newer binary is refused rather
// than misread. The list is a parameter so tests (and future versions) can add steps.

/// One schema step: applying it takes the database from `version - 1` to `version`.
public struct Migration: Sendable {
    /// The schema version this step produces (1, 2, 3, … with no gaps).
    public let version: Int
    /// A short name for logs and errors.
    public let name: String
    /// The change itself; runs inside the migration transaction.
    public let apply: @Sendable (Database) throws -> Void

    /// A step written in Swift (for data rewrites that plain SQL cannot express).
    public init(version: Int, name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }

    /// A step written as SQL statements.
    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name) { try $0.execute(sql) }
    }
}

/// The registry's migrations and the code that applies them.
public enum Migrations {
    /// Every migration this binary knows, in order.
    public static let all: [Migration] = [v1]

    /// The schema version this binary writes.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Brings `db` up to the last of `migrations`: throws `RegistryError.newerSchema` if the file is newer.
    /// Safe against concurrent openers: the version is read again once the write lock is held.
    public static func migrate(_ db: Database, migrations: [Migration] = all) throws {
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            preconditionFailure("migration '\(migration.name)' has version \(migration.version), expected \(index + 1)")
        }
        let latest = migrations.last?.version ?? 0
        let found = try db.read { try db.userVersion() }
        if found > latest { throw RegistryError.newerSchema(found: found, supported: latest) }
        if found == latest { return }
        try db.transaction {
            let current = try db.userVersion()
            if current > latest { throw RegistryError.newerSchema(found: current, supported: latest) }
            for migration in migrations where migration.version > current {
                do {
                    try migration.apply(db)
                } catch let error as RegistryError {
                    if case .sqlite(let code, let message, let context) = error {
                        throw RegistryError.sqlite(code: code, message: message,
                                                   context: "migrating the registry to version \(migration.version) (\(migration.name)): \(context)")
                    }
                    throw error
                }
                try db.setUserVersion(migration.version)
            }
        }
    }

    /// Version 1: the first schema. Timestamps are UTC ISO-8601 text; JSON columns are opaque text
    /// written by callers. Child columns that reference `blobs` are indexed so `gc` and deletes stay fast.
    static let v1 = Migration(version: 1, name: "initial schema", sql: """
        CREATE TABLE blobs (
            sha256     TEXT PRIMARY KEY NOT NULL,
            size       INTEGER NOT NULL CHECK (size >= 0),
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE experts (
            id               INTEGER PRIMARY KEY,
            name             TEXT UNIQUE NOT NULL,
            version          INTEGER NOT NULL CHECK (version >= 1),
            description      TEXT,
            config_json      TEXT NOT NULL,
            param_count      INTEGER NOT NULL,
            weights_blob     TEXT NOT NULL REFERENCES blobs(sha256),
            max_output_bytes INTEGER,
            metrics_json     TEXT,
            training_json    TEXT,
            manifest_json    TEXT,
            created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE INDEX experts_weights_blob ON experts(weights_blob);
        CREATE TABLE expert_data (
            expert_id INTEGER NOT NULL REFERENCES experts(id) ON DELETE CASCADE,
            role      TEXT NOT NULL CHECK (role IN ('train', 'valid', 'test')),
            blob      TEXT NOT NULL REFERENCES blobs(sha256),
            PRIMARY KEY (expert_id, role)
        );
        CREATE INDEX expert_data_blob ON expert_data(blob);
        CREATE TABLE routers (
            id              INTEGER PRIMARY KEY,
            version         INTEGER NOT NULL UNIQUE,
            expert_set_json TEXT NOT NULL,
            weights_blob    TEXT NOT NULL REFERENCES blobs(sha256),
            metrics_json    TEXT,
            active          INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE UNIQUE INDEX routers_one_active ON routers(active) WHERE active = 1;
        CREATE INDEX routers_weights_blob ON routers(weights_blob);
        CREATE TABLE baselines (
            name            TEXT PRIMARY KEY NOT NULL,
            config_json     TEXT,
            weights_blob    TEXT REFERENCES blobs(sha256),
            metrics_json    TEXT,
            training_json   TEXT,
            expert_set_json TEXT,
            created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE INDEX baselines_weights_blob ON baselines(weights_blob);
        CREATE TABLE settings (
            key   TEXT PRIMARY KEY NOT NULL,
            value TEXT
        );
        """)
}
