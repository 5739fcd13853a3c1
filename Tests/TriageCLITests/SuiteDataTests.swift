import Foundation
import XCTest
import ExpertModel
import Registry

/// The shipped suite's data (Experts/): clean splits that anyone can recompute.
final class SuiteDataTests: XCTestCase {
    static let suite = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Experts").path
    static let names = ["place-value", "round-number", "compare-pair", "sort", "linear-1d", "differentiate", "add-or-sub", "conversion", "pronounce"]

    func examples(_ name: String, _ split: String) throws -> [Example] {
        try ExampleReader.read(path: "\(SuiteDataTests.suite)/\(name)/\(split).jsonl", context: 128).examples
    }

    func testNoTestInputAppearsInAnyExpertsTrainingOrValidationData() throws {
        var seen = Set<String>()
        for n in SuiteDataTests.names {
            for split in ["train", "valid"] { for e in try examples(n, split) { seen.insert(e.input) } }
        }
        for n in SuiteDataTests.names {
            let test = try examples(n, "test")
            XCTAssertGreaterThanOrEqual(test.count, 2000, n)
            let leaked = test.filter { seen.contains($0.input) }
            XCTAssertEqual(leaked.count, 0, "\(n): \(leaked.prefix(3).map(\.input)) are also training or validation inputs")
        }
    }

    /// Every expert folder documents itself, with the accuracy its manifest records.
    func testEachExpertHasAReadmeWithItsManifestAccuracy() throws {
        for n in SuiteDataTests.names {
            let dir = "\(SuiteDataTests.suite)/\(n)"
            let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
            let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/expert.json"))) as? [String: Any])
            let exact = try XCTUnwrap((manifest["metrics"] as? [String: Any])?["exact_match"] as? Double)
            XCTAssert(readme.contains(String(format: "%.2f%%", 100 * exact)), "\(n)/README.md does not state the manifest's test accuracy")
            for section in ["## Data", "## Model and training", "## Measured accuracy", "Licence:"] {
                XCTAssert(readme.contains(section), "\(n)/README.md lacks \(section)")
            }
        }
    }

    func testSizesAndContext() throws {
        for n in SuiteDataTests.names {
            let train = try examples(n, "train"), valid = try examples(n, "valid")
            XCTAssertGreaterThanOrEqual(train.count, 30_000, n)
            XCTAssertGreaterThanOrEqual(valid.count, 1_000, n)
            // Every example fits the tiny context with its BOS, SEP and EOS markers.
            XCTAssert(train.allSatisfy { $0.input.utf8.count + $0.output.utf8.count + 3 <= 128 }, n)
        }
    }

    /// pronounce's split rule, recomputed: hold out sha256("holdout:"+w) % 20 == 0, then sha256(w) % 10 → 0 test, 1 valid.
    func testPronounceSplitFollowsTheHashRule() throws {
        func mod(_ s: String, _ m: Int) -> Int {
            // (big-endian 256-bit integer) mod m, digit by digit
            SHA256.digest(of: Array(s.utf8)).reduce(0) { ($0 * 256 + Int($1)) % m }
        }
        for (split, expected) in [("test", 0), ("valid", 1), ("train", nil as Int?)] {
            for e in try examples("pronounce", split).prefix(3000) {
                XCTAssertNotEqual(mod("holdout:" + e.input, 20), 0, "\(e.input) is a held-out word")
                let h = mod(e.input, 10)
                if let expected { XCTAssertEqual(h, expected, "\(e.input) in \(split)") } else { XCTAssertGreaterThan(h, 1, e.input) }
            }
        }
    }
}
