import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safety and disk-fault testing: `TRIAGE_FAILPOINT=<point>:crash` ends the process at once
/// (status 75, as a `kill -9` would, nothing rolled back) when it reaches `<point>`;
/// `TRIAGE_FAILPOINT=<point>` throws `RegistryError.injectedFailure` there; and
/// `TRIAGE_FAILPOINT=<point>:ENOSPC` (or `EIO`, `EROFS`, `EDQUOT`, `EACCES`) makes the file operation at
/// `<point>` fail with that errno, as a full, read-only or failing disk would — the same error path as the
/// real fault, without needing one. The registry's points sit inside its transactions; the engine reaches
/// its own (outside them) through the same function. File-operation points: `blob.write` (every write of
/// a blob's temporary file), `blob.unlink` (gc removing a file), `db.commit` (committing a write transaction).
public enum Failpoint {
    public static func reach(_ point: String) throws {
        guard let s = spec(), s.name == point, injectableErrno(s.action) == nil else { return }
        if s.action == "crash" { _exit(75) }
        throw RegistryError.injectedFailure(point: point)
    }

    /// The errno a file operation at `point` is to fail with, or nil (no failpoint, or another one).
    public static func injectedErrno(_ point: String) -> Int32? {
        guard let s = spec(), s.name == point else { return nil }
        return injectableErrno(s.action)
    }

    /// The errnos that stand for disk faults, by name.
    static let errnos: [String: Int32] = ["ENOSPC": ENOSPC, "EIO": EIO, "EROFS": EROFS, "EDQUOT": EDQUOT, "EACCES": EACCES]

    private static func injectableErrno(_ action: String?) -> Int32? { action.flatMap { errnos[$0] } }

    private static func spec() -> (name: String, action: String?)? {
        guard let spec = ProcessInfo.processInfo.environment["TRIAGE_FAILPOINT"], !spec.isEmpty else { return nil }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : nil)
    }
}
