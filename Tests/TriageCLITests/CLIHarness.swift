import Foundation
import XCTest
import Registry

/// Runs the built `triage` binary in a temporary home, as a user would.
final class CLIHarness {
    let home: String
    let work: String
    static var binary: String {
        // The test bundle sits in the build folder next to the executable.
        let bundle = Bundle(for: CLIHarness.self).bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] where FileManager.default.fileExists(atPath: dir.appendingPathComponent("triage").path) {
            return dir.appendingPathComponent("triage").path
        }
        return bundle.deletingLastPathComponent().appendingPathComponent("triage").path
    }

    init() throws {
        work = NSTemporaryDirectory() + "triage-cli-\(UUID().uuidString)"
        home = work + "/home"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: work) }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Environment without a shipped suite, so tests see only what they add.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["TRIAGE_HOME"] = home
        env["TRIAGE_SUITE_DIR"] = work + "/no-suite"
        env["TRIAGE_FAILPOINT"] = nil
        for (k, v) in extra { env[k] = v }
        return env
    }

    func process(_ args: [String], env: [String: String] = [:], stdin: Data? = nil) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        p.arguments = args
        p.environment = environment(env)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let inp = Pipe()
            p.standardInput = inp
            try p.run()
            inp.fileHandleForWriting.write(stdin)
            try inp.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        return (p, out, err)
    }

    @discardableResult
    func run(_ args: String..., env: [String: String] = [:], stdin: Data? = nil) throws -> Result {
        try run(args, env: env, stdin: stdin)
    }

    @discardableResult
    func run(_ args: [String], env: [String: String] = [:], stdin: Data? = nil) throws -> Result {
        let (p, out, err) = try process(args, env: env, stdin: stdin)
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func write(_ name: String, _ text: String) -> String {
        let path = work + "/" + name
        precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write \(path)")
        return path
    }

    func write(_ name: String, data: Data) -> String {
        let path = work + "/" + name
        precondition(FileManager.default.createFile(atPath: path, contents: data), "cannot write \(path)")
        return path
    }

    /// The registry's logical content (rows without timestamps).
    func dump() throws -> String {
        guard FileManager.default.fileExists(atPath: home + "/registry.sqlite") else { return "(no registry)" }
        return try Registry(home: home).dump()
    }

    /// JSONL of a task: reversing `length`-letter strings, or prefixing "up " and upper-casing.
    static func data(_ task: String, count: Int, seed: UInt64) -> String {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        var lines = [String]()
        for _ in 0..<count {
            let s = String((0..<3).map { _ in Character(UnicodeScalar(UInt8(97 + next() % 26))) })
            switch task {
            case "rev": lines.append("{\"input\":\"\(s)\",\"output\":\"\(String(s.reversed()))\"}")
            default: lines.append("{\"input\":\"dup \(s)\",\"output\":\"\(s)\(s)\"}")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Adds a small nano expert (a few hundred steps).
    @discardableResult
    func addExpert(_ name: String, task: String, steps: Int = 300) throws -> Result {
        let data = write("\(name).jsonl", CLIHarness.data(task, count: 2500, seed: UInt64(name.utf8.count * 7 + steps)))
        return try run("experts", "add", name, "--data", data, "--preset", "nano", "--steps", "\(steps)", "--learning-rate", "3e-3", "--json")
    }
}
