/// The shape of an expert transformer. Presets: `nano`, `tiny` (the reference model), `small`.
public struct ExpertConfig: Codable, Equatable, Sendable {
    public var dModel: Int
    public var nLayers: Int
    public var nHeads: Int
    public var dFF: Int
    public var context: Int
    public var vocab: Int

    enum CodingKeys: String, CodingKey {
        case dModel = "d_model", nLayers = "n_layers", nHeads = "n_heads", dFF = "d_ff", context, vocab
    }

    public init(dModel: Int, nLayers: Int, nHeads: Int, dFF: Int, context: Int, vocab: Int = Vocabulary.size) {
        self.dModel = dModel
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.dFF = dFF
        self.context = context
        self.vocab = vocab
    }

    public static let nano = ExpertConfig(dModel: 64, nLayers: 2, nHeads: 2, dFF: 256, context: 128)
    public static let tiny = ExpertConfig(dModel: 128, nLayers: 4, nHeads: 4, dFF: 512, context: 128)
    public static let small = ExpertConfig(dModel: 256, nLayers: 6, nHeads: 8, dFF: 1024, context: 256)

    /// The named model sizes `experts add --preset` offers.
    public enum Preset: String, CaseIterable, Codable, Sendable {
        case nano, tiny, small

        public var config: ExpertConfig {
            switch self {
            case .nano: return .nano
            case .tiny: return .tiny
            case .small: return .small
            }
        }
    }

    /// Checks that the numbers describe a buildable model; the message says which one is wrong.
    public func validate() throws {
        func fail(_ s: String) -> ExpertError { .invalidConfig(s) }
        guard dModel > 0, nLayers > 0, nHeads > 0, dFF > 0, context > 1 else { throw fail("every size must be positive: \(self)") }
        guard dModel % nHeads == 0 else { throw fail("d_model \(dModel) is not divisible by n_heads \(nHeads)") }
        guard vocab == Vocabulary.size else { throw fail("vocab must be \(Vocabulary.size) (bytes + PAD, BOS, SEP, EOS), got \(vocab)") }
        guard context <= 4096 else { throw fail("context \(context) is over 4096") }
    }

    /// Parameter count (tied head, biases on every linear layer): 843,008 for `tiny`.
    public var parameterCount: Int {
        let d = dModel
        let block = 2 * d * 2 + (3 * d * d + 3 * d) + (d * d + d) + (dFF * d + dFF) + (d * dFF + d)
        return vocab * d + context * d + nLayers * block + 2 * d
    }

    /// Forward+backward FLOPs per token for training-compute accounting: 6 per matmul parameter
    /// (the tied head included) plus attention's score and weighted-sum products at full context.
    public func trainingFLOPsPerToken(sequenceLength t: Int) -> Double {
        let d = Double(dModel), matmulParams = Double(nLayers) * (4 * d * d + 2 * d * Double(dFF)) + Double(vocab) * d
        let attention = Double(nLayers) * 2 * 2 * Double(t) * d  // QKᵀ and PV, forward
        return 6 * matmulParams + 3 * attention
    }

    /// The config as safetensors `__metadata__` strings.
    public var metadata: [String: String] {
        ["d_model": "\(dModel)", "n_layers": "\(nLayers)", "n_heads": "\(nHeads)", "d_ff": "\(dFF)",
         "context": "\(context)", "vocab": "\(vocab)"]
    }

    public init(metadata m: [String: String]) throws {
        func int(_ k: String) throws -> Int {
            guard let s = m[k], let v = Int(s) else { throw ExpertError.invalidConfig("weights metadata lacks a decimal '\(k)'") }
            return v
        }
        self.init(dModel: try int("d_model"), nLayers: try int("n_layers"), nHeads: try int("n_heads"),
                  dFF: try int("d_ff"), context: try int("context"), vocab: try int("vocab"))
        try validate()
    }
}
