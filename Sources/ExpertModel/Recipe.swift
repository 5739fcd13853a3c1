/// How an expert is built and trained beyond its size and budget: architecture options, initialisation,
/// optimiser and schedule. It is generic on purpose (nothing in it knows a task), so a user's
/// `experts add` trains with the same recipe as the shipped suite. `gpt2` is what every expert was trained
/// with before the ablations (Benchmarks/recipe/); `standard` is what they chose.
public struct Recipe: Codable, Equatable, Sendable {
    public var positions: ExpertConfig.PositionEncoding
    public var qkNorm: Bool
    public var activation: ExpertConfig.Activation
    /// Attention and MLP output projections start at zero.
    public var zeroOutputProjections: Bool
    public var optimizer: TrainingOptions.OptimizerChoice
    /// AdamW's peak learning rate (for every parameter, or with Muon for embeddings, norms and biases).
    public var learningRate: Float
    /// Muon's peak learning rate, for the hidden matrices.
    public var muonLearningRate: Float
    /// Warm-up as a fraction of the step budget (at most `maxWarmupSteps`).
    public var warmupFraction: Double
    public var maxWarmupSteps: Int
    /// The cosine schedule ends at this fraction of the peak.
    public var minLearningRateRatio: Float
    public var batchSize: Int
    /// Decay per step of an exponential moving average of the weights, validated beside the live ones
    /// (`TrainingOptions.weightAverageDecay`); nil: none.
    public var weightAverageDecay: Float? = nil

    enum CodingKeys: String, CodingKey {
        case positions, activation, optimizer
        case qkNorm = "qk_norm", zeroOutputProjections = "zero_output_projections", learningRate = "learning_rate"
        case muonLearningRate = "muon_learning_rate", warmupFraction = "warmup_fraction", maxWarmupSteps = "max_warmup_steps"
        case minLearningRateRatio = "min_learning_rate_ratio", batchSize = "batch_size", weightAverageDecay = "weight_average_decay"
    }

    /// GPT-2's block with AdamW: the recipe of every expert made before format 2.
    public static let gpt2 = Recipe(positions: .learned, qkNorm: false, activation: .gelu, zeroOutputProjections: false,
                                    optimizer: .adamw, learningRate: 1e-3, muonLearningRate: 0.02, warmupFraction: 0.1,
                                    maxWarmupSteps: 100, minLearningRateRatio: 0.1, batchSize: 32)

    /// The recipe `experts add` and the suite use, chosen by the ablations in Benchmarks/recipe/ (from
    /// random weights, 2,000 steps: round-number 19.6 → 97.6%, sort 5.0 → 83.9%, pronounce 28.3 → 48.8% test
    /// exact match against `gpt2` at the suite's learning rate): rotary positions, QK-norm, squared ReLU,
    /// zero-initialised output projections, Muon (0.02) for the hidden matrices and AdamW (2e-3) for the rest.
    public static let standard = Recipe(positions: .rope, qkNorm: true, activation: .relu2, zeroOutputProjections: true,
                                        optimizer: .muon, learningRate: 2e-3, muonLearningRate: 0.02, warmupFraction: 0.1,
                                        maxWarmupSteps: 200, minLearningRateRatio: 0.1, batchSize: 32)

    /// The model shape of `size` with this recipe's architecture options.
    public func config(_ size: ExpertConfig) -> ExpertConfig {
        size.with(positions: positions, qkNorm: qkNorm, activation: activation)
    }

    /// Training options for a budget of `steps` (nil: a minutes budget, whose step count the trainer finds).
    public func options(steps: Int?, minutes: Double? = nil, seed: UInt64) -> TrainingOptions {
        var o = TrainingOptions(steps: steps, minutes: minutes, seed: seed)
        o.learningRate = learningRate
        o.batchSize = batchSize
        o.minLearningRateRatio = minLearningRateRatio
        if let s = steps { o.warmupSteps = min(maxWarmupSteps, max(1, Int(Double(s) * warmupFraction))) }
        if zeroOutputProjections { o.zeroOutputProjections = true }
        o.weightAverageDecay = weightAverageDecay
        if optimizer == .muon {
            o.optimizer = .muon
            o.muonLearningRate = muonLearningRate
        }
        return o
    }
}
