import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import XCTest
import TriageEngine
import TensorCore
@testable import TriageServer

/// A registry with the shipped suite (9 experts and their router), imported once per test process.
/// Tests that change the registry work on a copy.
enum SuiteHome {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    struct SetupFailed: Error, CustomStringConvertible { let description: String }

    /// Made on first use; XCTest runs one test at a time, and `make` is called once under the lock.
    private static let made = Result<String, any Error> {
        // One folder per test process (two runs at once must not replace each other's), and the folders of
        // runs that have ended are removed, so the shared home (~80 MB) is not left in /tmp once per run.
        let prefix = "triage-serve-tests-suite-home-"
        for old in (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? [] where old.hasPrefix(prefix) {
            if let pid = Int32(old.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) == 0 { continue }
            try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + old)
        }
        let home = NSTemporaryDirectory() + prefix + "\(getpid())"
        let engine = try Engine(home: home, suiteDirectory: repo + "/Experts")
        let names = try engine.bootstrapIfEmpty(log: { _ in })
        guard names.count >= 2 else { throw SetupFailed(description: "could not import the suite from \(repo)/Experts") }
        return home
    }

    static func base() throws -> String { try made.get() }

    /// A copy of the shared home. A server of an earlier test may still be closing its engine on it, and
    /// SQLite then checkpoints and deletes `-wal`/`-shm` while they are being copied (CI: "file doesn't
    /// exist"); such a copy is incomplete, so it is made again once the files have settled.
    static func copy() throws -> String {
        let dst = NSTemporaryDirectory() + "triage-serve-tests-\(UUID().uuidString)"
        for attempt in 1... {
            do {
                try FileManager.default.copyItem(atPath: try base(), toPath: dst)
                return dst
            } catch where attempt < 5 {
                try? FileManager.default.removeItem(atPath: dst)
                usleep(200_000)
            }
        }
        fatalError("unreachable")
    }
}

final class ServerTests: XCTestCase {
    func makeApp(home: String? = nil, _ configure: (inout ServeOptions) -> Void = { _ in }) async throws -> ServeApp {
        let home = try home ?? SuiteHome.base()
        var o = ServeOptions()
        o.port = 0
        configure(&o)
        return try await ServeApp.start(options: o) { try Engine(home: home, suiteDirectory: nil) }
    }

