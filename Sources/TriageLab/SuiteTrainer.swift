import Foundation
import TriageEngine
import ExpertModel
import Registry
import Router
import TensorCore

/// `Experts/suite.json`: the shipped suite's recipe and its experts' descriptions.
public struct SuiteSpec: Codable {
    /// How every expert of the suite (and its base) is trained.
    public struct Recipe: Codable, Equatable {
        public var preset: ExpertConfig.Preset
        public var steps: Int
        public var batchSize: Int
        public var learningRate: Float
        public var warmupSteps: Int
        public var seed: UInt64
        public var threads: Int
        public var weightsDType: String
        /// Steps of the shared base every expert starts from (trained on the balanced mixture of all the
        /// experts' training data); nil or 0: each expert starts from random weights.
        public var baseSteps: Int?
        /// `auto`, `bf16` or `fp32` (absent: auto); `train-suite --precision` overrides it.
        public var precision: String?
        /// The architecture options and optimiser (absent: learned positions, no QK-norm, GELU, AdamW with
        /// a final learning rate of 0.1× the peak: the suite before format 2).
        public var positions: ExpertConfig.PositionEncoding?
        public var qkNorm: Bool?
        public var activation: ExpertConfig.Activation?
        public var zeroOutputProjections: Bool?
        public var optimizer: TrainingOptions.OptimizerChoice?
        public var muonLearningRate: Float?
        public var minLearningRateRatio: Float?
        /// Each expert's budget in wall-clock minutes of training, its share of the shared base included
        /// (the base's minutes divided by the number of experts): when set, an expert trains for what is left
        /// of it (the trainer turns minutes into steps once it has timed the first ones) and `steps` only
        /// sets how often it validates. Absent: every expert trains for `steps`.
        public var budgetMinutes: Double?
        enum CodingKeys: String, CodingKey {
            case preset, steps, seed, threads, batchSize = "batch_size", learningRate = "learning_rate", warmupSteps = "warmup_steps"
            case weightsDType = "weights_dtype", baseSteps = "base_steps", precision
            case positions, qkNorm = "qk_norm", activation, zeroOutputProjections = "zero_output_projections", optimizer
            case muonLearningRate = "muon_learning_rate", minLearningRateRatio = "min_learning_rate_ratio"
            case budgetMinutes = "budget_minutes"
        }

        /// The model every expert and the base have: the preset's size with the recipe's architecture options.
        public var config: ExpertConfig { preset.config.with(positions: positions, qkNorm: qkNorm, activation: activation) }

        /// A freshly initialised model of this recipe.
        func freshModel() throws -> Transformer {
            try Transformer(config: config, seed: seed, zeroOutputProjections: zeroOutputProjections ?? false)
        }
    }
    /// One expert of the suite: its folder name, what it does and how it is scored.
    public struct Entry: Codable {
        public var name: String
        public var description: String
        public var task: String
        public var metric: TaskMetric?
        public var examples: [String]?
    }
    public var recipe: Recipe
    public var experts: [Entry]

    /// Reads `suite/suite.json`.
    public static func read(_ suite: String) throws -> SuiteSpec {
        guard let d = FileManager.default.contents(atPath: suite + "/suite.json") else { throw TriageError.notFound("\(suite)/suite.json not found") }
        do { return try JSONDecoder().decode(SuiteSpec.self, from: d) } catch { throw TriageError.badInput("\(suite)/suite.json: \(error)") }
    }
}

/// Retrains the shipped suite in place: the shared base (when the recipe has one), each expert's weights,
/// metrics, manifest and README, then the suite router. Checkpoints live in `Experts/NAME/.checkpoint.safetensors`
/// and `Experts/_base/.checkpoint.safetensors` (not committed), so an interrupted run picks up where it
/// stopped; a base or expert already trained with the current recipe and data is skipped.
public enum SuiteTrainer {
    /// The training options the recipe gives an expert (or, with `steps`, the base).
    /// `minutes`: a wall-clock budget instead of steps (an expert of a suite with `budget_minutes`).
    public static func options(_ r: SuiteSpec.Recipe, maxOutput: Int, steps: Int? = nil, minutes: Double? = nil, precision: Precision = .fp32) -> TrainingOptions {
        var o = minutes.map { TrainingOptions(minutes: $0, seed: r.seed) } ?? TrainingOptions(steps: steps ?? r.steps, seed: r.seed)
        o.precision = precision
        o.batchSize = r.batchSize
        o.learningRate = r.learningRate
        o.warmupSteps = r.warmupSteps
        if let ratio = r.minLearningRateRatio { o.minLearningRateRatio = ratio }
        if r.zeroOutputProjections == true { o.zeroOutputProjections = true }
        if r.optimizer == .muon {
            o.optimizer = .muon
            o.muonLearningRate = r.muonLearningRate
        }
        o.validateEvery = max(250, r.steps / 10)
        o.checkpointEvery = max(250, r.steps / 20)
        o.validationExamples = 500
        o.maxOutputBytes = maxOutput
        return o
    }

