import Foundation
import ExpertModel
import Registry
import Router
import TensorCore
import CKernels

/// How long `experts add` trains.
public enum TrainingBudget: Sendable, Equatable {
    case steps(Int)
    /// Wall-clock minutes: the trainer times its first steps and turns this into a step count.
    case minutes(Double)
}

/// What `experts add` needs.
public struct AddRequest: Sendable {
    /// The new expert's name.
    public var name: String
    /// Training data, JSONL.
    public var dataPath: String
    /// Validation data; split off the training data when nil.
    public var validPath: String?
    /// Test data; split off the training data when nil.
    public var testPath: String?
    /// The model size.
    public var preset: ExpertConfig.Preset = .tiny
    /// How long to train.
    public var budget: TrainingBudget
    /// Seeds initialisation and data order.
    public var seed: UInt64 = 1
    /// Architecture, initialisation, optimiser and schedule.
    public var recipe = Recipe.standard
    /// The precision of the products (`auto`: bf16 where the CPU has bf16 kernels).
    public var precision: PrecisionChoice = .auto
    /// What the expert does (default: the data file it was trained from).
    public var description: String?
    /// Skip (and report) malformed lines instead of stopping at the first.
    public var skipBadLines = false
    /// Replace an expert of the same name.
    public var replace = false
    /// Weights to start from instead of a random initialisation (fine-tuning); their config must be the preset's.
    public var initFrom: String?
    /// The expert's default minimum calibrated confidence: answers below it are declined as "not sure"
    /// unless `ask --min-confidence` says otherwise (nil: answer everything).
    public var minConfidence: Double?

    /// A request with the default recipe.
    public init(name: String, dataPath: String, budget: TrainingBudget) {
        self.name = name
        self.dataPath = dataPath
        self.budget = budget
    }

    /// The schedule a user's run trains with: warm-up, validation and checkpoints every tenth of a step
    /// budget (within bounds); a minutes budget keeps the trainer's defaults, since its step count is known
    /// only once the first steps are timed.
    public var options: TrainingOptions {
        var o: TrainingOptions
        switch budget {
        case .steps(let s):
            o = recipe.options(steps: s, seed: seed)
            o.validateEvery = max(50, s / 10)
            o.checkpointEvery = max(50, s / 10)
        case .minutes(let m):
            o = recipe.options(steps: nil, minutes: m, seed: seed)
        }
        o.precision = try? MixedPrecision.resolve(precision)
        return o
    }
}

/// What `experts add` reports.
public struct AddSummary: Codable {
    public var name: String
    public var version: Int
    public var parameters: Int
    public var trainExamples: Int
    public var validExamples: Int
    public var testExamples: Int
    /// Test-set accuracy.
    public var metrics: ExpertMetrics
    public var training: TrainingRecord
    /// The router registered with the expert.
    public var routerVersion: Int
    /// Malformed lines skipped (`--skip-bad-lines`).
    public var skippedLines: Int
    enum CodingKeys: String, CodingKey {
        case name, version, parameters, metrics, training, trainExamples = "train_examples", validExamples = "valid_examples"
        case testExamples = "test_examples", routerVersion = "router_version", skippedLines = "skipped_lines"
    }
}

