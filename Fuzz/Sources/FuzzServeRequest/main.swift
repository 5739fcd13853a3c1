// `triage serve`'s request decoding: the body of POST /v1/chat/completions and /v1/completions, through
// `RequestParser.parse` (JSON decoding and validation), as both endpoints. Any body must give a parsed
// request that satisfies the documented limits, or a 400 — never a crash or another status.
import Foundation
import FuzzSupport
import TriageServer


func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let body = Harness.data(bytes, count)
    for chat in [true, false] {
        do {
            let p = try RequestParser.parse(body, chat: chat)
            if p.model.isEmpty { Harness.violated("accepted an empty model") }
            if p.stop.count > 4 || p.stop.contains(where: \.isEmpty) { Harness.violated("accepted stop \(p.stop)") }
            if let m = p.maxTokens, m < 1 { Harness.violated("accepted max tokens \(m)") }
            if p.inputParam != (chat ? "messages" : "prompt") { Harness.violated("input from \(p.inputParam)") }
        } catch {
            if error.statusCode != 400 || error.message.isEmpty { Harness.violated("status \(error.statusCode): \(error.message)") }
        }
    }
    return 0
}

Harness.main(seeds: {
    let bodies = [
        "chat.json": #"{"model":"triage","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Sort 3, 1, 2."}]}"#,
        "chat-stream.json": #"{"model":"sort","messages":[{"role":"user","content":[{"type":"text","text":"Sort 3, 1."},{"type":"image_url"}]}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":8,"stop":["\n","."],"temperature":0,"top_p":1,"n":1,"seed":7,"user":"u"}"#,
        "completion.json": #"{"model":"triage","prompt":"Calculate 2 + 3.","max_completion_tokens":16,"stop":"x"}"#,
        "completion-array.json": #"{"model":"add-or-sub","prompt":["What is 7 minus 1?"],"stream":false}"#,
        "bad-types.json": #"{"model":5,"messages":[{"role":"user","content":null}],"n":2,"temperature":3}"#,
    ]
    return bodies.mapValues { Data($0.utf8) }
}, testOneInput)
