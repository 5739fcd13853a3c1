import Foundation
import TriageEngine
import ExpertModel
import Registry
import TensorCore

/// Baselines that ship with the suite (`Experts/_baselines/NAME/`), so `triage compare` on a fresh build
/// scores the suite without the ~80 minutes their training takes. A shipped baseline is used only when
/// its plan matches the one worked out from the registered experts (same experts, configs and steps,
/// FLOPs within 2%): anything else trains afresh. Its weights are checked against the recorded SHA-256.
struct ShippedBaseline: Codable {
    var plan: BaselinePlan
    var training: TrainingRecord
    var weightsSHA256: String
    enum CodingKeys: String, CodingKey { case plan, training, weightsSHA256 = "weights_sha256" }

    static let directoryName = "_baselines"
    static let manifestName = "baseline.json"
    static let weightsName = "weights.safetensors"
}

extension Engine {
    /// Imports the shipped baseline for `plan` into the registry if there is one that matches; nil otherwise.
    func importShippedBaseline(_ plan: BaselinePlan) throws -> BaselineRecord? {
        guard let suite = suiteDirectory else { return nil }
        let dir = suite + "/\(ShippedBaseline.directoryName)/\(plan.name)"
        guard let json = FileManager.default.contents(atPath: dir + "/" + ShippedBaseline.manifestName) else { return nil }
        let shipped: ShippedBaseline
        do { shipped = try JSONDecoder().decode(ShippedBaseline.self, from: json) } catch {
            throw TriageError.corrupt("\(dir)/\(ShippedBaseline.manifestName): \(error.localizedDescription); delete the directory to train the baseline instead")
        }
        guard shipped.plan.matches(plan) else { return nil }
        let weightsPath = dir + "/" + ShippedBaseline.weightsName
        guard let weights = FileManager.default.contents(atPath: weightsPath) else {
            throw TriageError.corrupt("\(weightsPath) is missing; restore it (git checkout) or delete \(dir) to train the baseline")
        }
        guard SHA256.hex(of: weights) == shipped.weightsSHA256 else {
            throw TriageError.corrupt("\(weightsPath) does not match its recorded SHA-256 \(shipped.weightsSHA256); restore it (git checkout) or delete \(dir) to train the baseline")
        }
        let ref = try registry.blobs.put(weights)
        return try registry.putBaseline(BaselineRecord(name: plan.name, configJSON: try JSONOutput.line(plan), metricsJSON: nil,
                                                       trainingJSON: try JSONOutput.line(shipped.training), expertSet: plan.expertSet),
                                        weights: ref)
    }

    /// Writes the registry's baselines to `directory/NAME/` (weights and `baseline.json`), for shipping with a suite.
    /// Returns the names written.
    public func exportBaselines(to directory: String) throws -> [String] {
        var written = [String]()
        for b in try registry.baselines() {
            guard let pj = b.configJSON, let plan = try? JSONDecoder().decode(BaselinePlan.self, from: Data(pj.utf8)),
                  let tj = b.trainingJSON, let training = try? JSONDecoder().decode(TrainingRecord.self, from: Data(tj.utf8)),
                  let weights = try registry.loadWeights(of: b) else { continue }
            let dir = directory + "/\(b.name)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try AtomicFile.write(weights, to: dir + "/" + ShippedBaseline.weightsName)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let manifest = ShippedBaseline(plan: plan, training: training, weightsSHA256: SHA256.hex(of: weights))
            try AtomicFile.write(try enc.encode(manifest) + Data("\n".utf8), to: dir + "/" + ShippedBaseline.manifestName)
            written.append(b.name)
        }
        return written
    }
}
