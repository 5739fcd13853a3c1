import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The registry's errors. Each description is one sentence that says what went wrong and what to do next,
// because the CLI prints them to the user as they are.

/// Who a blob belongs to, so that a corrupt or missing file can be reported with the command that repairs it.
public enum BlobOwner: Equatable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The weights of the named expert.
    case expertWeights(String)
    /// A data split (train/valid/test) of the named expert.
    case expertData(String, role: String)
    /// The weights of a router, by its version.
    case router(version: Int)
    /// The weights of a single-model baseline of `triage compare`.
    case baseline(String)
    /// Anything else, described in words.
    case other(String)

    public init(stringLiteral value: String) { self = .other(value) }

    /// Names the owner as a user would: "expert 'sort' weights".
    public var description: String {
        switch self {
        case .expertWeights(let name): return "expert '\(name)' weights"
        case .expertData(let name, let role): return "expert '\(name)' \(role) data"
        case .router(let version): return "router v\(version) weights"
        case .baseline(let name): return "baseline '\(name)' weights"
        case .other(let text): return text
        }
    }

    /// The command(s) that repair a damaged blob of this owner.
    public var repairHint: String {
        switch self {
        case .expertWeights(let name), .expertData(let name, _):
            return "re-import it with `triage experts import Experts/\(name)` or remove it with `triage experts remove \(name)`"
        case .router:
            return "train a new router by re-importing or re-adding any expert (e.g. `triage experts import Experts/<name>`), which activates it"
        case .baseline(let name):
            return "re-run `triage compare` to retrain baseline '\(name)'"
        case .other:
            return "re-create the object that owns it, then run `triage gc`"
        }
    }
}

/// Everything the registry can fail with; `description` is meant for the user.
public enum RegistryError: Error, CustomStringConvertible, Equatable {
    /// No object of `kind` ("expert", "router", "baseline", "blob") is named `name`.
    case notFound(kind: String, name: String)
    /// An object of `kind` named `name` already exists and replacing was not asked for.
    case alreadyExists(kind: String, name: String)
    /// `name` is not a valid expert name; `reason` says which rule it breaks.
    case invalidName(name: String, reason: String)
    /// A record does not fit with the rest of the registry (for example, a router that does not know an expert).
    case invalidRecord(reason: String)
    /// The router given with a change was trained for another set of experts than the registry holds after
    /// the change (usually another command added or removed an expert meanwhile): retrain it and retry.
    case routerOutOfDate(missing: [String], unknown: [String])
    /// The blob file for `sha` at `path`, owned by `owner`, is missing or no longer matches its hash.
    case corruptBlob(sha: String, path: String, owner: BlobOwner)
    /// The registry file was written by a newer triage (schema `found` > `supported`).
    case newerSchema(found: Int, supported: Int)
    /// SQLite failed with result `code` and `message` while doing `context`.
    case sqlite(code: Int32, message: String, context: String)
    /// A file-system operation on `path` failed.
    case io(path: String, message: String)
    /// A failure injected at `point` through `TRIAGE_FAILPOINT` (crash-safety testing).
    case injectedFailure(point: String)
    /// The disk refused `operation` (e.g. "writing") on `path` with errno `code`: full, read-only or failing
    /// (`DiskFault`). Every write happens before or inside a transaction, so nothing was changed.
    case disk(path: String, operation: String, code: Int32)
    /// The database file at `path` is not a readable registry (truncated, overwritten or damaged): `problem`
    /// is SQLite's or our own finding. The file is left as it is, for the user to restore or move aside.
    case corruptDatabase(path: String, problem: String)

    /// The error for a failed SQLite call on the database at `path`: disk faults and damaged files get
    /// their own cases (with what to do about them), anything else stays `sqlite`. `systemErrno` is
    /// `sqlite3_system_errno`, the errno behind an I/O error when SQLite knows it.
    public static func fromSQLite(code: Int32, systemErrno: Int32, message: String, context: String, path: String) -> RegistryError {
        if code == 522 {  // SQLITE_IOERR_SHORT_READ: the file ends before the pages its header counts
            return .corruptDatabase(path: path, problem: "the file is shorter than its header says: truncated")
        }
        switch code & 0xff {
        case 13: return .disk(path: path, operation: context, code: ENOSPC)  // SQLITE_FULL
        case 8: return .disk(path: path, operation: context, code: EROFS)  // SQLITE_READONLY
        case 10: return .disk(path: path, operation: context, code: systemErrno != 0 ? systemErrno : EIO)  // SQLITE_IOERR
        case 14:  // SQLITE_CANTOPEN: often the -wal/-shm beside the file cannot be created (read-only folder)
            if systemErrno != 0 && DiskFault(errno: systemErrno) != .failing { return .disk(path: path, operation: context, code: systemErrno) }
            let folder = (path as NSString).deletingLastPathComponent
            if access(folder.isEmpty ? "." : folder, W_OK) != 0 && DiskFault.isDiskFault(errno) {
                return .disk(path: path, operation: context, code: errno)
            }
            return .sqlite(code: code, message: message, context: context)
        case 11, 26: return .corruptDatabase(path: path, problem: message)  // SQLITE_CORRUPT, SQLITE_NOTADB
        default: return .sqlite(code: code, message: message, context: context)
        }
    }

