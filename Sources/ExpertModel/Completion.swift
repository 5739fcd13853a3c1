import Foundation

/// A completion request to a completion expert: the text before the cursor, optionally the text after it
/// (then the model fills in the middle), and where to stop.
public struct CompletionRequest: Sendable, Equatable {
    public var prefix: String
    public var suffix: String?
    /// At most this many bytes are generated.
    public var maxBytes: Int
    /// Stop at the end of the line (the newline is not returned).
    public var stopAtNewline: Bool
    /// Stop strings: the completion ends before the first one it contains.
    public var stop: [String]
    /// Generation stops by this time (`MonotonicClock` seconds), if set.
    public var deadline: Double?

    public init(prefix: String, suffix: String? = nil, maxBytes: Int = 32, stopAtNewline: Bool = true, stop: [String] = [], deadline: Double? = nil) {
        (self.prefix, self.suffix, self.maxBytes, self.stopAtNewline, self.stop, self.deadline) = (prefix, suffix, maxBytes, stopAtNewline, stop, deadline)
    }
}

/// What a completion expert returned.
public struct CompletionResult: Sendable, Equatable {
    public var text: String
    /// Why it ended: `stop` (a newline, a stop string or the model's end), `length` (`maxBytes` reached).
    public var finishReason: String
    /// Tokens of the prompt and tokens generated.
    public var promptTokens: Int
    public var generatedTokens: Int
    /// The prefix or suffix was cut to fit the context.
    public var truncated: Bool
}

extension ExpertDecoder {
    /// Greedy completions, in one batch. With a suffix the prompt is FIM's `PRE prefix SUF suffix MID` and the
    /// model's EOS ends the middle; without one it continues the prefix (`BOS prefix` when the whole prefix fits).
    public func complete(_ requests: [CompletionRequest]) throws -> [CompletionResult] {
        guard !requests.isEmpty else { return [] }
        let context = maxPromptTokens + 1
        // Each sequence also stops at the end of the context, so one batch serves requests of any lengths.
        let maxNew = requests.map(\.maxBytes).max() ?? 0
        var prompts = [[Int32]](), truncated = [Bool]()
        for r in requests {
            let prefix = Array(r.prefix.utf8), want = max(1, min(r.maxBytes, context / 2))
            if let suffix = r.suffix.map({ Array($0.utf8) }) {
                let p = FillInTheMiddle.prompt(prefix: prefix, suffix: suffix, context: context, maxNew: want)
                prompts.append(p)
                truncated.append(p.count - 3 < prefix.count + suffix.count)
            } else {
                let p = FillInTheMiddle.continuationPrompt(prefix: prefix, context: context, maxNew: want)
                prompts.append(p)
                truncated.append(p.first != Vocabulary.bos)
            }
        }
        let stopAfter: Int32? = requests.allSatisfy(\.stopAtNewline) ? 10 : nil
        let deadline = requests.compactMap(\.deadline).min()
        let outs = try generateScored(prompts: prompts, maxNewTokens: maxNew, stopAtEOS: true, stopAfter: stopAfter, deadline: deadline)
        return zip(requests, zip(outs, zip(prompts, truncated))).map { r, o in
            let (scored, (prompt, cut)) = o
            var bytes = scored.tokens.prefix(r.maxBytes).prefix { $0 >= 0 && $0 < 256 }.map { UInt8($0) }
            var reason = scored.tokens.count >= r.maxBytes || bytes.count == r.maxBytes ? "length" : "stop"
            if r.stopAtNewline, let nl = bytes.firstIndex(of: 10) { bytes = Array(bytes[..<nl]); reason = "stop" }
            // A cut in the middle of a multi-byte character is left out rather than repaired into U+FFFD.
            var trimmed = bytes
            for _ in 0..<3 where !trimmed.isEmpty && String(validating: trimmed, as: UTF8.self) == nil { trimmed.removeLast() }
            if String(validating: trimmed, as: UTF8.self) != nil { bytes = trimmed }
            // What invalid UTF-8 is left (a model can emit any byte) is dropped, not turned into U+FFFD.
            var text = String(validating: bytes, as: UTF8.self) ?? Self.dropInvalid(bytes)
            for s in r.stop where !s.isEmpty {
                if let range = text.range(of: s) { text = String(text[..<range.lowerBound]); reason = "stop" }
            }
            return CompletionResult(text: text, finishReason: reason, promptTokens: prompt.count, generatedTokens: scored.tokens.count, truncated: cut)
        }
    }

    /// The valid UTF-8 sequences of `bytes`, in order (invalid bytes left out).
    static func dropInvalid(_ bytes: [UInt8]) -> String {
        var out = [UInt8](), i = 0
        while i < bytes.count {
            let b = bytes[i]
            let n = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0
            if n > 0, i + n <= bytes.count, String(validating: bytes[i..<(i + n)], as: UTF8.self) != nil {
                out += bytes[i..<(i + n)]
                i += n
            } else {
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
