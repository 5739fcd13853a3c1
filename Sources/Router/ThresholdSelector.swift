/// Chooses the confidence threshold from in-domain validation inputs: the highest threshold that still
/// accepts `targetAcceptance` of them (by default 99.9%), with every expert weighing the same (an input
/// counts 1 / its expert's validation count), so an expert with a large validation split does not set
/// the threshold alone. Why a quantile: it states the cost in the terms a user sees ("about 1 in 1000
/// validation requests is refused") and needs no out-of-domain text, which the router has none of at training time
/// except its background class. Requests unlike every task are mostly the background class's job; the
/// threshold catches what falls between tasks, where the model is torn.
public enum ThresholdSelector {
    /// - Parameters:
    ///   - confidences: for each in-domain validation input, the best expert's probability, or 0 when the
    ///     background class won (those are abstained on at any threshold).
    ///   - groups: each input's expert (any ids); nil weighs every input the same.
    public static func select(confidences: [Float], groups: [Int]? = nil, targetAcceptance: Double) -> Float {
        precondition(targetAcceptance > 0 && targetAcceptance <= 1, "ThresholdSelector: targetAcceptance must be in (0, 1]")
        precondition(groups == nil || groups!.count == confidences.count, "ThresholdSelector: one group per confidence")
        guard !confidences.isEmpty else { return 0 }
        var weights = [Double](repeating: 1, count: confidences.count)
        if let groups {
            var counts = [Int: Int]()
            for g in groups { counts[g, default: 0] += 1 }
            weights = groups.map { 1 / Double(counts[$0]!) }
        }
        let order = confidences.indices.sorted { confidences[$0] < confidences[$1] }
        let total = weights.reduce(0, +)
        // The 1e-9 absorbs binary rounding (0.9 × 100 must allow exactly 90 accepted).
        let needed = targetAcceptance * total - 1e-9 * total
        var below = 0.0  // weight of the inputs under the candidate threshold
        var best = confidences[order[0]]
        for (rank, i) in order.enumerated() {
            if rank > 0 && confidences[i] != confidences[order[rank - 1]] {
                if total - below >= needed { best = confidences[i] } else { break }
            }
            below += weights[i]
        }
        return best
    }

    public static func describe(targetAcceptance: Double, count: Int, experts: Int) -> String {
        let pct = (targetAcceptance * 1000).rounded() / 10
        return "quantile: highest threshold accepting >= \(pct)% of \(count) in-domain validation inputs, each of \(experts) experts weighing the same"
    }
}
