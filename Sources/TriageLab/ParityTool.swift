import Foundation
import TriageEngine
import TensorCore
import ExpertModel

/// Triage's side of shared/peers/parity.py: the same commands on the same safetensors files, so the
/// two implementations can be compared number for number (Benchmarks/parity.sh).
public enum ParityTool {
    /// Random weights for a preset, and a batch file (tokens, targets, mask) with BOS/SEP/EOS layout.
    public static func initialise(preset: ExpertConfig.Preset, seed: UInt64, weightsPath: String, batchPath: String, batch: Int, seq: Int) throws {
        let config = preset.config
        let model = try Transformer(config: config, seed: seed)
        // Perturb biases and LayerNorm parameters too, so every tensor's gradient path is exercised.
        var rng = RandomGenerator(seed: seed &+ 1)
        for p in model.parameters.all where p.shape.count == 1 {
            var noisy = p.value.detached
            noisy.withMutableValues { v in for i in v.indices { v[i] += 0.1 * rng.nextNormal() } }
            p.load(noisy)
        }
        try model.save(to: weightsPath, name: "parity-\(preset.rawValue)")
        var tokens = [Int64](), targets = [Int64](), mask = [Float]()
        for _ in 0..<batch {
            let inLen = 3 + rng.nextInt(below: seq / 2)
            let outLen = 1 + rng.nextInt(below: max(1, seq - inLen - 3))
            let ex = Vocabulary.example(input: String((0..<inLen).map { _ in Character(UnicodeScalar(UInt8(97 + rng.nextInt(below: 26)))) }),
                                        output: String((0..<outLen).map { _ in Character(UnicodeScalar(UInt8(48 + rng.nextInt(below: 10)))) }))
            let b = TokenBatch(examples: [Array(ex.prefix(seq + 1))])
            for t in 0..<seq {
                tokens.append(Int64(t < b.seq ? b.tokens[t] : Vocabulary.pad))
                targets.append(Int64(t < b.seq ? b.targets[t] : Vocabulary.pad))
                mask.append(t < b.seq ? b.mask[t] : 0)
            }
        }
        try SafeTensors.write(["tokens": .init(integers: tokens, shape: [batch, seq]),
                               "targets": .init(integers: targets, shape: [batch, seq]),
                               "mask": .init(Tensor(shape: [batch, seq], values: mask))], to: batchPath)
    }

    static func readBatch(_ path: String) throws -> TokenBatch {
        let f = try SafeTensors.read(path: path)
        guard let t = f.entries["tokens"], t.shape.count == 2, let ids = t.integers else {
            throw ExpertError.badData(file: path, line: 0, problem: "needs an integer 'tokens' tensor [B, T]")
        }
        let (b, s) = (t.shape[0], t.shape[1])
        let targets = f.entries["targets"]?.integers ?? ids
        let mask = f["mask"]?.values ?? [Float](repeating: 1, count: ids.count)
        return TokenBatch(tokens: ids.map { Int32($0) }, targets: targets.map { Int32($0) }, mask: mask, batch: b, seq: s)
    }

    /// Logits of `weights` on the token file, written for `parity.py compare`.
    public static func forward(weights: String, tokens: String, out: String) throws {
        let model = try Transformer.load(from: weights)
        let b = try readBatch(tokens)
        let logits = Autograd.noGrad { model.logits(tokens: b.tokens, batch: b.batch, seq: b.seq) }
        try SafeTensors.write(["logits": logits.reshaped([b.batch, b.seq, model.config.vocab])], to: out)
    }

    /// Loss and every gradient of `weights` on the batch file.
    public static func grads(weights: String, batch: String, out: String) throws {
        let model = try Transformer.load(from: weights)
        let loss = model.loss(try readBatch(batch))
        loss.backward()
        var entries = [String: Tensor]()
        for p in model.parameters.all { entries[p.name] = p.grad ?? Tensor(zeros: p.shape) }
        entries["loss"] = Tensor(shape: [1], values: [loss.item])
        try SafeTensors.write(entries, metadata: model.config.metadata, to: out)
    }

    /// One step with parity.py's defaults: clip 1.0, AdamW(3e-4, (0.9, 0.95), eps 1e-8, wd 0.1 on 2-D+ tensors).
    public static func step(weights: String, batch: String, out: String) throws {
        let model = try Transformer.load(from: weights)
        let loss = model.loss(try readBatch(batch))
        loss.backward()
        clipGradNorm(model.parameters.all, maxNorm: 1)
        AdamW(learningRate: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decayOnlyMatrices: true).update(model.parameters.all)
        var entries = model.parameters.entries()
        entries["loss"] = Tensor(shape: [1], values: [loss.item])
        try SafeTensors.write(entries, metadata: model.config.metadata, to: out)
    }
}
