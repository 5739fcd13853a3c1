import Foundation
import TriageEngine
import ExpertModel
import Registry
import Router
import TensorCore

/// `triage compare`: routed narrow experts against one model trained on everything at equal compute.
public enum CompareSystem: String, CaseIterable, Codable, CodingKeyRepresentable, Sendable {
    case routed, oracle, singleSameSize = "single_same_size", singleSameParams = "single_same_params"
}

/// The score of one system on one task (or overall).
public struct SystemScore: Codable {
    public var exactMatch: Double
    public var phoneErrorRate: Double?
    public var wordErrorRate: Double?
    /// Overall rows only: exact match over all examples (the `exact_match` there is the mean over tasks).
    public var exactMatchAllExamples: Double?
    public var params: Int?
    public var trainFLOPs: Double?
    public var trainCPUSeconds: Double?
    public var medianMs: Double?
    enum CodingKeys: String, CodingKey {
        case exactMatch = "exact_match", phoneErrorRate = "phone_error_rate", wordErrorRate = "word_error_rate"
        case exactMatchAllExamples = "exact_match_all_examples", params, trainFLOPs = "train_flops"
        case trainCPUSeconds = "train_cpu_seconds", medianMs = "median_ms"
    }
}

/// What `triage compare` reports: per task, overall, and the baselines used.
public struct CompareReport: Codable {
    /// One expert's test set, scored by every system.
    public struct Task: Codable {
        public var task: String
        public var n: Int
        public var routerAccuracy: Double
        public var metric: String?
        public var systems: [CompareSystem: SystemScore]
        enum CodingKeys: String, CodingKey { case task, n, metric, systems, routerAccuracy = "router_accuracy" }
    }
    /// Means over the tasks (and over all examples).
    public struct Overall: Codable {
        public var n: Int
        public var routerAccuracy: Double
        public var systems: [CompareSystem: SystemScore]
        enum CodingKeys: String, CodingKey { case n, systems, routerAccuracy = "router_accuracy" }
    }
    /// A single model trained on everything, and what it cost.
    public struct Baseline: Codable {
        public var name: String
        public var config: ExpertConfig
        public var params: Int
        public var steps: Int
        public var batchSize: Int
        public var trainFLOPs: Double
        public var trainSeconds: Double
        public var note: String
        enum CodingKeys: String, CodingKey {
            case name, config, params, steps, note, batchSize = "batch_size", trainFLOPs = "train_flops", trainSeconds = "train_seconds"
        }
    }
    public var tasks: [Task]
    public var overall: Overall
    public var baselines: [Baseline]
    /// Test inputs found in any system's training data (always 0: compare refuses otherwise).
    public var testTrainOverlap: Int
    enum CodingKeys: String, CodingKey { case tasks, overall, baselines, testTrainOverlap = "test_train_overlap" }
}

/// How a baseline is trained: everything derived from the experts' own records.
public struct BaselinePlan: Codable, Equatable {
    public var name: String
    public var config: ExpertConfig
    public var options: TrainingOptions
    /// Training FLOPs the plan spends (forward+backward, per `ExpertConfig.trainingFLOPsPerToken`).
    public var plannedFLOPs: Double
    public var expertSet: [String]

    /// What one expert's training cost, as its manifest records it.
    public struct ExpertCompute {
        public var name: String
        public var config: ExpertConfig
        public var options: TrainingOptions
        public var record: TrainingRecord
        /// The shared base it started from: its cost counts once however many experts share it.
        public var base: SharedBase?
        /// An expert's training cost.
        public init(name: String, config: ExpertConfig, options: TrainingOptions, record: TrainingRecord, base: SharedBase? = nil) {
            (self.name, self.config, self.options, self.record, self.base) = (name, config, options, record, base)
        }
    }

    /// The distinct shared bases the experts started from.
    static func bases(_ experts: [ExpertCompute]) -> [SharedBase] {
        var seen = Set<String>()
        return experts.compactMap(\.base).filter { seen.insert($0.weightsSHA256).inserted }
    }

    /// The steps (at the experts' batch size) and FLOPs the experts cost together, shared bases counted once.
    static func total(_ experts: [ExpertCompute]) -> (steps: Int, flops: Double) {
        let batch = experts[0].options.batchSize
        var steps = experts.reduce(0) { $0 + $1.record.steps }, flops = experts.reduce(0.0) { $0 + $1.record.flops }
        for b in bases(experts) {
            steps += Int((Double(b.record.steps * b.options.batchSize) / Double(batch)).rounded())
            flops += b.record.flops
        }
        return (steps, flops)
    }

