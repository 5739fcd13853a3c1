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
    /// The expert's own confidence in its answer (`AnswerConfidence`, e.g. its least probable byte's
    /// probability); nil when nothing was decoded.
    public var answerConfidence: Double?
    /// The calibrated probability that the answer is right (the expert's validation-set calibration);
    /// nil when the expert has no calibration.
    public var pCorrect: Double?
    /// The answer was declined: its confidence (calibrated when possible) is below the minimum in force,
    /// `--min-confidence` or the expert's default. `output` is then nil unless unsure answers are shown.
    public var notSure: Bool = false
    /// The minimum confidence this answer was held to, when one was.
    public var minConfidence: Double?

    enum CodingKeys: String, CodingKey {
        case id, input, expert, confidence, abstained, fallback, output, ms, top, error
        case answerConfidence = "answer_confidence", pCorrect = "p_correct", notSure = "not_sure", minConfidence = "min_confidence"
    }

    /// The probability an answer is held to: calibrated when the expert has a calibration, else the raw score.
    public var heldConfidence: Double? { pCorrect ?? answerConfidence }
}

/// How `ask` treats answers the expert is unsure of.
public struct ConfidencePolicy: Sendable {
    /// Decline answers whose confidence is below this (overrides each expert's default); nil: the expert's default.
    public var minConfidence: Double?
    /// Keep the output of declined answers (they are still marked `not_sure`).
    public var showUnsure: Bool
    /// Score answers with this summary instead of the one each expert's calibration names (to compare
    /// scores: `p_correct` is then left out wherever the calibration was fitted on another score).
    public var score: AnswerConfidence.Score?
    /// A policy; the default answers by each expert's own default minimum and hides unsure answers.
    public init(minConfidence: Double? = nil, showUnsure: Bool = false, score: AnswerConfidence.Score? = nil) {
        self.minConfidence = minConfidence
        self.showUnsure = showUnsure
        self.score = score
    }
    /// Answers everything and shows everything (evaluation).
    public static let answerAll = ConfidencePolicy(minConfidence: 0, showUnsure: true)
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
        let tasks = try experts(ofKind: .task)
        return texts.map { model.route($0, top: top, fallback: fallback, among: tasks) }
    }

    /// Routes (unless `expert` is given) and answers requests, decoding each expert's share in batches.
    ///   - policy: which answers are declined as "not sure" (`notSure`), and whether their text is kept.
    ///   - beamWidth: hypotheses of beam search per request (1: greedy decoding).
    public func ask(_ requests: [Request], expert: String? = nil, top: Int = 3, explain: Bool = false,
                    policy: ConfidencePolicy = ConfidencePolicy(), beamWidth: Int = 1) throws -> [Answer] {
        if let m = policy.minConfidence, !(m >= 0 && m <= 1) {
            throw TriageError.badInput("--min-confidence must be a probability in [0, 1], got \(m)")
        }
        var answers = [Answer]()
        answers.reserveCapacity(requests.count)
        let start = MonotonicClock.now()
        let tasks = try experts(ofKind: .task)
        if let expert {
            let rec = try expertRecord(expert)
            if let tasks, !tasks.contains(rec.name) {
                throw TriageError.badInput("'\(rec.name)' is a completion expert: use `triage complete --expert \(rec.name) PREFIX`")
            }
            answers = requests.map { Answer(id: $0.id, input: $0.input, expert: rec.name, confidence: nil, abstained: false,
                                            fallback: false, output: nil, ms: 0, top: nil, error: nil) }
        } else {
            guard let (_, model) = try activeRouter() else {
                throw TriageError.notFound("no experts registered: add one with `triage experts add NAME --data FILE.jsonl`")
            }
            let fallback = fallbackExpert
            for r in requests {
                let d = model.route(r.input, top: top, fallback: fallback, among: tasks)
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
            var calibration = try self.calibration(of: rec)
            let kind = policy.score ?? calibration?.score ?? AnswerConfidence.defaultScore
            if calibration?.score != kind { calibration = nil }
            let minimum = policy.minConfidence ?? calibration?.minConfidence
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
                let outs = try dec.answerScored(chunk.map { answers[$0].input }, maxOutputBytes: rec.maxOutputBytes ?? 64, batchSize: 64,
                                                beamWidth: beamWidth)
                let per = (MonotonicClock.now() - t0) * 1000 / Double(chunk.count)
                for (i, o) in zip(chunk, outs) {
                    answers[i].output = o.text
                    answers[i].ms += per
                    Engine.attachConfidence(&answers[i], scored: o, kind: kind, calibration: calibration, minimum: minimum,
                                            showUnsure: policy.showUnsure)
                }
            }
        }
        let routePer = routeTime * 1000 / Double(max(1, requests.count))
        for i in answers.indices { answers[i].ms += routePer }
        return answers
    }
}

