/// Chooses the confidence threshold from in-domain validation inputs: the highest threshold that still
/// accepts `targetAcceptance` of them (by default 99%: the 1st percentile of the best expert's
/// probability). Why a quantile: it states the cost in the terms a user sees ("about 1 in 100 real
/// requests is refused") and does not depend on out-of-domain text, which the router has none of at
/// training time except its background class. Requests unlike every task are the background class's job;
/// the threshold catches what falls between tasks, where the model is torn between experts.
public enum ThresholdSelector {
    /// - Parameter confidences: for each in-domain validation input, the best expert's probability, or 0
    ///   when the background class won (those are abstained on at any threshold).
    public static func select(confidences: [Float], targetAcceptance: Double) -> Float {
        precondition(targetAcceptance > 0 && targetAcceptance <= 1, "ThresholdSelector: targetAcceptance must be in (0, 1]")
        guard !confidences.isEmpty else { return 0 }
        let sorted = confidences.sorted()
        // Accept at least ceil(target × n) inputs (the 1e-9 absorbs binary rounding, as in 0.9 × 100).
        let accept = max(1, Int((targetAcceptance * Double(sorted.count) - 1e-9).rounded(.up)))
        return sorted[sorted.count - min(accept, sorted.count)]
    }

    public static func describe(targetAcceptance: Double, count: Int) -> String {
        let pct = (targetAcceptance * 1000).rounded() / 10
        return "quantile: highest threshold accepting >= \(pct)% of \(count) in-domain validation inputs"
    }
}
