import Foundation
import ExpertModel
import Registry
import Router
import TensorCore

// The engine's entry points for `triage serve` (TriageServer): a consistent view of the registry that
// a long-running process can refresh cheaply, routing with that view's router, and batched decoding
// with that view's experts. Like the rest of `Engine`, none of this is thread-safe: the server confines
// one Engine to its decode thread.

/// One expert as the server sees it.
public struct ServingExpert: Sendable, Equatable {
    public let name: String
    public let version: Int
    /// The longest input (in bytes) the expert accepts: its context minus BOS, SEP and one output position.
    public let maxInputBytes: Int
    /// The expert's answer length limit (its manifest's, else 64).
    public let maxOutputBytes: Int
    /// The expert's context, in tokens (bytes).
    public let context: Int
    /// When the expert was registered (UNIX seconds; 0 if unknown).
    public let created: Int
    /// Task or completion: chat and routed completions go to task experts, `/infill` and completions
    /// with a `suffix` (or naming one) to completion experts.
    public var kind: ExpertKind = .task
}

/// One decoded answer of the server, with the expert's confidence in it.
public struct ServedAnswer: Sendable, Equatable {
    public let text: String
    /// The expert's raw confidence (its calibration's score, `AnswerConfidence`).
    public let answerConfidence: Double
    /// The calibrated probability that the answer is right; nil when the expert has no calibration.
    public let pCorrect: Double?
}

/// The router's decision for one request, in the server's terms.
public struct ServingRoute: Sendable, Equatable {
    /// The expert that takes the request (the fallback, when one was used); nil when none fits.
    public let expert: String?
    public let confidence: Float
    public let abstained: Bool
    public let usedFallback: Bool
    /// Why the router abstained (`unlike_any_task`, `below_threshold`, `empty`), when it did.
    public let reason: String?
    /// The closest experts, most probable first.
    public let candidates: [(expert: String, p: Float)]

    public static func == (a: ServingRoute, b: ServingRoute) -> Bool {
        a.expert == b.expert && a.confidence == b.confidence && a.abstained == b.abstained && a.usedFallback == b.usedFallback
            && a.reason == b.reason && a.candidates.map(\.expert) == b.candidates.map(\.expert) && a.candidates.map(\.p) == b.candidates.map(\.p)
    }
}

/// What the registry held at one instant: the active router and the registered experts, read in one
/// read transaction (an expert is registered together with a router that knows it, so a snapshot never
/// pairs a router with a half-changed set). Holds loaded models: use it on the thread that made it.
public final class ServingSnapshot {
    /// The active router's version (nil when no expert is registered).
    public let routerVersion: Int?
    /// Registered experts by name.
    public let experts: [String: ServingExpert]
    /// The configured fallback expert, if any.
    public let fallback: String?
    /// SQLite's `data_version` when the snapshot was read: unchanged means no other connection committed since.
    let dataVersion: Int
    let records: [String: ExpertRecord]
    let router: RouterModel?
    /// Each expert's confidence calibration (experts registered without one are absent).
    let calibrations: [String: ConfidenceCalibration]

    init(routerVersion: Int?, experts: [String: ServingExpert], fallback: String?, dataVersion: Int, records: [String: ExpertRecord],
         router: RouterModel?, calibrations: [String: ConfidenceCalibration]) {
        self.calibrations = calibrations
        self.routerVersion = routerVersion
        self.experts = experts
        self.fallback = fallback
        self.dataVersion = dataVersion
        self.records = records
        self.router = router
    }

    /// Expert names, sorted.
    public var expertNames: [String] { experts.keys.sorted() }

    /// The experts of `kind`; for tasks nil when there is no completion expert (routing is then unrestricted).
    func names(ofKind kind: ExpertKind) -> Set<String>? {
        if kind == .task && !experts.values.contains(where: { $0.kind == .completion }) { return nil }
        return Set(experts.values.filter { $0.kind == kind }.map(\.name))
    }
}