    static func json(_ b: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(buffer: b)) as? [String: Any], String(buffer: b))
    }

    static func error(_ b: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(try json(b)["error"] as? [String: Any], String(buffer: b))
    }

    static let question = "What is the units digit of 86657956?"
    static let poem = "Write me a poem about the sea"

    static func chatBody(_ model: String = "triage", _ content: String = question, extra: String = "") -> ByteBuffer {
        let c = String(data: try! JSONSerialization.data(withJSONObject: [content], options: [.fragmentsAllowed]), encoding: .utf8)!.dropFirst().dropLast()
        return ByteBuffer(string: #"{"model":"\#(model)","messages":[{"role":"system","content":"be brief"},{"role":"user","content":\#(c)}]\#(extra)}"#)
    }

    /// `data:` payloads of an SSE body.
    static func events(_ b: ByteBuffer) -> [String] {
        String(buffer: b).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map {
            XCTAssertTrue($0.hasPrefix("data: "), $0)
            return String($0.dropFirst(6))
        }
    }

    // MARK: Endpoints

    func testHealthMetricsAndModels() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try ServerTests.json(r.body)["status"] as? String, "ok")
            }
            try await client.execute(uri: "/v1/models", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let body = try ServerTests.json(r.body)
                XCTAssertEqual(body["object"] as? String, "list")
                let data = try XCTUnwrap(body["data"] as? [[String: Any]])
                let ids = data.compactMap { $0["id"] as? String }
                XCTAssertEqual(ids.first, "triage")
                XCTAssertTrue(ids.contains("place-value") && ids.contains("pronounce"), "\(ids)")
                XCTAssertEqual(ids.count, 10)
                for m in data {
                    XCTAssertEqual(m["object"] as? String, "model")
                    XCTAssertEqual(m["owned_by"] as? String, "triage")
                    XCTAssertNotNil(m["created"] as? Int)
                }
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody(extra: #","temperature":0.7,"top_p":1,"seed":42,"user":"u""#)) { r in
                XCTAssertEqual(r.status, .ok)
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"model":"triage","prompt":"\#(ServerTests.poem)"}"#)) { r in
                XCTAssertEqual(r.status, .unprocessableContent)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let text = String(buffer: r.body)
                XCTAssertTrue(text.contains(#"triage_http_requests_total{endpoint="/v1/chat/completions",status="200"} 1"#), text)
                XCTAssertTrue(text.contains(#"triage_http_requests_total{endpoint="/v1/models",status="200"} 1"#), text)
                XCTAssertTrue(text.contains("triage_queue_depth 0"), text)
                XCTAssertTrue(text.contains("triage_abstentions_total 1"), text)
                XCTAssertTrue(text.contains(#"triage_expert_requests_total{expert="place-value"} 1"#), text)
                XCTAssertTrue(text.contains(#"triage_expert_batch_duration_seconds_count{expert="place-value"} 1"#), text)
                XCTAssertTrue(text.contains("triage_http_request_duration_seconds_bucket"), text)
            }
        }
    }

    func testChatCompletionRoutedAndDirect() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            var routedText = ""
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody()) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "application/json")
                let b = try ServerTests.json(r.body)
                XCTAssertEqual(b["object"] as? String, "chat.completion")
                XCTAssertTrue((b["id"] as? String)?.hasPrefix("chatcmpl-") ?? false)
                XCTAssertNotNil(b["created"] as? Int)
                XCTAssertEqual(b["model"] as? String, "place-value")
                let choice = try XCTUnwrap((b["choices"] as? [[String: Any]])?.first)
                let message = try XCTUnwrap(choice["message"] as? [String: Any])
                XCTAssertEqual(message["role"] as? String, "assistant")
                routedText = try XCTUnwrap(message["content"] as? String)
                XCTAssertEqual(routedText, "6")  // the suite's place-value expert gets this one right
                XCTAssertEqual(choice["finish_reason"] as? String, "stop")
                let usage = try XCTUnwrap(b["usage"] as? [String: Int])
                XCTAssertEqual(usage["prompt_tokens"], ServerTests.question.utf8.count)  // bytes of the last user message
                XCTAssertEqual(usage["completion_tokens"], routedText.utf8.count)
                XCTAssertEqual(usage["total_tokens"], usage["prompt_tokens"]! + usage["completion_tokens"]!)
                let t = try XCTUnwrap(b["triage"] as? [String: Any])
                XCTAssertEqual(t["expert"] as? String, "place-value")
                XCTAssertEqual(t["routed"] as? Bool, true)
                XCTAssertGreaterThan(t["confidence"] as? Double ?? 0, 0.5)
                XCTAssertEqual((t["candidates"] as? [[String: Any]])?.first?["expert"] as? String, "place-value")
                // The expert's own confidence in its answer, raw and calibrated (the suite ships calibrations).
                let answerConfidence = try XCTUnwrap(t["answer_confidence"] as? Double)
                XCTAssert(answerConfidence > 0 && answerConfidence <= 1, "\(answerConfidence)")
                let pCorrect = try XCTUnwrap(t["p_correct"] as? Double)
                XCTAssert(pCorrect >= 0 && pCorrect <= 1, "\(pCorrect)")
            }
            // Naming an expert skips the router, even for a request it would reject.
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("pronounce", ServerTests.poem)) { r in
                XCTAssertEqual(r.status, .ok)
                let b = try ServerTests.json(r.body)
                XCTAssertEqual(b["model"] as? String, "pronounce")
                let t = try XCTUnwrap(b["triage"] as? [String: Any])
                XCTAssertEqual(t["routed"] as? Bool, false)
                XCTAssertNil(t["confidence"] as? Double)
                XCTAssertNotNil(t["answer_confidence"] as? Double, "an expert named directly still says how sure it is")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("place-value")) { r in
                XCTAssertEqual(r.status, .ok)
                let content = ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
                XCTAssertEqual(content, routedText)
            }
        }
    }

    func testStreamingMatchesNonStreaming() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            let sortQ = "Sort -3, 12, 5 in ascending order."
            var plain = ""
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", sortQ)) { r in
                plain = ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? "?"
            }
            XCTAssertFalse(plain.isEmpty)
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: ServerTests.chatBody("triage", sortQ, extra: #","stream":true,"stream_options":{"include_usage":true}"#)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "text/event-stream")
                let ev = ServerTests.events(r.body)
                XCTAssertEqual(ev.last, "[DONE]")
                let chunks = try ev.dropLast().map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
                XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
                XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1)
                let first = try XCTUnwrap((chunks.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
                XCTAssertEqual(first["role"] as? String, "assistant")
                XCTAssertEqual((chunks.first?["triage"] as? [String: Any])?["expert"] as? String, "sort")
                let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
                XCTAssertEqual(text, plain)
                let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
                XCTAssertEqual(finishes, ["stop"])
                // The confidence is known once the answer is decoded: the finishing chunk carries it.
                let finishing = try XCTUnwrap(chunks.first { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String != nil })
                XCTAssertNotNil((finishing["triage"] as? [String: Any])?["answer_confidence"] as? Double)
                let usage = try XCTUnwrap(chunks.last?["usage"] as? [String: Int])
                XCTAssertEqual(usage["completion_tokens"], plain.utf8.count)
                XCTAssertEqual((chunks.last?["choices"] as? [Any])?.count, 0)
            }
            // Without include_usage no chunk carries usage.
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", sortQ, extra: #","stream":true"#)) { r in
                XCTAssertFalse(String(buffer: r.body).contains("\"usage\""))
            }
        }
    }

    func testTextCompletionsPlainAndStreamed() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            let body = #"{"model":"triage","prompt":"\#(ServerTests.question)"}"#
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: body)) { r in
                XCTAssertEqual(r.status, .ok)
                let b = try ServerTests.json(r.body)
                XCTAssertEqual(b["object"] as? String, "text_completion")
                XCTAssertEqual(b["model"] as? String, "place-value")
                let choice = try XCTUnwrap((b["choices"] as? [[String: Any]])?.first)
                XCTAssertEqual(choice["text"] as? String, "6")
                XCTAssertEqual(choice["finish_reason"] as? String, "stop")
                XCTAssertEqual((b["usage"] as? [String: Int])?["completion_tokens"], 1)
            }
            let streamed = #"{"model":"triage","prompt":["\#(ServerTests.question)"],"stream":true,"stream_options":{"include_usage":true}}"#
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: streamed)) { r in
                XCTAssertEqual(r.status, .ok)
                let ev = ServerTests.events(r.body)
                XCTAssertEqual(ev.last, "[DONE]")
                let chunks = try ev.dropLast().map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
                XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "text_completion" })
                let text = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }.joined()
                XCTAssertEqual(text, "6")
                XCTAssertEqual((chunks.last?["usage"] as? [String: Int])?["prompt_tokens"], ServerTests.question.utf8.count)
            }
        }
    }

    func testMaxTokensAndStop() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            let q = "Sort 5, 3, 8, 1, 9, 2 in ascending order."
            var full = ""
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("sort", q)) { r in
                full = ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
            }
            XCTAssertGreaterThan(full.utf8.count, 3, full)
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("sort", q, extra: #","max_tokens":3"#)) { r in
                let choice = try XCTUnwrap((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first)
                XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, String(full.prefix(3)))
                XCTAssertEqual(choice["finish_reason"] as? String, "length")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("sort", q, extra: #","stop":[","]"#)) { r in
                let choice = try XCTUnwrap((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first)
                XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, String(full.split(separator: ",").first ?? ""))
                XCTAssertEqual(choice["finish_reason"] as? String, "stop")
            }
        }
    }

    // MARK: Errors

    func testBadRequests() async throws {
        let app = try await makeApp { $0.maxBody = 4096 }
        try await app.application().test(.router) { client in
            func check(_ path: String, _ body: String, status: HTTPResponse.Status, param: String?, code: String? = nil, contains: String? = nil,
                       line: UInt = #line) async throws {
                try await client.execute(uri: path, method: .post, body: ByteBuffer(string: body)) { r in
                    XCTAssertEqual(r.status, status, String(buffer: r.body), line: line)
                    let e = try ServerTests.error(r.body)
                    XCTAssertEqual(e["type"] as? String, status == .serviceUnavailable ? "server_error" : "invalid_request_error", line: line)
                    XCTAssertEqual(e["param"] as? String, param, line: line)
                    XCTAssertTrue(e.keys.contains("param") && e.keys.contains("code") && e["message"] is String, line: line)
                    if let code { XCTAssertEqual(e["code"] as? String, code, line: line) }
                    if let contains { XCTAssertTrue((e["message"] as? String ?? "").contains(contains), "\(e)", line: line) }
                }
            }
            let chat = "/v1/chat/completions", text = "/v1/completions"
            try await check(chat, "{\"model\": \"triage\", ", status: .badRequest, param: nil, code: "invalid_json")
            try await check(chat, "", status: .badRequest, param: nil)
            try await check(chat, "[1, 2]", status: .badRequest, param: nil, code: "invalid_json")
            try await check(chat, #"{"messages":[{"role":"user","content":"hi"}]}"#, status: .badRequest, param: "model", code: "missing_field")
            try await check(chat, #"{"model":"triage"}"#, status: .badRequest, param: "messages", code: "missing_field")
            try await check(chat, #"{"model":"triage","messages":[]}"#, status: .badRequest, param: "messages")
            try await check(chat, #"{"model":"triage","messages":[{"role":"system","content":"x"}]}"#, status: .badRequest, param: "messages")
            try await check(chat, #"{"model":"triage","messages":[{"content":"x"}]}"#, status: .badRequest, param: "messages[0].role", code: "missing_field")
            try await check(chat, #"{"model":7,"messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "model", code: "invalid_type")
            try await check(chat, #"{"model":"triage","stream":"yes","messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "stream", code: "invalid_type")
            try await check(chat, #"{"model":"triage","max_tokens":"9","messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "max_tokens", code: "invalid_type")
            try await check(chat, #"{"model":"triage","max_tokens":0,"messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "max_tokens")
            try await check(chat, #"{"model":"triage","n":2,"messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "n")
            try await check(chat, #"{"model":"triage","temperature":5,"messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "temperature")
            try await check(chat, #"{"model":"triage","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}"#, status: .badRequest, param: "stop")
            try await check(chat, #"{"model":"triage","messages":[{"role":"user","content":{"a":1}}]}"#, status: .badRequest, param: "messages[0].content", code: "invalid_type")
            try await check(text, #"{"model":"triage","prompt":["a","b"]}"#, status: .badRequest, param: "prompt", code: "invalid_type")
            try await check(text, #"{"model":"triage"}"#, status: .badRequest, param: "prompt", code: "missing_field")
            // Unknown model: 404 listing what is served.
            try await check(chat, #"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#, status: .notFound, param: "model", code: "model_not_found", contains: "place-value")
            // Longer than the expert's context: 400 naming both lengths, for the routed model and a named expert.
            let long = String(repeating: "What is the units digit of 86657956? ", count: 5)
            try await check(text, #"{"model":"triage","prompt":"\#(long)"}"#, status: .badRequest, param: "prompt", code: "context_length_exceeded",
                            contains: "\(long.utf8.count) bytes")
            try await check(chat, #"{"model":"place-value","messages":[{"role":"user","content":"\#(long)"}]}"#, status: .badRequest, param: "messages",
                            code: "context_length_exceeded", contains: "(125 bytes")
            // Over --max-body: 413.
            try await check(text, #"{"model":"triage","prompt":"\#(String(repeating: "a", count: 5000))"}"#, status: .contentTooLarge, param: nil, code: "request_too_large")
            // The router abstains: 422 with the closest candidates (not a 5xx, which clients retry).
            try await client.execute(uri: chat, method: .post, body: ServerTests.chatBody("triage", ServerTests.poem)) { r in
                XCTAssertEqual(r.status, .unprocessableContent)
                let e = try ServerTests.error(r.body)
                XCTAssertEqual(e["code"] as? String, "no_expert_fits")
                XCTAssertEqual(e["type"] as? String, "invalid_request_error")
                let candidates = try XCTUnwrap(e["candidates"] as? [[String: Any]])
                XCTAssertEqual(candidates.count, 3)
                XCTAssertNotNil(candidates.first?["expert"] as? String)
                XCTAssertNotNil(candidates.first?["p"] as? Double)
            }
            // The stream flag does not change an abstention's status.
            try await client.execute(uri: chat, method: .post, body: ServerTests.chatBody("triage", ServerTests.poem, extra: #","stream":true"#)) { r in
                XCTAssertEqual(r.status, .unprocessableContent)
            }
            try await client.execute(uri: "/v1/nothing", method: .get) { r in
                XCTAssertEqual(r.status, .notFound)
                XCTAssertEqual(try ServerTests.error(r.body)["code"] as? String, "unknown_url")
            }
            try await client.execute(uri: chat, method: .get) { r in
                XCTAssertTrue([.notFound, .methodNotAllowed].contains(r.status), "\(r.status)")
                XCTAssertNotNil(try ServerTests.error(r.body)["message"] as? String)
            }
        }
    }

    func testQueueFullAndDrainingGive503WithRetryAfter() async throws {
        let full = try await makeApp { $0.maxQueue = 0 }
        try await full.application().test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody()) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertEqual(r.headers[.retryAfter], "1")
                XCTAssertEqual(try ServerTests.error(r.body)["code"] as? String, "queue_full")
            }
            try await client.execute(uri: "/health", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            app.beginDraining()
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"model":"triage","prompt":"x"}"#)) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertEqual(r.headers[.retryAfter], "1")
                XCTAssertEqual(try ServerTests.error(r.body)["code"] as? String, "shutting_down")
            }
        }
    }

    func testAPIKey() async throws {
        let app = try await makeApp { $0.apiKey = "s3cret-key" }
        try await app.application().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: "Bearer s3cret-ke"], [.authorization: "s3cret-key"],
                                        [.authorization: "Bearer s3cret-key2"]] {
                try await client.execute(uri: "/v1/models", method: .get, headers: headers) { r in
                    XCTAssertEqual(r.status, .unauthorized, "\(headers)")
                    XCTAssertEqual(try ServerTests.error(r.body)["code"] as? String, "invalid_api_key")
                }
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody()) { r in
                XCTAssertEqual(r.status, .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in XCTAssertEqual(r.status, .unauthorized) }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer s3cret-key"]) { r in
                XCTAssertEqual(r.status, .ok)
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer s3cret-key"], body: ServerTests.chatBody()) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertNil(r.headers[.accessControlAllowOrigin])  // no CORS unless --cors-origin
            }
        }
        XCTAssertTrue(ServeMiddleware.authorized("Bearer k", key: "k"))
        XCTAssertFalse(ServeMiddleware.authorized("Bearer ", key: "k"))
        XCTAssertFalse(ServeMiddleware.authorized("Bearer kk", key: "k"))
    }

    func testCORSOnlyForNamedOrigins() async throws {
        let app = try await makeApp { $0.corsOrigins = ["http://localhost:3000"] }
        try await app.application().test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "http://localhost:3000"]) { r in
                XCTAssertEqual(r.headers[.accessControlAllowOrigin], "http://localhost:3000")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "http://evil.example"]) { r in
                XCTAssertNil(r.headers[.accessControlAllowOrigin])
            }
            try await client.execute(uri: "/v1/chat/completions", method: .options,
                                     headers: [.origin: "http://localhost:3000", .accessControlRequestMethod: "POST"]) { r in
                XCTAssertEqual(r.status, .noContent)
                XCTAssertEqual(r.headers[.accessControlAllowOrigin], "http://localhost:3000")
                XCTAssertNotNil(r.headers[.accessControlAllowMethods])
            }
        }
    }

    // MARK: Batching, registry changes, cancellation

    func testConcurrentRequestsForOneExpertAreOneBatch() async throws {
        let app = try await makeApp { $0.batchWindow = .milliseconds(200) }
        try await app.application().test(.router) { client in
            let questions = ["What is the units digit of 123?", "What is the tens digit of 4567?", "What is the hundreds digit of 98765?",
                             "What is the thousands digit of 2468013?", "What is the units digit of 50059182?", "What is the tens digit of 77?"]
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (i, q) in questions.enumerated() {
                    group.addTask {
                        try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", q)) { r in
                            XCTAssertEqual(r.status, .ok)
                            return (i, ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? "")
                        }
                    }
                }
                var out = [Int: String]()
                for try await (i, a) in group { out[i] = a }
                return out
            }
            XCTAssertEqual(answers.count, questions.count)
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                XCTAssertTrue(text.contains(#"triage_expert_requests_total{expert="place-value"} 6"#), text)
                // All six arrived within the window: one batch of six.
                XCTAssertTrue(text.contains(#"triage_expert_batch_duration_seconds_count{expert="place-value"} 1"#), text)
            }
            // Each answer equals the one it gets alone: batching does not change greedy answers.
            for (i, q) in questions.enumerated() {
                try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", q)) { r in
                    let a = ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
                    XCTAssertEqual(a, answers[i])
                }
            }
        }
    }

    /// Several experts' groups decoded side by side (one per core) give each request the answer it gets alone.
    func testGroupsOfSeveralExpertsDecodeSideBySideWithTheSameAnswers() throws {
        let engine = try Engine(home: try SuiteHome.base(), suiteDirectory: nil)
        let snapshot = try engine.servingSnapshot()
        let groups = [
            Engine.DecodeGroup(expert: "place-value", inputs: ["What is the units digit of 123?", "What is the tens digit of 4567?"], maxOutputBytes: 8),
            Engine.DecodeGroup(expert: "sort", inputs: ["Sort 3, -1, 2.", "Put 5, 1, 4 in descending order.", "Sort 0.5, 2, -7 in increasing order."], maxOutputBytes: 24),
            Engine.DecodeGroup(expert: "pronounce", inputs: ["worthies"], maxOutputBytes: 32),
            Engine.DecodeGroup(expert: "missing", inputs: ["x"], maxOutputBytes: 4),
        ]
        let saved = (Parallel.threads, BLAS.threads)
        defer { ComputeThreads.set(saved.0) }
        ComputeThreads.set(2)
        let together = engine.decode(groups: groups, in: snapshot)
        for (g, r) in zip(groups.prefix(3), together) {
            XCTAssertEqual(try r.get(), try engine.decode(g.inputs, expert: g.expert, in: snapshot, maxOutputBytes: g.maxOutputBytes), g.expert)
        }
        guard case .failure(.notFound) = together[3] else { return XCTFail("an unknown expert's group must fail alone: \(together[3])") }
    }

    func testRegistryChangesArePickedUpWithoutRestart() async throws {
        let home = try SuiteHome.copy()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let app = try await makeApp(home: home)
        try await app.application().test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", ServerTests.poem)) { r in
                XCTAssertEqual(r.status, .unprocessableContent)
            }
            // What `triage config set fallback pronounce` does, from another connection while the server runs.
            let other = try Engine(home: home, suiteDirectory: nil)
            try other.registry.setSetting("fallback", "pronounce")
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", ServerTests.poem)) { r in
                XCTAssertEqual(r.status, .ok, String(buffer: r.body))
                let b = try ServerTests.json(r.body)
                XCTAssertEqual(b["model"] as? String, "pronounce")
                XCTAssertEqual((b["triage"] as? [String: Any])?["fallback"] as? Bool, true)
            }
            // An expert removed (here straight from the registry, with the router that no longer knows it
            // deactivated in the same transaction): gone from the list and from routing, at once.
            try other.registry.setSetting("fallback", nil)
            let router = try XCTUnwrap(try other.registry.activeRouter())
            try other.registry.database.transaction {
                try other.registry.database.execute("UPDATE routers SET active = 0 WHERE version = \(router.version)")
                _ = try other.registry.database.run("DELETE FROM expert_data WHERE expert_id = (SELECT id FROM experts WHERE name = 'sort')")
                _ = try other.registry.database.run("DELETE FROM experts WHERE name = 'sort'")
            }
            try await client.execute(uri: "/v1/models", method: .get) { r in
                let ids = ((try ServerTests.json(r.body)["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
                XCTAssertFalse(ids.contains("sort"), "\(ids)")
                XCTAssertFalse(ids.contains("triage"), "no active router, so no routed model: \(ids)")
                XCTAssertTrue(ids.contains("place-value"))
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("sort", "Sort 2, 1.")) { r in
                XCTAssertEqual(r.status, .notFound)
            }
        }
    }

    func testCancelledJobsAreSkipped() async throws {
        let app = try await makeApp { $0.batchWindow = .milliseconds(300) }
        var req = try RequestParser.parse(Data(ServerTests.chatBody().readableBytesView), chat: true)
        req.model = "place-value"
        let gone = Job(.complete(req)), kept = Job(.complete(req))
        XCTAssertTrue(app.worker.submit(gone))
        XCTAssertTrue(app.worker.submit(kept))
        gone.cancel()  // what a disconnect does (ConnectionWatch → Job.cancel) while the job waits
        var goneEvents = 0
        for await _ in gone.events { goneEvents += 1 }
        XCTAssertEqual(goneEvents, 0)
        var keptEvents = [JobEvent]()
        for await e in kept.events { keptEvents.append(e) }
        XCTAssertEqual(keptEvents.count, 2)
        let text = app.metrics.render()
        XCTAssertTrue(text.contains(#"triage_expert_requests_total{expert="place-value"} 1"#), text)
        await app.worker.stop()
        XCTAssertFalse(app.worker.submit(Job(.models)), "a stopped worker takes no jobs")

        // ConnectionWatch: callbacks run once on close, and at once for a connection already closed.
        final class Flag: Sendable { let n = Atomic<Int>(0) }
        let watch = ConnectionWatch(), id = ObjectIdentifier(Flag()), flag = Flag()
        watch.opened(id)
        XCTAssertNotNil(watch.onClose(id) { flag.n.add(1, ordering: .relaxed) })
        let token = watch.onClose(id) { flag.n.add(100, ordering: .relaxed) }
        watch.cancel(id, token: token)
        watch.closed(id)
        watch.closed(id)
        XCTAssertEqual(flag.n.load(ordering: .relaxed), 1)
        XCTAssertNil(watch.onClose(id) { flag.n.add(10, ordering: .relaxed) })
        XCTAssertEqual(flag.n.load(ordering: .relaxed), 11)
        watch.removed(id)
        XCTAssertNil(watch.onClose(ObjectIdentifier(flag)) { flag.n.add(1000, ordering: .relaxed) })
        XCTAssertEqual(flag.n.load(ordering: .relaxed), 11)
    }

    func testFinalizeAndLoopback() {
        XCTAssertTrue(DecodeWorker.finalize("abcdef", limit: 3, stop: []) == ("abc", "length"))
        XCTAssertTrue(DecodeWorker.finalize("abc", limit: 10, stop: []) == ("abc", "stop"))
        XCTAssertTrue(DecodeWorker.finalize("a, b, c", limit: 10, stop: [", c", ","]) == ("a", "stop"))
        XCTAssertTrue(DecodeWorker.finalize("abcdef", limit: 4, stop: ["e"]) == ("abcd", "length"))
        for h in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] { XCTAssertTrue(ServeApp.isLoopback(h), h) }
        for h in ["0.0.0.0", "::", "192.168.1.4", "10.0.0.1", "example.com", "127.0.0.1.nip.io"] { XCTAssertFalse(ServeApp.isLoopback(h), h) }
    }

    // MARK: Live

    func testLiveServerOverRealSockets() async throws {
        let app = try await makeApp()
        try await app.application().test(.live) { client in
            XCTAssertNotNil(client.port)
            try await client.execute(uri: "/health", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            var plain = ""
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: [.contentType: "application/json"], body: ServerTests.chatBody()) { r in
                XCTAssertEqual(r.status, .ok)
                plain = ((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
            }
            XCTAssertEqual(plain, "6")
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody(extra: #","stream":true"#)) { r in
                XCTAssertEqual(r.status, .ok)
                let ev = ServerTests.events(r.body)
                XCTAssertEqual(ev.last, "[DONE]")
                XCTAssertTrue(ev.contains { $0.contains(#""content":"6""#) }, "\(ev)")
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: "{not json")) { r in
                XCTAssertEqual(r.status, .badRequest)
            }
            try await client.execute(uri: "/v1/models", method: .get) { r in XCTAssertEqual(r.status, .ok) }
        }
        XCTAssertEqual(ConnectionWatch.shared.watchedConnections, 0, "every connection's watch entry is removed when it closes")
    }
}

/// `triage serve` as a user starts it (the built binary beside the test bundle).
final class ServeCommandTests: XCTestCase {
    static var binary: String? {
        let bundle = Bundle(for: ServeCommandTests.self).bundleURL
        return [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("triage").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func run(_ args: [String], home: String) throws -> (Int32, String) {
        let bin = try XCTUnwrap(ServeCommandTests.binary, "the triage binary is built by `swift build`")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["TRIAGE_HOME"] = home
        env["TRIAGE_SUITE_DIR"] = home + "/no-suite"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    func testNonLoopbackWithoutKeyExits2() throws {
        let home = NSTemporaryDirectory() + "triage-serve-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (status, err) = try run(["serve", "--host", "0.0.0.0", "--port", "0"], home: home)
        XCTAssertEqual(status, 2, err)
        XCTAssertTrue(err.contains("without an API key"), err)
        let (s2, e2) = try run(["serve", "--api-key", "a", "--api-key-file", "/nonexistent"], home: home)
        XCTAssertEqual(s2, 2, e2)
    }
}
