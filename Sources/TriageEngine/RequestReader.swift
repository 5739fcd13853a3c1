import Foundation
import ExpertModel

/// Reads requests for `ask --file` and `route --file`: JSONL (`JSONLines`) with a string `input` and an
/// optional `id` (any JSON value, kept as text) per line, from a file or, for "-", standard input.
public enum RequestReader {
    /// The requests in `path` ("-": standard input); a bad line stops with its file and line.
    public static func read(_ path: String) throws -> [Request] {
        let name = path == "-" ? "stdin" : path
        let data: Data
        if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
            guard let d = FileBytes.read(path) else { throw TriageError.notFound("cannot read \(path)") }
            data = d
        }
        return try read(data: data, name: name)
    }

    /// The requests in `data`, read as from a file called `name` (named in errors).
    public static func read(data: Data, name: String) throws -> [Request] {
        var out = [Request]()
        do {
            try JSONLines.forEachObject(in: data, name: name) { n, obj in
                guard let input = obj["input"] as? String else { throw TriageError.badInput("\(name):\(n): missing string field \"input\"") }
                let id = obj["id"].map { v -> String in (v as? String) ?? "\(v)" }
                out.append(Request(id: id, input: input))
            }
        } catch let e as ExpertError { throw TriageError.badInput(e.description) }
        if out.isEmpty { throw TriageError.badInput("\(name): no requests (the input is empty)") }
        return out
    }
}
