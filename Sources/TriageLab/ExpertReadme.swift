import Foundation
import TriageEngine
import ExpertModel
import TensorCore

/// The short `README.md` of a shipped expert (`Experts/NAME/README.md`): the task with examples, the
/// data's source, licence and making, the model and training record, and the measured accuracy. It is
/// written from the manifest and `source.json` whenever the suite is (re)trained, so the numbers in it
/// are the manifest's and never drift from them.
enum ExpertReadme {
    static func render(manifest m: ExpertManifest, examples: [Example], counts: [String: Int]) -> String {
        var out = "# \(m.name)\n\n\(m.description)\n\n"
        out += "Task: \(m.task ?? m.name). Input and output are text; an answer counts only if it matches exactly.\n\n"
        out += "| input | output |\n| --- | --- |\n"
        for e in examples { out += "| `\(cell(e.input))` | `\(cell(e.output))` |\n" }

        let src = m.source ?? [:]
        out += "\n## Data\n\n"
        let package = [src["source.package"], src["source.version"]].compactMap { $0 }.joined(separator: " ")
        if let module = src["source.module"] {
            out += "Sampled from the `\(module)` module of \(package) (PyPI `mathematics-dataset`), as the paper does: "
                + "training examples from the `train` regime (easy, medium and hard mixed equally), the test set from the "
                + "`interpolate` regime, validation from `train` with a different seed. Each module runs in a fresh "
                + "process with fixed seeds, so the files are reproducible byte for byte.\n\n"
        } else {
            out += "Taken from \(package) (the CMU Pronouncing Dictionary): lowercase word → ARPAbet phones with stress, "
                + "first pronunciation only. Split by a hash of the word anyone can recompute: words with "
                + "`int(sha256(\"holdout:\" + word), 16) % 20 == 0` are held out of every split (`holdout_words.txt`); "
                + "of the rest, `int(sha256(word), 16) % 10` is 0 for test, 1 for validation, else training.\n\n"
        }
        out += "Examples longer than the 128-byte context (question + answer + 3 special tokens) were dropped when the "
            + "data was made. Files: " + ["train", "valid", "test"].map { "`\($0).jsonl` \(counts[$0].map(String.init) ?? "?")" }.joined(separator: ", ")
            + " examples. No test input appears in any expert's training data (checked by the test suite). "
            + "Regenerate with `Experts/data/generate.py` (see `Experts/data/README.md`); every seed and count is in `source.json`.\n\n"
        if let licence = src["licence.name"] {
            out += "Licence: \(licence)" + (src["licence.url"].map { " (\($0))" } ?? "") + ". " + (src["licence.note"] ?? "") + "\n"
        }

        out += "\n## Model and training\n\n"
        let c = m.config
        out += "Byte-level decoder-only transformer: d_model \(c.dModel), \(c.nLayers) layers, \(c.nHeads) heads, MLP \(c.dFF), "
            + "context \(c.context); \(m.parameters.formatted()) parameters; weights `\(m.weights)` (\(m.weightsDType ?? "F32")).\n"
        if let t = m.training {
            let o = t.options
            let steps = t.record?.steps ?? o.steps ?? 0
            out += "Recipe (`Experts/suite.json`, the same for every expert): "
                + (o.minutes.map { String(format: "a budget of %.2f minutes of training (%d steps here)", $0, steps) } ?? "\(steps) steps")
                + " of batch \(o.batchSize), AdamW peak "
                + "learning rate \(o.learningRate) with \(o.warmupSteps) warm-up steps and cosine decay, weight decay \(o.weightDecay), "
                + "gradient clipping \(o.clipNorm), seed \(o.seed).\n"
            if let b = t.base {
                let share = b.record.steps / max(1, b.experts.count)
                out += "It starts from the suite's shared base (`Experts/\(SharedBase.directoryName)/`, SHA-256 `\(b.weightsSHA256.prefix(12))…`): the same "
                    + "model trained for \(b.record.steps.formatted()) steps on the balanced mixture of all \(b.experts.count) experts' training data "
                    + String(format: "(%.1f minutes, %.3g FLOPs, trained once for the suite). ", b.record.seconds / 60, b.record.flops)
                    + "Counting its share, this expert cost \(steps) + \(share) = \(steps + share) steps"
                    + (t.record.map { String(format: " and %.1f + %.1f = %.1f minutes", $0.seconds / 60, b.record.seconds / 60 / Double(max(1, b.experts.count)), ($0.seconds + b.record.seconds / Double(max(1, b.experts.count))) / 60) } ?? "")
                    + "; "
                    + "`triage compare` counts the base once in the routed system's compute.\n"
            }
            if let r = t.record {
                out += String(format: "Trained in %.1f minutes on %d threads, %@ tokens, %.3g FLOPs; best validation exact match %.1f%% at step %d.\n",
                              r.seconds / 60, r.threads, r.tokens.formatted(), r.flops, 100 * r.bestValidationAccuracy, r.bestStep)
            }
        }

        out += "\n## Measured accuracy\n\n"
        if let mt = m.metrics {
            out += String(format: "Test exact match **%.2f%%** (n = %d)", 100 * mt.exactMatch, mt.n)
            if let w = mt.wordErrorRate { out += String(format: ", word error rate %.2f%%", 100 * w) }
            if let p = mt.phoneErrorRate { out += String(format: ", phone error rate %.2f%%", 100 * p) }
            out += ". Reproduce: `triage eval Experts/\(m.name)/test.jsonl --expert \(m.name)` (or without `--expert`, "
                + "through the router), or `bash Benchmarks/suite_eval.sh` for the whole suite.\n"
        }
        return out
    }

