import ExpertModel
import Registry
import Router
import TensorCore

/// Errors the CLI reports, each mapped to a documented exit code.
public enum TriageError: Error, CustomStringConvertible {
    case badInput(String)
    case notFound(String)
    case corrupt(String)
    case internalError(String)
    /// Stopped by SIGINT or SIGTERM, with what was kept (a checkpoint) and how to go on.
    case interrupted(String)
    /// The disk is full, read-only or failing; nothing was changed, the message says what to do.
    case io(String)

    /// The message for the user.
    public var description: String {
        switch self {
        case .badInput(let s), .notFound(let s), .corrupt(let s), .internalError(let s), .interrupted(let s), .io(let s): return s
        }
    }

    /// Exit codes (README "Exit codes"): 0 success, 2 bad input, 3 not found, 4 declined (the router
    /// found no expert for at least one request, or an answer fell below its minimum confidence: "not
    /// sure"), 5 corrupted data in the registry, 70 internal error, 74 I/O error (disk full, read-only or
    /// failing; sysexits' EX_IOERR; nothing was changed), 130 interrupted (SIGINT/SIGTERM; the registry is
    /// unchanged and a checkpoint kept).
    public enum ExitCode: Int32 {
        case success = 0, badInput = 2, notFound = 3, abstained = 4, corrupt = 5, internalError = 70, io = 74, interrupted = 130
    }

    /// The documented exit code of this error.
    public var exitCode: ExitCode {
        switch self {
        case .badInput: return .badInput
        case .notFound: return .notFound
        case .corrupt: return .corrupt
        case .internalError: return .internalError
        case .interrupted: return .interrupted
        case .io: return .io
        }
    }

    /// Maps any error from the layers below to a user-facing one.
    public static func from(_ error: Error) -> TriageError {
        switch error {
        case let e as TriageError: return e
        case let e as ExpertError:
            switch e {
            case .badWeights: return .corrupt(e.description)
            case .interrupted: return .interrupted(e.description)
            default: return .badInput(e.description)
            }
        case let e as RegistryError:
            switch e {
            case .notFound: return .notFound(e.description)
            case .invalidName, .alreadyExists, .invalidRecord: return .badInput(e.description)
            case .corruptBlob, .newerSchema, .corruptDatabase: return .corrupt(e.description)
            case .disk: return .io(e.description)
            default: return .internalError(e.description)
            }
        case TensorCoreError.io(let message):  // a file Triage writes (a checkpoint, an export) or reads
            return .io("\(message); nothing was changed in the registry. Check that the disk has space and the folder is writable, then run the command again.")
        case let e as TensorCoreError: return .corrupt(e.description)
        case let e as RouterError: return .badInput("\(e)")
        default: return .internalError("\(error)")
        }
    }
}
