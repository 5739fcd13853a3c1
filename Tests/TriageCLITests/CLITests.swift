import Foundation
import XCTest
import Registry

/// The `triage` binary end to end, in temporary homes.
final class CLITests: XCTestCase {
    /// A home with one trained `rev` expert, made on first use and copied by the tests that need it.
    /// XCTest runs one test at a time on one thread, the only thread that touches it.
    nonisolated(unsafe) private static var base: Swift.Result<CLIHarness, Error>?

    struct BaseFailed: Error, CustomStringConvertible { let description: String }

    func copyOfBase() throws -> CLIHarness {
        if CLITests.base == nil {
            CLITests.base = Swift.Result {
                let h = try CLIHarness()
                let r = try h.addExpert("rev", task: "rev")
                guard r.status == 0 else { throw BaseFailed(description: "could not train the base expert: \(r.stderr)") }
                return h
            }
        }
        let base = try CLITests.base!.get()
        let h = try CLIHarness()
        try FileManager.default.copyItem(atPath: base.home, toPath: h.home)
        return h
    }

    func json(_ s: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any], s)
    }

    func testEndToEnd() throws {
        let h = try copyOfBase()
        let add = try h.addExpert("dup", task: "dup")
        XCTAssertEqual(add.status, 0, add.stderr)
        let summary = try json(add.stdout.split(separator: "\n").last.map(String.init) ?? "")
        XCTAssertEqual(summary["name"] as? String, "dup")

        let list = try h.run("experts", "list", "--json")
        XCTAssertEqual(list.status, 0)
        XCTAssertEqual(list.stdout.split(separator: "\n").compactMap { try? json(String($0))["name"] as? String }, ["dup", "rev"])
        let show = try h.run("experts", "show", "rev", "--json")
        XCTAssertEqual(try json(show.stdout)["name"] as? String, "rev")

        // Routed answers, and the router's own view.
        XCTAssertEqual(try h.run("ask", "xyz").stdout, "zyx\n")
        XCTAssertEqual(try h.run("ask", "dup abc").stdout, "abcabc\n")
        let route = try json(try h.run("route", "dup qrs", "--json").stdout)
        XCTAssertEqual(route["expert"] as? String, "dup")
        XCTAssertEqual(route["abstained"] as? Bool, false)
        XCTAssertNotNil(route["top"] as? [[String: Any]])
        let explain = try h.run("ask", "kmn", "--explain", "--json")
        let a = try json(explain.stdout)
        XCTAssertEqual(a["expert"] as? String, "rev")
        XCTAssertEqual(a["output"] as? String, "nmk")
        XCTAssertNotNil(a["top"])

        // Batch mode from stdin, one JSON line per request with its id.
        let batch = try h.run("ask", "--file", "-", stdin: Data("{\"id\":\"a\",\"input\":\"abc\"}\n{\"id\":7,\"input\":\"dup xyz\"}\n".utf8))
        XCTAssertEqual(batch.status, 0, batch.stderr)
        let lines = try batch.stdout.split(separator: "\n").map { try json(String($0)) }
        XCTAssertEqual(lines.map { $0["id"] as? String }, ["a", "7"])
        XCTAssertEqual(lines.map { $0["output"] as? String }, ["cba", "xyzxyz"])
        for l in lines { XCTAssertNotNil(l["ms"]); XCTAssertNotNil(l["confidence"]) }

        // eval with expert labels reports routing accuracy too.
        let labelled = h.write("labelled.jsonl", ["abc", "pqr", "dup abc", "dup uvw"].map {
            $0.hasPrefix("dup ") ? "{\"input\":\"\($0)\",\"output\":\"\(String($0.dropFirst(4)))\(String($0.dropFirst(4)))\",\"expert\":\"dup\"}"
                : "{\"input\":\"\($0)\",\"output\":\"\(String($0.reversed()))\",\"expert\":\"rev\"}"
        }.joined(separator: "\n"))
        let ev = try json(try h.run("eval", labelled, "--json").stdout)
        XCTAssertEqual(ev["n"] as? Int, 4)
        XCTAssertEqual(ev["router_accuracy"] as? Double, 1)
        XCTAssertEqual(ev["exact_match"] as? Double, 1)
        XCTAssertEqual((ev["per_expert"] as? [[String: Any]])?.count, 2)

        // Export, remove, import: the same answers as before the round trip.
        let probes = ["abc", "zzt", "mno", "dup abc", "dup lmn"]
        let before = try probes.map { try h.run("ask", $0).stdout }
        XCTAssertEqual(try h.run("experts", "export", "rev", h.work + "/rev-export").status, 0)
        XCTAssert(FileManager.default.fileExists(atPath: h.work + "/rev-export/expert.json"))
        XCTAssertEqual(try h.run("experts", "remove", "rev").status, 0)
        XCTAssertEqual(try h.run("ask", "abc", "--expert", "rev").status, 3)
        let imp = try h.run("experts", "import", h.work + "/rev-export")
        XCTAssertEqual(imp.status, 0, imp.stderr)
        XCTAssertEqual(try probes.map { try h.run("ask", $0).stdout }, before)
    }

    /// Every answer carries the expert's confidence (calibrated at `experts add` on its validation split);
    /// `--min-confidence` declines with exit 4 and "not sure", showing the answer only with `--show-unsure`;
    /// `eval` reports the risk–coverage curve, AUROC and ECE.
    func testAnswerConfidenceAndNotSure() throws {
        let h = try copyOfBase()
        let show = try json(try h.run("experts", "show", "rev", "--json").stdout)
        let calibration = try XCTUnwrap(show["calibration"] as? [String: Any], "experts add fits a calibration")
        XCTAssertEqual(calibration["score"] as? String, "sequence_p")
        let sure = try json(try h.run("ask", "xyz", "--json").stdout)
        XCTAssertEqual(sure["output"] as? String, "zyx")
        let conf = try XCTUnwrap(sure["answer_confidence"] as? Double)
        XCTAssert(conf > 0 && conf <= 1, "\(conf)")
        let p = try XCTUnwrap(sure["p_correct"] as? Double, "the expert was calibrated at registration")
        XCTAssert(p >= 0 && p <= 1)
        XCTAssertEqual(sure["not_sure"] as? Bool, false)

        // An expert trained for a few steps is wrong on most of its validation set, so its calibrated
        // probabilities are low; the well-trained rev expert was right on all of its own (p_correct 1).
        XCTAssertEqual(try h.addExpert("weak", task: "rev", steps: 10).status, 0)
        let p0 = try XCTUnwrap(try json(try h.run("ask", "xyz", "--expert", "weak", "--json").stdout)["p_correct"] as? Double)
        XCTAssertLessThan(p0, 0.99)
        let unsure = "xyz", bar = "0.99"
        let declined = try h.run("ask", unsure, "--expert", "weak", "--min-confidence", bar)
        XCTAssertEqual(declined.status, 4, declined.stderr)
        XCTAssertEqual(declined.stdout, "")
        XCTAssert(declined.stderr.contains("not sure"), declined.stderr)
        let shown = try h.run("ask", unsure, "--expert", "weak", "--min-confidence", bar, "--show-unsure")
        XCTAssertEqual(shown.status, 4)
        XCTAssertFalse(shown.stdout.isEmpty)
        let declinedJSON = try h.run("ask", unsure, "--expert", "weak", "--min-confidence", bar, "--json")
        XCTAssertEqual(declinedJSON.status, 4)
        let d = try json(declinedJSON.stdout)
        XCTAssertEqual(d["not_sure"] as? Bool, true)
        XCTAssertNil(d["output"] as? String)
        XCTAssertEqual(d["min_confidence"] as? Double, Double(bar))
        XCTAssertEqual(try h.run("ask", "xyz", "--min-confidence", "0").status, 0)
        XCTAssertNotEqual(try h.run("ask", "xyz", "--min-confidence", "1.5").status, 0)

        let labelled = h.write("rev-eval.jsonl", ["abc", "pqr", "xyz", "kmn"].map {
            "{\"input\":\"\($0)\",\"output\":\"\(String($0.reversed()))\",\"expert\":\"rev\"}"
        }.joined(separator: "\n"))
        let ev = try h.run("eval", labelled, "--json")
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let c = try XCTUnwrap(try json(ev.stdout)["confidence"] as? [String: Any])
        XCTAssertEqual(c["n"] as? Int, 4)
        XCTAssertEqual((c["curve"] as? [[String: Any]])?.count, 10)
        XCTAssertNotNil(c["ece"] as? Double)
        XCTAssertNotNil(c["aurc"] as? Double)
        let text = try h.run("eval", labelled)
        XCTAssert(text.stdout.contains("AUROC"), text.stdout)
        XCTAssertNotEqual(try h.run("eval", labelled, "--score", "bogus").status, 0)
        // Beam search: the trained reversal expert is sure of its answers, so a beam finds the same ones.
        let beam = try h.run("eval", labelled, "--beam", "4", "--json")
        XCTAssertEqual(beam.status, 0, beam.stderr)
        XCTAssertNotNil(try json(ev.stdout)["exact_match"] as? Double)
        XCTAssertEqual(try json(beam.stdout)["exact_match"] as? Double, try json(ev.stdout)["exact_match"] as? Double)
        XCTAssertEqual(try h.run("eval", labelled, "--beam", "0").status, 2)
        // On an input it is sure of (a beam may prefer another answer where greedy decoding was unsure).
        let beamAsk = try h.run("ask", "xyz", "--expert", "rev", "--beam", "3", "--json")
        XCTAssertEqual(beamAsk.status, 0, beamAsk.stderr)
        XCTAssertEqual(try json(beamAsk.stdout)["output"] as? String, "zyx")
        XCTAssertEqual(try h.run("ask", "abc", "--beam", "17").status, 2)
    }

    /// Runs a failing command and checks: non-zero exit, one clear line on stderr, registry unchanged.
    func assertRejected(_ h: CLIHarness, _ args: [String], code: Int32, mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try h.dump()
        let r = try h.run(args)
        XCTAssertEqual(r.status, code, "\(args): \(r.stderr)", file: file, line: line)
        let errLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errLines.count, 1, "\(args): \(r.stderr)", file: file, line: line)
        XCTAssert(r.stderr.contains(mentions), "\(args): '\(r.stderr)' lacks '\(mentions)'", file: file, line: line)
        XCTAssertEqual(try h.dump(), before, "\(args) changed the registry", file: file, line: line)
    }

    /// `--init-from` starts training from given weights: one step at a negligible rate keeps the base
    /// expert's skill (a random start is near 0%), the manifest records the weights' hash, and weights of
    /// another size are refused.
    func testInitFromStartsFromGivenWeights() throws {
        let h = try copyOfBase()
        let folder = h.work + "/rev-export"
        XCTAssertEqual(try h.run("experts", "export", "rev", folder).status, 0)
        let weights = folder + "/weights.safetensors"
        let data = h.write("rev2.jsonl", CLIHarness.data("rev", count: 800, seed: 99))
        let add = try h.run("experts", "add", "rev2", "--data", data, "--preset", "nano", "--steps", "1", "--learning-rate", "1e-7",
                            "--init-from", weights, "--json")
        XCTAssertEqual(add.status, 0, add.stderr)
        let summary = try json(add.stdout.split(separator: "\n").last.map(String.init) ?? "")
        let exact = try XCTUnwrap((summary["metrics"] as? [String: Any])?["exact_match"] as? Double)
        XCTAssertGreaterThan(exact, 0.5, "one step from the base's weights should keep most of its skill")
        let show = try json(try h.run("experts", "show", "rev2", "--json").stdout)
        let training = try XCTUnwrap(show["training"] as? [String: Any])
        XCTAssertEqual(training["initial_weights_sha256"] as? String, SHA256.hex(of: try Data(contentsOf: URL(fileURLWithPath: weights))))

        let wrongSize = try h.run("experts", "add", "rev3", "--data", data, "--preset", "tiny", "--steps", "1", "--init-from", weights)
        XCTAssertEqual(wrongSize.status, 2, wrongSize.stderr)
        XCTAssert(wrongSize.stderr.contains("--preset"), wrongSize.stderr)
    }

    func testBadInputIsRejectedAndChangesNothing() throws {
        let h = try copyOfBase()
        let add = { (file: String) in ["experts", "add", "x", "--data", file, "--preset", "nano", "--steps", "5"] }
        try assertRejected(h, add(h.write("badjson.jsonl", "{\"input\":\"a\",\"output\":\"b\"}\n{nope\n")), code: 2, mentions: "badjson.jsonl:2: not valid JSON")
        try assertRejected(h, add(h.write("nofield.jsonl", "{\"input\":\"a\"}\n")), code: 2, mentions: "nofield.jsonl:1: missing field \"output\"")
        try assertRejected(h, add(h.write("type.jsonl", "{\"input\":\"a\",\"output\":5}\n")), code: 2, mentions: "type.jsonl:1: field \"output\" is not a string")
        try assertRejected(h, add(h.write("empty.jsonl", "")), code: 2, mentions: "empty.jsonl: no examples")
        var bad = Data("{\"input\":\"a\",\"output\":\"".utf8); bad.append(0xC3); bad.append(contentsOf: Data("\"}\n".utf8))
        try assertRejected(h, add(h.write("utf8.jsonl", data: bad)), code: 2, mentions: "utf8.jsonl:1: invalid UTF-8")
        try assertRejected(h, add(h.work + "/missing.jsonl"), code: 2, mentions: "missing.jsonl")
        let ok = h.write("ok.jsonl", CLIHarness.data("rev", count: 50, seed: 1))
        for name in ["", "../x", "a/b", String(repeating: "n", count: 65)] {
            try assertRejected(h, ["experts", "add", name, "--data", ok, "--preset", "nano", "--steps", "5"], code: 2, mentions: "name")
        }
        try assertRejected(h, ["ask", "abc", "--expert", "nope"], code: 3, mentions: "no expert named 'nope'")
        try assertRejected(h, ["experts", "remove", "nope"], code: 3, mentions: "nope")
        try assertRejected(h, ["experts", "import", h.work + "/nowhere"], code: 3, mentions: "nowhere/expert.json not found")

        // A truncated safetensors file in an import folder.
        XCTAssertEqual(try h.run("experts", "export", "rev", h.work + "/trunc").status, 0)
        let w = h.work + "/trunc/weights.safetensors"
        let full = try Data(contentsOf: URL(fileURLWithPath: w))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: w))
        try assertRejected(h, ["experts", "import", h.work + "/trunc", "--replace"], code: 5, mentions: "weights.safetensors")

        // A corrupted blob: one flipped byte in the stored weights is caught by the hash, naming expert and file.
        let rec = try XCTUnwrap(try Registry(home: h.home).expert(named: "rev"))
        let blob = h.home + "/blobs/sha256-" + rec.weightsBlob
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: blob))
        try assertRejected(h, ["ask", "abc"], code: 5, mentions: "sha256-\(rec.weightsBlob)")
        XCTAssert(try h.run("ask", "abc").stderr.contains("rev"))

        // A registry from a newer triage.
        let newer = try copyOfBase()
        let db = try Database(path: newer.home + "/registry.sqlite")
        try db.setUserVersion(99)
        let r = try newer.run("experts", "list")
        XCTAssertEqual(r.status, 5)
        XCTAssert(r.stderr.contains("99"), r.stderr)
    }

    func testKilledAddLeavesRegistryAsItWas() throws {
        let h = try copyOfBase()
        let data = h.write("dup.jsonl", CLIHarness.data("dup", count: 1500, seed: 3))
        let args = ["experts", "add", "dup", "--data", data, "--preset", "nano", "--steps", "400"]
        let before = try h.dump()
        // SIGKILL during training, and crashes at the points where registration work happens.
        let (p, _, _) = try h.process(args)
        Thread.sleep(forTimeInterval: 1.0)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(try h.dump(), before)
        for point in ["train.done", "router.train", "register.afterExpert", "register.beforeCommit"] {
            let r = try h.run(args, env: ["TRIAGE_FAILPOINT": point + ":crash"])
            XCTAssertEqual(r.status, 75, "\(point): \(r.stderr)")
            XCTAssertEqual(try h.dump(), before, "crash at \(point) changed the registry")
            XCTAssertEqual(try h.run("experts", "list", "--json").stdout.split(separator: "\n").count, 1)
            XCTAssertEqual(try h.run("ask", "abc").stdout, "cba\n", "the earlier expert stopped answering after a crash at \(point)")
        }
        // The interrupted run resumes from its checkpoint and registers.
        let done = try h.run(args)
        XCTAssertEqual(done.status, 0, done.stderr)
        XCTAssertEqual(try h.run("ask", "dup abc").stdout, "abcabc\n")
        // gc removes what the crashed runs left behind, and nothing in use.
        XCTAssertEqual(try h.run("gc", "--now").status, 0)
        XCTAssertEqual(try h.run("ask", "abc").stdout, "cba\n")
    }

    func testInterruptedAddKeepsACheckpointChangesNothingAndResumes() throws {
        let h = try copyOfBase()
        let data = h.write("dup.jsonl", CLIHarness.data("dup", count: 1500, seed: 3))
        let args = ["experts", "add", "dup", "--data", data, "--preset", "nano", "--steps", "3000", "--json"]
        let before = try h.dump()
        let (p, _, err) = try h.process(args)
        // Wait for the first checkpoint (every 300 steps here), then Ctrl-C.
        let checkpoint = h.home + "/runs/dup/checkpoint.safetensors"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), "no checkpoint within a minute")
        kill(p.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("interrupted at step") && stderr.contains("run the same command again"), stderr)
        XCTAssertEqual(try h.dump(), before, "an interrupted add changed the registry")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), "the checkpoint is gone")
        // The rerun starts where the interrupted one stopped.
        let stoppedAt = try XCTUnwrap(stderr.components(separatedBy: "interrupted at step ").last?.prefix { $0.isNumber }).description
        let (p2, out2, err2) = try h.process(args)
        var firstStep: Int?
        let errHandle = err2.fileHandleForReading
        while firstStep == nil, let line = String(data: errHandle.availableData, encoding: .utf8), !line.isEmpty {
            for l in line.split(separator: "\n") {
                if let o = (try? JSONSerialization.jsonObject(with: Data(l.utf8))) as? [String: Any], o["event"] as? String == "progress" {
                    firstStep = o["step"] as? Int
                    break
                }
            }
        }
        kill(p2.processIdentifier, SIGINT)
        _ = out2.fileHandleForReading.readDataToEndOfFile()
        p2.waitUntilExit()
        XCTAssertGreaterThan(try XCTUnwrap(firstStep), try XCTUnwrap(Int(stoppedAt)), "the rerun did not resume from the checkpoint")
        XCTAssertEqual(try h.dump(), before)
    }

    /// A CPU without bf16 kernels, forced (`TRIAGE_BF16_LEVEL=0`): `auto` trains in fp32 and records it,
    /// `--precision bf16` is refused as bad input, and nothing is registered by the refusal.
    func testForcedFP32FallbackTrainsInFP32AndRefusesBF16() throws {
        let h = try copyOfBase()
        let data = h.write("dup.jsonl", CLIHarness.data("dup", count: 600, seed: 4))
        let noBF16 = ["TRIAGE_BF16_LEVEL": "0"]
        let before = try h.dump()
        let refused = try h.run(["experts", "add", "dup", "--data", data, "--preset", "nano", "--steps", "20", "--precision", "bf16"], env: noBF16)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("no bf16 kernels"), refused.stderr)
        XCTAssertEqual(try h.dump(), before)
        let added = try h.run(["experts", "add", "dup", "--data", data, "--preset", "nano", "--steps", "20", "--json"], env: noBF16)
        XCTAssertEqual(added.status, 0, added.stderr)
        let manifest = try json(try h.run("experts", "show", "dup", "--json").stdout)
        let training = try XCTUnwrap(manifest["training"] as? [String: Any])
        XCTAssertEqual((training["record"] as? [String: Any])?["precision"] as? String, "fp32")
        XCTAssertEqual((training["options"] as? [String: Any])?["precision"] as? String, "fp32")
        let bench = try h.run(["bench", "gemm", "--json"], env: noBF16)
        XCTAssertTrue(bench.stdout.split(separator: "\n").allSatisfy { $0.contains(#""precision":"fp32""#) }, bench.stdout)
    }

    func testGCFreesSupersededRoutersAndKeepsWhatIsReferenced() throws {
        let h = try copyOfBase()
        XCTAssertEqual(try h.addExpert("dup", task: "dup", steps: 60).status, 0)
        XCTAssertEqual(try h.run("experts", "remove", "dup").status, 0)
        let gc = try h.run("gc", "--now", "--json")
        XCTAssertEqual(gc.status, 0, gc.stderr)
        let registry = try Registry(home: h.home)
        XCTAssertEqual(try registry.routers().count, 1, "only the active router is kept")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: registry.blobs.directory)
            .filter { $0.hasPrefix(BlobStore.filePrefix) }.map { String($0.dropFirst(BlobStore.filePrefix.count)) })
        XCTAssertEqual(files, try registry.referencedBlobs(), "every remaining blob is referenced, and every referenced one is there")
        let routerBlobs = try registry.routers().map(\.weightsBlob)
        XCTAssertEqual(files.filter { routerBlobs.contains($0) }.count, 1)
        XCTAssertEqual(try h.run("ask", "abc").stdout, "cba\n")
    }

    func testParallelAddsAndAsksAllSucceed() throws {
        let h = try copyOfBase()
        let d1 = h.write("a.jsonl", CLIHarness.data("dup", count: 1500, seed: 5))
        let d2 = h.write("b.jsonl", CLIHarness.data("rev", count: 1500, seed: 6))
        let p1 = try h.process(["experts", "add", "dup1", "--data", d1, "--preset", "nano", "--steps", "150"])
        let p2 = try h.process(["experts", "add", "rev2", "--data", d2, "--preset", "nano", "--steps", "150"])
        var asks = 0
        while p1.0.isRunning || p2.0.isRunning {
            let r = try h.run("ask", "abc", "--expert", "rev")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertFalse(r.stderr.contains("locked"))
            asks += 1
        }
        for (p, _, err) in [p1, p2] {
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, e)
            XCTAssertFalse(e.contains("locked"), e)
        }
        XCTAssertGreaterThan(asks, 0)
        let names = try h.run("experts", "list", "--json").stdout.split(separator: "\n").compactMap { try? json(String($0))["name"] as? String }
        XCTAssertEqual(names, ["dup1", "rev", "rev2"])
        let r = try json(try h.run("route", "dup abc", "--json").stdout)
        XCTAssertEqual(r["expert"] as? String, "dup1")
    }
}