extension Engine {
    /// `inputsOnly`: `{"input": …}` lines (a completion expert's router windows have no answers).
    static func jsonl(_ examples: [Example], inputsOnly: Bool = false) -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        for e in examples {
            out.append(inputsOnly ? try! enc.encode(["input": e.input]) : try! enc.encode(e))
            out.append(0x0A)
        }
        return out
    }

    /// Deterministic split by a hash of the input (duplicates of an input land together): 1/20 test
    /// (at most 2,000), 1/20 validation (at most 1,000), the rest training. Inputs over the caps are left out.
    static func split(_ examples: [Example]) -> (train: [Example], valid: [Example], test: [Example]) {
        var train = [Example](), valid = [Example](), test = [Example]()
        for e in examples {
            let h = Array(e.input.utf8).withUnsafeBufferPointer { tc_fnv1a64($0.baseAddress, $0.count) } % 20
            if h == 0 { if test.count < 2000 { test.append(e) } } else if h == 1 { if valid.count < 1000 { valid.append(e) } } else { train.append(e) }
        }
        return (train, valid, test)
    }

    /// Exact-match metrics (and the task's own metric) of an expert's greedy answers.
    package func score(decoder: ExpertDecoder, examples: [Example], maxOutputBytes: Int, metric: TaskMetric?) throws -> ExpertMetrics {
        let answers = try decoder.answer(examples.map(\.input), maxOutputBytes: maxOutputBytes)
        return Scoring.metrics(predictions: answers, references: examples.map(\.output), metric: metric)
    }

    /// Fits an expert's confidence calibration on its validation examples: decodes them, scores each
    /// answer (`AnswerConfidence.defaultScore`) and fits the isotonic map from score to right/wrong.
    /// Nil without validation examples.
    public static func fitCalibration(decoder: ExpertDecoder, validation: [Example], maxOutputBytes: Int,
                                      minConfidence: Double? = nil) throws -> ConfidenceCalibration? {
        guard !validation.isEmpty else { return nil }
        if let m = minConfidence, !(m >= 0 && m <= 1) { throw TriageError.badInput("--min-confidence must be in [0, 1], got \(m)") }
        let answers = try decoder.answerScored(validation.map(\.input), maxOutputBytes: maxOutputBytes)
        let kind = AnswerConfidence.defaultScore
        return ConfidenceCalibration.fit(scores: answers.map { AnswerConfidence.score($0.logProbs, kind: kind) },
                                         correct: zip(answers, validation).map { $0.text == $1.output }, kind: kind,
                                         minConfidence: minConfidence)
    }

    /// Validates the data, trains, evaluates, registers the expert with a retrained router, atomically.
    /// A killed run leaves the registry as it was; run again, it resumes from its last checkpoint.
    public func addExpert(_ req: AddRequest, observer: TrainingObserver?, log: (String) -> Void) throws -> AddSummary {
        try ExpertName.validate(req.name)
        if !req.replace, try registry.expert(named: req.name) != nil {
            throw TriageError.badInput("an expert named '\(req.name)' already exists (remove it first, or pass --replace)")
        }
        if let m = req.minConfidence, !(m >= 0 && m <= 1) { throw TriageError.badInput("--min-confidence must be in [0, 1], got \(m)") }
        let config = req.recipe.config(req.preset.config)
        do { _ = try MixedPrecision.resolve(req.precision) } catch { throw TriageError.badInput("\(error)") }
        let read = try ExampleReader.read(path: req.dataPath, context: config.context, skipBadLines: req.skipBadLines)
        for s in read.skipped { log("skipped \(s)") }
        var (train, valid, test) = (read.examples, [Example](), [Example]())
        if let v = req.validPath { valid = try ExampleReader.read(path: v, context: config.context).examples }
        if let t = req.testPath { test = try ExampleReader.read(path: t, context: config.context).examples }
        if req.validPath == nil || req.testPath == nil {
            let s = Engine.split(train)
            train = s.train
            if req.validPath == nil { valid = s.valid }
            if req.testPath == nil { test = s.test }
        }
        let heldOut = Set(test.map(\.input))
        train.removeAll { heldOut.contains($0.input) }  // no test input is ever trained on
        guard !train.isEmpty else { throw TriageError.badInput("\(req.dataPath): no training examples left after the validation/test split") }
        let maxOutput = min(config.context - 3, Int(Double(train.map { $0.output.utf8.count }.max() ?? 16) * 1.5) + 2)
        var options = req.options
        options.maxOutputBytes = maxOutput
        log("\(req.name): \(train.count) training, \(valid.count) validation, \(test.count) test examples; \(req.preset.rawValue) model, \(config.parameterCount) parameters")

        // Train in a run folder of the home; a rerun with the same data and options resumes from its checkpoint.
        let run = run(named: req.name)
        var initialSHA: String?
        let model: Transformer
        if let base = req.initFrom {
            guard let weights = FileManager.default.contents(atPath: base) else { throw TriageError.notFound("--init-from \(base): cannot read the file") }
            let file: SafeTensors.File
            do { file = try SafeTensors.read(data: weights) } catch { throw TriageError.badInput("--init-from \(base): \(error)") }
            model = try Transformer.load(file, origin: base)
            guard model.config == config else {
                throw TriageError.badInput("--init-from \(base): its model is d_model \(model.config.dModel), \(model.config.nLayers) layers, context \(model.config.context), not the \(req.preset.rawValue) preset's with this recipe's architecture; pass the matching --preset")
            }
            initialSHA = SHA256.hex(of: weights)
        } else {
            model = try Transformer(config: config, seed: options.seed, zeroOutputProjections: req.recipe.zeroOutputProjections)
        }
        let record = try run.train(model, train: train, validation: valid, options: options, observer: observer)
        try Failpoint.reach("train.done")
        let decoder = ExpertDecoder(model: model)
        let metrics = test.isEmpty ? ExpertMetrics(n: 0, exactMatch: 0) : try score(decoder: decoder, examples: test, maxOutputBytes: maxOutput, metric: nil)
        var manifest = ExpertManifest(name: req.name, description: req.description ?? "trained from \((req.dataPath as NSString).lastPathComponent)",
                                      config: config, maxOutputBytes: maxOutput,
                                      data: RoleFiles.standard)
        manifest.training = .init(options: options, record: record, initialWeightsSHA256: initialSHA)
        manifest.metrics = metrics
        manifest.metrics?.validationExactMatch = record.bestValidationAccuracy
        manifest.calibration = try Engine.fitCalibration(decoder: decoder, validation: valid, maxOutputBytes: maxOutput,
                                                         minConfidence: req.minConfidence)

        let weights = try storeWeights(model, of: run, name: req.name)
        var data = [DataRole: BlobRef]()
        data[.train] = try registry.blobs.put(Engine.jsonl(train))
        if !valid.isEmpty { data[.valid] = try registry.blobs.put(Engine.jsonl(valid)) }
        if !test.isEmpty { data[.test] = try registry.blobs.put(Engine.jsonl(test)) }
        let rec = try makeRecord(manifest: manifest, weights: weights)
        let newInputs = ExpertInputs(name: req.name, train: train.map(\.input), valid: valid.map(\.input))
        let stored = try withRouterRetry {
            let router = try trainRouter(registered: try registry.listExperts(), extra: [newInputs], log: log)
            return try registry.registerExpert(rec, weights: weights, data: data, router: router, replace: req.replace)
        }
        run.removeFolder()
        return AddSummary(name: req.name, version: stored.expert.version, parameters: config.parameterCount, trainExamples: train.count,
                          validExamples: valid.count, testExamples: test.count, metrics: metrics, training: record,
                          routerVersion: stored.router.version, skippedLines: read.skipped.count)
    }

    func makeRecord(manifest: ExpertManifest, weights: BlobRef) throws -> ExpertRecord {
        ExpertRecord(name: manifest.name, description: manifest.description, configJSON: try JSONOutput.line(manifest.config),
                     paramCount: manifest.config.parameterCount, maxOutputBytes: manifest.maxOutputBytes,
                     metricsJSON: try manifest.metrics.map { try JSONOutput.line($0) },
                     trainingJSON: try manifest.training?.record.map { try JSONOutput.line($0) },
                     manifestJSON: try JSONOutput.line(manifest))
    }

    /// Imports expert folders (the format of `Experts/NAME/`), checking every file, and registers them
    /// all with one router in one transaction. The suite's shipped router is used when it was trained
    /// for exactly the resulting set of experts; otherwise a router is trained.
    @discardableResult
    public func importExperts(_ paths: [String], replace: Bool = false, log: (String) -> Void) throws -> [ExpertSummary] {
        var items = [ExpertRegistration](), inputs = [ExpertInputs]()
        for path in paths {
            let folder = try ExpertFolder.read(path)
            if !replace, try registry.expert(named: folder.manifest.name) != nil {
                throw TriageError.badInput("an expert named '\(folder.manifest.name)' already exists (remove it first, or pass --replace)")
            }
            // The weights must load as the manifest's model, and every data file must read, before anything is stored.
            let contents = try folder.load(log: log)
            let m = contents.manifest
            let weights = try registry.blobs.put(fileAt: folder.weightsPath)
            var data = [DataRole: BlobRef]()
            for role in DataRole.allCases {
                guard let p = folder.dataPath(role) else { continue }
                data[role] = try registry.blobs.put(fileAt: p)
            }
            let train = contents.examples[.train]?.map(\.input) ?? [], valid = contents.examples[.valid]?.map(\.input) ?? []
            items.append(ExpertRegistration(record: try makeRecord(manifest: m, weights: weights), weights: weights, data: data))
            inputs.append(ExpertInputs(name: m.name, train: train, valid: valid))
        }
        guard !items.isEmpty else { return [] }
        let stored = try withRouterRetry { () -> [ExpertRecord] in
            let existing = try registry.listExperts()
            let finalSet = Set(existing.map(\.name) + items.map(\.record.name))
            let router = try shippedRouter(for: finalSet) ?? trainRouter(registered: existing, extra: inputs, log: log)
            return try registry.registerExperts(items, router: router, replace: replace).experts
        }
        return stored.map(ExpertSummary.init)
    }

    /// The suite's pre-trained router (`Experts/_router/`), if it was trained for exactly `experts`.
    func shippedRouter(for experts: Set<String>) throws -> RouterRecord? {
        guard let suite = suiteDirectory else { return nil }
        let path = suite + "/_router/router.safetensors"
        guard FileManager.default.fileExists(atPath: path), let model = try? RouterModel.load(from: path), Set(model.experts) == experts else { return nil }
        let ref = try registry.blobs.put(fileAt: path)
        let metrics = FileManager.default.contents(atPath: suite + "/_router/metrics.json").map { String(decoding: $0, as: UTF8.self) }
        return RouterRecord(expertSet: model.experts, weightsBlob: ref.sha256, metricsJSON: metrics)
    }

    /// Writes an expert as a folder that `import` reads back (manifest, weights, data).
    public func exportExpert(_ name: String, to dir: String) throws {
        let rec = try expertRecord(name)
        guard let js = rec.manifestJSON else { throw TriageError.corrupt("expert '\(name)' has no manifest in the registry") }
        var m = try ExpertManifest.decode(Data(js.utf8), origin: "expert '\(name)'")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let weights = try registry.loadWeights(of: rec)
        m.weights = "weights.safetensors"
        try AtomicFile.write(weights, to: dir + "/" + m.weights)
        m.weightsSHA256 = SHA256.hex(of: weights)
        m.data = [:]
        m.dataSHA256 = [:]
        for role in DataRole.allCases {
            guard let data = try registry.loadData(of: rec, role: role) else { continue }
            let file = "\(role.rawValue).jsonl"
            try AtomicFile.write(data, to: dir + "/" + file)
            m.data[role] = file
            m.dataSHA256?[role] = SHA256.hex(of: data)
        }
        try AtomicFile.write(try m.encoded(), to: dir + "/expert.json")
    }

    /// Removes an expert, atomically with the router retrained for the remaining ones.
    public func removeExpert(_ name: String, log: (String) -> Void) throws {
        _ = try expertRecord(name)
        try withRouterRetry {
            let remaining = try registry.listExperts().filter { $0.name != name }
            let router = remaining.isEmpty ? nil : try (shippedRouter(for: Set(remaining.map(\.name))) ?? trainRouter(registered: remaining, extra: [], log: log))
            try registry.removeExpert(name: name, newRouter: router)
        }
        if fallbackExpert == nil, (try? value(of: .fallback)) != nil { try? set(.fallback, to: nil) }
    }

    /// On first use with an empty registry, imports the shipped suite. Returns the imported names.
    public func bootstrapIfEmpty(log: (String) -> Void) throws -> [String] {
        guard try registry.expertNames().isEmpty, try value(of: .suiteImported) == nil,
              let suite = suiteDirectory else { return [] }
        let folders = SuiteLocator.expertFolders(in: suite)
        guard !folders.isEmpty else { return [] }
        log("first run: importing the shipped suite from \(suite) (\(folders.count) experts)…")
        let t0 = MonotonicClock.now()
        let stored = try importExperts(folders, log: log)
        try set(.suiteImported, to: "\(stored.count)")
        log(String(format: "imported %d experts in %.1f s", stored.count, MonotonicClock.now() - t0))
        return stored.map(\.name)
    }
}
