import Foundation
import ExpertModel
import Registry
import TensorCore

/// A model trained once on the balanced mixture of every expert's training data, that each expert of a suite
/// then starts from. The math tasks share sub-skills (reading and copying numbers digit by digit) that every
/// expert would otherwise learn again from scratch; training them once lets each expert spend its own steps
/// on what is particular to its task. Its compute counts once for the suite: `triage compare` adds it to the
/// routed system's steps, FLOPs and CPU time, and to the baselines' equal-compute plan.
public struct SharedBase: Codable, Equatable {
    /// SHA-256 of `weights.safetensors`.
    public var weightsSHA256: String
    /// How the base was trained.
    public var options: TrainingOptions
    /// What its training cost: steps, time, tokens, FLOPs.
    public var record: TrainingRecord
    /// The experts whose training data made the mixture, with the SHA-256 of each one's `train.jsonl`.
    public var trainDataSHA256: [String: String]

    enum CodingKeys: String, CodingKey {
        case options, record, weightsSHA256 = "weights_sha256", trainDataSHA256 = "train_data_sha256"
    }

    /// The experts whose data the base saw, sorted.
    public var experts: [String] { trainDataSHA256.keys.sorted() }

    /// A base as `train-suite` records it.
    public init(weightsSHA256: String, options: TrainingOptions, record: TrainingRecord, trainDataSHA256: [String: String]) {
        self.weightsSHA256 = weightsSHA256
        self.options = options
        self.record = record
        self.trainDataSHA256 = trainDataSHA256
    }

    /// `Experts/_base/`: where a suite keeps its base (`weights.safetensors`, `base.json`, `README.md`).
    public static let directoryName = "_base"
    /// The base's record inside its folder.
    package static let manifestName = "base.json"
    /// The base's weights inside its folder.
    package static let weightsName = "weights.safetensors"

    /// Reads `dir/base.json` and checks the weights against it; nil when there is no base there.
    public static func read(_ dir: String) throws -> (base: SharedBase, weights: Data)? {
        guard let json = FileManager.default.contents(atPath: dir + "/" + manifestName) else { return nil }
        let base: SharedBase
        do { base = try JSONDecoder().decode(SharedBase.self, from: json) } catch {
            throw TriageError.corrupt("\(dir)/\(manifestName): \(error.localizedDescription); delete \(dir) to train the base again")
        }
        guard let weights = FileManager.default.contents(atPath: dir + "/" + weightsName) else {
            throw TriageError.corrupt("\(dir)/\(weightsName) is missing; restore it (git checkout) or delete \(dir) to train the base again")
        }
        guard SHA256.hex(of: weights) == base.weightsSHA256 else {
            throw TriageError.corrupt("\(dir)/\(weightsName) does not match the SHA-256 in \(manifestName); restore it (git checkout) or delete \(dir) to train the base again")
        }
        return (base, weights)
    }

    /// Writes `base.json` into `dir`, atomically.
    package func write(to dir: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try enc.encode(self) + Data("\n".utf8), to: dir + "/" + SharedBase.manifestName)
    }
}
