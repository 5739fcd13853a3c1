import Foundation

/// Finds the shipped suite (`Experts/`): `$TRIAGE_SUITE_DIR`, else an `Experts/` folder beside a
/// `Package.swift` above the running executable (a build inside the repository), else `./Experts`.
public enum SuiteLocator {
    /// The suite folder, or nil when none is found.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let fm = FileManager.default
        if let explicit = environment["TRIAGE_SUITE_DIR"], !explicit.isEmpty {
            return fm.fileExists(atPath: explicit) ? explicit : nil
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<8 {
            let candidate = dir.appendingPathComponent("Experts").path
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path), fm.fileExists(atPath: candidate) {
                return candidate
            }
            dir = dir.deletingLastPathComponent()
        }
        let cwd = fm.currentDirectoryPath + "/Experts"
        return fm.fileExists(atPath: cwd) ? cwd : nil
    }

    /// Expert folders of a suite: every subfolder with an `expert.json`, except those starting with `_`.
    public static func expertFolders(in suite: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suite)) ?? []
        return names.sorted().filter { !$0.hasPrefix("_") && !$0.hasPrefix(".") }
            .map { suite + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0 + "/expert.json") }
    }
}
