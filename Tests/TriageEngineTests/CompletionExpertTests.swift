import XCTest
import ExpertModel
import Registry
@testable import TriageEngine
@testable import TriageLab

/// A user folder of public files (this repository's own Router and Registry sources, Apache-2.0 like
/// the rest of Triage, about 150 KB) plus the files a walk must skip, and one registry with a task expert
/// (the suite's place-value) and a completion expert trained on the folder, made once per test process.
enum CompletionFixture {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    struct Made { let home: String; let folder: String; let summary: CompletionAddSummary }

    static func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "triage-user-folder-\(getpid())"
        if FileManager.default.fileExists(atPath: dir + "/.done") { return dir }
        try? FileManager.default.removeItem(atPath: dir)
        let fm = FileManager.default
        for sub in ["Router", "Registry"] {
            try fm.createDirectory(atPath: dir + "/src/" + sub.lowercased(), withIntermediateDirectories: true)
            for f in try fm.contentsOfDirectory(atPath: repo + "/Sources/" + sub) where f.hasSuffix(".swift") {
                try fm.copyItem(atPath: repo + "/Sources/\(sub)/\(f)", toPath: dir + "/src/\(sub.lowercased())/\(f)")
            }
        }
        try Data([0x7F, 0x45, 0x4C, 0x46, 0, 0, 1, 2] + (0..<2000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: dir + "/src/tool.bin"))
        try Data("caf\u{E9} ok\n".utf8.map { $0 } + [0xFF, 0xFE, 0x41, 0x0A]).write(to: URL(fileURLWithPath: dir + "/src/latin1.txt"))
        try Data(String(repeating: "let big = 1\n", count: 8000).utf8).write(to: URL(fileURLWithPath: dir + "/src/generated.swift"))
        try fm.createDirectory(atPath: dir + "/.git", withIntermediateDirectories: true)
        try Data("secret = 1\n".utf8).write(to: URL(fileURLWithPath: dir + "/.git/config"))
        try Data().write(to: URL(fileURLWithPath: dir + "/src/empty.swift"))
        try Data().write(to: URL(fileURLWithPath: dir + "/.done"))
        return dir
    }

    private static let made = Result<Made, any Error> {
        let home = NSTemporaryDirectory() + "triage-completion-tests-\(getpid())"
        try? FileManager.default.removeItem(atPath: home)
        let engine = try Engine(home: home, suiteDirectory: repo + "/Experts")
        try engine.importExperts([repo + "/Experts/place-value"], log: { _ in })
        var req = CompletionAddRequest(name: "code", include: [try folder() + "/src"], budget: .steps(30))
        req.preset = .nano
        req.context = 128
        req.maxFileBytes = 64 << 10
        let summary = try engine.addCompletionExpert(req, observer: nil, log: { _ in })
        return Made(home: home, folder: try folder(), summary: summary)
    }
    static func get() throws -> Made { try made.get() }
}

final class CompletionExpertTests: XCTestCase {
    func testWalkSkipsBinaryInvalidLargeEmptyAndHiddenFilesAndReportsThem() throws {
        let dir = try CompletionFixture.folder()
        let walk = try FileWalk(include: [dir], maxFileBytes: 64 << 10)
        let paths = Set(walk.files.map(\.relativePath))
        XCTAssertTrue(paths.contains("src/router/RouterModel.swift"))
        XCTAssertFalse(paths.contains { $0.hasPrefix(".git") }, "hidden folders are not walked")
        XCTAssertEqual(walk.skipped["binary"], ["src/tool.bin"])
        XCTAssertEqual(walk.skipped["invalid_utf8"], ["src/latin1.txt"])
        XCTAssertEqual(walk.skipped["too_large"], ["src/generated.swift"])
        XCTAssertEqual(walk.skipped["empty"], ["src/empty.swift"])
        // Globs with ** (which may match no folder), and excludes by name or path.
        let swift = try FileWalk(include: [dir + "/src/**/*.swift"], exclude: ["Migrations.swift", "router/*"], maxFileBytes: 64 << 10)
        XCTAssertTrue(swift.files.allSatisfy { $0.relativePath.hasSuffix(".swift") && !$0.relativePath.hasPrefix("router/") })
        XCTAssertFalse(swift.files.contains { $0.relativePath.hasSuffix("Migrations.swift") })
        XCTAssertTrue(swift.files.contains { $0.relativePath == "registry/Registry.swift" })
        XCTAssertThrowsError(try FileWalk(include: [dir + "/nothing/*.py"])) { XCTAssertTrue("\($0)".contains("matches no file"), "\($0)") }
        // The held-out split is by path: the same every time, at least one file, never all.
        let (train, held) = walk.split()
        XCTAssertFalse(held.isEmpty)
        XCTAssertFalse(train.isEmpty)
        XCTAssertEqual(walk.split().heldOut.map(\.relativePath), held.map(\.relativePath))
        XCTAssertTrue(Set(train.map(\.relativePath)).isDisjoint(with: held.map(\.relativePath)))
    }

