import Foundation
import XCTest
import Registry

/// Disk faults, end to end: a blob write or a removal that fails (ENOSPC, EIO, through `TRIAGE_FAILPOINT`),
/// a registry on a small file system that fills up, a registry that cannot be written, and a database file
/// truncated or overwritten. Each must fail with one clear line saying what to do, the README's exit code
/// (74 for the disk, 5 for a damaged file) and the registry exactly as it was.
final class DiskFaultTests: XCTestCase {
    /// A home with one small expert (`rev`) and its export, made once and copied by each test.
    nonisolated(unsafe) private static var base: Swift.Result<CLIHarness, Error>?

    struct Failed: Error, CustomStringConvertible { let description: String }

    func copyOfBase() throws -> CLIHarness {
        if DiskFaultTests.base == nil {
            DiskFaultTests.base = Swift.Result {
                let h = try CLIHarness()
                let data = h.write("rev.jsonl", CLIHarness.data("rev", count: 400, seed: 11))
                let r = try h.run("experts", "add", "rev", "--data", data, "--preset", "nano", "--steps", "30")
                guard r.status == 0 else { throw Failed(description: "could not train the base expert: \(r.stderr)") }
                let e = try h.run("experts", "export", "rev", h.work + "/rev-export")
                guard e.status == 0 else { throw Failed(description: "could not export: \(e.stderr)") }
                return h
            }
        }
        let base = try DiskFaultTests.base!.get()
        let h = try CLIHarness()
        try FileManager.default.copyItem(atPath: base.home, toPath: h.home)
        try FileManager.default.copyItem(atPath: base.work + "/rev-export", toPath: h.work + "/rev-export")
        _ = h.write("dup.jsonl", CLIHarness.data("dup", count: 400, seed: 12))
        return h
    }

    /// The commands that write blobs: `experts add` (weights and data) and `experts import` (of a new name).
    func writingCommands(_ h: CLIHarness) throws -> [[String]] {
        try? FileManager.default.removeItem(atPath: h.work + "/rev2")
        try FileManager.default.copyItem(atPath: h.work + "/rev-export", toPath: h.work + "/rev2")
        let manifest = h.work + "/rev2/expert.json"
        let text = try String(contentsOfFile: manifest, encoding: .utf8).replacingOccurrences(of: "\"name\" : \"rev\"", with: "\"name\" : \"rev2\"")
        try text.write(toFile: manifest, atomically: true, encoding: .utf8)
        return [["experts", "add", "dup", "--data", h.work + "/dup.jsonl", "--preset", "nano", "--steps", "20"],
                ["experts", "import", h.work + "/rev2"]]
    }

    /// Runs `args`, expecting `status`, a message containing each of `mentions`, and an unchanged registry.
    @discardableResult
    func assertFails(_ h: CLIHarness, _ args: [String], env: [String: String] = [:], status: Int32, mentions: [String],
                     file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try h.dump()
        let r = try h.run(args, env: env)
        XCTAssertEqual(r.status, status, "\(args) \(env): \(r.stderr)", file: file, line: line)
        for m in mentions { XCTAssert(r.stderr.contains(m), "\(args) \(env): no \"\(m)\" in: \(r.stderr)", file: file, line: line) }
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(try h.dump(), before, "\(args) \(env) changed the registry", file: file, line: line)
        let temps = try FileManager.default.contentsOfDirectory(atPath: h.home + "/blobs").filter { $0.hasPrefix(BlobStore.tempPrefix) }
        XCTAssertEqual(temps, [], "\(args) \(env) left temporary files", file: file, line: line)
        return r.stderr
    }

    static let full = ["The disk is full", "No space left on device", "nothing was changed", "triage gc --now"]
    static let failing = ["The disk failed", "Input/output error", "nothing was changed", "Check the disk"]
    static let readOnly = ["cannot be written", "nothing was changed", "writable"]

    func testBlobWritesThatFailWithENOSPCOrEIOChangeNothing() throws {
        let h = try copyOfBase()
        for command in try writingCommands(h) {
            try assertFails(h, command, env: ["TRIAGE_FAILPOINT": "blob.write:ENOSPC"], status: 74, mentions: DiskFaultTests.full)
            try assertFails(h, command, env: ["TRIAGE_FAILPOINT": "blob.write:EIO"], status: 74, mentions: DiskFaultTests.failing)
        }
        // Once the disk works again, the same commands succeed.
        for command in try writingCommands(h) {
            let r = try h.run(command)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
        }
    }

