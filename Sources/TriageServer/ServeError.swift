import Foundation
import Hummingbird
import NIOCore

/// An error response in OpenAI's shape, with its HTTP status. Public (opaque but for the status code and
/// the message) because `RequestParser.parse` throws it.
public struct ServeError: Error, Sendable {
    var status: HTTPResponse.Status
    public internal(set) var message: String
    /// The HTTP status code.
    public var statusCode: Int { Int(status.code) }
    var type: String
    var param: String?
    var code: String?
    var candidates: [Candidate]?
    /// Seconds for `Retry-After` (503s).
    var retryAfter: Int?

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> ServeError {
        ServeError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func unknownModel(_ model: String, known: [String]) -> ServeError {
        ServeError(status: .notFound, message: "The model '\(model)' does not exist; served models: \(known.joined(separator: ", "))",
                   type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static func contextLength(input: Int, limit: Int, expert: String, param: String) -> ServeError {
        .badRequest("The input is \(input) bytes, longer than expert '\(expert)' accepts (\(limit) bytes of its context); it is never truncated",
                    param: param, code: "context_length_exceeded")
    }

    static func noExpertFits(confidence: Float?, reason: String?, candidates: [Candidate]) -> ServeError {
        var why = ""
        if let reason { why = " (\(reason.replacingOccurrences(of: "_", with: " "))" + (confidence.map { String(format: ", confidence %.3f", $0) } ?? "") + ")" }
        let closest = candidates.isEmpty ? "" : "; closest: " + candidates.map { "\($0.expert) \(String(format: "%.3f", $0.p))" }.joined(separator: ", ")
        return ServeError(status: .unprocessableContent, message: "No expert fits this request\(why)\(closest)",
                          type: "invalid_request_error", param: nil, code: "no_expert_fits", candidates: candidates)
    }

    static func overloaded(_ message: String, code: String = "queue_full") -> ServeError {
        ServeError(status: .serviceUnavailable, message: message, type: "server_error", param: nil, code: code, retryAfter: 1)
    }

    static func internalError(_ message: String) -> ServeError {
        ServeError(status: .internalServerError, message: message, type: "server_error", param: nil, code: "internal_error")
    }

    static let unauthorized = ServeError(status: .unauthorized, message: "Missing or invalid API key: send 'Authorization: Bearer KEY'",
                                         type: "invalid_request_error", param: nil, code: "invalid_api_key")

    static func tooLarge(limit: Int) -> ServeError {
        ServeError(status: .contentTooLarge, message: "The request body is larger than the server's limit of \(limit) bytes (--max-body)",
                   type: "invalid_request_error", param: nil, code: "request_too_large")
    }

    var body: ErrorBody { ErrorBody(error: .init(message: message, type: type, param: param, code: code, candidates: candidates)) }

    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONBytes.encode(body))))
    }
}

enum JSONBytes {
    /// Compact JSON with slashes unescaped; encoding these plain structs cannot fail.
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return (try? Array(e.encode(value))) ?? Array(#"{"error":{"message":"could not encode the response","type":"server_error","param":null,"code":null}}"#.utf8)
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}