    func testAFileThatChangesWhileReadIsSkippedNotHalfRead() throws {
        let dir = NSTemporaryDirectory() + "triage-walk-change-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("stable\n".utf8).write(to: URL(fileURLWithPath: dir + "/a.txt"))
        try Data("being edited\n".utf8).write(to: URL(fileURLWithPath: dir + "/b.txt"))
        FileWalk.afterRead = { path in
            guard path.hasSuffix("b.txt"), let h = FileHandle(forWritingAtPath: path) else { return }
            h.seekToEndOfFile(); h.write(Data("more\n".utf8)); h.closeFile()
        }
        defer { FileWalk.afterRead = nil }
        let walk = try FileWalk(include: [dir])
        XCTAssertEqual(walk.files.map(\.relativePath), ["a.txt"])
        XCTAssertEqual(walk.skipped["changed"], ["b.txt"])
    }

    func testCompletionExpertTrainsCompletesAndIsNeverAskedATask() throws {
        let made = try CompletionFixture.get()
        let s = made.summary
        XCTAssertEqual(s.completion.skipped["binary"], 1)
        XCTAssertEqual(s.completion.skipped["invalid_utf8"], 1)
        XCTAssertEqual(s.completion.skipped["too_large"], 1)
        XCTAssertFalse(s.completion.heldOut.isEmpty)
        XCTAssertTrue(s.completion.heldOut.allSatisfy { $0.sha256.count == 64 })
        XCTAssertNotNil(s.completion.heldOutBitsPerByte)
        XCTAssertTrue(s.completion.stored.contains("not the files themselves"), s.completion.stored)
        let engine = try Engine(home: made.home, suiteDirectory: nil)
        let (_, manifestJSON) = try engine.manifest(of: "code")
        let manifest = try ExpertManifest.decode(Data(manifestJSON.utf8), origin: "code")
        XCTAssertEqual(manifest.kind, .completion)

        // Completion: routed by the prefix (the only completion expert) or named; never a task expert.
        let a = try engine.complete(CompletionRequest(prefix: "import Foundation\n\npublic struct ", maxBytes: 16))
        XCTAssertEqual(a.expert, "code")
        XCTAssertNotNil(a.text)
        XCTAssertLessThanOrEqual(a.text!.utf8.count, 16)
        XCTAssertFalse(a.text!.contains("\n"))
        XCTAssertThrowsError(try engine.complete(CompletionRequest(prefix: "x"), expert: "place-value")) {
            XCTAssertTrue("\($0)".contains("task expert"), "\($0)")
        }
        // ask: the completion expert is never chosen, even for its own files' text, nor listed.
        let code = "public func route(_ text: String, top: Int = 3) -> RoutingDecision {"
        for answer in try engine.ask([Request(id: "1", input: code), Request(id: "2", input: "What is the units digit of 86657956?")], explain: true) {
            XCTAssertNotEqual(answer.expert, "code")
            XCTAssertFalse((answer.top ?? []).contains { $0.expert == "code" })
        }
        XCTAssertEqual(try engine.ask([Request(id: "2", input: "What is the units digit of 86657956?")])[0].expert, "place-value")
        XCTAssertThrowsError(try engine.ask([Request(id: "1", input: code)], expert: "code")) {
            XCTAssertTrue("\($0)".contains("completion expert"), "\($0)")
        }
    }

