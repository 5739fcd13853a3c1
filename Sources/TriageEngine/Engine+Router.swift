import Foundation
import ExpertModel
import Registry
import Router
import TensorCore

/// Training data of one expert for the router: its training and validation inputs.
struct ExpertInputs {
    var name: String
    var train: [String]
    var valid: [String]
}

extension Engine {
    /// Inputs of a JSONL blob (bad lines cannot occur: data is validated before it is stored).
    func inputs(of record: ExpertRecord, role: DataRole) throws -> [String] {
        guard let data = try registry.loadData(of: record, role: role) else { return [] }
        return try ExampleReader.read(data: data, name: "\(record.name) \(role.rawValue) data", requireOutput: false).examples.map(\.input)
    }

    /// The generic text of the background class: stored in the registry once, from the suite's `_background`.
    func backgroundText() throws -> [String] {
        if let sha = try registry.blobSetting("router.background"), registry.blobs.contains(sha) {
            let data = try registry.blobs.load(sha, owner: .other("router background text"))
            return try ExampleReader.read(data: data, name: "background text", requireOutput: false).examples.map(\.input)
        }
        guard let suite = suiteDirectory, let data = FileManager.default.contents(atPath: suite + "/_background/background.jsonl") else { return [] }
        let ref = try registry.blobs.put(data)
        try registry.setBlobSetting("router.background", ref)
        return try ExampleReader.read(data: data, name: "background text", requireOutput: false).examples.map(\.input)
    }

    /// Trains a router for `registered` experts (data read from the registry) plus `extra` ones not yet
    /// registered, and stores its weights as a blob. Returns the record to register with the change.
    func trainRouter(registered: [ExpertRecord], extra: [ExpertInputs], log: (String) -> Void) throws -> RouterRecord {
        var sets = extra
        for r in registered where !extra.contains(where: { $0.name == r.name }) {
            sets.append(ExpertInputs(name: r.name, train: try inputs(of: r, role: .train), valid: try inputs(of: r, role: .valid)))
        }
        guard !sets.isEmpty else { throw TriageError.internalError("trainRouter: no experts") }
        let train = sets.flatMap { s in s.train.map { (input: $0, expert: s.name) } }
        let valid = sets.flatMap { s in s.valid.map { (input: $0, expert: s.name) } }
        let t0 = MonotonicClock.now()
        try Failpoint.reach("router.train")
        let (model, metrics) = try RouterTrainer.train(examples: train, validation: valid, background: try backgroundText(), config: RouterConfig())
        log(String(format: "router: %d experts, validation accuracy %.2f%%, threshold %.3f, trained in %.1f s",
                   sets.count, 100 * metrics.validationAccuracy, metrics.threshold, MonotonicClock.now() - t0))
        let path = scratchPath("router.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let ref = try registry.blobs.put(fileAt: path)
        return RouterRecord(expertSet: model.experts, weightsBlob: ref.sha256, metricsJSON: try JSONOutput.line(metrics))
    }

    /// Registers with a router that knows the final set; when another process changed the set meanwhile,
    /// the router is retrained for the new set and the registration tried again.
    func withRouterRetry<T>(attempts: Int = 5, _ body: () throws -> T) throws -> T {
        var left = attempts
        while true {
            do { return try body() } catch RegistryError.routerOutOfDate where left > 1 {
                left -= 1
            }
        }
    }
}

