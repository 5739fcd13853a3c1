import XCTest
import ExpertModel
@testable import TriageEngine

/// `ExpertFolder.read`, on the names a manifest may give its files.
final class ExpertFolderTests: XCTestCase {
    /// Found by the manifest fuzzer: `"weights": ""` named the folder itself and was accepted (the check
    /// refused only names with both "/" and ".."), and so were ".", ".." and "a//b".
    func testFileNamesThatAreNotFilesInsideTheFolderAreRefused() throws {
        let dir = NSTemporaryDirectory() + "expert-folder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/weights.safetensors", contents: Data())
        for name in ["", ".", "..", "./weights.safetensors", "sub/../weights.safetensors", "sub//x", "/etc/passwd", "sub"] {
            let m = ExpertManifest(name: "x", description: "d", config: .nano, maxOutputBytes: 8, weights: name)
            try m.encoded().write(to: URL(fileURLWithPath: dir + "/expert.json"))
            XCTAssertThrowsError(try ExpertFolder.read(dir), "\"\(name)\" was accepted") { e in
                XCTAssertEqual((e as? TriageError)?.exitCode, .badInput, "\(name): \(e)")
            }
        }
        // Found by the manifest fuzzer (LeakSanitizer): an empty expert.json leaked Foundation's read
        // buffer; it is read without Foundation now, and refused as a bad manifest.
        try Data().write(to: URL(fileURLWithPath: dir + "/expert.json"))
        XCTAssertThrowsError(try ExpertFolder.read(dir)) { e in XCTAssertEqual((e as? TriageError)?.exitCode, .badInput, "\(e)") }
        XCTAssertEqual(FileBytes.read(dir + "/expert.json"), Data())
        let ok = ExpertManifest(name: "x", description: "d", config: .nano, maxOutputBytes: 8, weights: "weights.safetensors")
        try ok.encoded().write(to: URL(fileURLWithPath: dir + "/expert.json"))
        XCTAssertNoThrow(try ExpertFolder.read(dir))
    }
}
