import Foundation

/// A file's bytes, or nil if it cannot be read. An empty file is answered without reading it:
/// `FileManager.contents(atPath:)` of this toolchain's Foundation leaks its 4 KiB read buffer on an empty
/// file (LeakSanitizer, in the manifest fuzzer, on an empty `expert.json`).
public enum FileBytes {
    public static func read(_ path: String) -> Data? {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.intValue == 0,
           FileManager.default.isReadableFile(atPath: path) {
            return Data()
        }
        return FileManager.default.contents(atPath: path)
    }
}

/// JSONL, one object a line, read the same way everywhere (examples, requests, router data): lines end
/// at `\n` (a trailing `\r` is dropped), lines of only spaces and tabs are skipped, and every other line
/// must be valid UTF-8 holding one JSON object. Problems name the file and the line.
public enum JSONLines {
    /// Calls `body(lineNumber, line)` for each non-blank line, in order (line numbers count from 1).
    public static func forEachLine(in data: Data, _ body: (Int, Data) throws -> Void) rethrows {
        var lineNo = 0
        for rawLine in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            try body(lineNo, Data(line))
        }
    }

    /// Calls `body(lineNumber, object)` for each non-blank line, in order.
    public static func forEachObject(in data: Data, name: String, _ body: (Int, [String: Any]) throws -> Void) throws {
        try forEachLine(in: data) { n, line in try body(n, try object(line, file: name, line: n)) }
    }

    /// One line's object, or `ExpertError.badData` naming the file, the line and the problem.
    public static func object(_ line: Data, file: String, line n: Int) throws -> [String: Any] {
        func bad(_ p: String) -> ExpertError { .badData(file: file, line: n, problem: p) }
        guard String(data: line, encoding: .utf8) != nil else { throw bad("invalid UTF-8") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: line) } catch { throw bad("not valid JSON") }
        guard let dict = parsed as? [String: Any] else { throw bad("expected a JSON object with \"input\" and \"output\"") }
        return dict
    }
}