extension Engine {
    /// A snapshot of the registry, with every expert's decoder and the router loaded (a model whose
    /// version did not change is reused). Returns `previous` itself when nothing was committed since it
    /// was read (one `PRAGMA data_version`), so calling this before every batch is cheap.
    public func servingSnapshot(reusing previous: ServingSnapshot? = nil) throws -> ServingSnapshot {
        do {
            let db = registry.database
            let version = try db.scalar("PRAGMA data_version").intValue ?? 0
            if let previous, previous.dataVersion == version { return previous }
            let (routerRecord, records, fallbackName) = try db.read {
                (try registry.activeRouter(), try registry.listExperts(), try registry.setting(Setting.fallback.rawValue))
            }
            var experts = [String: ServingExpert]()
            var byName = [String: ExpertRecord]()
            var calibrations = [String: ConfidenceCalibration]()
            let iso = ISO8601DateFormatter()
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]  // the registry's strftime('%Y-%m-%dT%H:%M:%fZ')
            for r in records {
                let dec = try decoder(for: r)
                let created = r.createdAt.flatMap { iso.date(from: $0) }
                experts[r.name] = ServingExpert(name: r.name, version: r.version, maxInputBytes: dec.maxPromptTokens - 2,
                                                maxOutputBytes: r.maxOutputBytes ?? 64, context: dec.maxPromptTokens + 1,
                                                created: created.map { Int($0.timeIntervalSince1970) } ?? 0,
                                                kind: Engine.kind(of: r))
                byName[r.name] = r
                if let c = try calibration(of: r) { calibrations[r.name] = c }
            }
            var router: RouterModel?
            if let routerRecord {
                if let previous, previous.routerVersion == routerRecord.version, let model = previous.router {
                    router = model
                } else {
                    let origin = registry.blobs.path(for: routerRecord.weightsBlob)
                    router = try registry.loadWeights(of: routerRecord) { try RouterModel.load(data: $0, origin: origin) }
                }
            }
            let fallback = fallbackName.flatMap { byName[$0] == nil ? nil : $0 }
            return ServingSnapshot(routerVersion: routerRecord?.version, experts: experts, fallback: fallback,
                                   dataVersion: version, records: byName, router: router, calibrations: calibrations)
        } catch { throw TriageError.from(error) }
    }

    /// Routes `texts` with the snapshot's router; nil when the snapshot has no router (no experts).
    public func route(_ texts: [String], in snapshot: ServingSnapshot, top: Int = 3) -> [ServingRoute]? {
        guard let model = snapshot.router else { return nil }
        let tasks = snapshot.names(ofKind: .task)
        return texts.map { text in
            let d = model.route(text, top: top, fallback: snapshot.fallback, among: tasks)
            return ServingRoute(expert: d.expert, confidence: d.confidence, abstained: d.abstained, usedFallback: d.usedFallback,
                                reason: d.reason?.rawValue, candidates: d.top.map { ($0.expert, $0.p) })
        }
    }

    /// One expert's share of a server batch.
    public struct DecodeGroup: Sendable {
        public let expert: String
        public let inputs: [String]
        public let maxOutputBytes: Int
        public init(expert: String, inputs: [String], maxOutputBytes: Int) {
            (self.expert, self.inputs, self.maxOutputBytes) = (expert, inputs, maxOutputBytes)
        }
    }

    /// Greedy answers for several experts' groups at once. A server batch spread over many experts holds
    /// a few requests per expert, too few to split one expert's batch across cores; so the groups run side
    /// by side instead, each on one core with single-threaded products (the largest groups first, each to
    /// the least loaded core). A lone group, or one core, decodes as `decode` does.
    public func decode(groups: [DecodeGroup], in snapshot: ServingSnapshot) -> [Result<[ServedAnswer], TriageError>] {
        let cores = min(Parallel.threads, BLAS.threads)
        guard groups.count > 1, cores > 1 else {
            return groups.map { g in
                Result { try decode(g.inputs, expert: g.expert, in: snapshot, maxOutputBytes: g.maxOutputBytes) }
                    .mapError { TriageError.from($0) }
            }
        }
        var results = [Result<[ServedAnswer], TriageError>](repeating: .failure(.internalError("not decoded")), count: groups.count)
        var decoders = [ExpertDecoder?](repeating: nil, count: groups.count)
        for (i, g) in groups.enumerated() {
            guard let record = snapshot.records[g.expert] else { results[i] = .failure(.notFound("no expert named '\(g.expert)'")); continue }
            do {
                if let d = soloDecoders[record.name], d.version == record.version { decoders[i] = d.decoder; continue }
                let solo = try decoder(for: record).singleThreadedCopy()
                soloDecoders[record.name] = (record.version, solo)
                decoders[i] = solo
            } catch { results[i] = .failure(TriageError.from(error)) }
        }
        // Longest processing time first: each group, largest first, to the core with the least work.
        var plan = [[Int]](repeating: [], count: cores), load = [Int](repeating: 0, count: cores)
        for i in groups.indices.sorted(by: { groups[$0].inputs.count > groups[$1].inputs.count }) where decoders[i] != nil {
            let c = load.indices.min { load[$0] < load[$1] }!
            plan[c].append(i)
            load[c] += groups[i].inputs.count
        }
        results.withUnsafeMutableBufferPointer { out in
            BLAS.singleThreaded {
                Parallel.indexedChunks(cores, workers: cores) { c, _ in
                    for i in plan[c] {  // each result slot is written by the one core that owns its group
                        let g = groups[i]
                        let calibration = snapshot.calibrations[g.expert]
                        out[i] = Result {
                            try decoders[i]!.answerScored(g.inputs, maxOutputBytes: g.maxOutputBytes, batchSize: 64)
                                .map { Engine.served($0, calibration: calibration) }
                        }.mapError { TriageError.from($0) }
                    }
                }
            }
        }
        return results
    }

    /// Greedy answers of the snapshot's expert `name`, decoded as one batch (chunks of 64), each at most
    /// `maxOutputBytes` long. Inputs must fit the expert's context (`maxInputBytes`).
    public func decode(_ inputs: [String], expert name: String, in snapshot: ServingSnapshot, maxOutputBytes: Int) throws -> [ServedAnswer] {
        guard let record = snapshot.records[name] else { throw TriageError.notFound("no expert named '\(name)'") }
        do {
            let calibration = snapshot.calibrations[name]
            return try decoder(for: record).answerScored(inputs, maxOutputBytes: maxOutputBytes, batchSize: 64)
                .map { Engine.served($0, calibration: calibration) }
        } catch { throw TriageError.from(error) }
    }

    static func served(_ a: ScoredAnswer, calibration: ConfidenceCalibration?) -> ServedAnswer {
        let raw = AnswerConfidence.score(a.logProbs, kind: calibration?.score ?? AnswerConfidence.defaultScore)
        return ServedAnswer(text: a.text, answerConfidence: raw, pCorrect: calibration?.probability(raw))
    }
}

