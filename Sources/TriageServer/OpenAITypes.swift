import Foundation

// The parts of OpenAI's chat and completions API that Triage serves. Requests are decoded strictly
// (wrong types are 400s naming the field); fields Triage does not use are ignored, as OpenAI-compatible
// servers usually do. Decoding is greedy: `temperature` and `top_p` are accepted (type-checked) and
// ignored, `seed` is accepted and trivially honoured (the same request always gives the same answer),
// and `n` must be 1.

/// A message's `content`: a string, or an array of parts of which the `text` ones are joined.
struct MessageContent: Decodable, Sendable {
    var text: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { text = ""; return }
        if let s = try? c.decode(String.self) { text = s; return }
        struct Part: Decodable { var type: String; var text: String? }
        guard let parts = try? c.decode([Part].self) else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of content parts"))
        }
        text = parts.filter { $0.type == "text" }.compactMap(\.text).joined()
    }
}

struct ChatMessage: Decodable, Sendable {
    var role: String
    var content: MessageContent?
}

/// `stop`: one string or up to four.
struct StopSequences: Decodable, Sendable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { values = []; return }
        if let s = try? c.decode(String.self) { values = [s]; return }
        guard let a = try? c.decode([String].self) else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of strings"))
        }
        values = a
    }
}

/// `prompt` of /v1/completions: a string, or an array holding one string.
struct PromptText: Decodable, Sendable {
    var text: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { text = s; return }
        if let a = try? c.decode([String].self), a.count == 1 { text = a[0]; return }
        throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a string (or an array of exactly one string)"))
    }
}

struct StreamOptions: Decodable, Sendable {
    var includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// The sampling fields both endpoints share.
struct SamplingFields: Decodable, Sendable {
    var stream: Bool?
    var streamOptions: StreamOptions?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var stop: StopSequences?
    var seed: Int?
    var temperature: Double?
    var topP: Double?
    var n: Int?
    var user: String?
    enum CodingKeys: String, CodingKey {
        case stream, streamOptions = "stream_options", maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case stop, seed, temperature, topP = "top_p", n, user
    }
}

struct ChatCompletionRequest: Decodable, Sendable {
    var model: String
    var messages: [ChatMessage]
}

struct CompletionRequest: Decodable, Sendable {
    var model: String
    var prompt: PromptText
    /// Text after the insertion point: the completion fills in between (completion experts only).
    var suffix: String?
}

/// A validated completion request of either endpoint. Public (read-only) with `RequestParser`, so that
/// the fuzzer (`Fuzz/`) can check what a body decodes to.
public struct ParsedCompletion: Sendable {
    public internal(set) var model: String
    public internal(set) var input: String
    /// Which request field the input came from (`messages` or `prompt`), for error messages.
    public internal(set) var inputParam: String
    public internal(set) var stream: Bool
    public internal(set) var includeUsage: Bool
    public internal(set) var maxTokens: Int?
    public internal(set) var stop: [String]
    /// `/v1/completions`' `suffix`: a fill-in-the-middle request for a completion expert.
    public internal(set) var suffix: String? = nil
}

/// Decodes request bodies. Public only so that the fuzzer (`Fuzz/`) reaches exactly the server's code.
public enum RequestParser {
    /// Decodes and validates a chat (`chat: true`) or completions body.
    public static func parse(_ body: Data, chat: Bool) throws(ServeError) -> ParsedCompletion {
        guard (try? JSONSerialization.jsonObject(with: body)) is [String: Any] else {
            if body.isEmpty { throw .badRequest("the request body is empty; expected a JSON object") }
            throw .badRequest("could not parse the request body as a JSON object", code: "invalid_json")
        }
        let decoder = JSONDecoder()
        let sampling: SamplingFields
        var parsed: ParsedCompletion
        do {
            sampling = try decoder.decode(SamplingFields.self, from: body)
            if chat {
                let r = try decoder.decode(ChatCompletionRequest.self, from: body)
                guard !r.messages.isEmpty else { throw ServeError.badRequest("'messages' must hold at least one message", param: "messages") }
                guard let last = r.messages.last(where: { $0.role == "user" }) else {
                    throw ServeError.badRequest("'messages' has no message with role 'user' (Triage answers the last user message)", param: "messages")
                }
                parsed = ParsedCompletion(model: r.model, input: last.content?.text ?? "", inputParam: "messages", stream: false, includeUsage: false, maxTokens: nil, stop: [])
            } else {
                let r = try decoder.decode(CompletionRequest.self, from: body)
                parsed = ParsedCompletion(model: r.model, input: r.prompt.text, inputParam: "prompt", stream: false, includeUsage: false, maxTokens: nil, stop: [],
                                          suffix: r.suffix)
            }
        } catch let e as ServeError {
            throw e
        } catch let e as DecodingError {
            throw ServeError.from(e)
        } catch {
            throw .badRequest("could not read the request: \(error)")
        }
        parsed.stream = sampling.stream ?? false
        parsed.includeUsage = sampling.streamOptions?.includeUsage ?? false
        let maxTokens = sampling.maxCompletionTokens ?? sampling.maxTokens
        if let m = maxTokens, m < 1 {
            throw .badRequest("'\(sampling.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens")' must be at least 1 (got \(m))",
                              param: sampling.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens")
        }
        parsed.maxTokens = maxTokens
        let stop = sampling.stop?.values ?? []
        if stop.count > 4 { throw .badRequest("'stop' takes at most 4 sequences (got \(stop.count))", param: "stop") }
        parsed.stop = stop.filter { !$0.isEmpty }
        if let n = sampling.n, n != 1 { throw .badRequest("'n' must be 1: decoding is greedy, so every choice would be the same", param: "n") }
        if let t = sampling.temperature, !(0...2).contains(t) { throw .badRequest("'temperature' must be between 0 and 2 (got \(t))", param: "temperature") }
        if let p = sampling.topP, !(0...1).contains(p) { throw .badRequest("'top_p' must be between 0 and 1 (got \(p))", param: "top_p") }
        if parsed.model.isEmpty { throw .badRequest("'model' must not be empty", param: "model") }
        return parsed
    }
}

extension ServeError {
    /// A 400 naming the field a JSON decoding error is about.
    static func from(_ e: DecodingError) -> ServeError {
        func path(_ p: [any CodingKey]) -> String {
            p.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch e {
        case .keyNotFound(let key, let ctx):
            let p = path(ctx.codingPath + [key])
            return .badRequest("missing required field '\(p)'", param: p, code: "missing_field")
        case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
            let p = path(ctx.codingPath)
            let what = ctx.debugDescription.hasPrefix("expected") ? ctx.debugDescription : "expected \(jsonName(type))"
            return .badRequest("invalid type for '\(p)': \(what)", param: p, code: "invalid_type")
        case .dataCorrupted(let ctx):
            let p = path(ctx.codingPath)
            return .badRequest(p.isEmpty ? "could not parse the request body as JSON" : "invalid value for '\(p)'", param: p.isEmpty ? nil : p, code: p.isEmpty ? "invalid_json" : "invalid_value")
        @unknown default:
            return .badRequest("invalid request body")
        }
    }

    private static func jsonName(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = "\(t)"
            if name.hasPrefix("Array") { return "an array" }
            return "an object"
        }
    }
}

// MARK: - Responses

struct Usage: Encodable, Sendable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
}

