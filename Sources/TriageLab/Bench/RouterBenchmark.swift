import Foundation
import TriageEngine
import TensorCore
import Router

/// Trains a router on one `{input, expert}` file and scores it on another: accuracy, single-thread
/// routing throughput, training time, and (given out-of-distribution requests) how often it abstains on
/// them and how often it accepts real requests. The figures line up with shared/peers/router_baseline.py
/// (fastText) run on the same files.
public enum RouterBenchmark {
    /// Accuracy, abstention and speed of one router configuration, the fields `router_baseline.py` reports too.
    public struct Result: Codable, Sendable {
        /// Most probable expert == labelled expert, over the test file (no abstention; fastText's measure).
        public let accuracy: Double
        /// Routed to the labelled expert at the threshold (abstaining counts as a miss).
        public let accuracyRouted: Double
        /// `route` calls per second on one thread: every test input once per pass, best pass.
        public let requestsPerS: Double
        public let trainS: Double
        public let nTrain: Int
        public let nValid: Int
        public let nTest: Int
        /// Test inputs routed (not abstained on).
        public let acceptRateInDomain: Double
        /// The same, per expert.
        public let acceptRateByExpert: [String: Double]
        /// Most-probable-expert accuracy per expert.
        public let accuracyByExpert: [String: Double]
        public let abstainRateOOD: Double?
        public let abstainRateOODByKind: [String: Double]?
        public let nOOD: Int?
        public let backgroundRejectRate: Double?
        public let threshold: Float
        public let thresholdMethod: String
        public let validationAccuracy: Double
        public let experts: [String]
        public let config: RouterConfig
        public let passes: Int
        /// Near-domain requests (`--near`, never trained on): abstained share, per kind and per module,
        /// with the novelty check and without it (the same model).
        public var abstainRateNear: Double?
        public var abstainRateNearByKind: [String: Double]?
        public var abstainRateNearByModule: [String: Double]?
        public var nNear: Int?
        public var abstainRateNearByKindNoNovelty: [String: Double]?
        /// The in-domain accept rate and the OOD abstain rate without the novelty check.
        public var acceptRateInDomainNoNovelty: Double?
        public var abstainRateOODNoNovelty: Double?
        /// Novelty thresholds per expert, when the router has them.
        public var noveltyThresholds: [String: Float]?

        enum CodingKeys: String, CodingKey {
            case accuracy, accuracyRouted = "accuracy_routed", requestsPerS = "requests_per_s", trainS = "train_s",
                 nTrain = "n_train", nValid = "n_valid", nTest = "n_test", acceptRateInDomain = "accept_rate_in_domain",
                 acceptRateByExpert = "accept_rate_by_expert", accuracyByExpert = "accuracy_by_expert",
                 abstainRateOOD = "abstain_rate_ood", abstainRateOODByKind = "abstain_rate_ood_by_kind", nOOD = "n_ood",
                 backgroundRejectRate = "background_reject_rate", threshold, thresholdMethod = "threshold_method",
                 validationAccuracy = "validation_accuracy", experts, config, passes
            case abstainRateNear = "abstain_rate_near", abstainRateNearByKind = "abstain_rate_near_by_kind",
                 abstainRateNearByModule = "abstain_rate_near_by_module", nNear = "n_near",
                 abstainRateNearByKindNoNovelty = "abstain_rate_near_by_kind_no_novelty",
                 acceptRateInDomainNoNovelty = "accept_rate_in_domain_no_novelty", abstainRateOODNoNovelty = "abstain_rate_ood_no_novelty",
                 noveltyThresholds = "novelty_thresholds"
        }
    }

