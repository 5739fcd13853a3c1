/// Where one request goes, and how sure the router is. When no expert fits, `expert` is nil (or the
/// configured fallback, with `usedFallback` set) and `top` still lists the closest experts, so a caller
/// can tell the user which tasks came nearest.
public struct RoutingDecision: Codable, Equatable, Sendable {
    /// One expert and its probability.
    public struct Candidate: Codable, Equatable, Sendable {
        public let expert: String
        public let p: Float
        public init(expert: String, p: Float) { self.expert = expert; self.p = p }
    }

    /// Why the router abstained.
    public enum AbstainReason: String, Codable, Sendable {
        /// The background class ("unlike every registered task") won.
        case unlikeAnyTask = "unlike_any_task"
        /// The best expert's probability fell below the threshold.
        case belowThreshold = "below_threshold"
        /// The request has no features (empty or only whitespace).
        case empty
        /// Too many of the request's byte n-grams never occur in the chosen expert's training inputs
        /// (`NoveltyIndex`): it resembles the task without being it.
        case novel = "novel_request"
    }

    /// The chosen expert; nil when abstaining without a fallback, the fallback's name when one was used.
    public let expert: String?
    /// The best expert's probability (the background class never counts as an expert).
    public let confidence: Float
    /// True when no registered expert was confident enough, even if a fallback took the request.
    public let abstained: Bool
    /// True when the request went to the fallback expert because the router abstained.
    public let usedFallback: Bool
    /// Set when `abstained` is.
    public let reason: AbstainReason?
    /// The threshold this decision was made with.
    public let threshold: Float
    /// The closest experts, most probable first.
    public let top: [Candidate]
    /// The share of the request's n-grams the best expert's training inputs never contained, when the
    /// router has a novelty index and got that far.
    public let novelty: Float?

    public init(expert: String?, confidence: Float, abstained: Bool, usedFallback: Bool, reason: AbstainReason?,
                threshold: Float, top: [Candidate], novelty: Float? = nil) {
        self.novelty = novelty
        self.expert = expert
        self.confidence = confidence
        self.abstained = abstained
        self.usedFallback = usedFallback
        self.reason = reason
        self.threshold = threshold
        self.top = top
    }
}
