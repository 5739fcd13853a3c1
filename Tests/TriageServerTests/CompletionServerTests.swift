import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import XCTest
import ExpertModel
import TriageEngine
@testable import TriageServer

/// A registry holding one completion expert (nano, trained briefly on this repository's Router sources)
/// and no task expert, made once per test process.
enum CompletionHome {
    static let repo = SuiteHome.repo
    private static let made = Result<String, any Error> {
        let home = NSTemporaryDirectory() + "triage-serve-completion-\(getpid())"
        try? FileManager.default.removeItem(atPath: home)
        let engine = try Engine(home: home, suiteDirectory: nil)
        var req = CompletionAddRequest(name: "swift-code", include: [repo + "/Sources/Router"], budget: .steps(20))
        req.preset = .nano
        req.context = 128
        _ = try engine.addCompletionExpert(req, observer: nil, log: { _ in })
        return home
    }
    static func get() throws -> String { try made.get() }
}

final class CompletionServerTests: XCTestCase {
    func makeApp() async throws -> ServeApp {
        let home = try CompletionHome.get()
        var o = ServeOptions()
        o.port = 0
        return try await ServeApp.start(options: o) { try Engine(home: home, suiteDirectory: nil) }
    }

    func testInfillAnswersARequestShapedExactlyLikeLlamaVims() async throws {
        let fixture = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/llama_vim_infill.json"))
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            try await client.execute(uri: "/infill", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(data: fixture)) { r in
                XCTAssertEqual(r.status, .ok, String(buffer: r.body))
                let body = try ServerTests.json(r.body)
                // response_fields: just those, each under its path, as llama.cpp returns them.
                XCTAssertNotNil(body["content"] as? String)
                XCTAssertNotNil(body["timings/predicted_n"] as? Int)
                XCTAssertNotNil(body["timings/predicted_ms"] as? Double)
                XCTAssertNotNil(body["truncated"] as? Bool)
                XCTAssertEqual(body["tokens_cached"] as? Int, 0)
                XCTAssertNil(body["triage"], "only the fields asked for")
            }
            // Without response_fields: the whole shape.
            var obj = try XCTUnwrap(JSONSerialization.jsonObject(with: fixture) as? [String: Any])
            obj["response_fields"] = nil
            obj["n_predict"] = 16
            try await client.execute(uri: "/infill", method: .post, body: ByteBuffer(data: try JSONSerialization.data(withJSONObject: obj))) { r in
                XCTAssertEqual(r.status, .ok, String(buffer: r.body))
                let body = try ServerTests.json(r.body)
                let content = try XCTUnwrap(body["content"] as? String)
                XCTAssertLessThanOrEqual(content.utf8.count, 16)
                XCTAssertEqual(body["stop"] as? Bool, true)
                XCTAssertNotNil(body["timings"] as? [String: Any])
                XCTAssertEqual(body["model"] as? String, "swift-code")
                XCTAssertEqual((body["triage"] as? [String: Any])?["expert"] as? String, "swift-code")
                XCTAssertTrue(["eos", "limit", "word"].contains(body["stop_type"] as? String ?? ""), "\(body)")
            }
            // A warm-up (n_predict 0) returns at once with nothing generated.
            try await client.execute(uri: "/infill", method: .post, body: ByteBuffer(string: #"{"input_prefix":"abc","input_suffix":"","n_predict":0,"t_max_prompt_ms":1,"t_max_predict_ms":1}"#)) { r in
                XCTAssertEqual(r.status, .ok)
                let body = try ServerTests.json(r.body)
                XCTAssertEqual(body["content"] as? String, "")
                XCTAssertEqual((body["timings"] as? [String: Any])?["predicted_n"] as? Int, 0)
            }
            // Bad input: OpenAI-shaped 400s naming the field.
            try await client.execute(uri: "/infill", method: .post, body: ByteBuffer(string: #"{"input_prefix": 5}"#)) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertEqual(try ServerTests.error(r.body)["param"] as? String, "input_prefix")
            }
            try await client.execute(uri: "/infill", method: .post, body: ByteBuffer(string: #"{"input_prefix":"a","stream":true}"#)) { r in
                XCTAssertEqual(r.status, .badRequest)
            }
        }
    }

    func testCompletionsWithSuffixFillTheMiddleAndChatRefusesACompletionExpert() async throws {
        let app = try await makeApp()
        try await app.application().test(.router) { client in
            for model in ["triage", "swift-code"] {
                let body = #"{"model":"\#(model)","prompt":"public func route(_ text: String) -> ","suffix":" {\n}\n","max_tokens":12}"#
                try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: body)) { r in
                    XCTAssertEqual(r.status, .ok, String(buffer: r.body))
                    let b = try ServerTests.json(r.body)
                    XCTAssertEqual(b["object"] as? String, "text_completion")
                    XCTAssertEqual(b["model"] as? String, "swift-code")
                    let choice = try XCTUnwrap((b["choices"] as? [[String: Any]])?.first)
                    XCTAssertLessThanOrEqual((choice["text"] as? String ?? "").utf8.count, 12)
                    XCTAssertNotNil(choice["finish_reason"] as? String)
                    XCTAssertEqual((b["triage"] as? [String: Any])?["routed"] as? Bool, model == "triage")
                }
            }
            // Streaming gives the same text.
            var whole = ""
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"model":"swift-code","prompt":"let x = ","suffix":"\n","max_tokens":8}"#)) { r in
                whole = (((try ServerTests.json(r.body)["choices"] as? [[String: Any]])?.first)?["text"] as? String) ?? "?"
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"model":"swift-code","prompt":"let x = ","suffix":"\n","max_tokens":8,"stream":true}"#)) { r in
                let events = ServerTests.events(r.body)
                XCTAssertEqual(events.last, "[DONE]")
                let text = events.dropLast().compactMap { e -> String? in
                    guard let o = try? JSONSerialization.jsonObject(with: Data(e.utf8)) as? [String: Any] else { return nil }
                    return ((o["choices"] as? [[String: Any]])?.first)?["text"] as? String
                }.joined()
                XCTAssertEqual(text, whole)
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("swift-code", "hello")) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertTrue((try ServerTests.error(r.body)["message"] as? String ?? "").contains("completion expert"))
            }
            // No task expert: the routed chat model abstains (a completion expert never answers a task).
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ServerTests.chatBody("triage", "What is the units digit of 86657956?")) { r in
                XCTAssertEqual(r.status, .unprocessableContent, String(buffer: r.body))
            }
        }
    }
}
