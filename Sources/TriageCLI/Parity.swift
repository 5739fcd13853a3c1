import ArgumentParser
import TriageEngine
import TriageLab
import TriagePresentation
import ExpertModel

/// `triage parity …`: Triage's side of shared/peers/parity.py (used by Benchmarks/parity.sh).
struct Parity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Compute forward logits, gradients or one AdamW step on safetensors files, for checking against PyTorch.",
        subcommands: [Init.self, Forward.self, Grads.self, Step.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Write random weights for a preset and a batch file.")
        @Option(help: "Model size: nano, tiny or small.") var preset: ExpertConfig.Preset = .nano
        @Option var seed: UInt64 = 1
        @Option var batch = 4
        @Option var seq = 32
        @Argument var weights: String
        @Argument var batchFile: String
        func run() throws { try ParityTool.initialise(preset: preset, seed: seed, weightsPath: weights, batchPath: batchFile, batch: batch, seq: seq) }
    }
    /// WEIGHTS INPUT OUT, as parity.py takes them.
    struct Files: ParsableArguments {
        @Argument(help: "Weights (safetensors with the config in __metadata__).") var weights: String
        @Argument(help: "Tokens or batch file (tokens, targets, mask).") var input: String
        @Argument(help: "Output file.") var out: String
    }
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "forward", abstract: "Logits [B,T,V] for a tokens file.")
        @OptionGroup var files: Files
        func run() throws { try ParityTool.forward(weights: files.weights, tokens: files.input, out: files.out) }
    }
    struct Grads: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "grads", abstract: "Gradients of the masked loss for every tensor.")
        @OptionGroup var files: Files
        func run() throws { try ParityTool.grads(weights: files.weights, batch: files.input, out: files.out) }
    }
    struct Step: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "step", abstract: "One clipped AdamW step; writes the updated weights.")
        @OptionGroup var files: Files
        func run() throws { try ParityTool.step(weights: files.weights, batch: files.input, out: files.out) }
    }
}
