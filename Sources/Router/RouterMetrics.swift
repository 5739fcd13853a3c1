/// What a training run did and how well the result routes its validation inputs; returned with the model
/// so the caller can log it or refuse a router that got worse.
public struct RouterMetrics: Codable, Equatable, Sendable {
    public var experts: [String]
    /// Training inputs each expert had, before balancing.
    public var availablePerExpert: [String: Int]
    /// Training inputs each expert got after balancing (subsampled to `maxPerExpert` or upsampled).
    public var usedPerExpert: Int
    /// Background lines given, used (after upsampling) and held out to measure `backgroundRejectRate`.
    public var backgroundAvailable: Int
    public var backgroundUsed: Int
    public var backgroundHeldOut: Int
    /// All training examples after balancing, background included.
    public var trainExamples: Int
    public var validationExamples: Int
    /// Fraction of validation inputs whose most probable expert is the right one (no abstention).
    public var validationAccuracy: Double
    /// Fraction of validation inputs routed (not abstained on) at the chosen threshold.
    public var acceptanceRate: Double
    /// Accuracy among the accepted validation inputs.
    public var acceptedAccuracy: Double
    /// Fraction of held-out background lines abstained on (nil without a background class or holdout).
    public var backgroundRejectRate: Double?
    public var threshold: Float
    public var thresholdMethod: String
    /// Mean cross-entropy over the last epoch.
    public var finalLoss: Double
    /// Wall time of the whole `train` call (featurising, SGD, validation).
    public var trainSeconds: Double
    public var epochs: Int
    /// Near-domain background lines given and used (after upsampling or subsampling).
    public var nearDomainAvailable: Int?
    public var nearDomainUsed: Int?
    /// Per expert: the novelty share above which requests are refused, and the share of its novelty bits set.
    public var noveltyThresholds: [String: Float]?
    public var noveltyFill: [String: Double]?
}
