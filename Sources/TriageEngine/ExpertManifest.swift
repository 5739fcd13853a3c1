import Foundation
import ExpertModel
import Registry

/// `expert.json`: what `triage experts import` reads and `export` writes — the format of `Experts/NAME/`.
public struct ExpertManifest: Codable, Equatable {
    /// The expert's name (letters, digits, `-_.`).
    public var name: String
    /// What the expert does.
    public var description: String
    /// What the task is, in a few words (e.g. the mathematics_dataset module).
    public var task: String?
    /// The transformer's shape.
    public var config: ExpertConfig
    /// Its parameter count (for people; derived from `config`).
    public var parameters: Int
    /// The longest answer the expert decodes.
    public var maxOutputBytes: Int
    /// The weights file inside the folder, its SHA-256 and how it is stored (F32 or BF16).
    public var weights: String
    /// SHA-256 of the weights file, checked on import.
    public var weightsSHA256: String?
    /// `F32` or `BF16`.
    public var weightsDType: String?
    /// Data files by role (train, valid, test) and their SHA-256.
    public var data: RoleFiles
    /// SHA-256 of each data file, checked on import.
    public var dataSHA256: RoleFiles?
    /// The task's own metric besides exact match, if any (`phone_error_rate` for pronounce).
    public var metric: TaskMetric?
    /// How the expert was trained, when known.
    public var training: TrainingSection?
    /// Test-set accuracy measured at registration.
    public var metrics: ExpertMetrics?
    /// Where the data came from and under which licence.
    public var source: [String: String]?
    /// Maps the expert's answer confidence to a probability of being right, fitted on its validation set
    /// at registration, with the expert's default `min_confidence`. Optional: manifests written before
    /// it existed still load (import then fits one).
    public var calibration: ConfidenceCalibration?
    /// `completion` for a language model over a set of files (`experts add --files`); nil: a task expert
    /// (text in, answer out), as every manifest written before completion experts.
    public var kind: ExpertKind?
    /// A completion expert's files, held-out split and measurements.
    public var completion: CompletionSection?

    /// Task or completion (absent `kind`: task).
    public var expertKind: ExpertKind { kind ?? .task }

    /// The recipe and record of the expert's training.
    public struct TrainingSection: Codable, Equatable {
        /// The options it trained with.
        public var options: TrainingOptions
        /// What the run did.
        public var record: TrainingRecord?
        /// SHA-256 of the weights training started from (`experts add --init-from`); nil for a random start.
        public var initialWeightsSHA256: String?
        /// The suite's shared base the expert started from, with what training it cost (counted once per suite).
        public var base: SharedBase?
        enum CodingKeys: String, CodingKey { case options, record, base, initialWeightsSHA256 = "initial_weights_sha256" }
        /// A training section.
        public init(options: TrainingOptions, record: TrainingRecord?, initialWeightsSHA256: String? = nil, base: SharedBase? = nil) {
            (self.options, self.record, self.initialWeightsSHA256, self.base) = (options, record, initialWeightsSHA256, base)
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, description, task, config, parameters, weights, data, metric, training, metrics, source, calibration, kind, completion
        case maxOutputBytes = "max_output_bytes", weightsSHA256 = "weights_sha256", weightsDType = "weights_dtype"
        case dataSHA256 = "data_sha256"
    }

    /// A manifest with no training or metrics yet.
    public init(name: String, description: String, task: String? = nil, config: ExpertConfig, maxOutputBytes: Int,
                weights: String = "weights.safetensors", data: RoleFiles = [:], metric: TaskMetric? = nil) {
        self.name = name
        self.description = description
        self.task = task
        self.config = config
        self.parameters = config.parameterCount
        self.maxOutputBytes = maxOutputBytes
        self.weights = weights
        self.data = data
        self.metric = metric
    }

    /// Pretty, key-sorted JSON with a final newline: the bytes of `expert.json`.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self) + Data("\n".utf8)
    }

    /// Reads `expert.json`; errors name `origin`.
    public static func decode(_ data: Data, origin: String) throws -> ExpertManifest {
        let m: ExpertManifest
        do { m = try JSONDecoder().decode(ExpertManifest.self, from: data) } catch let DecodingError.keyNotFound(k, _) {
            throw TriageError.badInput("\(origin): missing field \"\(k.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw TriageError.badInput("\(origin): field \"\(ctx.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type")
        } catch {
            throw TriageError.badInput("\(origin): not a valid expert manifest (\(error.localizedDescription))")
        }
        if let problem = m.calibration?.problem { throw TriageError.badInput("\(origin): \(problem)") }
        return m
    }
}

/// Measured accuracy of an expert on its test set.
public struct ExpertMetrics: Codable, Equatable {
    /// Examples scored.
    public var n: Int
    /// Fraction of answers equal to the reference.
    public var exactMatch: Double
    /// For word-level tasks: the fraction of words with any error (1 − exact match).
    public var wordErrorRate: Double?
    /// Edit distance between space-separated output tokens and the reference, over reference tokens.
    public var phoneErrorRate: Double?
    /// Best validation exact match during training.
    public var validationExactMatch: Double?

    enum CodingKeys: String, CodingKey {
        case n, exactMatch = "exact_match", wordErrorRate = "word_error_rate", phoneErrorRate = "phone_error_rate"
        case validationExactMatch = "validation_exact_match"
    }

    /// Metrics of a scored set.
    public init(n: Int, exactMatch: Double, wordErrorRate: Double? = nil, phoneErrorRate: Double? = nil, validationExactMatch: Double? = nil) {
        self.n = n
        self.exactMatch = exactMatch
        self.wordErrorRate = wordErrorRate
        self.phoneErrorRate = phoneErrorRate
        self.validationExactMatch = validationExactMatch
    }
}
