import Foundation

/// One `{input, output}` pair of a task.
public struct Example: Codable, Equatable, Sendable {
    public var input: String
    public var output: String
    /// The expert a labelled evaluation line belongs to (`eval` files), if given.
    public var expert: String?
    public init(input: String, output: String, expert: String? = nil) {
        self.input = input
        self.output = output
        self.expert = expert
    }

    /// `BOS input SEP output EOS`
    public var tokens: [Int32] { Vocabulary.example(input: input, output: output) }
    /// Tokens the model reads while training on this example (all but the final EOS).
    public var trainingLength: Int { input.utf8.count + output.utf8.count + 2 }
}

/// Reads task data from JSONL: one object per line with string fields `input` and `output`
/// (other fields are ignored; blank lines are skipped). Every problem names the file and line.
public enum ExampleReader {
    public struct Result {
        public var examples: [Example]
        /// Lines skipped when `skipBadLines` was set, with the reason for each.
        public var skipped: [ExpertError]
    }

    /// - Parameters:
    ///   - context: when given, an example that does not fit the model's context is an error.
    ///   - requireOutput: false for request files (`{input}` only).
    ///   - skipBadLines: skip and report bad lines instead of failing on the first one.
    public static func read(path: String, context: Int? = nil, requireOutput: Bool = true, skipBadLines: Bool = false) throws -> Result {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExpertError.badData(file: path, line: 0, problem: "cannot read the file (does it exist?)")
        }
        return try read(data: data, name: path, context: context, requireOutput: requireOutput, skipBadLines: skipBadLines)
    }

    public static func read(data: Data, name: String, context: Int? = nil, requireOutput: Bool = true, skipBadLines: Bool = false) throws -> Result {
        var examples = [Example]()
        var skipped = [ExpertError]()
        var lineNo = 0
        var nonBlank = 0
        for rawLine in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            nonBlank += 1
            do {
                examples.append(try parse(Data(line), file: name, line: lineNo, context: context, requireOutput: requireOutput))
            } catch let e as ExpertError {
                if !skipBadLines { throw e }
                skipped.append(e)
            }
        }
        if nonBlank == 0 { throw ExpertError.emptyData(file: name) }
        if examples.isEmpty { throw ExpertError.badData(file: name, line: lineNo, problem: "no valid examples (\(skipped.count) bad lines skipped)") }
        return Result(examples: examples, skipped: skipped)
    }

    static func parse(_ line: Data, file: String, line n: Int, context: Int?, requireOutput: Bool) throws -> Example {
        func bad(_ p: String) -> ExpertError { .badData(file: file, line: n, problem: p) }
        guard String(data: line, encoding: .utf8) != nil else { throw bad("invalid UTF-8") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: line) } catch { throw bad("not valid JSON") }
        guard let dict = object as? [String: Any] else { throw bad("expected a JSON object with \"input\" and \"output\"") }
        guard let inputAny = dict["input"] else { throw bad("missing field \"input\"") }
        guard let input = inputAny as? String else { throw bad("field \"input\" is not a string") }
        var output = ""
        if requireOutput {
            guard let outputAny = dict["output"] else { throw bad("missing field \"output\"") }
            guard let o = outputAny as? String else { throw bad("field \"output\" is not a string") }
            output = o
        }
        let ex = Example(input: input, output: output, expert: dict["expert"] as? String)
        if let context, ex.trainingLength > context {
            throw bad("example is \(ex.trainingLength) tokens (input \(input.utf8.count) + output \(output.utf8.count) bytes + 2 markers); the context allows \(context)")
        }
        return ex
    }
}
