import Foundation
import TriageEngine

// llama.cpp's `POST /infill`, as llama.vim and llama.vscode send it, so those plugins can use Triage's
// completion experts unchanged. The effective prefix is `input_extra` (each chunk's text), then
// `input_prefix`, then `prompt` (the current line up to the cursor); the suffix is `input_suffix`. The
// sampling fields (`top_k`, `top_p`, `samplers`, `n_indent`, `cache_prompt`, `id_slot`) are accepted and
// ignored: decoding is greedy, and the experts' contexts are short enough that there is nothing to cache.

/// One `input_extra` chunk: `{"filename", "text"}` (llama.vim) or a bare string (older clients).
struct InfillChunk: Decodable, Sendable {
    var text: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { text = s; return }
        struct Object: Decodable { var text: String?; var filename: String? }
        guard let o = try? c.decode(Object.self) else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected {\"filename\", \"text\"} or a string"))
        }
        text = o.text ?? ""
    }
}

struct InfillRequest: Decodable, Sendable {
    var model: String?
    var inputPrefix: String?
    var inputSuffix: String?
    var inputExtra: [InfillChunk]?
    var prompt: String?
    var nPredict: Int?
    var tMaxPredictMs: Double?
    var stop: [String]?
    var stream: Bool?
    var responseFields: [String]?
    enum CodingKeys: String, CodingKey {
        case model, prompt, stop, stream
        case inputPrefix = "input_prefix", inputSuffix = "input_suffix", inputExtra = "input_extra", nPredict = "n_predict"
        case tMaxPredictMs = "t_max_predict_ms", responseFields = "response_fields"
    }

    /// Decodes and validates a body (400s name the field).
    static func parse(_ body: Data) throws(ServeError) -> InfillRequest {
        guard (try? JSONSerialization.jsonObject(with: body)) is [String: Any] else {
            if body.isEmpty { throw .badRequest("the request body is empty; expected a JSON object") }
            throw .badRequest("could not parse the request body as a JSON object", code: "invalid_json")
        }
        let r: InfillRequest
        do { r = try JSONDecoder().decode(InfillRequest.self, from: body) } catch let e as DecodingError { throw ServeError.from(e) } catch {
            throw .badRequest("could not read the request: \(error)")
        }
        if r.stream == true { throw .badRequest("'stream' is not supported on /infill (use /v1/completions with 'suffix' and stream: true)", param: "stream") }
        if let n = r.nPredict, n < -1 { throw .badRequest("'n_predict' must be -1 (the default length), 0 (a warm-up) or more (got \(n))", param: "n_predict") }
        if let t = r.tMaxPredictMs, t < 0 { throw .badRequest("'t_max_predict_ms' must not be negative", param: "t_max_predict_ms") }
        if (r.stop?.count ?? 0) > 16 { throw .badRequest("'stop' takes at most 16 strings", param: "stop") }
        return r
    }

    /// The text before the cursor: the extra chunks, the prefix lines and the current line's start.
    var prefix: String { (inputExtra ?? []).map { $0.text.hasSuffix("\n") || $0.text.isEmpty ? $0.text : $0.text + "\n" }.joined() + (inputPrefix ?? "") + (prompt ?? "") }

    /// Bytes to generate: `n_predict`, where -1 (llama.cpp's "until it stops") is 128, within 1…512.
    var maxBytes: Int { min(512, max(1, (nPredict ?? -1) < 0 ? 128 : nPredict!)) }
}

/// llama.cpp's `/infill` response (non-streaming), with Triage's routing beside it.
struct InfillResponse: Encodable, Sendable {
    struct Timings: Encodable, Sendable {
        var promptN: Int
        var promptMs: Double
        var promptPerTokenMs: Double
        var promptPerSecond: Double
        var predictedN: Int
        var predictedMs: Double
        var predictedPerTokenMs: Double
        var predictedPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case promptN = "prompt_n", promptMs = "prompt_ms", promptPerTokenMs = "prompt_per_token_ms", promptPerSecond = "prompt_per_second"
            case predictedN = "predicted_n", predictedMs = "predicted_ms", predictedPerTokenMs = "predicted_per_token_ms"
            case predictedPerSecond = "predicted_per_second"
        }
    }
    struct Routing: Encodable, Sendable {
        var expert: String
        var routed: Bool
        var confidence: Float?
        var candidates: [Candidate]
    }
    var index = 0
    var content: String
    var idSlot = 0
    var stop: Bool
    var model: String
    var tokensPredicted: Int
    var tokensEvaluated: Int
    var truncated: Bool
    var stopType: String
    var stoppingWord: String
    var hasNewLine: Bool
    var tokensCached = 0
    var timings: Timings
    var triage: Routing?
    enum CodingKeys: String, CodingKey {
        case index, content, stop, model, truncated, timings, triage
        case idSlot = "id_slot", tokensPredicted = "tokens_predicted", tokensEvaluated = "tokens_evaluated", stopType = "stop_type"
        case stoppingWord = "stopping_word", hasNewLine = "has_new_line", tokensCached = "tokens_cached"
    }

    /// The answer to a warm-up call (`n_predict: 0`): nothing generated, at once.
    static func warmUp(model: String) -> InfillResponse {
        InfillResponse(content: "", stop: true, model: model, tokensPredicted: 0, tokensEvaluated: 0, truncated: false, stopType: "limit",
                       stoppingWord: "", hasNewLine: false,
                       timings: .init(promptN: 0, promptMs: 0, promptPerTokenMs: 0, promptPerSecond: 0, predictedN: 0, predictedMs: 0,
                                      predictedPerTokenMs: 0, predictedPerSecond: 0))
    }

    /// The response as JSON; with `fields` (llama.cpp's `response_fields`), only those paths (`timings/prompt_n`),
    /// each at the top level under its path, as llama.cpp returns them.
    func json(fields: [String]?) -> [UInt8] {
        let full = JSONBytes.encode(self)
        guard let fields, !fields.isEmpty, let obj = (try? JSONSerialization.jsonObject(with: Data(full))) as? [String: Any] else { return full }
        var out = [String: Any]()
        for f in fields {
            var v: Any? = obj
            for part in f.split(separator: "/") { v = (v as? [String: Any])?[String(part)] }
            if let v { out[f] = v }
        }
        return [UInt8]((try? JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data(full))
    }
}
