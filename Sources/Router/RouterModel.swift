import CKernels
import TensorCore

/// A trained router: the hashed embedding table, the linear layer over its classes and the abstention
/// threshold. Immutable once built, so one model can route from many threads at once; routing allocates
/// nothing but the decision it returns.
public final class RouterModel: @unchecked Sendable {
    /// The class that stands for "unlike every registered task". Predicting it means abstaining; it is
    /// never reported as an expert.
    public static let backgroundLabel = "__none__"
    /// The largest weight magnitude a router file may hold (see `init`).
    public static let weightBound: Float = 1e4

    public let config: RouterConfig
    /// Every output class, in weight-row order (the registered experts, sorted, then the background class
    /// if one was trained). `scores` follows this order.
    public let labels: [String]
    /// The registered experts: `labels` without the background class.
    public let experts: [String]
    /// Requests whose best expert's probability is below this are abstained on.
    public let threshold: Float
    /// How `threshold` was chosen, in words (kept in the saved model).
    public let thresholdMethod: String
    /// [buckets, dim]
    public let inputWeights: Tensor
    /// [labels.count, dim]
    public let outputWeights: Tensor
    /// [labels.count]
    public let outputBias: Tensor
    public let hasher: FeatureHasher
    /// Each expert's seen n-grams and novelty threshold; nil for routers trained without one.
    public let novelty: NoveltyIndex?

    let backgroundIndex: Int?
    let expertIndices: [Int]

    public init(config: RouterConfig, labels: [String], threshold: Float, thresholdMethod: String,
                inputWeights: Tensor, outputWeights: Tensor, outputBias: Tensor, novelty: NoveltyIndex? = nil) throws {
        try config.validate()
        guard !labels.isEmpty, Set(labels).count == labels.count else {
            throw RouterError.malformedModel("labels must be non-empty and distinct, got \(labels)")
        }
        guard inputWeights.shape == [config.buckets, config.dim] else {
            throw RouterError.malformedModel("input weights have shape \(inputWeights.shape), config says [\(config.buckets), \(config.dim)]")
        }
        guard outputWeights.shape == [labels.count, config.dim], outputBias.shape == [labels.count] else {
            throw RouterError.malformedModel("output weights \(outputWeights.shape) and bias \(outputBias.shape) do not fit \(labels.count) labels of dim \(config.dim)")
        }
        guard threshold >= 0 && threshold <= 1 else { throw RouterError.malformedModel("threshold \(threshold) is outside [0, 1]") }
        // A NaN or infinite weight (a damaged file), or one so large that a sum of them overflows, makes
        // confidences NaN, and NaN < threshold is false: the router would route with confidence NaN instead
        // of abstaining (the router fuzzer, twice). Trained weights are far below the bound, under which a
        // mean embedding and its logits (at most 1024 × 1e4 × 1e4) stay finite.
        for (name, t) in [("input weights", inputWeights), ("output weights", outputWeights), ("output bias", outputBias)] {
            let p = t.storage.pointer
            let i = tc_first_beyond(p, t.count, Self.weightBound)
            if i < t.count {
                throw RouterError.malformedModel("\(name) hold a non-finite or out-of-range value (\(p[i]), beyond ±\(Self.weightBound)) at \(i)")
            }
        }
        self.config = config
        self.labels = labels
        self.threshold = threshold
        self.thresholdMethod = thresholdMethod
        self.inputWeights = inputWeights
        self.outputWeights = outputWeights
        self.outputBias = outputBias
        hasher = FeatureHasher(config: config)
        backgroundIndex = labels.firstIndex(of: Self.backgroundLabel)
        expertIndices = labels.indices.filter { labels[$0] != Self.backgroundLabel }
        experts = expertIndices.map { labels[$0] }
        guard !experts.isEmpty else { throw RouterError.malformedModel("no expert among labels \(labels)") }
        if let novelty, novelty.thresholds.count != experts.count {
            throw RouterError.malformedModel("novelty index covers \(novelty.thresholds.count) experts, the router has \(experts.count)")
        }
        self.novelty = novelty
    }

