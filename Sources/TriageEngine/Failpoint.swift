import Foundation

/// Crash-safety testing: `TRIAGE_FAILPOINT=<point>:crash` ends the process at once (as a `kill -9`
/// would) when it reaches `<point>`; `TRIAGE_FAILPOINT=<point>` throws there. The registry has its own
/// points inside its transactions; these are the engine's, outside them.
enum Failpoint {
    static func reach(_ point: String) throws {
        guard let spec = ProcessInfo.processInfo.environment["TRIAGE_FAILPOINT"], !spec.isEmpty else { return }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.first == point else { return }
        if parts.count > 1 && parts[1] == "crash" { _exit(75) }
        throw TriageError.internalError("injected failure at \(point)")
    }
}
