import Foundation

/// A point in a file, as an editor names it, turned into the text before and after it (`complete --file`).
public enum CursorPoint {
    /// The text of `file` before and after line `line`, column `column` (both 1-based; the column counts
    /// characters, and one past the end of the line is its end).
    public static func split(file: String, line: Int, column: Int) throws -> (before: String, after: String) {
        guard let data = FileManager.default.contents(atPath: file) else { throw TriageError.notFound("--file \(file): cannot read it") }
        guard let text = String(data: data, encoding: .utf8) else { throw TriageError.badInput("--file \(file): not valid UTF-8") }
        return try split(text: text, line: line, column: column, name: file)
    }

    /// `split(file:…)` on text.
    public static func split(text: String, line: Int, column: Int, name: String = "the text") throws -> (before: String, after: String) {
        guard line >= 1, column >= 1 else { throw TriageError.badInput("--line and --column are 1-based") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard line <= lines.count else { throw TriageError.badInput("\(name) has \(lines.count) lines, not \(line)") }
        let l = lines[line - 1]
        guard column - 1 <= l.count else { throw TriageError.badInput("\(name) line \(line) has \(l.count) characters: --column goes up to \(l.count + 1)") }
        let cut = l.index(l.startIndex, offsetBy: column - 1)
        let before = lines[..<(line - 1)].map { $0 + "\n" }.joined() + l[..<cut]
        let rest = lines[line...]
        let after = String(l[cut...]) + (rest.isEmpty ? "" : "\n" + rest.joined(separator: "\n"))
        return (before, after)
    }
}