    /// Same config as the experts, the sum of their steps (and of any shared base's) at their batch size.
    public static func sameSize(experts: [ExpertCompute]) -> BaselinePlan {
        let first = experts[0]
        var o = first.options
        let cost = total(experts)
        o.steps = cost.steps
        o.minutes = nil
        o.maxOutputBytes = experts.map(\.options.maxOutputBytes).max()!
        o.validateEvery = max(250, o.steps! / 10)
        o.checkpointEvery = max(250, o.steps! / 20)
        return BaselinePlan(name: "single-same-size", config: first.config, options: o,
                            plannedFLOPs: cost.flops, expertSet: experts.map(\.name).sorted())
    }

    /// Whether a baseline trained for `other` serves this plan: the same model, options and experts, and
    /// planned FLOPs within 2%. The steps are what make compute equal; the planned FLOPs move by a fraction
    /// of a percent with how the experts' batches happened to pad, and must not force an hour of retraining.
    public func matches(_ other: BaselinePlan) -> Bool {
        var a = self, b = other
        (a.plannedFLOPs, b.plannedFLOPs) = (0, 0)
        // The products' precision changes how fast a plan runs, not what it trains.
        (a.options.precision, b.options.precision) = (nil, nil)
        return a == b && abs(plannedFLOPs - other.plannedFLOPs) <= 0.02 * max(plannedFLOPs, other.plannedFLOPs)
    }

    /// A larger model whose parameter count is closest to the experts' sum, trained with the same FLOPs:
    /// steps = Σ expert steps × (FLOPs per token of an expert ÷ FLOPs per token of the larger model).
    public static func sameParams(experts: [ExpertCompute]) -> BaselinePlan {
        let small = sameSize(experts: experts)
        let target = experts.reduce(0) { $0 + $1.config.parameterCount }
        let ctx = small.config.context
        var best = small.config
        for layers in 2...12 {
            for d in stride(from: 64, through: 1024, by: 32) where d % 32 == 0 {
                let c = ExpertConfig(dModel: d, nLayers: layers, nHeads: d / 32, dFF: 4 * d, context: ctx)
                    .with(positions: small.config.positions, qkNorm: small.config.qkNorm, activation: small.config.activation)
                if abs(c.parameterCount - target) < abs(best.parameterCount - target) { best = c }
            }
        }
        let t = ctx / 2
        let ratio = small.config.trainingFLOPsPerToken(sequenceLength: t) / best.trainingFLOPsPerToken(sequenceLength: t)
        var o = small.options
        o.steps = max(1, Int((Double(small.options.steps!) * ratio).rounded()))
        o.validateEvery = max(250, o.steps! / 10)
        o.checkpointEvery = max(250, o.steps! / 20)
        return BaselinePlan(name: "single-same-params", config: best, options: o, plannedFLOPs: small.plannedFLOPs, expertSet: small.expertSet)
    }
}

extension Engine {
    struct ExpertForCompare {
        var record: ExpertRecord
        var manifest: ExpertManifest
        var training: TrainingRecord
        var options: TrainingOptions
        var train: [Example]
        var valid: [Example]
        var test: [Example]
    }

    func compareInputs(names: [String]?) throws -> [ExpertForCompare] {
        let all = try registry.listExperts().filter { Engine.kind(of: $0) == .task }  // completion experts: `compare --completion`
        let chosen = names.map { n in all.filter { n.contains($0.name) } } ?? all
        if let names { for n in names where !all.contains(where: { $0.name == n }) { throw TriageError.notFound("no expert named '\(n)'") } }
        guard chosen.count >= 2 else { throw TriageError.badInput("compare needs at least two registered experts (found \(chosen.count))") }
        return try chosen.map { r in
            guard let js = r.manifestJSON else { throw TriageError.corrupt("expert '\(r.name)' has no manifest") }
            let m = try ExpertManifest.decode(Data(js.utf8), origin: "expert '\(r.name)'")
            guard let tr = m.training, let rec = tr.record else {
                throw TriageError.badInput("expert '\(r.name)' has no training record, so equal compute cannot be worked out")
            }
            func read(_ role: DataRole) throws -> [Example] {
                guard let d = try registry.loadData(of: r, role: role) else { return [] }
                return try ExampleReader.read(data: d, name: "\(r.name) \(role.rawValue) data").examples
            }
            return ExpertForCompare(record: r, manifest: m, training: rec, options: tr.options, train: try read(.train),
                                    valid: try read(.valid), test: try read(.test))
        }
    }