extension Engine {
    /// The expert's calibration from its registered manifest (nil for experts registered without one).
    package func calibration(of record: ExpertRecord) throws -> ConfidenceCalibration? {
        guard let js = record.manifestJSON else { return nil }
        return try ExpertManifest.decode(Data(js.utf8), origin: "expert '\(record.name)' manifest").calibration
    }

    /// Fills an answer's confidence fields from its scored decode and applies the minimum confidence.
    package static func attachConfidence(_ a: inout Answer, scored: ScoredAnswer, kind: AnswerConfidence.Score,
                                         calibration: ConfidenceCalibration?, minimum: Double?, showUnsure: Bool) {
        let raw = AnswerConfidence.score(scored.logProbs, kind: kind)
        a.answerConfidence = raw
        a.pCorrect = calibration?.probability(raw)
        a.minConfidence = minimum
        if let minimum, let held = a.heldConfidence, held < minimum {
            a.notSure = true
            if !showUnsure { a.output = nil }
        }
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
        /// How well the answers' confidence tells right from wrong, on this expert's share.
        public var confidence: ConfidenceReport?
        enum CodingKeys: String, CodingKey {
            case expert, n, exactMatch = "exact_match", routerAccuracy = "router_accuracy", phoneErrorRate = "phone_error_rate", wordErrorRate = "word_error_rate"
            case confidence
        }
    }
    /// How well the answers' confidence tells right from wrong, over all answered examples.
    public var confidence: ConfidenceReport?
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
        /// The answer's confidence and its calibrated probability of being right.
        public var answerConfidence: Double?
        public var pCorrect: Double?
        enum CodingKeys: String, CodingKey {
            case input, expected, output, expert, correct, labelledExpert = "labelled_expert"
            case answerConfidence = "answer_confidence", pCorrect = "p_correct"
        }
    }
    enum CodingKeys: String, CodingKey {
        case file, n, exactMatch = "exact_match", routerAccuracy = "router_accuracy", abstained, perExpert = "per_expert"
        case bypassedRouter = "expert", secondsTotal = "seconds", examples, confidence
    }
}

/// Selective answering measured on labelled examples: the risk–coverage curve (accuracy of the most
/// confident answered fraction, at each coverage), its area, AUROC of the raw confidence for right
/// against wrong, and the expected calibration error of the calibrated probability.
public struct ConfidenceReport: Codable, Sendable {
    /// Answered examples measured (abstentions and errors have no confidence and are left out).
    public var n: Int
    /// Their exact-match accuracy (the curve's value at full coverage).
    public var accuracy: Double
    /// nil when every answer was right, or every one wrong.
    public var auroc: Double?
    /// Expected calibration error (10 bins) of `p_correct`, or of the raw confidence where an expert has no calibration.
    public var ece: Double
    /// Area under the risk–coverage curve (mean error rate of the k most confident answers over k; lower is better).
    public var aurc: Double
    /// Accuracy of the most confident answers at coverage 10%, 20%, …, 100%.
    public var curve: [ConfidenceMetrics.CoveragePoint]

