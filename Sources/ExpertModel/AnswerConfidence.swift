import Foundation

/// How sure an expert is of its own greedy answer, from the probabilities of the choices it made.
/// A wrong answer given with confidence is the worst thing Triage can do, so every answer carries one of
/// these scores, and a calibration (`ConfidenceCalibration`) turns it into a probability of being right.
public enum AnswerConfidence {
    /// Which summary of the per-token probabilities (EOS included) is the score.
    public enum Score: String, Codable, Sendable, CaseIterable {
        /// The smallest per-token probability: one unsure byte makes the whole answer unsure.
        case minTokenP = "min_token_p"
        /// The geometric mean of the per-token probabilities.
        case meanTokenP = "mean_token_p"
        /// The product of the per-token probabilities: the model's probability of the whole answer.
        case sequenceP = "sequence_p"
    }

    /// The score used when a manifest names none (chosen by measurement: see the README's confidence section).
    public static let defaultScore = Score.sequenceP

    /// The score of an answer from its greedy choices' log-probabilities; 0 for an answer with none.
    public static func score(_ logProbs: [Float], kind: Score = defaultScore) -> Double {
        guard !logProbs.isEmpty else { return 0 }
        switch kind {
        case .minTokenP: return exp(Double(logProbs.min()!))
        case .meanTokenP: return exp(logProbs.reduce(0.0) { $0 + Double($1) } / Double(logProbs.count))
        case .sequenceP: return exp(logProbs.reduce(0.0) { $0 + Double($1) })
        }
    }
}

/// A monotone map from an answer's confidence score to the probability that the answer is right, fitted on
/// an expert's validation set (isotonic regression, pool-adjacent-violators) and stored in its manifest.
/// Isotonic because the only thing assumed is that a higher score is never less likely to be right; the
/// map is the fitted step function with its steps joined linearly, so it is continuous and monotone.
public struct ConfidenceCalibration: Codable, Equatable, Sendable {
    /// The score this calibration maps.
    public var score: AnswerConfidence.Score
    /// "isotonic".
    public var method: String
    /// Breakpoints: scores (ascending) and the probability of being right at each.
    public var x: [Double]
    public var y: [Double]
    /// Validation examples it was fitted on, and their exact-match accuracy.
    public var n: Int
    public var validationAccuracy: Double
    /// On the validation set: AUROC of the score for right against wrong (nil when all were right or all
    /// wrong) and expected calibration error of the calibrated probability.
    public var validationAUROC: Double?
    public var validationECE: Double?
    /// Answers whose calibrated probability is below this are declined ("not sure") unless the caller sets
    /// its own `--min-confidence`; nil: answer everything.
    public var minConfidence: Double?

    enum CodingKeys: String, CodingKey {
        case score, method, x, y, n, validationAccuracy = "validation_accuracy", validationAUROC = "validation_auroc"
        case validationECE = "validation_ece", minConfidence = "min_confidence"
    }

    /// A calibration with these breakpoints (`fit` makes one from data).
    public init(score: AnswerConfidence.Score, method: String, x: [Double], y: [Double], n: Int, validationAccuracy: Double,
                validationAUROC: Double?, validationECE: Double?, minConfidence: Double?) {
        (self.score, self.method, self.x, self.y, self.n) = (score, method, x, y, n)
        (self.validationAccuracy, self.validationAUROC, self.validationECE, self.minConfidence) = (validationAccuracy, validationAUROC, validationECE, minConfidence)
    }

    /// Fits an isotonic map from `scores` to `correct` (one per validation example).
    public static func fit(scores: [Double], correct: [Bool], kind: AnswerConfidence.Score,
                           minConfidence: Double? = nil) -> ConfidenceCalibration {
        precondition(scores.count == correct.count, "ConfidenceCalibration.fit: one label per score")
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        // Blocks of tied scores first, then pool adjacent violators.
        var blocks = [(lo: Double, hi: Double, sum: Double, n: Double)]()
        for i in order {
            let s = scores[i], v = correct[i] ? 1.0 : 0.0
            if let last = blocks.last, last.hi == s {
                blocks[blocks.count - 1].sum += v
                blocks[blocks.count - 1].n += 1
            } else {
                blocks.append((s, s, v, 1))
            }
            while blocks.count >= 2 {
                let b = blocks[blocks.count - 1], a = blocks[blocks.count - 2]
                guard a.sum / a.n >= b.sum / b.n else { break }
                blocks.removeLast(2)
                blocks.append((a.lo, b.hi, a.sum + b.sum, a.n + b.n))
            }
        }
        var x = [Double](), y = [Double]()
        for b in blocks {
            let p = b.sum / b.n
            x.append(b.lo); y.append(p)
            if b.hi > b.lo { x.append(b.hi); y.append(p) }
        }
        var c = ConfidenceCalibration(score: kind, method: "isotonic", x: x, y: y, n: scores.count,
                                      validationAccuracy: Double(correct.filter { $0 }.count) / Double(max(1, correct.count)),
                                      validationAUROC: nil, validationECE: nil, minConfidence: minConfidence)
        c.validationAUROC = ConfidenceMetrics.auroc(scores: scores, correct: correct)
        c.validationECE = ConfidenceMetrics.ece(probabilities: scores.map(c.probability), correct: correct)
        return c
    }