extension Engine {
    /// A record's kind, from its manifest (absent: task).
    package static func kind(of record: ExpertRecord) -> ExpertKind {
        struct KindOnly: Decodable { var kind: ExpertKind? }
        return record.manifestJSON.flatMap { try? JSONDecoder().decode(KindOnly.self, from: Data($0.utf8)) }?.kind ?? .task
    }

    /// Completions for the server, with the snapshot's router and experts: each request names its completion
    /// expert or is routed among the completion experts by its prefix; requests for one expert are decoded
    /// as one batch. `deadline`: a request's generation stops by then (`t_max_predict_ms`).
    public func complete(_ requests: [(request: CompletionRequest, expert: String?)], in snapshot: ServingSnapshot) -> [Result<CompletionAnswer, TriageError>] {
        var results = [Result<CompletionAnswer, TriageError>?](repeating: nil, count: requests.count)
        let completionExperts = snapshot.names(ofKind: .completion) ?? []
        var groups = [String: [Int]]()
        var answers = [CompletionAnswer](repeating: CompletionAnswer(expert: nil, text: nil, finishReason: nil, truncated: false, promptTokens: 0,
                                                                     generatedTokens: 0, confidence: nil, abstained: false, top: nil, ms: 0), count: requests.count)
        let t0 = MonotonicClock.now()
        for (i, r) in requests.enumerated() {
            if let name = r.expert {
                guard completionExperts.contains(name) else {
                    results[i] = .failure(.badInput("'\(name)' is not a completion expert" + (snapshot.experts[name] != nil ? " (it is a task expert: use /v1/chat/completions or /v1/completions without 'suffix')" : "")))
                    continue
                }
                answers[i].expert = name
                groups[name, default: []].append(i)
                continue
            }
            guard let router = snapshot.router, !completionExperts.isEmpty else {
                results[i] = .failure(.notFound("no completion experts are registered (add one with `triage experts add NAME --files GLOB`)"))
                continue
            }
            let d = router.routeCompletion(Engine.routingText(r.request), among: completionExperts)
            answers[i].confidence = d.confidence
            answers[i].top = d.top
            if let e = d.expert { answers[i].expert = e; groups[e, default: []].append(i) } else { answers[i].abstained = true; results[i] = .success(answers[i]) }
        }
        for (name, idx) in groups.sorted(by: { $0.key < $1.key }) {
            do {
                guard let rec = snapshot.records[name] else { throw TriageError.notFound("expert '\(name)' is not registered") }
                let outs = try decoder(for: rec).complete(idx.map { requests[$0].request })
                for (i, o) in zip(idx, outs) {
                    answers[i].text = o.text
                    answers[i].finishReason = o.finishReason
                    answers[i].truncated = o.truncated
                    answers[i].promptTokens = o.promptTokens
                    answers[i].generatedTokens = o.generatedTokens
                    answers[i].ms = (MonotonicClock.now() - t0) * 1000
                    results[i] = .success(answers[i])
                }
            } catch {
                for i in idx { results[i] = .failure(TriageError.from(error)) }
            }
        }
        return results.map { $0! }
    }
}
