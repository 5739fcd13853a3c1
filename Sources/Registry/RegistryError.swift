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
        }
    }
}
