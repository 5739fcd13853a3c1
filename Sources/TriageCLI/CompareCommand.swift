import ArgumentParser
import Foundation
import TensorCore
import TriageEngine
import TriageLab
import TriagePresentation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Routed narrow experts vs one model trained on everything at equal compute, per task.",
        discussion: "The single-model baselines come from the suite's Experts/_baselines when they were trained for exactly the registered experts; otherwise they are trained on first use (with progress and checkpoints). Either way they are stored in the registry and reused; --retrain trains them again.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Experts to compare (comma-separated; default: all).") var experts: String?
    @Flag(help: "Train the baselines again.") var retrain = false
    @Flag(help: "Compare the completion experts instead: bits per byte on their held-out files against one model on all their files at equal FLOPs, with xz and zstd as anchors.")
    var completion = false
    @Option(help: "Test examples per task: an evenly spaced subset of at most this many, so the shipped suite's default run takes about a minute and a half on 2 cores.")
    var limit: Int = 1000
    @Flag(help: "Score every test example (the larger baseline makes this several minutes for the shipped suite).")
    var all = false
    @Option(help: "Write a standalone HTML report (table and bar chart).") var report: String?
    @Option(help: "Also write the baselines to this directory (NAME/weights.safetensors and baseline.json), to ship them with a suite as Experts/_baselines.")
    var exportBaselines: String?
    @Option(help: ArgumentHelp("Only train (or reuse) this baseline and store it, scoring nothing: single-same-size or single-same-params (repeatable).",
                               discussion: "Two processes on the same registry, one baseline and --threads 1 each, finish sooner than one process training both in turn; a later compare reuses them."))
    var trainBaseline: [String] = []
    @Option(help: ArgumentHelp("Score only this single-model baseline: single-same-size or single-same-params (repeatable; default: both).",
                               discussion: "The other is neither trained nor scored: the JSON and the HTML report leave it out, the table shows '-'."))
    var baseline: [String] = []
    @Option(help: "Cores to compute on (default: every core).") var threads: Int?
    @OptionGroup var precision: PrecisionOption
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be at least 1 (use --all to score every test example)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if completion && !trainBaseline.isEmpty { throw ValidationError("--train-baseline applies to task experts, not --completion") }
        if completion && !baseline.isEmpty { throw ValidationError("--baseline applies to task experts, not --completion") }
    }

    func run() throws {
        try guarded {
            let engine = try openEngine(global)
            if let threads { ComputeThreads.set(threads) }
            if completion { return try compareCompletion(engine) }
            if !trainBaseline.isEmpty {
                let trained = try engine.trainBaselines(trainBaseline, experts: experts.map { $0.split(separator: ",").map(String.init) }, retrain: retrain,
                                                        precision: try precision.resolved(), observer: { ProgressReporter(label: $0, json: json) }, log: note)
                if json { try printJSON(trained); return }
                for b in trained { print("\(b.name): \(b.params) parameters, \(b.steps) steps, \(String(format: "%.3g", b.trainFLOPs)) FLOPs, \(String(format: "%.0f", b.trainSeconds)) s") }
                return
            }
            let r = try engine.compare(experts: experts.map { $0.split(separator: ",").map(String.init) }, baselines: baseline.isEmpty ? nil : baseline,
                                       retrain: retrain, limit: all ? nil : limit,
                                       precision: try precision.resolved(),
                                       observer: { ProgressReporter(label: $0, json: json) }, log: note)
            if let dir = exportBaselines { note("exported \(try engine.exportBaselines(to: dir).joined(separator: ", ")) to \(dir)") }
            if let report { try Data(CompareHTML.render(r).utf8).write(to: URL(fileURLWithPath: report)); note("wrote \(report)") }
            if json { try printJSON(r); return }
            let order = CompareSystem.allCases
            print("task              n   router   routed   oracle  single=size  single=params")
            func cell(_ s: SystemScore?) -> String { s.map { percent($0.exactMatch) } ?? "-" }
            for t in r.tasks {
                print(t.task.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%6d %8@", t.n, percent(t.routerAccuracy) as NSString)
                      + order.map { String(format: " %8@", cell(t.systems[$0]) as NSString) }.joined())
                if t.systems[.routed]?.wordErrorRate != nil {
                    print("  word error rate" + String(repeating: " ", count: 13)
                          + order.map { String(format: " %8@", (t.systems[$0]?.wordErrorRate.map(percent) ?? "-") as NSString) }.joined())
                    print("  phone error rate" + String(repeating: " ", count: 12)
                          + order.map { String(format: " %8@", (t.systems[$0]?.phoneErrorRate.map(percent) ?? "-") as NSString) }.joined())
                }
            }
            print("mean of tasks" + String(repeating: " ", count: 1) + String(format: "%6d %8@", r.overall.n, percent(r.overall.routerAccuracy) as NSString)
                  + order.map { String(format: " %8@", cell(r.overall.systems[$0]) as NSString) }.joined())
            print("all examples  " + String(repeating: " ", count: 15) + order.map { String(format: " %8@", (r.overall.systems[$0]?.exactMatchAllExamples.map(percent) ?? "-") as NSString) }.joined())
            print("")
            print("system                params   train FLOPs  CPU-s   median ms")
            for k in order {
                guard let s = r.overall.systems[k] else { continue }
                print(k.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%8d %12.3g %7.0f %9.2f", s.params ?? 0, s.trainFLOPs ?? 0, s.trainCPUSeconds ?? 0, s.medianMs ?? 0))
            }
            for b in r.baselines { print("\(b.name): \(b.note); \(b.steps) steps, \(String(format: "%.3g", b.trainFLOPs)) FLOPs") }
        }
    }

    private func compareCompletion(_ engine: Engine) throws {
        let r = try engine.compareCompletion(precision: try precision.resolved(), observer: { ProgressReporter(label: $0, json: json) }, log: note)
        if json { try printJSON(r); return }
        let keys = ["routed", "oracle", "single_same_size", "single_same_params"]
        print("bits per byte on held-out files (lower is better)")
        print("domain        files   bytes  router  " + keys.map { $0.padding(toLength: 19, withPad: " ", startingAt: 0) }.joined() + "xz/file  xz/cond  zstd/file  zstd/cond")
        for d in r.domains {
            var line = d.domain.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%6d %7d %6.1f%%  ", d.heldOutFiles, d.heldOutBytes, 100 * d.routerAccuracy)
            for k in keys {
                let s = d.systems[k]
                line += (s.map { String(format: "%.3f (%4.1f%%)", $0.bitsPerByte, 100 * ($0.nextLineExactMatch ?? 0)) } ?? "-").padding(toLength: 19, withPad: " ", startingAt: 0)
            }
            line += String(format: "%7.3f  %7.3f  %9.3f  %9.3f", d.anchors["xz_per_file"] ?? 0, d.anchors["xz_conditioned"] ?? 0,
                           d.anchors["zstd_per_file"] ?? 0, d.anchors["zstd_conditioned"] ?? 0)
            print(line)
        }
        print("(in parentheses: next-line exact match)")
        for k in keys {
            let s = r.systems[k]!
            print(k.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%9d params %10.3g FLOPs %7d steps %7.2f ms per 32-byte completion; ", s.params, s.trainFLOPs, s.steps, s.medianMs32Bytes) + s.note)
        }
    }
}