    /// - Parameters:
    ///   - validPath: validation pairs for the threshold; without it every 20th training line is held out.
    ///   - backgroundPath: `{"input"}` lines that train the background class.
    ///   - savePath: where to write the trained router, if anywhere.
    ///   - nearBackgroundPath: near-domain `{"input"}` lines that join the background class (training).
    ///   - nearPath: near-domain requests `{"input", "kind", "module"}` to measure abstention on (never trained on).
    public static func run(trainPath: String, testPath: String, validPath: String? = nil, oodPath: String? = nil,
                           backgroundPath: String? = nil, nearBackgroundPath: String? = nil, nearPath: String? = nil,
                           config: RouterConfig, passes: Int = 5, savePath: String? = nil) throws -> Result {
        var train = try RouterData.readPairs(trainPath).map { (input: $0.input, expert: $0.expert) }
        var valid: [(input: String, expert: String)]
        if let validPath {
            valid = try RouterData.readPairs(validPath).map { (input: $0.input, expert: $0.expert) }
        } else {
            valid = train.enumerated().filter { $0.offset % 20 == 19 }.map(\.element)
            train = train.enumerated().filter { $0.offset % 20 != 19 }.map(\.element)
        }
        let test = try RouterData.readPairs(testPath)
        let background = try backgroundPath.map { try RouterData.readLines($0).map(\.input) } ?? []
        let ood = try oodPath.map(RouterData.readLines)
        let nearBackground = try nearBackgroundPath.map { try RouterData.readLines($0).map(\.input) } ?? []
        let near = try nearPath.map(RouterData.readLines)

        let (model, metrics) = try RouterTrainer.train(examples: train, validation: valid, background: background,
                                                       nearDomain: nearBackground, config: config)
        if let savePath { try model.save(to: savePath) }

        var correct = 0, routedCorrect = 0, accepted = 0
        var perExpert = [String: (n: Int, correct: Int, accepted: Int)]()
        for t in test {
            let d = model.route(t.input)
            let right = d.top.first?.expert == t.expert
            if right { correct += 1 }
            if !d.abstained {
                accepted += 1
                if d.expert == t.expert { routedCorrect += 1 }
            }
            perExpert[t.expert, default: (0, 0, 0)].n += 1
            perExpert[t.expert, default: (0, 0, 0)].correct += right ? 1 : 0
            perExpert[t.expert, default: (0, 0, 0)].accepted += d.abstained ? 0 : 1
        }
        let texts = test.map(\.input)
        var best = Double.infinity
        var sink = 0
        for _ in 0..<max(1, passes) {
            let t0 = MonotonicClock.now()
            for s in texts where model.route(s).abstained { sink += 1 }
            best = min(best, MonotonicClock.now() - t0)
        }
        if sink < 0 { print(sink) }  // keeps the loop's work observable

        var oodRate: Double? = nil, byKind: [String: Double]? = nil
        if let ood, !ood.isEmpty {
            let abstained = ood.map { model.route($0.input).abstained }
            oodRate = Double(abstained.filter { $0 }.count) / Double(ood.count)
            var kinds = [String: (Int, Int)]()
            for (line, a) in zip(ood, abstained) {
                let k = line.kind ?? "unlabelled"
                kinds[k, default: (0, 0)].0 += a ? 1 : 0
                kinds[k, default: (0, 0)].1 += 1
            }
            byKind = kinds.mapValues { Double($0.0) / Double($0.1) }
        }
        let n = Double(max(1, test.count))
        func rates(_ lines: [RouterData.Line], novelty: Bool, key: (RouterData.Line) -> String) -> (Double, [String: Double]) {
            var groups = [String: (Int, Int)]()
            var all = 0
            for l in lines {
                let a = model.route(l.input, top: 0, checkNovelty: novelty).abstained
                all += a ? 1 : 0
                groups[key(l), default: (0, 0)].0 += a ? 1 : 0
                groups[key(l), default: (0, 0)].1 += 1
            }
            return (Double(all) / Double(max(1, lines.count)), groups.mapValues { Double($0.0) / Double($0.1) })
        }
        let acceptNoNovelty = Double(test.filter { !model.route($0.input, top: 0, checkNovelty: false).abstained }.count) / n
        var result = Result(accuracy: Double(correct) / n, accuracyRouted: Double(routedCorrect) / n,
                      requestsPerS: Double(texts.count) / best, trainS: metrics.trainSeconds,
                      nTrain: metrics.trainExamples, nValid: valid.count, nTest: test.count,
                      acceptRateInDomain: Double(accepted) / n,
                      acceptRateByExpert: perExpert.mapValues { Double($0.accepted) / Double($0.n) },
                      accuracyByExpert: perExpert.mapValues { Double($0.correct) / Double($0.n) }, abstainRateOOD: oodRate, abstainRateOODByKind: byKind,
                      nOOD: ood?.count, backgroundRejectRate: metrics.backgroundRejectRate, threshold: metrics.threshold,
                      thresholdMethod: metrics.thresholdMethod, validationAccuracy: metrics.validationAccuracy,
                      experts: metrics.experts, config: config, passes: max(1, passes))
        result.acceptRateInDomainNoNovelty = acceptNoNovelty
        result.noveltyThresholds = metrics.noveltyThresholds
        if let ood, !ood.isEmpty { result.abstainRateOODNoNovelty = rates(ood, novelty: false) { _ in "" }.0 }
        if let near, !near.isEmpty {
            let (all, byKind) = rates(near, novelty: true) { $0.kind ?? "unlabelled" }
            result.abstainRateNear = all
            result.abstainRateNearByKind = byKind
            result.abstainRateNearByModule = rates(near, novelty: true) { $0.module ?? $0.kind ?? "unlabelled" }.1
            result.abstainRateNearByKindNoNovelty = rates(near, novelty: false) { $0.kind ?? "unlabelled" }.1
            result.nNear = near.count
        }
        return result
    }
}

extension RouterBenchmark {
    /// The router hyper-parameters `bench route` may override; nil keeps the shipped router's value.
    public struct Overrides: Sendable {
        public var buckets: Int?, dim: Int?, epochs: Int?, learningRate: Float?, maxPerExpert: Int?
        public var targetAcceptance: Double?, backgroundWeight: Double?, wordCount: Bool?, seed: UInt64?
        public var nearDomainWeight: Double?, noveltyBits: Int?, noveltyFloor: Double?, noveltyTargetAcceptance: Double?
        /// No overrides: the shipped router's configuration.
        public init() {}

        /// The router config these overrides give, checked.
        public func config() throws -> RouterConfig {
            var c = RouterConfig()
            if let buckets { c.buckets = buckets }
            if let dim { c.dim = dim }
            if let epochs { c.epochs = epochs }
            if let learningRate { c.learningRate = learningRate }
            if let maxPerExpert { c.maxPerExpert = maxPerExpert }
            if let targetAcceptance { c.targetAcceptance = targetAcceptance }
            if let backgroundWeight { c.backgroundWeight = backgroundWeight }
            if let wordCount { c.wordCountFeature = wordCount }
            if let seed { c.seed = seed }
            if let nearDomainWeight { c.nearDomainWeight = nearDomainWeight }
            if let noveltyBits { c.noveltyBits = noveltyBits }
            if let noveltyFloor { c.noveltyFloor = noveltyFloor }
            if let noveltyTargetAcceptance { c.noveltyTargetAcceptance = noveltyTargetAcceptance }
            try c.validate()
            return c
        }
    }
}
