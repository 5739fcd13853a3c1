import ArgumentParser
import Foundation
import TriageEngine
import TriageLab
import TriagePresentation
import ExpertModel
import TensorCore

struct Experts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experts",
        abstract: "List, inspect, train, import, export and remove experts.",
        subcommands: [List.self, Show.self, Add.self, Import.self, Export.self, Remove.self, TrainSuite.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The registered experts.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "One JSON object per expert.") var json = false
        func run() throws {
            try guarded {
                let engine = try openEngine(global)
                let experts = try engine.listExperts()
                if json { for e in experts { try printJSON(e) }; return }
                if experts.isEmpty { note("no experts registered (add one with `triage experts add NAME --data FILE.jsonl`)"); return }
                print("name              ver   params  test exact  kind        description")
                for e in experts {
                    print(e.name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%5d %8d  %10@  ", e.version, e.parameters,
                          (e.exactMatch.map(percent) ?? "-") as NSString) + e.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) + (e.description ?? ""))
                }
                if experts.contains(where: { $0.kind == .completion }) { note("(for completion experts, test exact is next-line exact match on held-out files)") }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One expert's manifest: config, data, training record and metrics.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            try guarded {
                let engine = try openEngine(global)
                let (r, manifest) = try engine.manifest(of: name)
                if json { print(manifest); return }
                let obj = try JSONSerialization.jsonObject(with: Data(manifest.utf8))
                print("\(r.name) (version \(r.version), registered \(r.created ?? "?"))")
                let pretty = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: pretty, as: UTF8.self))
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Train a new expert from JSONL ({\"input\", \"output\"} per line), or a completion expert from files (--files), and register it.",
            discussion: """
                Validation and test sets are split off deterministically when not given. Interrupted runs resume from their checkpoint when run again with the same data and options.

                With --files instead of --data the expert is a completion expert: a language model over those files (folders, files or glob patterns such as 'src/**/*.py'; quote them), trained on random windows with fill-in-the-middle, used by `triage complete`. Binary files, files over --max-file-bytes and invalid UTF-8 are skipped and reported; about 5% of the files (by a hash of their path) are held out to measure bits per byte. The registry keeps 2,000 short windows of the files for the router and the held-out files' paths and hashes, not the files, unless --keep-data.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Expert name: letters, digits, - _ . (at most 64).") var name: String
        @Option(help: "Training data (JSONL).") var data: String?
        @Option(parsing: .upToNextOption, help: ArgumentHelp("A completion expert's files: files, folders or glob patterns (quoted: 'src/**/*.py').", valueName: "glob"))
        var files: [String] = []
        @Option(parsing: .upToNextOption, help: ArgumentHelp("Leave out files whose path or name matches (with --files).", valueName: "glob"))
        var exclude: [String] = []
        @Flag(help: "With --files: also store the training files in the registry (by default only short windows for the router).")
        var keepData = false
        @Option(help: "With --files: skip files larger than this many bytes.") var maxFileBytes = 2 << 20
        @Option(help: "With --files: tokens of context.") var context = 256
        @Option(help: "With --files: fraction of training windows given the fill-in-the-middle transform.") var fimRate = 0.5
        @Option(help: "Validation data (default: split off 1/20).") var valid: String?
        @Option(help: "Test data (default: split off 1/20).") var test: String?
        @Option(help: "Model size: nano, tiny or small.") var preset: ExpertConfig.Preset = .tiny
        @Option(help: "Training budget in optimiser steps.") var steps: Int?
        @Option(help: "Training budget in wall-clock minutes (when --steps is not given).") var minutes: Double?
        @Option(help: "Random seed (initialisation and data order).") var seed: UInt64 = 1
        @OptionGroup(title: "Recipe") var recipe: RecipeOptions
        @Option(help: "What the expert does.") var description: String?
        @Option(help: ArgumentHelp("Start from these weights instead of random ones (fine-tuning), e.g. another expert's weights.safetensors; its config must be the preset's.", valueName: "weights.safetensors"))
        var initFrom: String?
        @Flag(help: "Skip malformed lines (and report them) instead of stopping at the first.") var skipBadLines = false
        @Flag(help: "Replace an existing expert of the same name (its version goes up).") var replace = false
        @Option(help: "Default minimum calibrated confidence (0-1): `ask` declines this expert's answers below it as \"not sure\" (exit 4) unless its own --min-confidence says otherwise.")
        var minConfidence: Double?
        @OptionGroup var precision: PrecisionOption
        @Flag(help: "Progress and summary as JSON.") var json = false

        func validate() throws {
            if steps == nil && minutes == nil { throw ValidationError("give a training budget: --steps N or --minutes M") }
            if (data == nil) == files.isEmpty { throw ValidationError("give the training data: --data FILE.jsonl (a task expert) or --files GLOB... (a completion expert)") }
            if !files.isEmpty && (valid != nil || test != nil || initFrom != nil || minConfidence != nil || skipBadLines) {
                throw ValidationError("--valid, --test, --init-from, --min-confidence and --skip-bad-lines are for task experts (--data), not --files")
            }
            if let s = steps, s <= 0 { throw ValidationError("--steps must be positive") }
            if let m = minutes, m <= 0 { throw ValidationError("--minutes must be positive") }
            if let m = minConfidence, !(m >= 0 && m <= 1) { throw ValidationError("--min-confidence must be in [0, 1]") }
        }

        func run() throws {
            try guarded {
                let engine = try openEngine(global)
                if !files.isEmpty { return try addCompletion(engine) }
                var req = AddRequest(name: name, dataPath: data!, budget: steps.map(TrainingBudget.steps) ?? .minutes(minutes!))
                req.seed = seed
                req.recipe = recipe.resolved
                req.validPath = valid
                req.testPath = test
                req.preset = preset
                req.description = description
                req.skipBadLines = skipBadLines
                req.replace = replace
                req.initFrom = initFrom
                req.minConfidence = minConfidence
                req.precision = precision.precision
                Interruption.install()
                let s = try engine.addExpert(req, observer: ProgressReporter(label: name, json: json), log: note)
                if json { try printJSON(s); return }
                print("added \(s.name) (version \(s.version)): test exact match \(percent(s.metrics.exactMatch)) on \(s.testExamples) examples, "
                      + "validation \(percent(s.training.bestValidationAccuracy)); \(s.parameters) parameters; "
                      + String(format: "%d steps in %.1f s (%.0f tokens/s); router v%d", s.training.steps, s.training.seconds,
                               Double(s.training.tokens) / max(1e-9, s.training.seconds), s.routerVersion))
            }
        }

        private func addCompletion(_ engine: Engine) throws {
            var req = CompletionAddRequest(name: name, include: files, budget: steps.map(TrainingBudget.steps) ?? .minutes(minutes!))
            req.exclude = exclude
            req.seed = seed
            req.recipe = recipe.resolved
            req.preset = preset
            req.context = context
            req.description = description
            req.replace = replace
            req.keepData = keepData
            req.maxFileBytes = maxFileBytes
            req.fimRate = fimRate
            req.precision = precision.precision
            Interruption.install()
            let s = try engine.addCompletionExpert(req, observer: ProgressReporter(label: name, json: json), log: note)
            if json { try printJSON(s); return }
            let c = s.completion
            print("added completion expert \(s.name) (version \(s.version)): \(c.trainFiles) files (\(c.trainBytes.formatted()) bytes), \(c.heldOut.count) held out"
                  + (c.heldOutBitsPerByte.map { String(format: ", held-out %.3f bits per byte", $0) } ?? "")
                  + (c.nextLineExactMatch.map { ", next-line exact match \(percent($0))" } ?? "")
                  + "; \(s.parameters) parameters; "
                  + String(format: "%d steps in %.1f s; router v%d", s.training.steps, s.training.seconds, s.routerVersion))
            print("stored: \(c.stored)")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "import", abstract: "Register ready experts from folders (expert.json, weights.safetensors, data files), checking every file.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Expert folders (the format of Experts/NAME/).") var dirs: [String]
        @Flag(help: "Replace experts of the same name.") var replace = false
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            try guarded {
                let engine = try openEngine(global, bootstrap: false)
                let stored = try engine.importExperts(dirs, replace: replace, log: note)
                if json { for r in stored { try printJSON(r) }; return }
                for r in stored { print("imported \(r.name) (version \(r.version))") }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", abstract: "Write an expert as a folder that `import` reads back.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Argument var dir: String
        func run() throws {
            try guarded {
                try openEngine(global).exportExpert(name, to: dir)
                note("exported \(name) to \(dir)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an expert (the router is retrained without it, atomically).")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        func run() throws {
            try guarded {
                try openEngine(global, bootstrap: false).removeExpert(name, log: note)
                note("removed \(name)")
            }
        }
    }
}

extension Experts {
    struct TrainSuite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-suite",
            abstract: "Retrain the shipped suite in Experts/ (weights, metrics, manifests, router) with the recipe in Experts/suite.json.",
            discussion: "Long: run it in the background (nohup). Interrupted runs resume from each expert's checkpoint; experts already trained with the current recipe and data are skipped.")
        @Option(help: "The suite folder (default: the repository's Experts/).") var suite: String?
        @Option(help: "Only these experts (comma-separated).") var only: String?
        @Flag(help: "Retrain even experts that are up to date.") var force = false
        @Flag(help: "Only retrain the suite's router (Experts/_router).") var routerOnly = false
        @Flag(help: "Only (re)fit each expert's answer-confidence calibration on its valid.jsonl and write it into expert.json (weights untouched).")
        var calibrateOnly = false
        @Option(help: "Products in bf16 or fp32 (default: the recipe's `precision`, else auto: bf16 where the CPU has AVX512-BF16 or AMX).")
        var precision: PrecisionChoice?
        @Flag(help: "Progress as JSON lines.") var json = false
        func run() throws {
            try guarded {
                guard let dir = suite ?? SuiteLocator.locate() else { throw TriageError.notFound("no Experts/ folder found; pass --suite DIR") }
                if routerOnly { try SuiteTrainer.trainRouter(suite: dir, spec: try SuiteSpec.read(dir), log: note); return }
                if calibrateOnly { try SuiteTrainer.calibrate(suite: dir, only: only.map { Set($0.split(separator: ",").map(String.init)) }, log: note); return }
                Interruption.install()
                try SuiteTrainer.train(suite: dir, only: only.map { Set($0.split(separator: ",").map(String.init)) }, force: force, precision: precision,
                                       observer: { ProgressReporter(label: $0, json: json) }, log: note)
            }
        }
    }
}
