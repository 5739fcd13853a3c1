import Foundation
import TriageLab

/// A standalone HTML page for a comparison: the table and an inline SVG bar chart of per-task exact
/// match by system. No scripts, fonts or images from the network.
public enum CompareHTML {
    static let colors: [CompareSystem: String] = [.routed: "#2b6cb0", .oracle: "#68d391", .singleSameSize: "#ed8936", .singleSameParams: "#c53030"]
    static let labels: [CompareSystem: String] = [.routed: "routed experts", .oracle: "oracle routing", .singleSameSize: "single model, same size",
                                                  .singleSameParams: "single model, same parameters"]
    static let order = CompareSystem.allCases

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    public static func render(_ r: CompareReport, title: String = "Triage: narrow experts vs one model") -> String {
        // A comparison run with one baseline (`--baseline`) shows only the systems it scored.
        let order = Self.order.filter { r.overall.systems[$0] != nil }
        let barW = 14, gap = 18, groupW = order.count * barW + gap, chartH = 260, left = 50, top = 20
        let width = max(left + r.tasks.count * groupW + 40, left + order.count * 190)  // room for the legend
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(chartH + top + 110)\" role=\"img\" aria-label=\"exact match by task and system\">"
        for t in stride(from: 0, through: 100, by: 20) {
            let y = top + chartH - chartH * t / 100
            svg += "<line x1=\"\(left)\" x2=\"\(width - 20)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" font-size=\"11\" text-anchor=\"end\">\(t)%</text>"
        }
        for (i, task) in r.tasks.enumerated() {
            let x0 = left + i * groupW + gap / 2
            for (j, sys) in order.enumerated() {
                let v = task.systems[sys]?.exactMatch ?? 0
                let h = Int((Double(chartH) * v).rounded())
                svg += "<rect x=\"\(x0 + j * barW)\" y=\"\(top + chartH - h)\" width=\"\(barW - 2)\" height=\"\(h)\" fill=\"\(colors[sys]!)\"><title>\(esc(task.task)) \(labels[sys]!): \(String(format: "%.1f", 100 * v))%</title></rect>"
            }
            svg += "<text transform=\"translate(\(x0 + order.count * barW / 2),\(top + chartH + 12)) rotate(35)\" font-size=\"12\">\(esc(task.task))</text>"
        }
        for (j, sys) in order.enumerated() {
            let y = top + chartH + 80 + 0, x = left + j * 190
            svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(colors[sys]!)\"/><text x=\"\(x + 16)\" y=\"\(y + 11)\" font-size=\"12\">\(labels[sys]!)</text>"
        }
        svg += "</svg>"

        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }
        var rows = ""
        for t in r.tasks {
            rows += "<tr><td>\(esc(t.task))</td><td>\(t.n)</td><td>\(pct(t.routerAccuracy))</td>"
            for sys in order {
                let s = t.systems[sys]
                let own = [s?.wordErrorRate.map { "WER \(pct($0))" }, s?.phoneErrorRate.map { "PER \(pct($0))" }].compactMap { $0 }
                rows += "<td>\(pct(s?.exactMatch))\(own.isEmpty ? "" : " <small>(\(own.joined(separator: ", ")))</small>")</td>"
            }
            rows += "</tr>"
        }
        rows += "<tr class=\"overall\"><td>mean over tasks</td><td>\(r.overall.n)</td><td>\(pct(r.overall.routerAccuracy))</td>"
        for sys in order { rows += "<td>\(pct(r.overall.systems[sys]?.exactMatch))</td>" }
        rows += "</tr><tr class=\"overall\"><td>all examples</td><td></td><td></td>"
        for sys in order { rows += "<td>\(pct(r.overall.systems[sys]?.exactMatchAllExamples))</td>" }
        rows += "</tr>"
        var cost = ""
        for sys in order {
            let s = r.overall.systems[sys]
            cost += "<tr><td>\(labels[sys]!)</td><td>\(s?.params ?? 0)</td><td>\(String(format: "%.3g", s?.trainFLOPs ?? 0))</td><td>\(String(format: "%.0f", s?.trainCPUSeconds ?? 0))</td><td>\(String(format: "%.2f", s?.medianMs ?? 0))</td></tr>"
        }
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}tr.overall{font-weight:bold;background:#f4f4f4}small{color:#666}</style>
        </head><body>
        <h1>\(esc(title))</h1>
        <p>Exact match on each expert's test set. <b>routed</b>: the router picks the expert (abstentions count as wrong); <b>oracle</b>: each request goes to its own expert; the single models are trained on a balanced mixture of all the experts' training data at the same training compute.</p>
        \(svg)
        <table><tr><th>task</th><th>n</th><th>router accuracy</th>\(order.map { "<th>\(labels[$0]!)</th>" }.joined())</tr>\(rows)</table>
        <table><tr><th>system</th><th>parameters</th><th>training FLOPs</th><th>training CPU-seconds</th><th>median ms/request</th></tr>\(cost)</table>
        </body></html>
        """
    }
}
