import ArgumentParser
import Foundation
import ExpertModel
import TriageEngine

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Accuracy of the routed system on labelled JSONL ({\"input\", \"output\", \"expert\"?}), with a per-expert breakdown.")
    @OptionGroup var global: GlobalOptions
    @Argument var file: String
    @Option(help: "Bypass the router: ask this expert everything.") var expert: String?
    @Option(help: "Only the first N lines.") var limit: Int?
    @Flag(help: "Include every example's answer (with --json).") var examples = false
    @Option(help: "Confidence score to measure instead of each expert's calibrated one: min_token_p, mean_token_p or sequence_p.")
    var score: String?
    @OptionGroup var decoding: DecodingOptions
    @Flag(help: "Print JSON.") var json = false
    func run() throws {
        try guarded {
            let engine = try openEngine(global)
            var kind: AnswerConfidence.Score?
            if let score {
                guard let k = AnswerConfidence.Score(rawValue: score) else {
                    throw TriageError.badInput("--score \(score): not a confidence score (min_token_p, mean_token_p, sequence_p)")
                }
                kind = k
            }
            let r = try engine.evaluate(path: file, expert: expert, limit: limit, perExample: examples, score: kind,
                                        beamWidth: try decoding.beamWidth())
            if json { try printJSON(r); return }
            print("\(r.file): \(r.n) examples, exact match \(percent(r.exactMatch))" + (r.routerAccuracy.map { ", routed correctly \(percent($0))" } ?? "")
                  + ", abstained \(r.abstained)" + (expert.map { " (router bypassed: \($0))" } ?? "") + String(format: ", %.1f s", r.secondsTotal))
            print("expert            n   exact   routed   phone err")
            for row in r.perExpert {
                print(row.expert.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%6d  %6@  %7@  %9@", row.n,
                      percent(row.exactMatch) as NSString, (row.routerAccuracy.map(percent) ?? "-") as NSString,
                      (row.phoneErrorRate.map(percent) ?? "-") as NSString))
            }
            if let c = r.confidence {
                print("")
                print("answer confidence (answered examples): AUROC right vs wrong, ECE of p_correct, AURC; accuracy at coverage")
                print("expert               n   AUROC    ECE   AURC    50%    80%   100%")
                func line(_ name: String, _ c: ConfidenceReport) {
                    func at(_ x: Double) -> NSString { (c.curve.first { abs($0.coverage - x) < 1e-9 }.map { percent($0.accuracy) } ?? "-") as NSString }
                    print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%6d  %6@ %6.3f %6.3f %6@ %6@ %6@", c.n,
                          (c.auroc.map { String(format: "%.3f", $0) } ?? "-") as NSString, c.ece, c.aurc, at(0.5), at(0.8), at(1.0)))
                }
                for row in r.perExpert { if let rc = row.confidence { line(row.expert, rc) } }
                line("all", c)
            }
        }
    }
}
