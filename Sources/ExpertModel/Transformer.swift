import Foundation
import TensorCore

/// One pre-LayerNorm block: x + proj(attn(ln1 x)), then + fc2(act(fc1(ln2 x))); with QK-norm, each head's
/// queries and keys are RMS-normalised (gains `qnorm`, `knorm`) before RoPE and the scores.
struct Block {
    let ln1: LayerNorm, qkv: Linear, proj: Linear, ln2: LayerNorm, fc1: Linear, fc2: Linear
    let qGain: Parameter?, kGain: Parameter?

    /// `outputStd`: the initial scale of the two projections that write into the residual stream.
    init(index i: Int, config c: ExpertConfig, std: Float, outputStd: Float, rng: inout RandomGenerator) {
        let p = "blocks.\(i)"
        ln1 = LayerNorm("\(p).ln1", dim: c.dModel)
        qkv = Linear("\(p).qkv", inFeatures: c.dModel, outFeatures: 3 * c.dModel, std: std, rng: &rng)
        proj = Linear("\(p).proj", inFeatures: c.dModel, outFeatures: c.dModel, std: outputStd, rng: &rng)
        ln2 = LayerNorm("\(p).ln2", dim: c.dModel)
        fc1 = Linear("\(p).fc1", inFeatures: c.dModel, outFeatures: c.dFF, std: std, rng: &rng)
        fc2 = Linear("\(p).fc2", inFeatures: c.dFF, outFeatures: c.dModel, std: outputStd, rng: &rng)
        let hd = c.dModel / c.nHeads
        qGain = c.qkNorm ? Parameter("\(p).qnorm.weight", Tensor(filled: 1, shape: [hd])) : nil
        kGain = c.qkNorm ? Parameter("\(p).knorm.weight", Tensor(filled: 1, shape: [hd])) : nil
    }

    var parameters: [Parameter] {
        ln1.parameters + qkv.parameters + [qGain, kGain].compactMap { $0 } + proj.parameters + ln2.parameters + fc1.parameters + fc2.parameters
    }
}

/// The expert transformer: byte embeddings (plus learned positions, or rotary ones inside attention),
/// pre-LN blocks with fused-qkv causal attention and a GELU or squared-ReLU MLP, a final LayerNorm and a
/// head tied to the token embedding.
///
/// Tensor names follow PyTorch's module paths (`tok.weight`, `blocks.0.qkv.weight`, …; linear weights
/// [out, in]) so that `shared/peers/parity.py` loads the same file.
public final class Transformer {
    public let config: ExpertConfig
    let tok: Embedding
    /// Learned positions (nil with rotary positions, whose table is `rotary`).
    let pos: Embedding?
    let rotary: RotaryTable?
    let blocks: [Block]
    let lnf: LayerNorm
    public let parameters: ParameterSet

    /// GPT-2 initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm scales; with
    /// `zeroOutputProjections`, the attention and MLP output projections start at zero, so every block
    /// starts as the identity (modded-nanogpt's choice; the random draws of the other weights are the same).
    public convenience init(config: ExpertConfig, seed: UInt64, zeroOutputProjections: Bool = false) throws {
        try self.init(config: config, seed: seed, std: 0.02, outputStd: zeroOutputProjections ? 0 : 0.02)
    }

    /// `std` 0 gives zero weights without drawing random numbers (a model about to be loaded).
    init(config: ExpertConfig, seed: UInt64, std: Float, outputStd: Float? = nil) throws {
        try config.validate()
        self.config = config
        var rng = RandomGenerator(seed: seed)
        tok = Embedding("tok", count: config.vocab, dim: config.dModel, std: std, rng: &rng)
        pos = config.positions == .learned ? Embedding("pos", count: config.context, dim: config.dModel, std: std, rng: &rng) : nil
        rotary = config.positions == .rope ? RotaryTable(positions: config.context, headDim: config.dModel / config.nHeads) : nil
        blocks = (0..<config.nLayers).map { Block(index: $0, config: config, std: std, outputStd: outputStd ?? std, rng: &rng) }
        lnf = LayerNorm("lnf", dim: config.dModel)
        parameters = ParameterSet(tok.parameters + (pos?.parameters ?? []) + blocks.flatMap(\.parameters) + lnf.parameters)
    }