    public var description: String {
        switch self {
        case .notFound(let kind, let name):
            let hint = kind == "expert" ? "run `triage experts list` to see the registered experts"
                : "check the name and list what is registered"
            return "No \(kind) named '\(name)' is in the registry; \(hint)."
        case .alreadyExists(let kind, let name):
            let article = "aeiou".contains(kind.first ?? "x") ? "An" : "A"
            return "\(article) \(kind) named '\(name)' already exists; pass --replace to register a new version of it, or choose another name."
        case .invalidName(let name, let reason):
            return "'\(name)' is not a valid expert name: \(reason); use 1–64 characters from a-z, 0-9, '-', '_' and '.', starting with a letter or digit."
        case .invalidRecord(let reason):
            return "The registry refused an inconsistent change: \(reason); nothing was changed, fix the input and retry."
        case .routerOutOfDate(let missing, let unknown):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("it does not know \(missing.map { "'\($0)'" }.joined(separator: ", "))") }
            if !unknown.isEmpty { parts.append("it routes to unregistered \(unknown.map { "'\($0)'" }.joined(separator: ", "))") }
            return "The router does not match the registered experts (\(parts.joined(separator: "; "))), probably because another command changed the experts meanwhile; re-run the command so that it trains a router for the current experts."
        case .corruptBlob(let sha, let path, let owner):
            return "The \(owner) (blob sha256-\(sha)) at \(path) is missing or corrupt (its content does not match its hash); \(owner.repairHint)."
        case .newerSchema(let found, let supported):
            return "The registry was written by a newer triage (schema version \(found); this triage supports up to \(supported)); upgrade triage to use it, or point --home/TRIAGE_HOME at another registry."
        case .sqlite(let code, let message, let context):
            return "SQLite error \(code) (\(message)) while \(context); retry, and if it persists check the registry with `sqlite3 registry.sqlite 'PRAGMA integrity_check'`."
        case .io(let path, let message):
            return "File error on \(path): \(message); check that the path exists, is writable and the disk is not full."
        case .injectedFailure(let point):
            return "Injected failure at '\(point)' because TRIAGE_FAILPOINT is set; unset TRIAGE_FAILPOINT to run normally."
        case .disk(let path, let operation, let code):
            let what = (operation.contains(path) ? operation : "\(operation) \(path)") + " failed (\(String(cString: strerror(code))))"
            switch DiskFault(errno: code) {
            case .full:
                return "The disk is full: \(what); nothing was changed. Free some space (`triage gc --now` removes the blobs nothing uses) or move the registry (--home/TRIAGE_HOME), then run the command again."
            case .readOnly:
                return "The registry cannot be written: \(what); nothing was changed. Make the registry folder writable, or point --home/TRIAGE_HOME at a writable registry."
            case .failing:
                return "The disk failed: \(what); nothing was changed. Check the disk (`dmesg`, `fsck`), then run the command again."
            }
        case .corruptDatabase(let path, let problem):
            return "The registry database \(path) is damaged (\(problem)); it was left as it is. Restore it from a backup, or move it aside and run triage again to start an empty registry, then re-import the experts (`triage experts import Experts/<name>`)."
        }
    }
}

/// What kind of disk fault an errno is: what the user can do differs (free space; make it writable; check the disk).
public enum DiskFault: Equatable, Sendable {
    case full, readOnly, failing

    public init(errno code: Int32) {
        switch code {
        case ENOSPC, EDQUOT, EFBIG: self = .full
        case EROFS, EACCES, EPERM: self = .readOnly
        default: self = .failing
        }
    }

    /// True for the errnos that are a disk's fault rather than the program's (so they get a `disk` error).
    public static func isDiskFault(_ code: Int32) -> Bool {
        [ENOSPC, EDQUOT, EFBIG, EROFS, EACCES, EPERM, EIO].contains(code)
    }
}
