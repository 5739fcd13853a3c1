import Foundation
import ExpertModel
import Registry
import Router
import TensorCore

/// One request of `ask`.
public struct Request: Sendable {
    /// The caller's id for the request, echoed in the answer.
    public var id: String?
    /// The request text.
    public var input: String
    /// A request.
    public init(id: String? = nil, input: String) {
        self.id = id
        self.input = input
    }
}

/// One answer of `ask`: which expert answered (or that none fits) and what it said.
public struct Answer: Codable, Sendable {
    public var id: String?
    public var input: String
    /// The expert that answered; nil when the router abstained.
    public var expert: String?
    /// The router's probability for the chosen expert (nil when the router was bypassed).
    public var confidence: Float?
    /// No expert fits: the router declined (and no fallback is set).
    public var abstained: Bool
    /// True when a configured fallback expert took a request the router rejected.
    public var fallback: Bool
    /// The expert's greedy answer.
    public var output: String?
    /// Wall time of this request's share of routing and decoding.
    public var ms: Double
    /// The router's closest candidates (always on abstention, and with --explain).
    public var top: [RoutingDecision.Candidate]?
    /// Why this request got no answer (e.g. longer than the expert's context).
    public var error: String?
}

extension Engine {
    /// Sets the compute threads for a process that answers `count` requests and exits: under 8, one
    /// thread, since starting workers costs more than they save (`triage ask TEXT`'s cold start).
    public static func chooseThreads(forRequests count: Int) {
        if count < 8 { ComputeThreads.set(1) }
    }

    /// Routes requests with the active router (the fallback setting is read once for all of them).
    public func route(_ texts: [String], top: Int = 3) throws -> [RoutingDecision] {
        guard let (_, model) = try activeRouter() else {
            throw TriageError.notFound("no router: the registry has no experts yet (add one with `triage experts add`)")
        }
        let fallback = fallbackExpert
        return texts.map { model.route($0, top: top, fallback: fallback) }
    }

    /// Routes (unless `expert` is given) and answers requests, decoding each expert's share in batches.
    public func ask(_ requests: [Request], expert: String? = nil, top: Int = 3, explain: Bool = false) throws -> [Answer] {
        var answers = [Answer]()
        answers.reserveCapacity(requests.count)
        let start = MonotonicClock.now()
        if let expert {
            let rec = try expertRecord(expert)
            answers = requests.map { Answer(id: $0.id, input: $0.input, expert: rec.name, confidence: nil, abstained: false,
                                            fallback: false, output: nil, ms: 0, top: nil, error: nil) }
        } else {
            guard let (_, model) = try activeRouter() else {
                throw TriageError.notFound("no experts registered: add one with `triage experts add NAME --data FILE.jsonl`")
            }
            let fallback = fallbackExpert
            for r in requests {
                let d = model.route(r.input, top: top, fallback: fallback)
                answers.append(Answer(id: r.id, input: r.input, expert: d.expert, confidence: d.confidence, abstained: d.abstained,
                                      fallback: d.usedFallback, output: nil, ms: 0, top: (explain || d.abstained) ? d.top : nil, error: nil))
            }
        }
        let routeTime = MonotonicClock.now() - start
        // Decode per expert, in batches.
        let groups = Dictionary(grouping: answers.indices.filter { answers[$0].expert != nil }, by: { answers[$0].expert! })
        for (name, idx) in groups.sorted(by: { $0.key < $1.key }) {
            let rec = try expertRecord(name)
            let dec = try decoder(for: rec)
            let limit = dec.maxPromptTokens - 2
            var ok = [Int]()
            for i in idx {
                let n = answers[i].input.utf8.count
                if n > limit {
                    answers[i].error = ExpertError.inputTooLong(bytes: n, limit: limit).description
                } else { ok.append(i) }
            }
            for chunkStart in stride(from: 0, to: ok.count, by: 64) {
                let chunk = Array(ok[chunkStart..<min(ok.count, chunkStart + 64)])
                let t0 = MonotonicClock.now()
                let outs = try dec.answer(chunk.map { answers[$0].input }, maxOutputBytes: rec.maxOutputBytes ?? 64, batchSize: 64)
                let per = (MonotonicClock.now() - t0) * 1000 / Double(chunk.count)
                for (i, o) in zip(chunk, outs) { answers[i].output = o; answers[i].ms += per }
            }
        }
        let routePer = routeTime * 1000 / Double(max(1, requests.count))
        for i in answers.indices { answers[i].ms += routePer }
        return answers
    }
}

