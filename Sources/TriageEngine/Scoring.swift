/// A task's own measure besides exact match, named in its manifest (`metric`).
public enum TaskMetric: String, Codable, Sendable {
    /// Edit distance over space-separated tokens (phones), per reference token; word error rate with it.
    case phoneErrorRate = "phone_error_rate"
}

/// Accuracy measures shared by `eval`, `experts add` and `compare`.
public enum Scoring {
    /// Levenshtein distance between token sequences.
    public static func editDistance<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// Metrics of predictions against references; the phone error rate when `metric` asks for it.
    public static func metrics(predictions: [String], references: [String], metric: TaskMetric?) -> ExpertMetrics {
        let n = references.count
        let right = zip(predictions, references).filter { $0 == $1 }.count
        let em = n == 0 ? 0 : Double(right) / Double(n)
        guard metric == .phoneErrorRate else { return ExpertMetrics(n: n, exactMatch: em) }
        var edits = 0, total = 0
        for (p, r) in zip(predictions, references) {
            let rt = r.split(separator: " "), pt = p.split(separator: " ")
            edits += editDistance(pt, rt)
            total += rt.count
        }
        return ExpertMetrics(n: n, exactMatch: em, wordErrorRate: 1 - em, phoneErrorRate: total == 0 ? 0 : Double(edits) / Double(total))
    }
}
