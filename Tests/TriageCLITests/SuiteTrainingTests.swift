import Foundation
import XCTest

/// `triage experts train-suite` on a two-expert nano suite with a shared base: the base is trained once, both
/// experts start from it and record it, a rerun skips everything, damaged base weights are caught by their
/// hash, and `compare` counts the base's steps once in the equal-compute plan.
final class SuiteTrainingTests: XCTestCase {
    func testSuiteWithSharedBase() throws {
        let h = try CLIHarness()
        let suite = h.work + "/suite"
        let fm = FileManager.default
        for (k, task) in ["rev", "dup"].enumerated() {
            // Distinct inputs, split in order, so no test input is in training data.
            var seen = Set<String>()
            let lines = CLIHarness.data(task, count: 1400, seed: UInt64(11 + k)).split(separator: "\n").map(String.init)
                .filter { seen.insert(String($0.prefix(while: { $0 != "," }))).inserted }
            XCTAssertGreaterThan(lines.count, 1100)
            let dir = suite + "/" + task
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (file, part) in [("train", lines[0..<900]), ("valid", lines[900..<1000]), ("test", lines[1000..<1100])] {
                try Data((part.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(dir)/\(file).jsonl"))
            }
        }
        try fm.createDirectory(atPath: suite + "/_background", withIntermediateDirectories: true)
        let background = (0..<60).map { "{\"input\": \"an unrelated sentence number \($0) about the weather\"}" }.joined(separator: "\n") + "\n"
        try Data(background.utf8).write(to: URL(fileURLWithPath: suite + "/_background/background.jsonl"))
        let spec = """
        {"recipe": {"preset": "nano", "steps": 40, "base_steps": 60, "batch_size": 16, "learning_rate": 0.003,
                    "warmup_steps": 10, "seed": 1, "threads": 1, "weights_dtype": "F32"},
         "experts": [{"name": "rev", "task": "reverse", "description": "Reverse three letters."},
                     {"name": "dup", "task": "duplicate", "description": "Write three letters twice."}]}
        """
        try Data(spec.utf8).write(to: URL(fileURLWithPath: suite + "/suite.json"))

        let first = try h.run("experts", "train-suite", "--suite", suite)
        XCTAssertEqual(first.status, 0, first.stderr)
        let baseJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: suite + "/_base/base.json"))) as? [String: Any])
        let baseSHA = try XCTUnwrap(baseJSON["weights_sha256"] as? String)
        XCTAssertEqual((baseJSON["record"] as? [String: Any])?["steps"] as? Int, 60)
        XCTAssertEqual(Set(((baseJSON["train_data_sha256"] as? [String: Any]) ?? [:]).keys), ["rev", "dup"])
        for name in ["rev", "dup"] {
            let m = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(suite)/\(name)/expert.json"))) as? [String: Any])
            let training = try XCTUnwrap(m["training"] as? [String: Any])
            XCTAssertEqual(training["initial_weights_sha256"] as? String, baseSHA)
            XCTAssertEqual((training["base"] as? [String: Any])?["weights_sha256"] as? String, baseSHA)
            XCTAssertEqual((training["record"] as? [String: Any])?["steps"] as? Int, 40)
            let readme = try String(contentsOfFile: "\(suite)/\(name)/README.md", encoding: .utf8)
            XCTAssert(readme.contains("shared base") && readme.contains("40 + 30 = 70 steps"), readme)
        }
        let baseReadme = try String(contentsOfFile: suite + "/_base/README.md", encoding: .utf8)
        XCTAssert(baseReadme.contains("60 steps of batch 16") && baseReadme.contains("dup, rev"), baseReadme)
        XCTAssert(fm.fileExists(atPath: suite + "/_router/router.safetensors"))
        XCTAssertFalse(fm.fileExists(atPath: suite + "/_base/.checkpoint.safetensors"), "the finished base's checkpoint is left behind")

        let again = try h.run("experts", "train-suite", "--suite", suite)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssert(again.stderr.contains("shared base: up to date") && again.stderr.contains("rev: up to date")
                  && again.stderr.contains("dup: up to date"), again.stderr)

        // Compare: the same-size baseline gets both experts' 40 steps and the base's 60, once.
        let env = ["TRIAGE_SUITE_DIR": suite]
        XCTAssertEqual(try h.run(["experts", "import", suite + "/rev", suite + "/dup"], env: env).status, 0)
        let cmp = try h.run(["compare", "--limit", "5", "--json"], env: env)
        XCTAssertEqual(cmp.status, 0, cmp.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cmp.stdout.utf8)) as? [String: Any])
        let same = try XCTUnwrap((obj["baselines"] as? [[String: Any]])?.first { $0["name"] as? String == "single-same-size" })
        XCTAssertEqual(same["steps"] as? Int, 140)

        // A damaged base is caught by its hash, and nothing is retrained from it.
        let weights = suite + "/_base/weights.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: weights))
        let damaged = try h.run("experts", "train-suite", "--suite", suite, "--only", "rev")
        XCTAssertEqual(damaged.status, 5, damaged.stderr)
        XCTAssert(damaged.stderr.contains("SHA-256") && damaged.stderr.contains("git checkout"), damaged.stderr)
    }
}
