import ArgumentParser
import Foundation
import Router
import TriageEngine
import TriageLab
import TriagePresentation

/// The request(s) of `ask` and `route`: one TEXT argument, or a JSONL file (or stdin).
struct RequestOptions: ParsableArguments {
    @Argument(help: "The request text (or use --file).") var text: String?
    @Option(help: "Requests as JSONL ({\"input\": …, \"id\": …} per line), or - for stdin; one JSON line out each.") var file: String?

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give the request TEXT or --file F.jsonl (not both)") }
    }

    func requests() throws -> [Request] { try file.map(RequestReader.read) ?? [Request(input: text!)] }
    var batch: Bool { file != nil }
}

struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Route a request to its expert and print the answer.",
        discussion: """
            Exit code 4 when the router finds no expert for the request, or when the answer's calibrated confidence \
            is below --min-confidence (or the expert's default): it says "not sure" instead of guessing, and shows \
            the answer only with --show-unsure. With --json every answer carries answer_confidence (the expert's \
            own) and p_correct (calibrated on its validation set).
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var request: RequestOptions
    @Option(help: "Skip the router and ask this expert.") var expert: String?
    @Flag(help: "Show the router's top candidates and the chosen expert.") var explain = false
    @Option(help: "Candidates shown with --explain.") var top = 3
    @Option(help: "Decline answers whose calibrated probability of being right is below this (0-1; default: the expert's own default, if any).")
    var minConfidence: Double?
    @Flag(help: "Show declined (not sure) answers too, marked as such.") var showUnsure = false
    @OptionGroup var decoding: DecodingOptions
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let m = minConfidence, !(m >= 0 && m <= 1) { throw ValidationError("--min-confidence must be in [0, 1], got \(m)") }
    }

    func run() throws {
        try guarded {
            let engine = try openEngine(global)
            let requests = try request.requests()
            Engine.chooseThreads(forRequests: requests.count)
            let answers = try engine.ask(requests, expert: expert, top: top, explain: explain,
                                         policy: ConfidencePolicy(minConfidence: minConfidence, showUnsure: showUnsure),
                                         beamWidth: try decoding.beamWidth())
            if request.batch {
                for a in answers { try printJSON(a) }
                return
            }
            let a = answers[0]
            if json { try printJSON(a) } else {
                if explain || a.abstained, let top = a.top {
                    note("router: " + top.map { "\($0.expert) \(String(format: "%.3f", $0.p))" }.joined(separator: ", "))
                }
                if let e = a.error { throw TriageError.badInput(e) }
                if a.abstained && !a.fallback {
                    note("no expert fits this request (confidence \(String(format: "%.3f", a.confidence ?? 0))); closest: "
                         + (a.top ?? []).map(\.expert).joined(separator: ", "))
                } else {
                    if explain { note("chosen: \(a.expert!)" + (a.fallback ? " (fallback)" : "") + (a.confidence.map { String(format: " (confidence %.3f)", $0) } ?? "")) }
                    let sure = Ask.describe(a)
                    if a.notSure {
                        note("not sure: \(sure), below the minimum \(String(format: "%.2f", a.minConfidence ?? 0))"
                             + (showUnsure ? "; its answer:" : "; --show-unsure shows the answer"))
                        if showUnsure { print(a.output ?? "") }
                    } else {
                        if explain { note(sure) }
                        print(a.output ?? "")
                    }
                }
            }
            if let e = a.error, json { throw TriageError.badInput(e) }
            if a.abstained && !a.fallback { throw ExitCode(TriageError.ExitCode.abstained.rawValue) }
            if a.notSure { throw ExitCode(TriageError.ExitCode.abstained.rawValue) }
        }
    }
}

extension Ask {
    /// "p(right) 0.93 (answer confidence 0.88)" for a person.
    static func describe(_ a: Answer) -> String {
        (a.pCorrect.map { String(format: "p(right) %.2f", $0) } ?? "no calibration")
            + (a.answerConfidence.map { String(format: " (answer confidence %.3f)", $0) } ?? "")
    }
}

struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "route", abstract: "Show which expert the router picks, without answering.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var request: RequestOptions
    @Option(help: "Candidates to list.") var top = 3
    @Flag(help: "Print JSON.") var json = false

    struct Line: Encodable {
        var id: String?
        var input: String
        var expert: String?
        var confidence: Float
        var abstained: Bool
        var fallback: Bool
        var reason: String?
        var threshold: Float
        var top: [Candidate]
        /// Share of the request's n-grams the chosen expert never saw in training (when checked).
        var novelty: Float?
        struct Candidate: Encodable { var expert: String; var p: Float }
    }

    func run() throws {
        try guarded {
            let engine = try openEngine(global)
            let requests = try request.requests()
            var abstained = false
            for (r, d) in zip(requests, try engine.route(requests.map(\.input), top: top)) {
                abstained = abstained || (d.abstained && !d.usedFallback)
                let line = Line(id: r.id, input: r.input, expert: d.expert, confidence: d.confidence, abstained: d.abstained,
                                fallback: d.usedFallback, reason: d.reason?.rawValue, threshold: d.threshold,
                                top: d.top.map { .init(expert: $0.expert, p: $0.p) }, novelty: d.novelty)
                if json || request.batch { try printJSON(line); continue }
                print(d.abstained && !d.usedFallback ? "no expert fits (\(RouteCommand.why(d)))"
                      : "\(d.expert!)\(d.usedFallback ? " (fallback)" : "") \(String(format: "%.3f", d.confidence))")
                for c in d.top { print(String(format: "  %-16@ %.3f", c.expert as NSString, c.p)) }
            }
            if abstained && !request.batch { throw ExitCode(TriageError.ExitCode.abstained.rawValue) }
        }
    }

    /// Why the router abstained, in words.
    static func why(_ d: RoutingDecision) -> String {
        switch d.reason {
        case .novel?:
            return String(format: "%.0f%% of its n-grams never occur in %@'s training inputs", 100 * (d.novelty ?? 0), d.top.first?.expert ?? "the closest expert")
        case .unlikeAnyTask?: return "unlike every task"
        case .empty?: return "empty request"
        default: return String(format: "confidence %.3f below %.3f", d.confidence, d.threshold)
        }
    }
}
