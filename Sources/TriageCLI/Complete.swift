import ArgumentParser
import Foundation
import TriageEngine
import ExpertModel

/// `triage complete`: a completion expert continues a prefix (or fills between a prefix and a suffix).
struct Complete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Complete text with a completion expert (routed by the prefix, or --expert).",
        discussion: """
            Prints the completion (by default up to the end of the line). With --file F --line L --column C the prefix \
            is the file's text before that point and the suffix the text after it (fill-in-the-middle). Exit 4 when no \
            completion expert resembles the prefix (exit 4, as for ask; the candidates are listed: pass --expert).
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The text before the cursor (or give --file/--line/--column).") var prefix: String?
    @Option(help: "The completion expert to use (default: routed).") var expert: String?
    @Option(help: "The text after the cursor: the expert fills in the middle.") var suffix: String?
    @Option(help: "At most this many bytes.") var maxBytes = 32
    @Option(parsing: .singleValue, help: "Stop before this string (repeatable).") var stop: [String] = []
    @Flag(help: "Do not stop at the end of the line.") var multiline = false
    @Option(help: "Complete at a point of this file: the text before it is the prefix, after it the suffix.") var file: String?
    @Option(help: "With --file: the line (1-based).") var line: Int?
    @Option(help: "With --file: the column (1-based, in characters).") var column: Int?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if (prefix == nil) == (file == nil) { throw ValidationError("give the prefix as an argument, or --file F --line L --column C") }
        if file != nil && (line == nil || column == nil) { throw ValidationError("--file needs --line and --column") }
        if file != nil && suffix != nil { throw ValidationError("--suffix comes from the file with --file") }
        if maxBytes < 1 || maxBytes > 512 { throw ValidationError("--max-bytes must be in 1…512") }
    }

    func run() throws {
        try guarded {
            Engine.chooseThreads(forRequests: 1)  // one completion: starting workers costs more than they save
            let engine = try openEngine(global)
            var before = prefix ?? "", after = suffix
            if let file, let line, let column { (before, after) = try CursorPoint.split(file: file, line: line, column: column) }
            let req = CompletionRequest(prefix: before, suffix: after, maxBytes: maxBytes, stopAtNewline: !multiline, stop: stop)
            let a = try engine.complete(req, expert: expert)
            if json { try printJSON(a) } else if let text = a.text {
                print(text)
            } else {
                note("no completion expert fits this prefix (closest: " + (a.top ?? []).map { String(format: "%@ %.2f", $0.expert, $0.p) }.joined(separator: ", ")
                     + "); pass --expert NAME")
            }
            if a.abstained { throw ExitCode(TriageError.ExitCode.abstained.rawValue) }
        }
    }
}