/// Accuracy of the routed system on labelled lines, overall and per expert.
public struct EvalReport: Codable, Sendable {
    /// One expert's share of an evaluation.
    public struct Row: Codable, Sendable {
        public var expert: String
        public var n: Int
        public var exactMatch: Double
        public var routerAccuracy: Double?
        public var phoneErrorRate: Double?
        public var wordErrorRate: Double?
        enum CodingKeys: String, CodingKey {
            case expert, n, exactMatch = "exact_match", routerAccuracy = "router_accuracy", phoneErrorRate = "phone_error_rate", wordErrorRate = "word_error_rate"
        }
    }
    /// The evaluated file.
    public var file: String
    public var n: Int
    public var exactMatch: Double
    /// Fraction routed to the labelled expert (lines with an `expert` field only).
    public var routerAccuracy: Double?
    /// Requests the router declined.
    public var abstained: Int
    /// The expert asked directly (`--expert`), if any.
    public var bypassedRouter: String?
    /// Per expert (labelled, or routed to).
    public var perExpert: [Row]
    /// Wall time of the evaluation.
    public var secondsTotal: Double
    /// Every example's answer (with `--examples`).
    public var examples: [ExampleResult]?
    /// One scored example (`eval --examples`).
    public struct ExampleResult: Codable, Sendable {
        public var input: String
        public var expected: String
        public var output: String?
        public var expert: String?
        public var labelledExpert: String?
        /// The output equals the expected answer.
        public var correct: Bool
        enum CodingKeys: String, CodingKey { case input, expected, output, expert, correct, labelledExpert = "labelled_expert" }
    }
    enum CodingKeys: String, CodingKey {
        case file, n, exactMatch = "exact_match", routerAccuracy = "router_accuracy", abstained, perExpert = "per_expert"
        case bypassedRouter = "expert", secondsTotal = "seconds", examples
    }
}

extension Engine {
    /// Reads `{input, output, expert?}` lines and scores the system on them (or one expert, bypassing the router).
    public func evaluate(path: String, expert: String? = nil, limit: Int? = nil, perExample: Bool = false) throws -> EvalReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw TriageError.notFound("cannot read \(path)") }
        var rows = try ExampleReader.read(data: data, name: path).examples
        if let limit { rows = Array(rows.prefix(limit)) }
        let labels = rows.map(\.expert)
        let t0 = MonotonicClock.now()
        let answers = try ask(rows.map { Request(input: $0.input) }, expert: expert, top: 1)
        let seconds = MonotonicClock.now() - t0
        var groups = [String: [Int]]()
        for i in rows.indices {
            let key = labels[i] ?? expert ?? answers[i].expert ?? "(abstained)"
            groups[key, default: []].append(i)
        }
        func metric(of name: String) -> TaskMetric? {
            guard let rec = try? registry.expert(named: name), let js = rec.manifestJSON,
                  let m = try? JSONDecoder().decode(ExpertManifest.self, from: Data(js.utf8)) else { return nil }
            return m.metric
        }
        var perExpert = [EvalReport.Row]()
        for (name, idx) in groups.sorted(by: { $0.key < $1.key }) {
            let m = Scoring.metrics(predictions: idx.map { answers[$0].output ?? "" }, references: idx.map { rows[$0].output }, metric: metric(of: name))
            let labelled = idx.filter { labels[$0] != nil }
            let routed = labelled.isEmpty || expert != nil ? nil : Double(labelled.filter { answers[$0].expert == labels[$0] && !answers[$0].fallback }.count) / Double(labelled.count)
            perExpert.append(.init(expert: name, n: idx.count, exactMatch: m.exactMatch, routerAccuracy: routed, phoneErrorRate: m.phoneErrorRate, wordErrorRate: m.wordErrorRate))
        }
        let right = rows.indices.filter { answers[$0].output == rows[$0].output }.count
        let labelled = rows.indices.filter { labels[$0] != nil }
        let routerAcc = labelled.isEmpty || expert != nil ? nil : Double(labelled.filter { answers[$0].expert == labels[$0] && !answers[$0].fallback }.count) / Double(labelled.count)
        return EvalReport(file: path, n: rows.count, exactMatch: Double(right) / Double(max(1, rows.count)), routerAccuracy: routerAcc,
                          abstained: answers.filter(\.abstained).count, bypassedRouter: expert, perExpert: perExpert, secondsTotal: seconds,
                          examples: perExample ? rows.indices.map { i in
                              .init(input: rows[i].input, expected: rows[i].output, output: answers[i].output, expert: answers[i].expert,
                                    labelledExpert: labels[i], correct: answers[i].output == rows[i].output)
                          } : nil)
    }
}
