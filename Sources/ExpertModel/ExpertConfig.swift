/// The shape of an expert transformer. Presets: `nano`, `tiny` (the reference model), `small`.
///
/// Format 1 is GPT-2's block (learned positions, GELU); format 2 adds the recipe's architecture options
/// (rotary positions, QK-norm, squared ReLU). A format-1 config writes exactly the metadata it always did,
/// so every expert made before the options existed loads, answers and matches the PyTorch reference as before.
public struct ExpertConfig: Codable, Equatable, Sendable {
    public var dModel: Int
    public var nLayers: Int
    public var nHeads: Int
    public var dFF: Int
    public var context: Int
    public var vocab: Int
    /// How positions enter the model.
    public var positions: PositionEncoding = .learned
    /// RMS-normalise each head's queries and keys (with learned gains) before the scores.
    public var qkNorm = false
    /// The MLP's activation.
    public var activation: Activation = .gelu

    /// Learned absolute position embeddings (GPT-2), or rotary embeddings of queries and keys (RoFormer).
    public enum PositionEncoding: String, Codable, Sendable, CaseIterable { case learned, rope }
    /// GELU (GPT-2) or max(x, 0)² (Primer).
    public enum Activation: String, Codable, Sendable, CaseIterable { case gelu, relu2 }

    enum CodingKeys: String, CodingKey {
        case dModel = "d_model", nLayers = "n_layers", nHeads = "n_heads", dFF = "d_ff", context, vocab
        case positions, qkNorm = "qk_norm", activation
    }

    public init(dModel: Int, nLayers: Int, nHeads: Int, dFF: Int, context: Int, vocab: Int = Vocabulary.size,
                positions: PositionEncoding = .learned, qkNorm: Bool = false, activation: Activation = .gelu) {
        self.dModel = dModel
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.dFF = dFF
        self.context = context
        self.vocab = vocab
        self.positions = positions
        self.qkNorm = qkNorm
        self.activation = activation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(dModel: try c.decode(Int.self, forKey: .dModel), nLayers: try c.decode(Int.self, forKey: .nLayers),
                  nHeads: try c.decode(Int.self, forKey: .nHeads), dFF: try c.decode(Int.self, forKey: .dFF),
                  context: try c.decode(Int.self, forKey: .context), vocab: try c.decode(Int.self, forKey: .vocab),
                  positions: try c.decodeIfPresent(PositionEncoding.self, forKey: .positions) ?? .learned,
                  qkNorm: try c.decodeIfPresent(Bool.self, forKey: .qkNorm) ?? false,
                  activation: try c.decodeIfPresent(Activation.self, forKey: .activation) ?? .gelu)
    }

    /// Format-1 configs encode as they always did (manifests and recipes compare equal to old ones).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dModel, forKey: .dModel); try c.encode(nLayers, forKey: .nLayers); try c.encode(nHeads, forKey: .nHeads)
        try c.encode(dFF, forKey: .dFF); try c.encode(context, forKey: .context); try c.encode(vocab, forKey: .vocab)
        if positions != .learned { try c.encode(positions, forKey: .positions) }
        if qkNorm { try c.encode(qkNorm, forKey: .qkNorm) }
        if activation != .gelu { try c.encode(activation, forKey: .activation) }
    }

    /// 1: GPT-2's block; 2: any architecture option set.
    public var formatVersion: Int { positions == .learned && !qkNorm && activation == .gelu ? 1 : 2 }

    /// This shape with the given architecture options.
    public func with(positions: PositionEncoding? = nil, qkNorm: Bool? = nil, activation: Activation? = nil) -> ExpertConfig {
        var c = self
        if let positions { c.positions = positions }
        if let qkNorm { c.qkNorm = qkNorm }
        if let activation { c.activation = activation }
        return c
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
        guard positions == .learned || (dModel / nHeads) % 2 == 0 else { throw fail("rotary positions need an even head size, got \(dModel / nHeads)") }
    }

    /// Parameter count (tied head, biases on every linear layer): 843,008 for `tiny`.
    public var parameterCount: Int {
        let d = dModel
        let block = 2 * d * 2 + (3 * d * d + 3 * d) + (d * d + d) + (dFF * d + dFF) + (d * dFF + d) + (qkNorm ? 2 * (d / nHeads) : 0)
        return vocab * d + (positions == .learned ? context * d : 0) + nLayers * block + 2 * d
    }

    /// `parameterCount` in floating point: exact for any real model, and for the absurd sizes a damaged
    /// or hostile weights file can declare it stays a number to compare instead of overflowing.
    public var approximateParameterCount: Double {
        let d = Double(dModel), ff = Double(dFF), heads = Double(nHeads)
        let block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (ff * d + ff) + (d * ff + d) + (qkNorm ? 2 * (d / heads).rounded(.towardZero) : 0)
        return Double(vocab) * d + (positions == .learned ? Double(context) * d : 0) + Double(nLayers) * block + 2 * d
    }

    /// Forward+backward FLOPs per token for training-compute accounting: 6 per matmul parameter
    /// (the tied head included) plus attention's score and weighted-sum products at full context.
    public func trainingFLOPsPerToken(sequenceLength t: Int) -> Double {
        let d = Double(dModel), matmulParams = Double(nLayers) * (4 * d * d + 2 * d * Double(dFF)) + Double(vocab) * d
        let attention = Double(nLayers) * 2 * 2 * Double(t) * d  // QKᵀ and PV, forward
        return 6 * matmulParams + 3 * attention
    }

    /// The config as safetensors `__metadata__` strings (format 1: the six sizes only, as always).
    public var metadata: [String: String] {
        var m = ["d_model": "\(dModel)", "n_layers": "\(nLayers)", "n_heads": "\(nHeads)", "d_ff": "\(dFF)",
                 "context": "\(context)", "vocab": "\(vocab)"]
        if formatVersion > 1 {
            m["format"] = "\(formatVersion)"
            m["positions"] = positions.rawValue
            m["qk_norm"] = qkNorm ? "1" : "0"
            m["activation"] = activation.rawValue
        }
        return m
    }

    public init(metadata m: [String: String]) throws {
        func int(_ k: String) throws -> Int {
            guard let s = m[k], let v = Int(s) else { throw ExpertError.invalidConfig("weights metadata lacks a decimal '\(k)'") }
            return v
        }
        let format = Int(m["format"] ?? "1") ?? 0
        guard format == 1 || format == 2 else {
            throw ExpertError.invalidConfig("weights are model format \(m["format"] ?? "?"); this triage reads formats 1 and 2 (a newer triage wrote them?)")
        }
        var positions = PositionEncoding.learned, activation = Activation.gelu, qkNorm = false
        if format == 2 {
            guard let p = m["positions"].flatMap(PositionEncoding.init(rawValue:)), let a = m["activation"].flatMap(Activation.init(rawValue:)),
                  let q = m["qk_norm"], q == "0" || q == "1" else {
                throw ExpertError.invalidConfig("format-2 weights need positions (learned|rope), activation (gelu|relu2) and qk_norm (0|1) in their metadata")
            }
            (positions, activation, qkNorm) = (p, a, q == "1")
        }
        self.init(dModel: try int("d_model"), nLayers: try int("n_layers"), nHeads: try int("n_heads"),
                  dFF: try int("d_ff"), context: try int("context"), vocab: try int("vocab"),
                  positions: positions, qkNorm: qkNorm, activation: activation)
        try validate()
    }
}
