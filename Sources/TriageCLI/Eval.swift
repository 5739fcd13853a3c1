import ArgumentParser
import Foundation
import TriageEngine

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy of the routed system on labelled JSONL ({\"input\", \"output\", \"expert\"?}), with a per-expert breakdown.")
    @OptionGroup var global: GlobalOptions
    @Argument var file: String
    @Option(help: "Bypass the router: ask this expert everything.") var expert: String?
    @Option(help: "Only the first N lines.") var limit: Int?
    @Flag(help: "Include every example's answer (with --json).") var examples = false
    @Flag(help: "Print JSON.") var json = false
    func run() throws {
        try guarded {
            let engine = try openEngine(global)
            let r = try engine.evaluate(path: file, expert: expert, limit: limit, perExample: examples)
            if json { try printJSON(r); return }
            print("\(r.file): \(r.n) examples, exact match \(percent(r.exactMatch))" + (r.routerAccuracy.map { ", routed correctly \(percent($0))" } ?? "")
                  + ", abstained \(r.abstained)" + (expert.map { " (router bypassed: \($0))" } ?? "") + String(format: ", %.1f s", r.secondsTotal))
            print("expert            n   exact   routed   phone err")
            for row in r.perExpert {
                print(row.expert.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%6d  %6@  %7@  %9@", row.n,
                      percent(row.exactMatch) as NSString, (row.routerAccuracy.map(percent) ?? "-") as NSString,
                      (row.phoneErrorRate.map(percent) ?? "-") as NSString))
            }
        }
    }
}