    /// Whether a model trained with `old` counts as trained with `new`: the same options whatever the
    /// precision of the products, which changes speed, not the recipe (a suite trained in bf16 is up to
    /// date on a machine without bf16, and the other way round).
    static func sameRecipe(_ old: TrainingOptions, _ new: TrainingOptions) -> Bool {
        var (a, b) = (old, new)
        (a.precision, b.precision) = (nil, nil)
        return a == b
    }

    /// One expert's files as `train-suite` reads them: once, for the shared base, the expert and the router.
    struct ExpertData {
        static let files = RoleFiles.standard
        let entry: SuiteSpec.Entry
        let dir: String
        let train: [Example], valid: [Example], test: [Example]
        /// SHA-256 of each file, by role.
        let shas: RoleFiles
        /// Longest answer the expert decodes: its longest training or validation answer plus room, within the context.
        let maxOutput: Int

        init(suite: String, entry: SuiteSpec.Entry, config: ExpertConfig) throws {
            self.entry = entry
            dir = suite + "/" + entry.name
            var shas = RoleFiles()
            for role in DataRole.allCases { shas[role] = try SHA256.hex(ofFile: dir + "/" + ExpertData.files[role]!) }
            self.shas = shas
            let dir = dir
            func read(_ role: DataRole) throws -> [Example] {
                try ExampleReader.read(path: dir + "/" + ExpertData.files[role]!, context: config.context).examples
            }
            (train, valid, test) = (try read(.train), try read(.valid), try read(.test))
            maxOutput = min(config.context - 3, ((train + valid).map { $0.output.utf8.count }.max() ?? 0) + 2)
        }
    }

    /// `observer` makes the progress display for a run by its label (an expert's name, or "base").
    public static func train(suite: String, only: Set<String>? = nil, force: Bool = false, precision: PrecisionChoice? = nil,
                             observer: (String) -> TrainingObserver?, log: (String) -> Void) throws {
        let spec = try SuiteSpec.read(suite)
        let choice = try precision ?? spec.recipe.precision.map {
            guard let c = PrecisionChoice(rawValue: $0) else { throw TriageError.badInput("suite.json: precision must be auto, bf16 or fp32, not \($0)") }
            return c
        } ?? .auto
        let precision: Precision
        do { precision = try MixedPrecision.resolve(choice) } catch { throw TriageError.badInput("\(error)") }
        log("products in \(precision.rawValue)" + (precision == .bf16 ? " (\(MixedPrecision.kernel.rawValue))" : ""))
        ComputeThreads.set(spec.recipe.threads)
        let config = spec.recipe.config
        let data = try spec.experts.map { try ExpertData(suite: suite, entry: $0, config: config) }
        // A --only run retrains the named experts from the base as it is; the base itself is retrained only when
        // its recipe or data changed, or on a full --force run.
        let base = try (spec.recipe.baseSteps ?? 0) > 0
            ? trainBase(suite: suite, spec: spec, data: data, config: config, force: force && only == nil, precision: precision, observer: observer, log: log) : nil
        let minutes = try expertMinutes(spec: spec, base: base?.base)
        if let minutes { log(String(format: "each expert: %.2f minutes of training (budget %.2f minutes, base share %.2f)", minutes, spec.recipe.budgetMinutes!, spec.recipe.budgetMinutes! - minutes)) }
        for d in data where only == nil || only!.contains(d.entry.name) {
            let (e, dir, train, valid, test) = (d.entry, d.dir, d.train, d.valid, d.test)
            let opts = options(spec.recipe, maxOutput: d.maxOutput, minutes: minutes, precision: precision)
            if !force, let old = try? ExpertFolder.read(dir), old.manifest.training.map({ sameRecipe($0.options, opts) }) == true, old.manifest.dataSHA256 == d.shas,
               old.manifest.training?.record != nil, old.manifest.training?.base == base?.base {
                log("\(e.name): up to date (trained with this recipe and data), skipped")
                var m = old.manifest
                m.source = provenance(dir)
                m.description = e.description
                m.task = e.task
                if m != old.manifest { try AtomicFile.write(try m.encoded(), to: dir + "/expert.json") }
                try ExpertReadme.write(manifest: m, folder: dir, train: train, valid: valid, test: test)
                continue
            }
            log("\(e.name): \(train.count) train, \(valid.count) valid, \(test.count) test; "
                + (minutes.map { String(format: "%.2f minutes", $0) } ?? "\(spec.recipe.steps) steps")
                + (base != nil ? " from the shared base" : ""))
            let model = try base.map { try Transformer.load(try SafeTensors.read(data: $0.weights), origin: "\(suite)/\(SharedBase.directoryName)") }
                ?? spec.recipe.freshModel()
            let progress = observer(e.name)
            let run = TrainingRun(folder: dir, checkpointName: ".checkpoint.safetensors")
            let record = try run.train(model, train: train, validation: valid, options: opts, observer: progress)
            let decoder = ExpertDecoder(model: model)
            let t0 = MonotonicClock.now()
            let answers = try decoder.answer(test.map(\.input), maxOutputBytes: d.maxOutput)
            var metrics = Scoring.metrics(predictions: answers, references: test.map(\.output), metric: e.metric)
            metrics.validationExactMatch = record.bestValidationAccuracy
            log(String(format: "%@: test exact match %.2f%%%@ (%d examples, %.1f s to evaluate)", e.name, 100 * metrics.exactMatch,
                       metrics.phoneErrorRate.map { String(format: ", phone error rate %.2f%%, word error rate %.2f%%", 100 * $0, 100 * (metrics.wordErrorRate ?? 0)) } ?? "",
                       test.count, MonotonicClock.now() - t0))
            let dtype = SafeTensors.DType(rawValue: spec.recipe.weightsDType) ?? .f32
            try model.save(to: dir + "/weights.safetensors", name: e.name, dtype: dtype)
            var m = ExpertManifest(name: e.name, description: e.description, task: e.task, config: config, maxOutputBytes: d.maxOutput,
                                   data: ExpertData.files, metric: e.metric)
            m.weightsSHA256 = try SHA256.hex(ofFile: dir + "/weights.safetensors")
            m.weightsDType = dtype.rawValue
            m.dataSHA256 = d.shas
            m.training = .init(options: opts, record: record, initialWeightsSHA256: base?.base.weightsSHA256, base: base?.base)
            m.metrics = metrics
            m.source = provenance(dir)
            m.calibration = try Engine.fitCalibration(decoder: decoder, validation: valid, maxOutputBytes: d.maxOutput)
            try AtomicFile.write(try m.encoded(), to: dir + "/expert.json")
            try ExpertReadme.write(manifest: m, folder: dir, train: train, valid: valid, test: test)
            run.removeCheckpoints()
        }
        try trainRouter(suite: suite, spec: spec, data: data, log: log)
    }