    /// Trains (or reuses) a baseline: a balanced mixture of every expert's training data, the plan's config and steps.
    func baseline(_ plan: BaselinePlan, experts: [ExpertForCompare], retrain: Bool, precision: Precision, observer: TrainingObserver?,
                  log: (String) -> Void) throws -> (Transformer, TrainingRecord) {
        if !retrain {
            if let found = try storedBaseline(try registry.baseline(named: plan.name), for: plan) { return found }
            if let shipped = try importShippedBaseline(plan), let found = try storedBaseline(shipped, for: plan) {
                log("\(plan.name): using the baseline shipped with the suite (\(ShippedBaseline.directoryName)/\(plan.name))")
                return found
            }
        }
        let mixture = BalancedMixture.training(experts.map(\.train))
        let valid = BalancedMixture.validation(experts.map(\.valid), total: plan.options.validationExamples)
        log("\(plan.name): \(plan.config.parameterCount) parameters, \(plan.options.steps!) steps at batch \(plan.options.batchSize), "
            + String(format: "%.3g", plan.plannedFLOPs) + " FLOPs, \(mixture.count) training examples (balanced)")
        let run = run(named: plan.name)
        let model = try Transformer(config: plan.config, seed: plan.options.seed, zeroOutputProjections: plan.options.zeroOutputProjections ?? false)
        var options = plan.options
        options.precision = precision
        let record = try run.train(model, train: mixture, validation: valid, options: options, observer: observer)
        try keepBaseline(model, record: record, plan: plan, run: run)
        return (model, record)
    }

    /// A stored baseline's model and record, if it was trained for exactly `plan`.
    func storedBaseline(_ b: BaselineRecord?, for plan: BaselinePlan) throws -> (Transformer, TrainingRecord)? {
        guard let b, let js = b.configJSON, let stored = try? JSONDecoder().decode(BaselinePlan.self, from: Data(js.utf8)),
              stored.matches(plan), let data = try registry.loadWeights(of: b), let tj = b.trainingJSON,
              let rec = try? JSONDecoder().decode(TrainingRecord.self, from: Data(tj.utf8)) else { return nil }
        return (try Transformer.load(try SafeTensors.read(data: data), origin: "baseline \(plan.name)"), rec)
    }

    /// Stores a trained baseline in the registry (so later comparisons reuse it) and removes its run folder.
    func keepBaseline(_ model: Transformer, record: TrainingRecord, plan: BaselinePlan, run: TrainingRun) throws {
        let ref = try storeWeights(model, of: run, name: plan.name)
        try registry.putBaseline(BaselineRecord(name: plan.name, configJSON: try JSONOutput.line(plan), metricsJSON: nil,
                                                trainingJSON: try JSONOutput.line(record), expertSet: plan.expertSet), weights: ref)
        run.removeFolder()
    }

    /// What each expert's training cost, as `BaselinePlan` needs it.
    static func computeSpec(_ experts: [ExpertForCompare]) -> [BaselinePlan.ExpertCompute] {
        experts.map { BaselinePlan.ExpertCompute(name: $0.record.name, config: $0.manifest.config, options: $0.options,
                                                 record: $0.training, base: $0.manifest.training?.base) }
    }

    /// The two single-model baselines, in the order the report lists them.
    static func baselinePlans(_ spec: [BaselinePlan.ExpertCompute]) -> [BaselinePlan] {
        [BaselinePlan.sameSize(experts: spec), BaselinePlan.sameParams(experts: spec)]
    }

    /// The baselines named (all of them for nil), in report order; an unknown name is an error that lists the known ones.
    static func baselinePlans(_ spec: [BaselinePlan.ExpertCompute], named names: [String]?) throws -> [BaselinePlan] {
        let plans = baselinePlans(spec)
        guard let names else { return plans }
        for n in names where !plans.contains(where: { $0.name == n }) {
            throw TriageError.badInput("no baseline named '\(n)' (baselines: \(plans.map(\.name).joined(separator: ", ")))")
        }
        return plans.filter { names.contains($0.name) }
    }

