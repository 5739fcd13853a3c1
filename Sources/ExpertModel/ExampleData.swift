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
/// (other fields are ignored; blank lines are skipped, as `JSONLines` reads every JSONL file). Every
/// problem names the file and line.
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
        guard let data = FileBytes.read(path) else {
            throw ExpertError.badData(file: path, line: 0, problem: "cannot read the file (does it exist?)")
        }
        return try read(data: data, name: path, context: context, requireOutput: requireOutput, skipBadLines: skipBadLines)
    }

    public static func read(data: Data, name: String, context: Int? = nil, requireOutput: Bool = true, skipBadLines: Bool = false) throws -> Result {
        var examples = [Example]()
        var skipped = [ExpertError]()
        var lastLine = 0, nonBlank = 0
        try JSONLines.forEachLine(in: data) { lineNo, line in
            nonBlank += 1
            lastLine = lineNo
            do {
                let dict = try JSONLines.object(line, file: name, line: lineNo)
                examples.append(try parse(dict, file: name, line: lineNo, context: context, requireOutput: requireOutput))
            } catch let e as ExpertError {
                if !skipBadLines { throw e }
                skipped.append(e)
            }
        }
        if nonBlank == 0 { throw ExpertError.emptyData(file: name) }
        if examples.isEmpty { throw ExpertError.badData(file: name, line: lastLine, problem: "no valid examples (\(skipped.count) bad lines skipped)") }
        return Result(examples: examples, skipped: skipped)
    }

    static func parse(_ dict: [String: Any], file: String, line n: Int, context: Int?, requireOutput: Bool) throws -> Example {
        func bad(_ p: String) -> ExpertError { .badData(file: file, line: n, problem: p) }
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
