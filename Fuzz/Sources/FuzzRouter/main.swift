// The router file (`router.safetensors`, a registry blob): `RouterModel.load`, then routing a few
// requests through what it accepted. A damaged file must give an error; an accepted one must route
// every request to one of its experts, or abstain, with a confidence in [0, 1].
import Foundation
import FuzzSupport
import Router

nonisolated(unsafe) let requests = ["Calculate 2 + 3.", "Sort 3, 1, 2.", "", "The weather was fine.", String(repeating: "ab ", count: 50), "\u{0}\u{FFFD}é"]


func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    guard let model = try? RouterModel.load(data: Harness.data(bytes, count), origin: "fuzz") else { return 0 }
    for r in requests {
        let d = model.route(r, top: 3)
        if !(d.confidence >= 0 && d.confidence <= 1) {
            Harness.violated("routing \"\(r)\" gave confidence \(d.confidence) (abstained: \(d.abstained))")
        }
        if !d.abstained, !(d.expert.map { model.experts.contains($0) } ?? false) { Harness.violated("routed to \(d.expert ?? "nil"), not an expert") }
        if d.top.count > min(3, model.experts.count) { Harness.violated("\(d.top.count) candidates for top 3") }
    }
    return 0
}

Harness.main(seeds: {
    ["router-novelty.safetensors": try Fixtures.router(novelty: true), "router-plain.safetensors": try Fixtures.router(novelty: false)]
}, testOneInput)
