import ArgumentParser
import ExpertModel

extension ExpertConfig.PositionEncoding: ExpressibleByArgument {}
extension ExpertConfig.Activation: ExpressibleByArgument {}
extension TrainingOptions.OptimizerChoice: ExpressibleByArgument {}

/// The recipe flags of `experts add`: start from a named recipe, then override single choices (how the
/// ablations in Benchmarks/recipe/ run each change alone).
struct RecipeOptions: ParsableArguments {
    enum Named: String, ExpressibleByArgument, CaseIterable { case standard, gpt2 }
    @Option(help: "Start from this recipe: standard (the shipped suite's; the default) or gpt2 (learned positions, GELU, AdamW: every expert before format 2).")
    var recipe: Named?
    @Option(help: "Peak learning rate (AdamW's; default: the recipe's).") var learningRate: Float?
    @Option(help: "Batch size in examples (default: the recipe's).") var batchSize: Int?
    @Option(help: "Positions: learned or rope.") var positions: ExpertConfig.PositionEncoding?
    @Option(help: "RMS-normalise queries and keys per head: true or false.") var qkNorm: Bool?
    @Option(help: "MLP activation: gelu or relu2.") var activation: ExpertConfig.Activation?
    @Option(help: "Optimiser of the hidden matrices: adamw or muon.") var optimizer: TrainingOptions.OptimizerChoice?
    @Option(help: "Muon's peak learning rate.") var muonLearningRate: Float?
    @Option(help: "Start the output projections at zero: true or false.") var zeroInit: Bool?
    @Option(help: "Warm-up as a fraction of the steps.") var warmupFraction: Double?
    @Option(help: "Final learning rate as a fraction of the peak.") var minLrRatio: Float?
    @Option(help: "Also keep a moving average of the weights with this decay per step (e.g. 0.998), validated beside the live weights; the better is kept.")
    var weightAverage: Float?

    func validate() throws {
        if let b = batchSize, b <= 0 { throw ValidationError("--batch-size must be positive") }
        if let l = learningRate, !(l > 0) { throw ValidationError("--learning-rate must be positive") }
        if let l = muonLearningRate, !(l > 0) { throw ValidationError("--muon-learning-rate must be positive") }
        if let w = warmupFraction, !(0...1).contains(w) { throw ValidationError("--warmup-fraction must be within 0...1") }
        if let r = minLrRatio, !(0...1).contains(r) { throw ValidationError("--min-lr-ratio must be within 0...1") }
        if let d = weightAverage, !(d > 0 && d < 1) { throw ValidationError("--weight-average must be a decay between 0 and 1 (exclusive)") }
    }

    /// Whether any recipe flag was given (benchmarks keep the peers' workload otherwise).
    var given: Bool {
        recipe != nil || learningRate != nil || batchSize != nil || positions != nil || qkNorm != nil || activation != nil
            || optimizer != nil || muonLearningRate != nil || zeroInit != nil || warmupFraction != nil || minLrRatio != nil
            || weightAverage != nil
    }

    /// The named recipe with the overrides applied.
    var resolved: Recipe {
        var r = recipe == .gpt2 ? Recipe.gpt2 : Recipe.standard
        if let v = learningRate { r.learningRate = v }
        if let v = batchSize { r.batchSize = v }
        if let v = positions { r.positions = v }
        if let v = qkNorm { r.qkNorm = v }
        if let v = activation { r.activation = v }
        if let v = optimizer { r.optimizer = v }
        if let v = muonLearningRate { r.muonLearningRate = v }
        if let v = zeroInit { r.zeroOutputProjections = v }
        if let v = warmupFraction { r.warmupFraction = v }
        if let v = minLrRatio { r.minLearningRateRatio = v }
        if let v = weightAverage { r.weightAverageDecay = v }
        return r
    }
}
