// A thin, typed layer over the system SQLite: one connection, prepared statements with typed binding,
// and transactions. Several triage processes share one registry file (two `experts add` at once, `ask`
// during an `add`), so the connection runs in WAL mode (readers never wait for the writer), waits on
// locks with `busy_timeout`, and on top of that retries BEGIN IMMEDIATE / COMMIT / lone statements that
// still report SQLITE_BUSY or SQLITE_LOCKED (SQLite may skip the busy handler to avoid a deadlock, and a
// writer may hold the lock longer than the timeout), so users never see "database is locked".

import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `SQLITE_TRANSIENT` is a C macro Swift cannot import: it tells SQLite to copy bound text and blobs.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite value, as bound to a parameter or read from a column; keeps binding typed and explicit.
public enum SQLValue: Equatable, CustomStringConvertible,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob(Data)

    // Literals, so parameter lists read as `[1, "sort", nil]`.
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(nilLiteral: ()) { self = .null }

    /// `.int`, or `.null` for nil: optional integer columns bind without ceremony.
    public static func int(_ value: Int?) -> SQLValue { value.map { .int(Int64($0)) } ?? .null }
    /// `.text`, or `.null` for nil: optional text columns bind without ceremony.
    public static func text(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }

    /// The value as an integer (reals are truncated, everything else is nil).
    public var intValue: Int? {
        switch self {
        case .int(let v): return Int(v)
        case .double(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a real (integers are converted, everything else is nil).
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    /// The value as text (blobs decode as UTF-8, NULL and numbers are nil).
    public var stringValue: String? {
        switch self {
        case .text(let s): return s
        case .blob(let d): return String(decoding: d, as: UTF8.self)
        default: return nil
        }
    }

    /// The value as bytes (text is encoded as UTF-8, NULL and numbers are nil).
    public var dataValue: Data? {
        switch self {
        case .blob(let d): return d
        case .text(let s): return Data(s.utf8)
        default: return nil
        }
    }

    /// True for SQL NULL.
    public var isNull: Bool { self == .null }

    /// An SQL-literal rendering, stable across runs: used by `Registry.dump()`.
    public var description: String {
        switch self {
        case .null: return "NULL"
        case .int(let v): return String(v)
        case .double(let v): return v.description
        case .text(let s):
            var out = "'"
            for ch in s.unicodeScalars {
                switch ch {
                case "'": out += "''"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\\": out += "\\\\"
                default: out.unicodeScalars.append(ch)
                }
            }
            return out + "'"
        case .blob(let d):
            return "x'" + d.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }
}

/// One result row: values by column index or name, so queries read as `row.string("name")`.
public struct Row {
    /// Column names, in select order.
    public let columns: [String]
    /// Values, parallel to `columns`.
    public let values: [SQLValue]

    /// The value of the named column (`.null` if there is no such column).
    public subscript(_ column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }

    /// The value at `index`.
    public subscript(_ index: Int) -> SQLValue { values[index] }

    // Typed accessors by column name: nil for NULL, a missing column or another storage class.
    public func int(_ column: String) -> Int? { self[column].intValue }
    public func double(_ column: String) -> Double? { self[column].doubleValue }
    public func string(_ column: String) -> String? { self[column].stringValue }
    public func data(_ column: String) -> Data? { self[column].dataValue }
}

/// A prepared statement: bind typed values, step through rows, reset to reuse. Finalized on deinit.
public final class Statement {
    let handle: OpaquePointer
    unowned let database: Database
    /// The SQL text, for error messages.
    public let sql: String

    init(database: Database, sql: String) throws {
        self.database = database
        self.sql = sql
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(database.handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw database.error(rc, "preparing `\(sql)`")
        }
        handle = statement
    }

    deinit { sqlite3_finalize(handle) }

    /// Binds `values` to parameters 1…n (clearing earlier bindings first).
    public func bind(_ values: [SQLValue]) throws {
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    /// Binds one value to the 1-based parameter `index`.
    public func bind(_ value: SQLValue, at index: Int32) throws {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .int(let v): rc = sqlite3_bind_int64(handle, index, v)
        case .double(let v): rc = sqlite3_bind_double(handle, index, v)
        case .text(let s): rc = sqlite3_bind_text(handle, index, s, -1, sqliteTransient)
        case .blob(let d):
            if d.isEmpty {
                rc = sqlite3_bind_zeroblob(handle, index, 0)  // a nil pointer would bind NULL
            } else {
                rc = d.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), sqliteTransient) }
            }
        }
        guard rc == SQLITE_OK else { throw database.error(rc, "binding parameter \(index) of `\(sql)`") }
    }

    /// Advances to the next row: true if a row is available, false when the statement is done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let err = database.error(rc, "running `\(sql)`")
            sqlite3_reset(handle)
            throw err
        }
    }

    /// Rewinds the statement so it can run again (bindings are kept).
    public func reset() { sqlite3_reset(handle) }

    /// Number of result columns.
    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    /// Name of result column `index`.
    public func columnName(_ index: Int) -> String {
        sqlite3_column_name(handle, Int32(index)).map { String(cString: $0) } ?? "?"
    }

    /// The value of column `index` of the current row, typed by SQLite's storage class.
    public func column(_ index: Int) -> SQLValue {
        let i = Int32(index)
        switch sqlite3_column_type(handle, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(handle, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(handle, i))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(handle, i) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, i))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, i))
            guard count > 0, let bytes = sqlite3_column_blob(handle, i) else { return .blob(Data()) }
            return .blob(Data(bytes: bytes, count: count))
        default: return .null
        }
    }

    /// The current row as a `Row`.
    public func row() -> Row {
        let n = columnCount
        return Row(columns: (0..<n).map(columnName), values: (0..<n).map(column))
    }

    /// Runs the statement to completion and collects every row.
    public func all() throws -> [Row] {
        defer { reset() }
        var rows: [Row] = []
        while try step() { rows.append(row()) }
        return rows
    }
}