    /// Trains (or reuses) only the named baselines and stores them, without scoring anything. The two
    /// baselines are independent, so on a machine with cores to spare two processes (one baseline each,
    /// one thread each) finish sooner than one process training them in turn; a later `compare` on the
    /// same registry then reuses both.
    public func trainBaselines(_ names: [String], experts expertNames: [String]? = nil, retrain: Bool = false, precision: Precision = .fp32,
                               observer: (String) -> TrainingObserver?, log: (String) -> Void) throws -> [CompareReport.Baseline] {
        let experts = try compareInputs(names: expertNames)
        return try Self.baselinePlans(Self.computeSpec(experts), named: names).map { plan in
            let (m, r) = try baseline(plan, experts: experts, retrain: retrain, precision: precision, observer: observer(plan.name), log: log)
            return CompareReport.Baseline(name: plan.name, config: plan.config, params: m.config.parameterCount, steps: r.steps,
                                          batchSize: plan.options.batchSize, trainFLOPs: r.flops, trainSeconds: r.seconds,
                                          note: "trained for \(plan.expertSet.count) experts")
        }
    }

    /// Runs the comparison on each expert's test set, or on an evenly spaced subset of at most `limit`
    /// examples per task (test files may be sorted: pronounce's are alphabetical).
    /// `baselines` names the single models to score (default: both); the others are left out of the report,
    /// so a suite whose larger baseline is still to be trained can be compared with the one it has.
    public func compare(experts names: [String]? = nil, baselines baselineNames: [String]? = nil, retrain: Bool = false, limit: Int? = nil,
                        latencySamples: Int = 20, precision: Precision = .fp32,
                        observer: (String) -> TrainingObserver?, log: (String) -> Void) throws -> CompareReport {
        var experts = try compareInputs(names: names)
        if let limit {
            for i in experts.indices where experts[i].test.count > limit {
                let test = experts[i].test
                experts[i].test = (0..<limit).map { test[$0 * test.count / limit] }
            }
        }
        // Disjointness: no test input in any training set any system sees (the baselines train on their union).
        let trainInputs = Set(experts.flatMap { $0.train.map(\.input) })
        let overlap = experts.reduce(0) { $0 + $1.test.filter { trainInputs.contains($0.input) }.count }
        guard overlap == 0 else { throw TriageError.badInput("\(overlap) test inputs also appear in training data; compare refuses to score them") }

        let spec = Self.computeSpec(experts)
        let plans = try Self.baselinePlans(spec, named: baselineNames)
        var singles = [(Transformer, TrainingRecord, BaselinePlan)]()
        for plan in plans {
            let (m, r) = try baseline(plan, experts: experts, retrain: retrain, precision: precision, observer: observer(plan.name), log: log)
            singles.append((m, r, plan))
        }
        // One decoder per single model for the whole run: its buffers and weight transposes are reused.
        let singleDecoders = singles.map { ExpertDecoder(model: $0.0) }
        let singleKeys: [CompareSystem] = singles.map { $0.2.name == "single-same-size" ? .singleSameSize : .singleSameParams }
        // Answers of every system on every task.
        var tasks = [CompareReport.Task]()
        var allRight = [CompareSystem: Int](), total = 0, routedRightToExpert = 0
        var latencies = [CompareSystem: [Double]]()
        let scoringStart = MonotonicClock.now()
        for (k, e) in experts.enumerated() {
            let inputs = e.test.map(\.input), refs = e.test.map(\.output), maxOut = e.manifest.maxOutputBytes
            let oracle = try decoder(for: e.record).answer(inputs, maxOutputBytes: maxOut)
            // A request the router sends to its own expert gets exactly the oracle's answer (decoding does not
            // depend on the batch), so only the others are asked again, through the full routed path.
            let decisions = try route(inputs)
            let rightlyRouted = decisions.filter { $0.expert == e.record.name && !$0.abstained }.count
            let routerAcc = Double(rightlyRouted) / Double(max(1, inputs.count))
            routedRightToExpert += rightlyRouted
            let others = decisions.indices.filter { decisions[$0].expert != e.record.name || decisions[$0].abstained }
            var routed = oracle
            for (i, a) in zip(others, try ask(others.map { Request(input: inputs[$0]) })) {
                routed[i] = a.abstained && !a.fallback ? "" : (a.output ?? "")
            }
            var outputs: [CompareSystem: [String]] = [.routed: routed, .oracle: oracle]
            for i in singles.indices {
                let key = singleKeys[i]
                outputs[key] = try singleDecoders[i].answer(inputs, maxOutputBytes: maxOut)
            }
            var systems = [CompareSystem: SystemScore]()
            for (k, preds) in outputs {
                let m = Scoring.metrics(predictions: preds, references: refs, metric: e.manifest.metric)
                systems[k] = SystemScore(exactMatch: m.exactMatch, phoneErrorRate: m.phoneErrorRate, wordErrorRate: m.wordErrorRate)
                allRight[k, default: 0] += zip(preds, refs).filter { $0 == $1 }.count
            }
            total += inputs.count
            tasks.append(.init(task: e.record.name, n: inputs.count, routerAccuracy: routerAcc, metric: e.manifest.metric?.rawValue, systems: systems))
            // Scoring the larger baseline takes minutes on the full test sets: say where it is, with an estimate.
            let done = experts.prefix(k + 1).reduce(0) { $0 + $1.test.count }, all = experts.reduce(0) { $0 + $1.test.count }
            let elapsed = MonotonicClock.now() - scoringStart
            log(String(format: "scored %@ (%d/%d tasks, %d examples): %.0f s so far, about %.0f s to go", e.record.name, k + 1, experts.count,
                       inputs.count, elapsed, elapsed / Double(done) * Double(all - done)))
            // Latency: single requests, process-warm, a few per task.
            for input in inputs.prefix(latencySamples) {
                var t0 = MonotonicClock.now()
                _ = try ask([Request(input: input)])
                latencies[.routed, default: []].append((MonotonicClock.now() - t0) * 1e3)
                t0 = MonotonicClock.now()
                _ = try decoder(for: e.record).answer([input], maxOutputBytes: maxOut)
                latencies[.oracle, default: []].append((MonotonicClock.now() - t0) * 1e3)
                for i in singles.indices {
                    let key = singleKeys[i]
                    t0 = MonotonicClock.now()
                    _ = try singleDecoders[i].answer([input], maxOutputBytes: maxOut)
                    latencies[key, default: []].append((MonotonicClock.now() - t0) * 1e3)
                }
            }
        }
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        let expertParams = experts.reduce(0) { $0 + $1.manifest.config.parameterCount }
        let routerParams = (try? activeRouter()).flatMap { $0 }.map { $0.model.inputWeights.count + $0.model.outputWeights.count + $0.model.outputBias.count } ?? 0
        let bases = BaselinePlan.bases(spec)
        let expertFLOPs = BaselinePlan.total(spec).flops
        let expertCPU = experts.reduce(0.0) { $0 + $1.training.seconds * Double($1.training.threads) }
            + bases.reduce(0.0) { $0 + $1.record.seconds * Double($1.record.threads) }
        var overall = [CompareSystem: SystemScore]()
        for sys in CompareSystem.allCases where sys == .routed || sys == .oracle || singleKeys.contains(sys) {
            let k = sys
            var s = SystemScore(exactMatch: tasks.map { $0.systems[k]!.exactMatch }.reduce(0, +) / Double(tasks.count))
            s.exactMatchAllExamples = Double(allRight[k] ?? 0) / Double(max(1, total))
            s.medianMs = median(latencies[k] ?? [])
            switch sys {
            case .routed, .oracle:
                s.params = expertParams + (sys == .routed ? routerParams : 0)
                s.trainFLOPs = expertFLOPs
                s.trainCPUSeconds = expertCPU
            case .singleSameSize, .singleSameParams:
                let b = singles[singleKeys.firstIndex(of: sys)!]
                s.params = b.2.config.parameterCount
                s.trainFLOPs = b.1.flops
                s.trainCPUSeconds = b.1.seconds * Double(b.1.threads)
            }
            overall[k] = s
        }
        let baselines = singles.map { s in
            CompareReport.Baseline(name: s.2.name, config: s.2.config, params: s.2.config.parameterCount, steps: s.1.steps,
                                   batchSize: s.2.options.batchSize, trainFLOPs: s.1.flops, trainSeconds: s.1.seconds,
                                   note: s.2.name == "single-same-size"
                                       ? "the experts' config, the sum of their steps (\(s.2.options.steps!)) at their batch size"
                                         + (bases.isEmpty ? "" : ", their shared base's \(bases.map { String($0.record.steps) }.joined(separator: " + ")) included")
                                       : "parameters closest to the experts' sum (\(expertParams)); steps scaled so FLOPs match (\(String(format: "%.3g", s.2.plannedFLOPs)) planned)")
        }
        return CompareReport(tasks: tasks, overall: .init(n: total, routerAccuracy: Double(routedRightToExpert) / Double(max(1, total)), systems: overall),
                             baselines: baselines, testTrainOverlap: overlap)
    }
}