    /// The report of these examples (`scores`: raw confidence; `probabilities`: calibrated, or raw).
    public static func measure(scores: [Double], probabilities: [Double], correct: [Bool]) -> ConfidenceReport? {
        guard !scores.isEmpty else { return nil }
        let full = ConfidenceMetrics.riskCoverage(scores: scores, correct: correct)
        let curve = (1...10).compactMap { step -> ConfidenceMetrics.CoveragePoint? in
            let c = Double(step) / 10
            return full.first(where: { $0.coverage >= c - 1e-12 }).map { .init(coverage: c, accuracy: $0.accuracy, threshold: $0.threshold) }
        }
        return ConfidenceReport(n: scores.count, accuracy: Double(correct.filter { $0 }.count) / Double(scores.count),
                                auroc: ConfidenceMetrics.auroc(scores: scores, correct: correct),
                                ece: ConfidenceMetrics.ece(probabilities: probabilities, correct: correct),
                                aurc: ConfidenceMetrics.aurc(scores: scores, correct: correct), curve: curve)
    }
}

extension Engine {
    /// Reads `{input, output, expert?}` lines and scores the system on them (or one expert, bypassing the router).
    /// `score` overrides the confidence summary the experts' calibrations name (to compare summaries).
    public func evaluate(path: String, expert: String? = nil, limit: Int? = nil, perExample: Bool = false,
                         score: AnswerConfidence.Score? = nil, beamWidth: Int = 1) throws -> EvalReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw TriageError.notFound("cannot read \(path)") }
        var rows = try ExampleReader.read(data: data, name: path).examples
        if let limit { rows = Array(rows.prefix(limit)) }
        let labels = rows.map(\.expert)
        let t0 = MonotonicClock.now()
        let answers = try ask(rows.map { Request(input: $0.input) }, expert: expert, top: 1,
                              policy: ConfidencePolicy(minConfidence: 0, showUnsure: true, score: score), beamWidth: beamWidth)
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
        func confidenceReport(_ idx: [Int]) -> ConfidenceReport? {
            let answered = idx.filter { answers[$0].answerConfidence != nil }
            return ConfidenceReport.measure(scores: answered.map { answers[$0].answerConfidence! },
                                            probabilities: answered.map { answers[$0].heldConfidence! },
                                            correct: answered.map { answers[$0].output == rows[$0].output })
        }
        var perExpert = [EvalReport.Row]()
        for (name, idx) in groups.sorted(by: { $0.key < $1.key }) {
            let m = Scoring.metrics(predictions: idx.map { answers[$0].output ?? "" }, references: idx.map { rows[$0].output }, metric: metric(of: name))
            let labelled = idx.filter { labels[$0] != nil }
            let routed = labelled.isEmpty || expert != nil ? nil : Double(labelled.filter { answers[$0].expert == labels[$0] && !answers[$0].fallback }.count) / Double(labelled.count)
            perExpert.append(.init(expert: name, n: idx.count, exactMatch: m.exactMatch, routerAccuracy: routed, phoneErrorRate: m.phoneErrorRate,
                                   wordErrorRate: m.wordErrorRate, confidence: confidenceReport(idx)))
        }
        let right = rows.indices.filter { answers[$0].output == rows[$0].output }.count
        let overall = confidenceReport(Array(rows.indices))
        let labelled = rows.indices.filter { labels[$0] != nil }
        let routerAcc = labelled.isEmpty || expert != nil ? nil : Double(labelled.filter { answers[$0].expert == labels[$0] && !answers[$0].fallback }.count) / Double(labelled.count)
        return EvalReport(confidence: overall, file: path, n: rows.count, exactMatch: Double(right) / Double(max(1, rows.count)), routerAccuracy: routerAcc,
                          abstained: answers.filter(\.abstained).count, bypassedRouter: expert, perExpert: perExpert, secondsTotal: seconds,
                          examples: perExample ? rows.indices.map { i in
                              .init(input: rows[i].input, expected: rows[i].output, output: answers[i].output, expert: answers[i].expert,
                                    labelledExpert: labels[i], correct: answers[i].output == rows[i].output,
                                    answerConfidence: answers[i].answerConfidence, pCorrect: answers[i].pCorrect)
                          } : nil)
    }
}
