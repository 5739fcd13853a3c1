import Foundation
import XCTest
import ExpertModel

/// `triage compare` on a registry with two user-added nano experts and tiny budgets.
final class CompareTests: XCTestCase {
    /// `--train-baseline NAME` trains one baseline and stores it without scoring (one process per baseline on
    /// a machine with cores to spare); a later `compare` reuses it and trains only the other.
    func testTrainOneBaselineThenCompareReusesIt() throws {
        let h = try CLIHarness()
        for (name, task, steps) in [("rev", "rev", 120), ("dup", "dup", 100)] {
            let data = h.write("\(name).jsonl", CLIHarness.data(task, count: 600, seed: UInt64(steps)))
            XCTAssertEqual(try h.run("experts", "add", name, "--data", data, "--preset", "nano", "--steps", "\(steps)").status, 0)
        }
        let one = try h.run("compare", "--train-baseline", "single-same-size", "--threads", "1", "--json")
        XCTAssertEqual(one.status, 0, one.stderr)
        let trained = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(trained.map { $0["name"] as? String }, ["single-same-size"])
        XCTAssertEqual(trained.first?["steps"] as? Int, 220)
        let unknown = try h.run("compare", "--train-baseline", "single-same-everything")
        XCTAssertEqual(unknown.status, 2)
        XCTAssert(unknown.stderr.contains("single-same-size, single-same-params"), unknown.stderr)
        // `--baseline` scores only the one it names: the other is neither trained nor reported.
        let page = h.work + "/one.html"
        let partial = try h.run("compare", "--limit", "5", "--baseline", "single-same-size", "--json", "--report", page)
        XCTAssertEqual(partial.status, 0, partial.stderr)
        XCTAssertFalse(partial.stderr.contains("single-same-params"), partial.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(partial.stdout.utf8)) as? [String: Any])
        let overall = try XCTUnwrap((report["overall"] as? [String: Any])?["systems"] as? [String: Any])
        XCTAssertEqual(Set(overall.keys), ["routed", "oracle", "single_same_size"])
        for t in try XCTUnwrap(report["tasks"] as? [[String: Any]]) {
            XCTAssertEqual(Set(try XCTUnwrap(t["systems"] as? [String: Any]).keys), ["routed", "oracle", "single_same_size"])
        }
        XCTAssertEqual((report["baselines"] as? [[String: Any]])?.map { $0["name"] as? String }, ["single-same-size"])
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssert(html.contains("single model, same size"))
        XCTAssertFalse(html.contains("single model, same parameters"))
        XCTAssertEqual(try h.run("compare", "--baseline", "single-same-everything").status, 2)
        let full = try h.run("compare", "--limit", "5")
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssert(full.stderr.contains("single-same-params: "), full.stderr)
        XCTAssertFalse(full.stderr.contains("single-same-size: "), full.stderr)
    }

    func testCompareTwoUserExpertsAtEqualCompute() throws {
        let h = try CLIHarness()
        for (name, task, steps) in [("rev", "rev", 200), ("dup", "dup", 160)] {
            let data = h.write("\(name).jsonl", CLIHarness.data(task, count: 1500, seed: UInt64(steps)))
            let r = try h.run("experts", "add", name, "--data", data, "--preset", "nano", "--steps", "\(steps)", "--json")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let report = h.work + "/report.html"
        let r = try h.run("compare", "--limit", "30", "--json", "--report", report)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let tasks = try XCTUnwrap(obj["tasks"] as? [[String: Any]])
        XCTAssertEqual(tasks.map { $0["task"] as? String }, ["dup", "rev"])
        for t in tasks {
            XCTAssertEqual(t["n"] as? Int, 30)
            XCTAssertNotNil(t["router_accuracy"] as? Double)
            let systems = try XCTUnwrap(t["systems"] as? [String: [String: Any]])
            XCTAssertEqual(Set(systems.keys), ["routed", "oracle", "single_same_size", "single_same_params"])
            for s in systems.values { XCTAssertNotNil(s["exact_match"] as? Double) }
        }
        let overall = try XCTUnwrap(obj["overall"] as? [String: Any])
        let os = try XCTUnwrap(overall["systems"] as? [String: [String: Any]])
        for key in ["routed", "oracle", "single_same_size", "single_same_params"] {
            for field in ["exact_match", "params", "train_flops", "train_cpu_seconds", "median_ms"] {
                XCTAssertNotNil(os[key]?[field], "\(key).\(field)")
            }
        }
        XCTAssertEqual(obj["test_train_overlap"] as? Int, 0)

        // Equal compute: the same-size model runs the experts' summed steps; the larger one the same FLOPs.
        let baselines = try XCTUnwrap(obj["baselines"] as? [[String: Any]])
        let same = try XCTUnwrap(baselines.first { $0["name"] as? String == "single-same-size" })
        let big = try XCTUnwrap(baselines.first { $0["name"] as? String == "single-same-params" })
        XCTAssertEqual(same["steps"] as? Int, 360)
        XCTAssertEqual(same["batch_size"] as? Int, 32)
        let nano = Recipe.standard.config(.nano)  // what experts add builds
        XCTAssertEqual(os["oracle"]?["params"] as? Int, 2 * nano.parameterCount)
        let bigParams = try XCTUnwrap(big["params"] as? Int)
        XCTAssertLessThan(abs(bigParams - 2 * nano.parameterCount), nano.parameterCount / 4, "the larger model's size is not close to the experts' sum")
        let bigConfig = try JSONDecoder().decode(ExpertConfig.self, from: JSONSerialization.data(withJSONObject: big["config"]!))
        let ratio = nano.trainingFLOPsPerToken(sequenceLength: 64) / bigConfig.trainingFLOPsPerToken(sequenceLength: 64)
        XCTAssertEqual(big["steps"] as? Int, Int((360 * ratio).rounded()))
        // Measured FLOPs agree with the experts' within the spread of batch lengths.
        let expertFLOPs = try XCTUnwrap(os["oracle"]?["train_flops"] as? Double)
        for b in [same, big] {
            let f = try XCTUnwrap(b["train_flops"] as? Double)
            XCTAssertEqual(f / expertFLOPs, 1, accuracy: 0.35, "\(b["name"]!) used \(f) FLOPs, the experts \(expertFLOPs)")
        }
        let html = try String(contentsOfFile: report, encoding: .utf8)
        XCTAssert(html.contains("<svg") && html.contains("<rect") && html.contains("single model, same size"))

        // Baselines are stored and reused: a second run trains nothing.
        let again = try h.run("compare", "--limit", "5")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("steps at batch"), again.stderr)

        // Shipped baselines: written beside a suite's experts, a fresh registry with the same experts
        // uses them instead of training, and a damaged weights file is caught by its hash.
        let suite = h.work + "/suite"
        for name in ["rev", "dup"] { XCTAssertEqual(try h.run("experts", "export", name, suite + "/" + name).status, 0) }
        let export = try h.run("compare", "--limit", "5", "--export-baselines", suite + "/_baselines")
        XCTAssertEqual(export.status, 0, export.stderr)
        func freshCompare(_ home: String) throws -> CLIHarness.Result {
            let env = ["TRIAGE_HOME": home, "TRIAGE_SUITE_DIR": suite]
            let imp = try h.run(["experts", "import", suite + "/rev", suite + "/dup"], env: env)
            XCTAssertEqual(imp.status, 0, imp.stderr)
            return try h.run(["compare", "--limit", "5", "--json"], env: env)
        }
        let shipped = try freshCompare(h.work + "/home2")
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        XCTAssertFalse(shipped.stderr.contains("steps at batch"), shipped.stderr)
        XCTAssert(shipped.stderr.contains("shipped with the suite"), shipped.stderr)
        let shippedObj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(shipped.stdout.utf8)) as? [String: Any])
        let shippedSteps = (shippedObj["baselines"] as? [[String: Any]])?.compactMap { $0["steps"] as? Int }
        XCTAssertEqual(shippedSteps, baselines.compactMap { $0["steps"] as? Int })

        let weights = suite + "/_baselines/single-same-size/weights.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: weights))
        let damaged = try freshCompare(h.work + "/home3")
        XCTAssertEqual(damaged.status, 5, damaged.stderr)
        XCTAssert(damaged.stderr.contains("SHA-256"), damaged.stderr)
    }
}
