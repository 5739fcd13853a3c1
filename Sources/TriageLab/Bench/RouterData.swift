import Foundation
import TriageEngine
import Router
import ExpertModel

/// JSON-lines files for the router benchmark: `{"input", "expert"}` pairs, plain `{"input"}` lines
/// (background text, out-of-distribution requests, which may carry a `kind`), and the per-expert folders
/// `Experts/NAME/{train,valid,test}.jsonl` (folders starting with `_` are not experts).
public enum RouterData {
    /// A labelled request: which expert it belongs to.
    public struct Pair: Codable, Sendable {
        public let input: String
        public let expert: String
    }

    /// An unlabelled request, with the kind of text it is (for out-of-domain sets).
    public struct Line: Sendable {
        public let input: String
        public let kind: String?
        /// The generator module it came from (near-domain sets), if given.
        public var module: String? = nil
    }

    /// Each line's JSON object; blank lines are skipped, anything else that is not an object is an error.
    static func objects(_ path: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RouterError.invalidData("cannot read \(path)")
        }
        var out = [[String: Any]]()
        do {
            try JSONLines.forEachObject(in: data, name: path) { _, obj in out.append(obj) }
        } catch let e as ExpertError { throw RouterError.invalidData(e.description) }
        return out
    }

    /// `{input, expert}` lines.
    public static func readPairs(_ path: String) throws -> [Pair] {
        try objects(path).enumerated().map { i, o in
            guard let input = o["input"] as? String, let expert = o["expert"] as? String else {
                throw RouterError.invalidData("\(path): line \(i + 1) needs string fields \"input\" and \"expert\"")
            }
            return Pair(input: input, expert: expert)
        }
    }

    /// `{input, kind?, module?}` lines.
    public static func readLines(_ path: String) throws -> [Line] {
        try objects(path).enumerated().map { i, o in
            guard let input = o["input"] as? String else {
                throw RouterError.invalidData("\(path): line \(i + 1) needs a string field \"input\"")
            }
            return Line(input: input, kind: o["kind"] as? String, module: o["module"] as? String)
        }
    }

    /// Expert folder names under `root` (sorted), those with a train.jsonl and not starting with `_`.
    public static func expertNames(root: String) throws -> [String] {
        let fm = FileManager.default
        return try fm.contentsOfDirectory(atPath: root).filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix("_") && !name.hasPrefix(".")
                && fm.fileExists(atPath: "\(root)/\(name)", isDirectory: &isDir) && isDir.boolValue
                && fm.fileExists(atPath: "\(root)/\(name)/train.jsonl")
        }.sorted()
    }

    /// The inputs of one split of every expert, labelled with the folder's name (a missing split is empty).
    public static func expertSplit(root: String, split: String) throws -> [Pair] {
        var out = [Pair]()
        for name in try expertNames(root: root) {
            let path = "\(root)/\(name)/\(split).jsonl"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            out += try readLines(path).map { Pair(input: $0.input, expert: name) }
        }
        return out
    }

    /// Rows as JSONL, one compact object a line.
    public static func write<T: Encodable>(_ rows: [T], to path: String) throws {
        var text = ""
        for r in rows { text += try JSONOutput.line(r) + "\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