    /// What an expert's own training may take of the recipe's `budget_minutes` once the shared base's share
    /// is counted; nil when the recipe budgets in steps.
    static func expertMinutes(spec: SuiteSpec, base: SharedBase?) throws -> Double? {
        guard let budget = spec.recipe.budgetMinutes else { return nil }
        let share = (base?.record.seconds ?? 0) / 60 / Double(max(1, spec.experts.count))
        guard budget - share >= 0.5 else {
            throw TriageError.badInput(String(format: "suite.json: budget_minutes %.2f leaves under half a minute per expert after the shared base's share (%.2f minutes); raise it or lower base_steps", budget, share))
        }
        return budget - share
    }

    /// Trains (or finds up to date) the suite's shared base in `suite/_base/`: the recipe's config, optimizer
    /// and schedule, `base_steps` steps on the balanced mixture of every expert's training data.
    static func trainBase(suite: String, spec: SuiteSpec, data: [ExpertData], config: ExpertConfig, force: Bool,
                          precision: Precision, observer: (String) -> TrainingObserver?, log: (String) -> Void) throws -> (base: SharedBase, weights: Data) {
        let dir = suite + "/" + SharedBase.directoryName
        let shas = Dictionary(uniqueKeysWithValues: data.map { ($0.entry.name, $0.shas[.train]!) })
        let opts = options(spec.recipe, maxOutput: data.map(\.maxOutput).max() ?? 0, steps: spec.recipe.baseSteps!, precision: precision)
        let trainSets = data.map(\.train)
        if !force, let old = try SharedBase.read(dir), sameRecipe(old.base.options, opts), old.base.trainDataSHA256 == shas {
            log("shared base: up to date (trained with this recipe and data), skipped")
            try ExpertReadme.writeBase(old.base, config: config, examples: BalancedMixture.size(trainSets), folder: dir)
            return old
        }
        let mixture = BalancedMixture.training(trainSets)
        let valid = BalancedMixture.validation(data.map(\.valid), total: opts.validationExamples)
        log("shared base: \(opts.steps!) steps on \(mixture.count) examples (the \(spec.experts.count) experts' training data, balanced)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let model = try spec.recipe.freshModel()
        let progress = observer("base")
        let run = TrainingRun(folder: dir, checkpointName: ".checkpoint.safetensors")
        let record = try run.train(model, train: mixture, validation: valid, options: opts, observer: progress)
        let dtype = SafeTensors.DType(rawValue: spec.recipe.weightsDType) ?? .f32
        try model.save(to: dir + "/" + SharedBase.weightsName, name: "suite-base", dtype: dtype)
        guard let weights = FileManager.default.contents(atPath: dir + "/" + SharedBase.weightsName) else { throw TriageError.notFound("\(dir)/\(SharedBase.weightsName) vanished") }
        let base = SharedBase(weightsSHA256: SHA256.hex(of: weights), options: opts, record: record, trainDataSHA256: shas)
        try base.write(to: dir)
        try ExpertReadme.writeBase(base, config: config, examples: mixture.count, folder: dir)
        log(String(format: "shared base: %.1f minutes, validation exact match %.1f%% (all tasks)", record.seconds / 60, 100 * record.bestValidationAccuracy))
        run.removeCheckpoints()
        return (base, weights)
    }

    /// A finished run's checkpoint and its best-weights companion (the trainer's files, not shipped).

    /// The data's source and licence from the generator's `source.json`, flattened to `source.*` / `licence.*` strings.
    static func provenance(_ dir: String) -> [String: String]? {
        guard let src = FileManager.default.contents(atPath: dir + "/source.json"),
              let obj = (try? JSONSerialization.jsonObject(with: src)) as? [String: Any] else { return nil }
        var out = [String: String]()
        for section in ["source", "licence"] {
            guard let d = obj[section] as? [String: Any] else { continue }
            for (k, v) in d where v is String || v is NSNumber { out["\(section).\(k)"] = "\(v)" }
        }
        out["details"] = "source.json"
        return out
    }

    /// Fits every (or `only` these) expert's answer-confidence calibration on its `valid.jsonl` with its
    /// shipped weights and writes it into `expert.json`; nothing else in the folder changes.
    public static func calibrate(suite: String, only: Set<String>? = nil, log: (String) -> Void) throws {
        let spec = try SuiteSpec.read(suite)
        for e in spec.experts where only == nil || only!.contains(e.name) {
            let dir = suite + "/" + e.name
            let folder = try ExpertFolder.read(dir)
            guard let validPath = folder.dataPath(.valid) else { log("\(e.name): no valid.jsonl, not calibrated"); continue }
            let valid = try ExampleReader.read(path: validPath).examples
            let model = try Transformer.load(from: folder.weightsPath)
            var m = folder.manifest
            let t0 = MonotonicClock.now()
            m.calibration = try Engine.fitCalibration(decoder: ExpertDecoder(model: model), validation: valid,
                                                      maxOutputBytes: m.maxOutputBytes, minConfidence: m.calibration?.minConfidence)
            try AtomicFile.write(try m.encoded(), to: dir + "/expert.json")
            if let c = m.calibration {
                log(String(format: "%@: calibrated on %d validation examples (accuracy %.1f%%, AUROC %@, ECE %.3f), %.1f s", e.name, c.n,
                           100 * c.validationAccuracy, c.validationAUROC.map { String(format: "%.3f", $0) } ?? "-", c.validationECE ?? 0,
                           MonotonicClock.now() - t0))
            }
        }
    }

    /// The router for the whole suite, shipped in `Experts/_router/` so a first run needs no training.
    public static func trainRouter(suite: String, spec: SuiteSpec, log: (String) -> Void) throws {
        try trainRouter(suite: suite, spec: spec, data: nil, log: log)
    }

    /// `data`: the experts' files when the caller has read them already (`train`), else they are read here.
    static func trainRouter(suite: String, spec: SuiteSpec, data: [ExpertData]?, log: (String) -> Void) throws {
        var train = [(input: String, expert: String)](), valid = [(input: String, expert: String)]()
        for e in spec.experts {
            let dir = suite + "/" + e.name
            guard FileManager.default.fileExists(atPath: dir + "/weights.safetensors") else { continue }
            let read = data?.first { $0.entry.name == e.name }
            train += try (read?.train ?? ExampleReader.read(path: dir + "/train.jsonl").examples).map { ($0.input, e.name) }
            valid += try (read?.valid ?? ExampleReader.read(path: dir + "/valid.jsonl").examples).map { ($0.input, e.name) }
        }
        let background = try ExampleReader.read(path: suite + "/_background/background.jsonl", requireOutput: false).examples.map(\.input)
        let (model, metrics) = try RouterTrainer.train(examples: train, validation: valid, background: background, config: RouterConfig())
        try FileManager.default.createDirectory(atPath: suite + "/_router", withIntermediateDirectories: true)
        try model.save(to: suite + "/_router/router.safetensors")
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(metrics) + Data("\n".utf8), to: suite + "/_router/metrics.json")
        log(String(format: "suite router: %d experts, validation accuracy %.2f%%, threshold %.3f (%@), %.1f s",
                   model.experts.count, 100 * metrics.validationAccuracy, metrics.threshold, metrics.thresholdMethod, metrics.trainSeconds))
    }
}