    /// The hidden weight matrices (attention and MLP projections): what Muon orthogonalises; the rest
    /// (embeddings, the tied head, norms, biases) stays on AdamW.
    public var hiddenMatrices: [Parameter] { blocks.flatMap { [$0.qkv.weight, $0.proj.weight, $0.fc1.weight, $0.fc2.weight] } }

    /// Logits [batch·seq, vocab] for token ids laid out [batch, seq] (row-major), recorded for autograd
    /// unless called under `Autograd.noGrad`.
    public func logits(tokens: [Int32], batch: Int, seq: Int) -> Tensor {
        precondition(tokens.count == batch * seq, "logits: \(tokens.count) tokens is not \(batch) × \(seq)")
        precondition(seq <= config.context, "logits: sequence \(seq) is longer than the context \(config.context)")
        let positions = (0..<batch).flatMap { _ in (0..<seq).map(Int32.init) }
        var x = pos.map { tok(tokens) + $0(positions) } ?? tok(tokens)
        let heads = config.nHeads
        for b in blocks {
            var qkv = b.qkv(b.ln1(x))
            if let qg = b.qGain, let kg = b.kGain { qkv = normalizeQueriesKeys(qkv, heads: heads, qGain: qg.value, kGain: kg.value) }
            if let rotary { qkv = rotaryEmbedding(qkv, heads: heads, positions: positions, table: rotary) }
            x = x + b.proj(causalSelfAttention(qkv, batch: batch, seq: seq, heads: heads))
            let hidden = b.fc1(b.ln2(x))
            x = x + b.fc2(config.activation == .relu2 ? reluSquared(hidden) : gelu(hidden))
        }
        return matmul(lnf(x), tok.weight.value, transposeB: true)
    }

    /// Mean cross-entropy over the positions whose mask is non-zero: sum(mask·CE)/sum(mask).
    public func loss(_ batch: TokenBatch) -> Tensor {
        crossEntropy(logits(tokens: batch.tokens, batch: batch.batch, seq: batch.seq), targets: batch.targets, weights: batch.mask)
    }

    // MARK: Weights

    /// Saves every parameter as F32 (or `dtype`), with the config (and `name`) in `__metadata__`.
    public func save(to path: String, name: String? = nil, dtype: SafeTensors.DType = .f32, extraMetadata: [String: String] = [:]) throws {
        var meta = config.metadata.merging(extraMetadata) { a, _ in a }
        if let name { meta["name"] = name }
        try SafeTensors.write(parameters.entries(), as: dtype, metadata: meta, to: path)
    }

    /// Builds a model from a safetensors file: the config comes from its `__metadata__`, and the
    /// tensor names and shapes must match exactly.
    public static func load(from path: String) throws -> Transformer {
        let file: SafeTensors.File
        do { file = try SafeTensors.read(path: path) } catch let e as TensorCoreError { throw ExpertError.badWeights(e.description) }
        return try load(file, origin: path)
    }

    public static func load(_ file: SafeTensors.File, origin: String) throws -> Transformer {
        let config: ExpertConfig
        do { config = try ExpertConfig(metadata: file.metadata) } catch let e as ExpertError {
            throw ExpertError.badWeights("\(origin): \(e.description)")
        }
        // The metadata alone must not decide how much memory is allocated (a few changed digits would ask
        // for terabytes): the model is built only if the file holds exactly as many values as it needs.
        let stored = file.entries.values.reduce(0) { $0 + $1.count }
        guard config.approximateParameterCount == Double(stored) else {
            throw ExpertError.badWeights("\(origin): its metadata describes a model of \(config.approximateParameterCount) parameters, its tensors hold \(stored) values")
        }
        let model = try Transformer(config: config, seed: 0, std: 0)
        let expected = Set(model.parameters.names), got = Set(file.entries.keys)
        guard expected == got else {
            let missing = expected.subtracting(got).sorted().prefix(4), extra = got.subtracting(expected).sorted().prefix(4)
            throw ExpertError.badWeights("\(origin): tensor names differ from the model's (missing \(Array(missing)), unexpected \(Array(extra)))")
        }
        do { try model.parameters.load(file.tensors) } catch let e as TensorCoreError {
            throw ExpertError.badWeights("\(origin): \(e.description)")
        }
        return model
    }
}