    private static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "'") }

    /// Writes `dir/README.md` from the manifest and the expert's data (already read by the caller).
    static func write(manifest: ExpertManifest, folder dir: String, train: [Example], valid: [Example], test: [Example]) throws {
        let counts = ["train": train.count, "valid": valid.count, "test": test.count]
        let text = render(manifest: manifest, examples: Array(train.prefix(3)), counts: counts)
        try AtomicFile.write(Data(text.utf8), to: dir + "/README.md")
    }

    /// `Experts/_base/README.md`: what the shared base is, how it was trained and what it cost.
    static func writeBase(_ b: SharedBase, config c: ExpertConfig, examples: Int, folder dir: String) throws {
        let o = b.options, r = b.record
        var out = "# The suite's shared base\n\n"
        out += "Every expert of the suite starts from these weights instead of random ones. The eight math tasks share "
            + "sub-skills (reading a number and copying it digit by digit, the shape of an answer) that each expert "
            + "would otherwise learn again from scratch; the base learns them once, on all the tasks, and each "
            + "expert then spends its own steps on its task.\n\n"
        out += "Model: the experts' (d_model \(c.dModel), \(c.nLayers) layers, \(c.nHeads) heads, MLP \(c.dFF), context "
            + "\(c.context); \(c.parameterCount.formatted()) parameters). Data: the balanced mixture of the \(b.experts.count) experts' "
            + "training files (\(b.experts.joined(separator: ", "))), each cycled up to the largest, "
            + "\(examples.formatted()) examples; never their validation or test files. Recipe: `Experts/suite.json` "
            + "(`base_steps`), \(o.steps ?? 0) steps of batch \(o.batchSize), AdamW peak learning rate \(o.learningRate) with "
            + "\(o.warmupSteps) warm-up steps and cosine decay, seed \(o.seed).\n\n"
        out += String(format: "Trained in %.1f minutes on %d threads, %@ tokens, %.3g FLOPs; validation exact match over all "
                      + "tasks %.1f%% (best, at step %d). Weights `weights.safetensors`, SHA-256 in `base.json` (checked "
                      + "before any expert is trained from it).\n\n", r.seconds / 60, r.threads, r.tokens.formatted(), r.flops,
                      100 * r.bestValidationAccuracy, r.bestStep)
        out += "Its compute is part of the suite's: each expert's manifest carries this record, and `triage compare` "
            + "counts it once in the routed system's steps, FLOPs and CPU time, and in the baselines' equal-compute plan.\n"
        try AtomicFile.write(Data(out.utf8), to: dir + "/README.md")
    }
}
