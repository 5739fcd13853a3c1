// Where the registry lives. One rule, shared by every command, so `--home`, `TRIAGE_HOME` and the XDG
// default always agree on which registry a command sees.

import Foundation

/// Resolution of the registry's home directory (which holds `registry.sqlite` and `blobs/`).
public enum RegistryHome {
    /// The SQLite file inside the home.
    public static let databaseFileName = "registry.sqlite"
    /// The blob directory inside the home.
    public static let blobsDirectoryName = "blobs"

    /// `explicit` (a `--home` flag) if given, else `$TRIAGE_HOME`, else `$XDG_DATA_HOME/triage`, else
    /// `~/.local/share/triage`. Empty values count as unset; a leading `~/` is expanded.
    public static func resolve(explicit: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        func nonEmpty(_ value: String?) -> String? {
            guard let value, !value.isEmpty else { return nil }
            return value
        }
        let home = nonEmpty(environment["HOME"]) ?? NSHomeDirectory()
        func expand(_ path: String) -> String {
            if path == "~" { return home }
            if path.hasPrefix("~/") { return home + path.dropFirst(1) }
            return path
        }
        if let explicit = nonEmpty(explicit) { return expand(explicit) }
        if let triageHome = nonEmpty(environment["TRIAGE_HOME"]) { return expand(triageHome) }
        if let xdg = nonEmpty(environment["XDG_DATA_HOME"]) { return expand(xdg) + "/triage" }
        return home + "/.local/share/triage"
    }
}