/// One SQLite connection (not shared between threads: open one per thread or process).
/// Why a class: it owns the C handle and closes it on deinit.
public final class Database {
    let handle: OpaquePointer
    /// The database file.
    public let path: String
    /// How long a single lock wait may last inside SQLite (`busy_timeout`).
    public let busyTimeout: TimeInterval
    /// How long the retry loop keeps retrying a statement that still reports SQLITE_BUSY/SQLITE_LOCKED.
    public var retryLimit: TimeInterval = 120
    private var savepointDepth = 0

    /// Opens (creating if needed) the database at `path` in WAL mode with foreign keys on.
    public init(path: String, busyTimeout: TimeInterval = 10) throws {
        self.path = path
        self.busyTimeout = busyTimeout
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let systemErrno = db.map { sqlite3_system_errno($0) } ?? 0
            if let db { sqlite3_close_v2(db) }
            throw RegistryError.fromSQLite(code: rc, systemErrno: systemErrno, message: message, context: "opening", path: path)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Int32(max(0, min(busyTimeout * 1000, Double(Int32.max)))))
        // Switching to WAL needs a brief exclusive lock on a fresh file: retry it like any write.
        _ = try retryingBusy("switching \(path) to WAL mode") { try query("PRAGMA journal_mode=WAL") }
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA synchronous=FULL")
    }

    deinit { sqlite3_close_v2(handle) }

    /// Builds a `RegistryError.sqlite` from a result code and the connection's last message.
    /// Disk faults and a damaged file get their own cases (`RegistryError.fromSQLite`).
    func error(_ rc: Int32, _ context: String) -> RegistryError {
        let message = String(cString: sqlite3_errmsg(handle))
        return .fromSQLite(code: sqlite3_extended_errcode(handle) == 0 ? rc : sqlite3_extended_errcode(handle),
                       systemErrno: sqlite3_system_errno(handle), message: message, context: context, path: path)
    }

    /// True for SQLITE_BUSY and SQLITE_LOCKED (and their extended codes): worth waiting and retrying.
    public static func isBusy(_ error: Error) -> Bool {
        guard case RegistryError.sqlite(let code, _, _) = error else { return false }
        let primary = code & 0xff
        return primary == SQLITE_BUSY || primary == SQLITE_LOCKED
    }

    /// Runs `body`, retrying with a growing, jittered back-off while it fails with BUSY/LOCKED,
    /// for at most `retryLimit` seconds.
    func retryingBusy<T>(_ context: String, _ body: () throws -> T) throws -> T {
        let start = Date()
        var delay: TimeInterval = 0.002
        while true {
            do {
                return try body()
            } catch let error where Database.isBusy(error) && Date().timeIntervalSince(start) < retryLimit {
                let jitter = Double.random(in: 0.5...1.5)
                usleep(useconds_t(min(delay * jitter, 0.25) * 1_000_000))
                delay = min(delay * 2, 0.25)
            }
        }
    }

    /// Prepares `sql` (one statement) for binding and stepping.
    public func prepare(_ sql: String) throws -> Statement {
        try Statement(database: self, sql: sql)
    }

    /// True while a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs one or more `;`-separated statements without parameters (DDL, pragmas).
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            let code = sqlite3_extended_errcode(handle)
            throw RegistryError.fromSQLite(code: code == 0 ? rc : code, systemErrno: sqlite3_system_errno(handle), message: text,
                                       context: "running `\(sql)` on", path: path)
        }
    }

    /// Runs one statement with `values` bound and returns how many rows it changed.
    /// Outside a transaction, BUSY/LOCKED are retried (a lone statement is its own transaction).
    @discardableResult
    public func run(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
        let statement = try prepare(sql)
        return try retryIfAutocommit("running `\(sql)`") {
            try statement.bind(values)
            while try statement.step() {}
            statement.reset()
            return Int(sqlite3_changes(handle))
        }
    }

    /// Runs one query with `values` bound and returns all its rows.
    public func query(_ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
        let statement = try prepare(sql)
        return try retryIfAutocommit("running `\(sql)`") {
            try statement.bind(values)
            return try statement.all()
        }
    }

    /// The first column of the first row of a query, or `.null` if there is no row.
    public func scalar(_ sql: String, _ values: [SQLValue] = []) throws -> SQLValue {
        try query(sql, values).first?.values.first ?? .null
    }

    /// The rowid of the last row inserted on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    private func retryIfAutocommit<T>(_ context: String, _ body: () throws -> T) throws -> T {
        if isInTransaction { return try body() }
        return try retryingBusy(context, body)
    }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so the
    /// transaction can never fail half-way to upgrade a read lock); commits on return, rolls back on throw.
    /// Nested calls become savepoints. BEGIN and COMMIT are retried while the database is busy.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction { return try savepoint(body) }
        try retryingBusy("starting a write transaction on \(path)") { try execute("BEGIN IMMEDIATE") }
        do {
            let result = try body()
            if let code = Failpoint.injectedErrno("db.commit") { throw RegistryError.disk(path: path, operation: "committing to", code: code) }
            try retryingBusy("committing to \(path)") { try execute("COMMIT") }
            return result
        } catch {
            if isInTransaction { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Runs `body` in a read transaction so that several queries see one consistent snapshot.
    /// A read that hits BUSY (e.g. during WAL recovery) is retried from the start: reads have no effects.
    public func read<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction { return try body() }
        return try retryingBusy("reading \(path)") {
            try execute("BEGIN DEFERRED")
            do {
                let result = try body()
                try execute("COMMIT")
                return result
            } catch {
                if isInTransaction { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
                throw error
            }
        }
    }

    private func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "registry_sp\(savepointDepth)"
        try execute("SAVEPOINT \(name)")
        do {
            let result = try body()
            try execute("RELEASE \(name)")
            return result
        } catch {
            sqlite3_exec(handle, "ROLLBACK TO \(name); RELEASE \(name)", nil, nil, nil)
            throw error
        }
    }

    /// `PRAGMA user_version`: the schema version the migrations have reached.
    public func userVersion() throws -> Int {
        try scalar("PRAGMA user_version").intValue ?? 0
    }

    /// Sets `PRAGMA user_version` (inside the migration transaction, so it commits with the schema).
    public func setUserVersion(_ version: Int) throws {
        try execute("PRAGMA user_version = \(version)")
    }
}