    /// The calibrated probability that an answer with this score is right.
    public func probability(_ score: Double) -> Double {
        guard let first = x.first, let last = x.last else { return 0 }
        if score <= first { return y[0] }
        if score >= last { return y[y.count - 1] }
        // First breakpoint above the score.
        var lo = 0, hi = x.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x[mid] <= score { lo = mid } else { hi = mid }
        }
        let span = x[hi] - x[lo]
        return span > 0 ? y[lo] + (y[hi] - y[lo]) * (score - x[lo]) / span : y[hi]
    }

    /// What is wrong with a calibration read from a manifest, or nil when it is usable.
    public var problem: String? {
        guard x.count == y.count, !x.isEmpty else { return "calibration: x and y must be non-empty and of equal length" }
        for i in 1..<max(1, x.count) where x[i] < x[i - 1] || y[i] < y[i - 1] { return "calibration: x and y must be ascending" }
        guard y.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { return "calibration: probabilities must be in [0, 1]" }
        if let m = minConfidence, !(m >= 0 && m <= 1) { return "calibration: min_confidence must be in [0, 1], got \(m)" }
        return nil
    }
}

/// Measures of how well a confidence separates right answers from wrong ones.
public enum ConfidenceMetrics {
    /// Probability that a random right answer scores above a random wrong one (ties count half); nil
    /// unless both kinds occur.
    public static func auroc(scores: [Double], correct: [Bool]) -> Double? {
        let pos = correct.filter { $0 }.count, neg = correct.count - pos
        guard pos > 0, neg > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0, i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1  // mean rank of the tie group, 1-based
            for k in i...j where correct[order[k]] { rankSum += rank }
            i = j + 1
        }
        return (rankSum - Double(pos) * Double(pos + 1) / 2) / (Double(pos) * Double(neg))
    }

    /// Expected calibration error: over `bins` equal-width bins of the probability, the mean |accuracy −
    /// mean probability| weighted by the bin's share of examples.
    public static func ece(probabilities: [Double], correct: [Bool], bins: Int = 10) -> Double {
        guard !probabilities.isEmpty else { return 0 }
        var sumP = [Double](repeating: 0, count: bins), sumY = sumP, n = sumP
        for (p, c) in zip(probabilities, correct) {
            let b = min(bins - 1, max(0, Int(p * Double(bins))))
            sumP[b] += p; sumY[b] += c ? 1 : 0; n[b] += 1
        }
        var e = 0.0
        for b in 0..<bins where n[b] > 0 { e += abs(sumY[b] - sumP[b]) }
        return e / Double(probabilities.count)
    }

    /// One point of a risk–coverage curve: answering the `coverage` most confident share, this accuracy.
    public struct CoveragePoint: Codable, Equatable, Sendable {
        public var coverage: Double
        public var accuracy: Double
        /// The lowest score still answered at this coverage.
        public var threshold: Double
        public init(coverage: Double, accuracy: Double, threshold: Double) {
            (self.coverage, self.accuracy, self.threshold) = (coverage, accuracy, threshold)
        }
    }

    /// Accuracy of the most confident k answers for every k (most confident first; tied scores enter
    /// together, so a point is emitted only where the score changes).
    public static func riskCoverage(scores: [Double], correct: [Bool]) -> [CoveragePoint] {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var out = [CoveragePoint](), right = 0
        let n = Double(max(1, scores.count))
        for (k, i) in order.enumerated() {
            if correct[i] { right += 1 }
            if k + 1 == order.count || scores[order[k + 1]] != scores[i] {
                out.append(.init(coverage: Double(k + 1) / n, accuracy: Double(right) / Double(k + 1), threshold: scores[i]))
            }
        }
        return out
    }

    /// Accuracy at a coverage (the curve's first point at or beyond it).
    public static func accuracy(at coverage: Double, of curve: [CoveragePoint]) -> Double? {
        curve.first { $0.coverage >= coverage - 1e-12 }?.accuracy
    }

    /// Area under the risk–coverage curve: the mean, over k = 1…n, of the error rate of the k most
    /// confident answers (ties broken by taking the whole tie group's mean). Lower is better; a useless
    /// score gives about the overall error rate, a perfect one (1 − a)²/2 for accuracy a, roughly.
    public static func aurc(scores: [Double], correct: [Bool]) -> Double {
        guard !scores.isEmpty else { return 0 }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var total = 0.0, right = 0.0, k = 0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let groupRight = Double((i...j).filter { correct[order[$0]] }.count), m = Double(j - i + 1)
            for t in 1...(j - i + 1) {  // inside a tie group, right answers accrue evenly
                let r = right + groupRight * Double(t) / m
                total += 1 - r / Double(k + t)
            }
            right += groupRight
            k += j - i + 1
            i = j + 1
        }
        return total / Double(order.count)
    }
}