    /// The same weights with another threshold.
    public func withThreshold(_ threshold: Float, method: String = "set by hand") throws -> RouterModel {
        try RouterModel(config: config, labels: labels, threshold: threshold, thresholdMethod: method,
                        inputWeights: inputWeights, outputWeights: outputWeights, outputBias: outputBias, novelty: novelty)
    }

    /// The same router with another novelty index (nil: no novelty check).
    public func withNovelty(_ novelty: NoveltyIndex?) throws -> RouterModel {
        try RouterModel(config: config, labels: labels, threshold: threshold, thresholdMethod: thresholdMethod,
                        inputWeights: inputWeights, outputWeights: outputWeights, outputBias: outputBias, novelty: novelty)
    }

    // MARK: Inference

    /// Mean embedding of the request's features into `hidden`, then class probabilities into `probs`.
    /// Returns the number of features (0 for an empty request, whose probabilities come from the bias alone).
    /// Bucket ids are hashed a batch at a time before their rows are summed: with every address known up
    /// front, the table reads (mostly cache misses) overlap instead of waiting behind each hash. The sum runs
    /// in feature order, as in training.
    @inline(__always)
    func forward(_ text: String, hidden: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>) -> Int {
        let dim = config.dim
        let table = inputWeights.storage.pointer
        hidden.initialize(repeating: 0, count: dim)
        var count = 0
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: Self.featureBatch) { batch in
            let ids = batch.baseAddress!
            var pending = 0
            hasher.forEachFeature(text) { b in
                ids[pending] = b
                pending += 1
                count += 1
                if pending == Self.featureBatch {
                    for i in 0..<pending { RouterKernels.add(hidden, table + Int(ids[i]) * dim, dim) }
                    pending = 0
                }
            }
            for i in 0..<pending { RouterKernels.add(hidden, table + Int(ids[i]) * dim, dim) }
        }
        if count > 0 { RouterKernels.scale(hidden, 1 / Float(count), dim) }
        RouterKernels.linearSoftmax(weights: outputWeights.storage.pointer, bias: outputBias.storage.pointer,
                                    hidden: hidden, classes: labels.count, dim: dim, probs: probs)
        return count
    }

    /// Features hashed ahead of their table reads (a request of 160 bytes has about 700).
    static let featureBatch = 256

    /// Class probabilities, in `labels` order (they sum to 1).
    public func scores(_ text: String) -> [Float] {
        let classes = labels.count
        return [Float](unsafeUninitializedCapacity: classes) { probs, initialized in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: config.dim) { hidden in
                _ = forward(text, hidden: hidden.baseAddress!, probs: probs.baseAddress!)
            }
            initialized = classes
        }
    }

    /// Routes one request.
    /// - Parameters:
    ///   - top: how many closest experts to list (at most the number of experts).
    ///   - threshold: overrides the model's threshold for this call.
    ///   - fallback: an expert to hand the request to when the router abstains (it need not be one of
    ///     `experts`); the decision is then marked `usedFallback`, and still `abstained`.
    ///   - checkNovelty: false skips the novelty check (to measure the router without it).
    ///   - among: only these experts may be chosen or listed (the experts of one kind: a task request
    ///     never goes to a completion expert); the others' probability still counts against confidence.
    public func route(_ text: String, top: Int = 3, threshold: Float? = nil, fallback: String? = nil,
                      checkNovelty: Bool = true, among: Set<String>? = nil) -> RoutingDecision {
        let indices = among.map { set in expertIndices.filter { set.contains(labels[$0]) } } ?? expertIndices
        guard !indices.isEmpty else {
            return RoutingDecision(expert: fallback, confidence: 0, abstained: true, usedFallback: fallback != nil, reason: .empty,
                                   threshold: threshold ?? self.threshold, top: [], novelty: nil)
        }
        let t = threshold ?? self.threshold
        let classes = labels.count
        let dim = config.dim
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: dim + classes) { scratch -> RoutingDecision in
            let hidden = scratch.baseAddress!
            let probs = hidden + dim
            let features = forward(text, hidden: hidden, probs: probs)
            let candidates = topExperts(probs, among: indices, count: max(0, min(top, indices.count)))
            var best = indices[0]
            for c in indices where probs[c] > probs[best] { best = c }
            let confidence = probs[best]
            var reason: RoutingDecision.AbstainReason?
            var novel: Float?
            if features == 0 {
                reason = .empty
            } else if let bg = backgroundIndex, probs[bg] > confidence {
                reason = .unlikeAnyTask
            } else if confidence < t {
                reason = .belowThreshold
            } else if checkNovelty, let novelty {
                let e = expertIndices.firstIndex(of: best)!
                let share = novelty.novelty(text, expert: e)
                novel = share
                reason = share > novelty.thresholds[e] ? .novel : nil
            } else {
                reason = nil
            }
            let abstained = reason != nil
            let useFallback = abstained && fallback != nil
            return RoutingDecision(expert: abstained ? fallback : labels[best], confidence: confidence,
                                   abstained: abstained, usedFallback: useFallback, reason: reason,
                                   threshold: t, top: candidates, novelty: novel)
        }
    }

    /// Routes a completion prefix among `experts` (the completion experts): the probabilities are
    /// renormalised over them, the background class and the task experts do not compete (a prefix of code
    /// is the background's kind of text), and the router abstains when the best share is under `minShare`
    /// (a prefix that resembles no domain more than the others).
    public func routeCompletion(_ text: String, among experts: Set<String>, top: Int = 3, minShare: Float = 0.5) -> RoutingDecision {
        let indices = expertIndices.filter { experts.contains(labels[$0]) }
        let p = scores(text)
        let total = indices.reduce(Float(0)) { $0 + p[$1] }
        let ranked = indices.sorted { (p[$0], -$0) > (p[$1], -$1) }
        guard let best = ranked.first, total > 0, !text.utf8.allSatisfy({ FeatureHasher.isSpace($0) }) else {
            return RoutingDecision(expert: nil, confidence: 0, abstained: true, usedFallback: false, reason: .empty,
                                   threshold: minShare, top: [], novelty: nil)
        }
        let share = p[best] / total
        let reason: RoutingDecision.AbstainReason? = share < minShare ? .belowThreshold : nil
        return RoutingDecision(expert: reason == nil ? labels[best] : nil, confidence: share, abstained: reason != nil,
                               usedFallback: false, reason: reason, threshold: minShare,
                               top: ranked.prefix(top).map { .init(expert: labels[$0], p: p[$0] / total) }, novelty: nil)
    }

    /// The `count` most probable experts, best first (ties: label order). Classes are few, so repeated
    /// scans beat sorting: each scan takes the best expert ranked strictly after the previous pick in
    /// (probability descending, position ascending) order, which needs no "taken" set.
    @inline(__always)
    func topExperts(_ probs: UnsafePointer<Float>, among expertIndices: [Int], count: Int) -> [RoutingDecision.Candidate] {
        guard count > 0 else { return [] }
        var out = [RoutingDecision.Candidate]()
        out.reserveCapacity(count)
        var prevP = Float.infinity, prevPos = -1
        for _ in 0..<count {
            var bestPos = -1
            var bestP = -Float.infinity
            for (pos, c) in expertIndices.enumerated() {
                let p = probs[c]
                let after = p < prevP || (p == prevP && pos > prevPos)
                if after && (bestPos < 0 || p > bestP) { bestPos = pos; bestP = p }
            }
            guard bestPos >= 0 else { break }
            prevP = bestP; prevPos = bestPos
            out.append(.init(expert: labels[expertIndices[bestPos]], p: bestP))
        }
        return out
    }
}
