// The JSONL readers: training/evaluation examples (`ExampleReader`, strict and with --skip-bad-lines,
// with and without a context limit) and `ask --file` requests (`RequestReader`). Any bytes must give
// examples or an error naming the line, never a crash.
import Foundation
import ExpertModel
import FuzzSupport
import TriageEngine


func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = Harness.data(bytes, count)
    let strict = try? ExampleReader.read(data: data, name: "fuzz.jsonl", context: 64)
    let lenient = try? ExampleReader.read(data: data, name: "fuzz.jsonl", skipBadLines: true)
    if let strict {
        if strict.examples.isEmpty || !strict.skipped.isEmpty { Harness.violated("strict read returned \(strict.examples.count) examples, \(strict.skipped.count) skipped") }
        if strict.examples.contains(where: { $0.trainingLength > 64 }) { Harness.violated("an example longer than the context was accepted") }
        guard let lenient, lenient.examples == strict.examples else { Harness.violated("--skip-bad-lines read fewer examples than the strict read") }
    }
    if let lenient, lenient.examples.isEmpty { Harness.violated("a lenient read returned no examples and no error") }
    _ = try? ExampleReader.read(data: data, name: "fuzz.jsonl", requireOutput: false)
    if let requests = try? RequestReader.read(data: data, name: "fuzz.jsonl"), requests.isEmpty {
        Harness.violated("a request file read as no requests and no error")
    }
    return 0
}

Harness.main(seeds: {
    var seeds = [
        "examples.jsonl": Fixtures.examplesJSONL,
        "requests.jsonl": Data("{\"id\":\"a\",\"input\":\"abc\"}\n{\"id\":7,\"input\":\"dup xyz\"}\n{\"input\":\"Sort 3, 1.\",\"id\":null}\n".utf8),
        "labelled.jsonl": Data("{\"input\":\"abc\",\"output\":\"cba\",\"expert\":\"rev\"}\r\n\r\n \t\n{\"input\":\"dup a\",\"output\":\"aa\",\"expert\":\"dup\"}".utf8),
        "bad-lines.jsonl": Data("{\"input\":\"a\",\"output\":\"b\"}\n{nope\n{\"input\":\"a\"}\n{\"input\":\"a\",\"output\":5}\n[1,2]\n\"s\"\n".utf8),
        "unicode.jsonl": Data("{\"input\":\"caf\\u00e9 \\ud83d\\ude00\",\"output\":\"\u{e9}\\n\\t\"}\n".utf8),
    ]
    var badUTF8 = Data("{\"input\":\"a\",\"output\":\"".utf8); badUTF8.append(0xC3); badUTF8.append(contentsOf: Data("\"}\n".utf8))
    seeds["bad-utf8.jsonl"] = badUTF8
    if let shipped = Fixtures.repositoryFile("Experts/add-or-sub/test.jsonl") {
        seeds["add-or-sub.jsonl"] = Data(shipped.split(separator: 0x0A).prefix(4).joined(separator: [0x0A]))
    }
    return seeds
}, testOneInput)
