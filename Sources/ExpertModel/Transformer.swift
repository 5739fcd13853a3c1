import Foundation
import TensorCore

/// One pre-LayerNorm block: x + proj(attn(ln1 x)), then + fc2(gelu(fc1(ln2 x))).
struct Block {
    let ln1: LayerNorm, qkv: Linear, proj: Linear, ln2: LayerNorm, fc1: Linear, fc2: Linear

    init(index i: Int, config c: ExpertConfig, std: Float, rng: inout RandomGenerator) {
        let p = "blocks.\(i)"
        ln1 = LayerNorm("\(p).ln1", dim: c.dModel)
        qkv = Linear("\(p).qkv", inFeatures: c.dModel, outFeatures: 3 * c.dModel, std: std, rng: &rng)
        proj = Linear("\(p).proj", inFeatures: c.dModel, outFeatures: c.dModel, std: std, rng: &rng)
        ln2 = LayerNorm("\(p).ln2", dim: c.dModel)
        fc1 = Linear("\(p).fc1", inFeatures: c.dModel, outFeatures: c.dFF, std: std, rng: &rng)
        fc2 = Linear("\(p).fc2", inFeatures: c.dFF, outFeatures: c.dModel, std: std, rng: &rng)
    }

    var parameters: [Parameter] {
        ln1.parameters + qkv.parameters + proj.parameters + ln2.parameters + fc1.parameters + fc2.parameters
    }
}

/// The expert transformer: byte embeddings plus learned positions, pre-LN blocks with fused-qkv causal
/// attention and a GELU MLP, a final LayerNorm and a head tied to the token embedding.
///
/// Tensor names follow PyTorch's module paths (`tok.weight`, `blocks.0.qkv.weight`, …; linear weights
/// [out, in]) so that `shared/peers/parity.py` loads the same file.
public final class Transformer {
    public let config: ExpertConfig
    let tok: Embedding, pos: Embedding
    let blocks: [Block]
    let lnf: LayerNorm
    public let parameters: ParameterSet

    /// GPT-2 initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm scales.
    public convenience init(config: ExpertConfig, seed: UInt64) throws {
        try self.init(config: config, seed: seed, std: 0.02)
    }

    /// `std` 0 gives zero weights without drawing random numbers (a model about to be loaded).
    init(config: ExpertConfig, seed: UInt64, std: Float) throws {
        try config.validate()
        self.config = config
        var rng = RandomGenerator(seed: seed)
        tok = Embedding("tok", count: config.vocab, dim: config.dModel, std: std, rng: &rng)
        pos = Embedding("pos", count: config.context, dim: config.dModel, std: std, rng: &rng)
        blocks = (0..<config.nLayers).map { Block(index: $0, config: config, std: std, rng: &rng) }
        lnf = LayerNorm("lnf", dim: config.dModel)
        parameters = ParameterSet(tok.parameters + pos.parameters + blocks.flatMap(\.parameters) + lnf.parameters)
    }

    /// Logits [batch·seq, vocab] for token ids laid out [batch, seq] (row-major), recorded for autograd
    /// unless called under `Autograd.noGrad`.
    public func logits(tokens: [Int32], batch: Int, seq: Int) -> Tensor {
        precondition(tokens.count == batch * seq, "logits: \(tokens.count) tokens is not \(batch) × \(seq)")
        precondition(seq <= config.context, "logits: sequence \(seq) is longer than the context \(config.context)")
        let positions = (0..<batch).flatMap { _ in (0..<seq).map(Int32.init) }
        var x = tok(tokens) + pos(positions)
        for b in blocks {
            let qkv = b.qkv(b.ln1(x))
            x = x + b.proj(causalSelfAttention(qkv, batch: batch, seq: seq, heads: config.nHeads))
            x = x + b.fc2(gelu(b.fc1(b.ln2(x))))
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
