import Foundation

/// Crash-safety testing: `TRIAGE_FAILPOINT=<point>:crash` ends the process at once (status 75, as a
/// `kill -9` would, nothing rolled back) when it reaches `<point>`; `TRIAGE_FAILPOINT=<point>` throws
/// `RegistryError.injectedFailure` there. The registry's points sit inside its transactions; the
/// engine reaches its own (outside them) through the same function.
public enum Failpoint {
    public static func reach(_ point: String) throws {
        guard let spec = ProcessInfo.processInfo.environment["TRIAGE_FAILPOINT"], !spec.isEmpty else { return }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.first == point else { return }
        if parts.count > 1 && parts[1] == "crash" { _exit(75) }
        throw RegistryError.injectedFailure(point: point)
    }
}