    func testGCOnAFailingDiskChangesNothingAndKeepsItsGarbage() throws {
        let h = try copyOfBase()
        let junk = try Registry(home: h.home).blobs.put(Data("an orphan blob".utf8))
        let junkPath = h.home + "/blobs/sha256-" + junk.sha256
        try assertFails(h, ["gc", "--now"], env: ["TRIAGE_FAILPOINT": "blob.unlink:EIO"], status: 74, mentions: DiskFaultTests.failing)
        XCTAssert(FileManager.default.fileExists(atPath: junkPath))
        try assertFails(h, ["gc", "--now"], env: ["TRIAGE_FAILPOINT": "db.commit:ENOSPC"], status: 74, mentions: DiskFaultTests.full)
        try assertFails(h, ["gc", "--now"], env: ["TRIAGE_FAILPOINT": "db.commit:EIO"], status: 74, mentions: DiskFaultTests.failing)
        let gc = try h.run("gc", "--now")
        XCTAssertEqual(gc.status, 0, gc.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: junkPath))
        XCTAssertEqual(try h.run("ask", "abc").status, 0)
    }

    // MARK: - Real file systems (root: a tmpfs; otherwise skipped)

    /// Mounts a tmpfs of `megabytes` at `h.home` holding a copy of the base home, so that the registry
    /// lives on a file system the test can fill or make read-only. Skips when mounting is not possible
    /// (not root, or no mount in the sandbox); `unmount` is registered as a teardown.
    func baseOnTmpfs(megabytes: Int) throws -> CLIHarness {
        let h = try copyOfBase()
        let staged = h.work + "/home-staged"
        try FileManager.default.moveItem(atPath: h.home, toPath: staged)
        try FileManager.default.createDirectory(atPath: h.home, withIntermediateDirectories: true)
        guard getuid() == 0, DiskFaultTests.system("/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", h.home) == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (needs root)")
        }
        let (home, work) = (h.home, h.work)
        addTeardownBlock {  // the harness could not remove its folder while the tmpfs was mounted on it
            _ = DiskFaultTests.system("/bin/umount", "-l", home)
            try? FileManager.default.removeItem(atPath: work)
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: staged) {
            try FileManager.default.copyItem(atPath: staged + "/" + name, toPath: h.home + "/" + name)
        }
        return h
    }

    @discardableResult
    static func system(_ tool: String, _ args: String...) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Fills the file system of `dir` until `leave` bytes are free; returns the filler file.
    func fill(_ dir: String, leaving leave: Int) throws -> String {
        var fs = statvfs()
        XCTAssertEqual(statvfs(dir, &fs), 0)
        let free = Int(fs.f_bavail) * Int(fs.f_bsize)
        let filler = dir + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssert(fd >= 0)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xAB, count: 1 << 16)
        var written = 0
        while written < free - leave {
            let n = write(fd, chunk, min(chunk.count, free - leave - written))
            if n <= 0 { break }
            written += n
        }
        return filler
    }

    func testARegistryOnAFileSystemThatFillsUp() throws {
        let h = try baseOnTmpfs(megabytes: 64)
        let filler = try fill(h.home, leaving: 96 << 10)
        for command in try writingCommands(h) {
            try assertFails(h, command, status: 74, mentions: ["No space left on device", "nothing was changed"])
        }
        XCTAssertEqual(try h.run("ask", "abc").status, 0, "a full disk stopped reads")
        // gc still works on the full disk (it needs only a few pages of WAL), and frees what it can.
        _ = try Registry(home: h.home).blobs.put(Data("an orphan blob".utf8))
        let gc = try h.run("gc", "--now")
        XCTAssertEqual(gc.status, 0, gc.stderr)
        // With the space back, the same commands succeed.
        try FileManager.default.removeItem(atPath: filler)
        for command in try writingCommands(h) {
            let r = try h.run(command)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
        }
    }

    func testAReadOnlyRegistryIsRefusedAndLeftAsItWas() throws {
        let h = try baseOnTmpfs(megabytes: 32)
        let before = try h.dump()
        // Root ignores permissions, so the file system itself is made read-only.
        XCTAssertEqual(DiskFaultTests.system("/bin/mount", "-o", "remount,ro", h.home), 0)
        let commands = try writingCommands(h) + [["gc", "--now"], ["experts", "remove", "rev"]]
        for command in commands {
            let r = try h.run(command)
            XCTAssertEqual(r.status, 74, "\(command): \(r.stderr)")
            for m in DiskFaultTests.readOnly { XCTAssert(r.stderr.contains(m), "\(command): no \"\(m)\" in \(r.stderr)") }
        }
        XCTAssertEqual(DiskFaultTests.system("/bin/mount", "-o", "remount,rw", h.home), 0)
        XCTAssertEqual(try h.dump(), before)
    }

    // MARK: - A damaged database file

    func testATruncatedOrOverwrittenDatabaseIsReportedAndLeftAlone() throws {
        let original = try copyOfBase()
        let size = try Data(contentsOf: URL(fileURLWithPath: original.home + "/registry.sqlite")).count
        XCTAssertFalse(FileManager.default.fileExists(atPath: original.home + "/registry.sqlite-wal"), "the WAL was not checkpointed")
        var garbage = Data(count: size)
        var state: UInt64 = 99
        for i in garbage.indices { state = state &* 6364136223846793005 &+ 1442695040888963407; garbage[i] = UInt8(truncatingIfNeeded: state >> 56) }
        let damages: [(String, (Data) -> Data)] = [
            ("truncated to half", { $0.prefix($0.count / 2) }),
            ("truncated to nothing", { _ in Data() }),
            ("overwritten with garbage", { _ in garbage }),
            ("pages after the header overwritten", { $0.prefix(100) + garbage.dropFirst(100) }),
        ]
        for (what, damage) in damages {
            let h = try copyOfBase()
            let path = h.home + "/registry.sqlite"
            let damaged = damage(try Data(contentsOf: URL(fileURLWithPath: path)))
            try damaged.write(to: URL(fileURLWithPath: path))
            for command in [["experts", "list"], ["ask", "abc"], ["experts", "import", h.work + "/rev-export", "--replace"], ["gc"]] {
                let r = try h.run(command)
                XCTAssertEqual(r.status, 5, "\(what), \(command): \(r.stderr)")
                for m in ["registry database", "is damaged", "Restore it from a backup", "move it aside"] {
                    XCTAssert(r.stderr.contains(m), "\(what), \(command): no \"\(m)\" in \(r.stderr)")
                }
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), damaged, "\(what): \(command) changed the file")
            }
        }
    }
}