    /// A routed completion checks the router's hash on another core while it decodes: a damaged router
    /// must still fail the request (nothing returned), on the abstaining path too; a named one does not need it.
    func testARoutedCompletionWithADamagedRouterFailsOnItsHash() throws {
        let made = try CompletionFixture.get()
        let home = NSTemporaryDirectory() + "triage-damaged-router-\(getpid())"
        try? FileManager.default.removeItem(atPath: home)
        try FileManager.default.copyItem(atPath: made.home, toPath: home)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let engine = try Engine(home: home, suiteDirectory: nil)
        let path = engine.registry.blobs.path(for: try XCTUnwrap(try engine.registry.activeRouter()).weightsBlob)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 3] ^= 0x01  // the last tensor's bytes: the file still parses
        try bytes.write(to: URL(fileURLWithPath: path))
        for prefix in ["import Foundation\n\npublic struct ", "Zebras graze; the savanna at dusk."] {
            XCTAssertThrowsError(try engine.complete(CompletionRequest(prefix: prefix, maxBytes: 8))) { error in
                guard case .corruptBlob = error as? RegistryError else { return XCTFail("\(error)") }
            }
        }
        XCTAssertNotNil(try engine.complete(CompletionRequest(prefix: "import Foundation\n", maxBytes: 8), expert: "code").text)
        // The expert's weights are checked while they decode, the same way (a fresh engine: not yet loaded).
        let fresh = try Engine(home: home, suiteDirectory: nil)
        let weights = fresh.registry.blobs.path(for: try XCTUnwrap(try fresh.registry.expert(named: "code")).weightsBlob)
        var w = try Data(contentsOf: URL(fileURLWithPath: weights))
        w[w.count - 5] ^= 0x01
        try w.write(to: URL(fileURLWithPath: weights))
        XCTAssertThrowsError(try fresh.complete(CompletionRequest(prefix: "import Foundation\n", maxBytes: 8), expert: "code")) { error in
            guard case .corruptBlob = error as? RegistryError else { return XCTFail("\(error)") }
        }
    }

    func testTheRegistryKeepsWindowsNotTheFilesAndExportImportRemoveWork() throws {
        let made = try CompletionFixture.get()
        let engine = try Engine(home: made.home, suiteDirectory: nil)
        // No blob holds a training file: a 400-byte run of one is in none of them.
        let file = try String(contentsOfFile: made.folder + "/src/router/RouterModel.swift", encoding: .utf8)
        let probe = Data(file.utf8.dropFirst(2000).prefix(400))
        let blobs = made.home + "/blobs"
        for case let f as String in FileManager.default.enumerator(atPath: blobs)! {
            guard let d = FileManager.default.contents(atPath: blobs + "/" + f), d.count > 400 else { continue }
            XCTAssertNil(d.range(of: probe), "blob \(f) holds a copy of a training file")
        }
        // Export, import into another registry, complete there, remove.
        let out = NSTemporaryDirectory() + "triage-export-code-\(UUID().uuidString)"
        let other = NSTemporaryDirectory() + "triage-import-code-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: other) }
        try engine.exportExpert("code", to: out)
        let second = try Engine(home: other, suiteDirectory: nil)
        try second.importExperts([out], log: { _ in })
        let original = try engine.complete(CompletionRequest(prefix: "import Foundation\n", maxBytes: 12), expert: "code")
        let imported = try second.complete(CompletionRequest(prefix: "import Foundation\n", maxBytes: 12), expert: "code")
        XCTAssertEqual(imported.text, original.text, "the same weights give the same completion")
        try second.removeExpert("code", log: { _ in })
        XCTAssertThrowsError(try second.complete(CompletionRequest(prefix: "x")))
    }

    func testCursorPointSplitsAFileAtALineAndColumn() throws {
        let text = "line one\nline two\nthree"
        var (before, after) = try CursorPoint.split(text: text, line: 2, column: 6)
        XCTAssertEqual(before, "line one\nline ")
        XCTAssertEqual(after, "two\nthree")
        (before, after) = try CursorPoint.split(text: text, line: 3, column: 6)
        XCTAssertEqual(before, text)
        XCTAssertEqual(after, "")
        XCTAssertThrowsError(try CursorPoint.split(text: text, line: 4, column: 1))
        XCTAssertThrowsError(try CursorPoint.split(text: text, line: 1, column: 20))
    }
}

final class NextLineTests: XCTestCase {
    /// A model that has learnt a repetitive file completes its lines: next-line exact match is high.
    func testNextLineExactMatchOfAModelThatKnowsTheFile() throws {
        let text = Array(String(repeating: "def add(a, b):\n    return a + b\n\n", count: 60).utf8)
        var config = ExpertConfig.nano.with(positions: .rope)
        config.context = 64
        let model = try Transformer(config: config, seed: 1)
        var o = TrainingOptions(steps: 120, seed: 1)
        o.learningRate = 3e-3
        o.warmupSteps = 10
        o.validateEvery = 1000
        let sampler = WindowSampler(corpus: TextCorpus(files: [text]), batchSize: 8, length: 64, fimRate: 0, seed: 1)
        try Trainer(model: model, sampler: sampler, heldOut: [], options: o).run()
        let r = try NextLine.exactMatch(decoder: ExpertDecoder(model: model), files: [text], samples: 40, seed: 1)
        XCTAssertEqual(r.n, 40)
        XCTAssertGreaterThan(r.rate, 0.8, "next-line exact match \(r.rate)")
    }
}

final class CompressorAnchorTests: XCTestCase {
    /// xz and zstd as anchors: per file and conditioned on training text, in bits per byte.
    func testAnchorsMeasureHeldOutBytes() throws {
        let train = [Array(String(repeating: "let total = values.reduce(0, +)\n", count: 300).utf8)]
        let held = [Array("let total = values.reduce(0, +)\nprint(total)\n".utf8), Array("import Foundation\n".utf8)]
        let a = try Compressors.anchors(heldOut: held, train: train)
        for k in ["xz_per_file", "xz_conditioned", "zstd_per_file", "zstd_conditioned"] { XCTAssertNotNil(a[k], k) }
        // Alone, a tiny file costs more than its own bytes (headers); given text it repeats, far less.
        XCTAssertGreaterThan(a["xz_per_file"]!, 8)
        XCTAssertLessThan(a["zstd_conditioned"]!, a["zstd_per_file"]!)
    }
}