struct Candidate: Encodable, Sendable, Equatable {
    var expert: String
    var p: Float
}

/// The `triage` object added to every completion: who answered, how sure the router was and, once the
/// answer is decoded, how sure the expert is of it (raw and calibrated).
struct TriageInfo: Encodable, Sendable {
    var expert: String
    /// True when the request named the expert (the router was skipped).
    var routed: Bool
    var confidence: Float?
    var fallback: Bool
    var candidates: [Candidate]
    var answerConfidence: Double? = nil
    var pCorrect: Double? = nil
    enum CodingKeys: String, CodingKey {
        case expert, routed, confidence, fallback, candidates, answerConfidence = "answer_confidence", pCorrect = "p_correct"
    }
}

struct ChatCompletion: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        struct Message: Encodable, Sendable { var role = "assistant"; var content: String }
        var index = 0
        var message: Message
        var logprobs: String? = nil
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index); try c.encode(message, forKey: .message)
            try c.encodeNil(forKey: .logprobs); try c.encode(finishReason, forKey: .finishReason)
        }
    }
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage
    var systemFingerprint: String
    var triage: TriageInfo
    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, systemFingerprint = "system_fingerprint", triage }
}

/// A choice of a completion object or chunk; `object` names the object it comes in.
protocol CompletionChoice: Encodable, Sendable {
    static var object: String { get }
}

/// A streamed chat chunk's choice: a `delta` with the role first, then content, and the finish reason last.
struct ChatChunkChoice: CompletionChoice {
    static let object = "chat.completion.chunk"
    struct Delta: Encodable, Sendable { var role: String?; var content: String? }
    var index = 0
    var delta: Delta
    var finishReason: String?
    enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index); try c.encode(delta, forKey: .delta)
        try c.encodeNil(forKey: .logprobs)
        if let finishReason { try c.encode(finishReason, forKey: .finishReason) } else { try c.encodeNil(forKey: .finishReason) }
    }
}

/// A text completion's choice (whole, or a streamed piece).
struct TextChoice: CompletionChoice {
    static let object = "text_completion"
    var text: String
    var index = 0
    var finishReason: String?
    enum CodingKeys: String, CodingKey { case text, index, logprobs, finishReason = "finish_reason" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(text, forKey: .text); try c.encode(index, forKey: .index); try c.encodeNil(forKey: .logprobs)
        if let finishReason { try c.encode(finishReason, forKey: .finishReason) } else { try c.encodeNil(forKey: .finishReason) }
    }
}

/// A text completion, or a chat chunk: the fields they share in OpenAI's order; `usage` and `triage` only when set.
struct Completion<Choice: CompletionChoice>: Encodable, Sendable {
    var id: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage? = nil
    var triage: TriageInfo? = nil
    private enum Key: String, CodingKey { case id, object, created, model, choices, usage, triage }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(id, forKey: .id); try c.encode(Choice.object, forKey: .object); try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model); try c.encode(choices, forKey: .choices)
        try c.encodeIfPresent(usage, forKey: .usage); try c.encodeIfPresent(triage, forKey: .triage)
    }
}

typealias ChatCompletionChunk = Completion<ChatChunkChoice>
typealias TextCompletion = Completion<TextChoice>

struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "triage"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    var object = "list"
    var data: [Model]
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}` (+ `candidates` on 422).
struct ErrorBody: Encodable, Sendable {
    struct Inner: Encodable, Sendable {
        var message: String
        var type: String
        var param: String?
        var code: String?
        var candidates: [Candidate]?
        func encode(to encoder: any Encoder) throws {
            enum K: String, CodingKey { case message, type, param, code, candidates }
            var c = encoder.container(keyedBy: K.self)
            try c.encode(message, forKey: .message); try c.encode(type, forKey: .type)
            if let param { try c.encode(param, forKey: .param) } else { try c.encodeNil(forKey: .param) }
            if let code { try c.encode(code, forKey: .code) } else { try c.encodeNil(forKey: .code) }
            try c.encodeIfPresent(candidates, forKey: .candidates)
        }
    }
    var error: Inner
}
