import Foundation
import TensorCore

/// Trains a router from the registered experts' inputs: fastText's supervised recipe (mean of hashed
/// feature embeddings, linear layer, softmax, per-example SGD with a linearly decaying step, only touched
/// rows updated), on one thread in a seeded order, so the same data and config give bit-identical weights.
public enum RouterTrainer {
    /// - Parameters:
    ///   - examples: training inputs of every registered expert; balanced per expert before training.
    ///   - validation: the experts' validation inputs; they measure accuracy and choose the threshold.
    ///   - background: generic text unlike every task; trains the background class (none if empty or
    ///     `config.backgroundWeight` is 0).
    ///   - nearDomain: requests close to the tasks but of none of them (other math modules); they join
    ///     the background class as a share of their own (`config.nearDomainWeight`), so that generic text
    ///     keeps its weight.
    public static func train(examples: [(input: String, expert: String)],
                             validation: [(input: String, expert: String)],
                             background: [String],
                             nearDomain: [String] = [],
                             config: RouterConfig) throws -> (RouterModel, RouterMetrics) {
        let start = monotonicSeconds()
        try config.validate()
        let background = config.backgroundWeight > 0 ? background : []
        let nearDomain = config.nearDomainWeight > 0 ? nearDomain : []

        // Classes: the experts in name order, then the background class.
        let available = Dictionary(grouping: examples, by: \.expert).mapValues(\.count)
        let experts = available.keys.sorted()
        guard !experts.isEmpty else { throw RouterError.invalidData("no training examples") }
        guard !experts.contains(RouterModel.backgroundLabel) else {
            throw RouterError.invalidData("\"\(RouterModel.backgroundLabel)\" is reserved for the background class")
        }
        let labels = experts + (background.isEmpty && nearDomain.isEmpty ? [] : [RouterModel.backgroundLabel])
        let classOf = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        for v in validation where classOf[v.expert] == nil || v.expert == RouterModel.backgroundLabel {
            throw RouterError.invalidData("validation input for \"\(v.expert)\", which has no training examples")
        }

        // Balanced training set; background held out every n-th line, the rest upsampled to its share.
        let balanced = ExampleBalancer.balance(examples, maxPerGroup: config.maxPerExpert, seed: config.seed)
        let perExpert = ExampleBalancer.target(sizes: Array(available.values), maxPerGroup: config.maxPerExpert)
        var heldOut = [String](), backgroundTrain = [String]()
        for (i, line) in background.enumerated() {
            let every = config.backgroundHoldoutEvery
            if every > 0 && background.count >= 2 * every && i % every == every - 1 { heldOut.append(line) } else { backgroundTrain.append(line) }
        }
        let backgroundCount = backgroundTrain.isEmpty ? 0 : max(1, Int((Double(perExpert) * config.backgroundWeight).rounded()))
        let nearCount = nearDomain.isEmpty ? 0 : max(1, Int((Double(perExpert) * config.nearDomainWeight).rounded()))
        let backgroundUsed = ExampleBalancer.sample(backgroundTrain, count: backgroundCount, seed: config.seed,
                                                    name: RouterModel.backgroundLabel)
            + ExampleBalancer.sample(nearDomain, count: nearCount, seed: config.seed, name: "near-domain")
        var texts = balanced.map(\.input) + backgroundUsed
        var targets = balanced.map { Int32(classOf[$0.expert]!) } + [Int32](repeating: Int32(labels.count - 1), count: backgroundUsed.count)
        var rng = RandomGenerator(seed: config.seed)
        var order = Array(texts.indices)
        rng.shuffle(&order)
        texts = order.map { texts[$0] }
        targets = order.map { targets[$0] }

        let hasher = FeatureHasher(config: config)
        let features = FeatureMatrix(texts, hasher: hasher)
        let weights = SoftmaxSGD(config: config, classes: labels.count, rng: &rng)
        let finalLoss = weights.train(features, targets: targets, epochs: config.epochs,
                                      learningRate: config.learningRate, rng: &rng)

        // Validation: accuracy, then the threshold from the best expert's probabilities.
        var model = try RouterModel(config: config, labels: labels, threshold: config.defaultThreshold,
                                    thresholdMethod: "default (no validation inputs)", inputWeights: weights.input,
                                    outputWeights: weights.output, outputBias: weights.bias)
        // Novelty: each expert's seen n-grams from all its training inputs (not the balanced sample), and a
        // threshold per expert from its validation inputs.
        var noveltyThresholds: [String: Float]?, noveltyFill: [String: Double]?
        if config.noveltyBits > 0 {
            let byExpert = Dictionary(grouping: examples, by: \.expert)
            var index = NoveltyIndex(inputs: experts.map { byExpert[$0]!.map(\.input) }, bits: config.noveltyBits,
                                     minn: config.minn, maxn: config.maxn)
            var thresholds = [Float]()
            for (e, name) in experts.enumerated() {
                let shares = validation.filter { $0.expert == name }.map { index.novelty($0.input, expert: e) }.sorted()
                var t = Float(config.noveltyFloor)
                if !shares.isEmpty {
                    // The smallest share that still accepts the target fraction (novelty > t is refused).
                    let k = min(shares.count - 1, max(0, Int((Double(shares.count) * config.noveltyTargetAcceptance).rounded(.up)) - 1))
                    t = max(t, shares[k])
                }
                thresholds.append(t)
            }
            index = index.withThresholds(thresholds)
            model = try model.withNovelty(index)
            noveltyThresholds = Dictionary(uniqueKeysWithValues: zip(experts, thresholds))
            noveltyFill = Dictionary(uniqueKeysWithValues: experts.enumerated().map { ($1, index.fill(expert: $0)) })
        }
        var confidences = [Float](), correct = [Bool]()
        confidences.reserveCapacity(validation.count)
        for v in validation {
            let d = model.route(v.input, top: 1, threshold: 0)
            correct.append(d.top.first?.expert == v.expert)
            confidences.append(d.reason == nil ? d.confidence : 0)
        }
        if !validation.isEmpty {
            let t = ThresholdSelector.select(confidences: confidences, groups: validation.map { classOf[$0.expert]! },
                                             targetAcceptance: config.targetAcceptance)
            model = try model.withThreshold(t, method: ThresholdSelector.describe(targetAcceptance: config.targetAcceptance,
                                                                                  count: validation.count, experts: experts.count))
        }
        let accepted = confidences.indices.filter { confidences[$0] > 0 && confidences[$0] >= model.threshold }
        let rejectRate: Double? = heldOut.isEmpty ? nil
            : Double(heldOut.filter { model.route($0, top: 0).abstained }.count) / Double(heldOut.count)
        let n = Double(max(1, validation.count))
        let metrics = RouterMetrics(
            experts: experts, availablePerExpert: available, usedPerExpert: perExpert,
            backgroundAvailable: background.count, backgroundUsed: backgroundUsed.count, backgroundHeldOut: heldOut.count,
            trainExamples: texts.count, validationExamples: validation.count,
            validationAccuracy: Double(correct.filter { $0 }.count) / n,
            acceptanceRate: Double(accepted.count) / n,
            acceptedAccuracy: Double(accepted.filter { correct[$0] }.count) / Double(max(1, accepted.count)),
            backgroundRejectRate: rejectRate, threshold: model.threshold, thresholdMethod: model.thresholdMethod,
            finalLoss: finalLoss, trainSeconds: monotonicSeconds() - start, epochs: config.epochs,
            nearDomainAvailable: nearDomain.count, nearDomainUsed: nearCount, noveltyThresholds: noveltyThresholds,
            noveltyFill: noveltyFill)
        return (model, metrics)
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
