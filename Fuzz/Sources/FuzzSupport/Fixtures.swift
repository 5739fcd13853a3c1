import Foundation
import ExpertModel
import Registry
import Router
import TensorCore
import TriageEngine

/// Small, real inputs made by Triage's own writers: a 3,208-parameter expert, a router trained on a
/// dozen requests, the JSONL of a few examples, and an expert folder holding them. Small, because a fuzz
/// target is only as fast as its input is short; made by code, so they stay valid when a format changes.
public enum Fixtures {
    /// A model small enough to load thousands of times a second, with room for the examples' bytes.
    public static let config = ExpertConfig(dModel: 8, nLayers: 1, nHeads: 2, dFF: 16, context: 64)

    /// A few examples of one task, in the shipped suite's style.
    public static let examples = [
        Example(input: "Calculate 23372 + 98.675.", output: "23470.675"),
        Example(input: "What is -0.27 take away 1.5?", output: "-1.77"),
        Example(input: "-4.069+2753.231", output: "2749.162"),
    ]

    /// The examples as JSONL, the way `experts add` stores them.
    public static var examplesJSONL: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return examples.reduce(into: Data()) { out, e in out.append(try! encoder.encode(e)); out.append(0x0A) }
    }

    /// The tiny model's weights file (`Transformer.save`), deterministic for a given `dtype`.
    public static func weights(dtype: SafeTensors.DType = .f32) throws -> Data {
        let model = try Transformer(config: config, seed: 1)
        return try viaFile("weights.safetensors") { try model.save(to: $0, name: "tiny", dtype: dtype) }
    }

    /// A router for two tasks (and the background class), with or without its novelty index.
    public static func router(novelty: Bool) throws -> Data {
        var c = RouterConfig()
        c.buckets = 64
        c.dim = 4
        c.epochs = 2
        c.noveltyBits = novelty ? 64 : 0
        let add = ["Calculate 2 + 3.", "What is 7 minus 1?", "Sum 4 and 9.", "12+30", "Add 5 to 6.", "What is 8 - 2?"]
        let sort = ["Sort 3, 1, 2.", "Sort -4, 7, 0 in ascending order.", "Order 9, 8, 1.", "Sort 5, 5, 2.", "Put 3, 0 in order.", "Sort 1, 2."]
        let examples = add.map { (input: $0, expert: "add-or-sub") } + sort.map { (input: $0, expert: "sort") }
        let (model, _) = try RouterTrainer.train(examples: examples, validation: Array(examples.prefix(2) + examples.suffix(2)),
                                                 background: ["The weather was fine.", "func main() {}", "Hello there!"], config: c)
        return try viaFile("router.safetensors") { try model.save(to: $0) }
    }

    /// Writes the tiny expert's folder (weights and three data files) into `dir` and returns a manifest
    /// that describes it exactly (hashes included); `expert.json` itself is left to the caller.
    @discardableResult
    public static func writeExpertFolder(to dir: String) throws -> ExpertManifest {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let weights = try weights()
        try weights.write(to: URL(fileURLWithPath: dir + "/weights.safetensors"))
        var manifest = ExpertManifest(name: "tiny", description: "adds and subtracts", task: "arithmetic__add_or_sub",
                                      config: config, maxOutputBytes: 16, data: RoleFiles.standard)
        manifest.weightsSHA256 = SHA256.hex(of: weights)
        manifest.weightsDType = "F32"
        manifest.dataSHA256 = [:]
        for role in DataRole.allCases {
            try examplesJSONL.write(to: URL(fileURLWithPath: dir + "/\(role.rawValue).jsonl"))
            manifest.dataSHA256?[role] = SHA256.hex(of: examplesJSONL)
        }
        manifest.metrics = ExpertMetrics(n: 3, exactMatch: 0)
        manifest.source = ["licence": "Apache-2.0"]
        return manifest
    }

    /// A calibration as `experts add` fits it.
    public static let calibration = ConfidenceCalibration.fit(scores: [0.1, 0.4, 0.45, 0.9, 0.95], correct: [false, false, true, true, true],
                                                              kind: AnswerConfidence.defaultScore, minConfidence: 0.5)

    /// The bytes a writer that only writes files leaves at a scratch path.
    static func viaFile(_ name: String, _ write: (String) throws -> Void) throws -> Data {
        let path = NSTemporaryDirectory() + "triage-fuzz-fixture-\(getpid())-\(name)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try write(path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// The repository's root (for seeds taken from the shipped suite and the tests), from this file's path.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Fuzz/Sources/FuzzSupport/Fixtures.swift
        return url.path
    }()

    /// A file of the repository, if it is there (seeds from it are optional).
    public static func repositoryFile(_ relative: String) -> Data? {
        FileManager.default.contents(atPath: repositoryRoot + "/" + relative)
    }
}
