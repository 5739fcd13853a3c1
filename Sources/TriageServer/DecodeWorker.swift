import Dispatch
import ExpertModel
import Foundation
import Synchronization
import TensorCore
import TriageEngine

/// What a request asks the decode thread for.
enum JobKind: Sendable {
    /// The served models (`triage` and every expert), from the registry as it is now.
    case models
    /// A completion of `input` by `model` (`triage` = routed).
    case complete(ParsedCompletion)
    /// llama.cpp's `/infill`: a completion expert fills between a prefix and a suffix.
    case infill(InfillRequest)
}

/// What the decode thread reports back, in order: for a completion first `.routed` (or `.failed`),
/// then `.output` (or `.failed`); for a model list one `.models`.
enum JobEvent: Sendable {
    case models([ModelList.Model])
    case routed(TriageInfo)
    case output(text: String, finishReason: String, promptBytes: Int, answerConfidence: Double?, pCorrect: Double?)
    /// An `/infill` answer.
    case completed(CompletionAnswer)
    case failed(ServeError)
}

/// One request in the decode queue. The handler awaits `events`; the decode thread yields to them.
final class Job: Sendable {
    let kind: JobKind
    let events: AsyncStream<JobEvent>
    private let continuation: AsyncStream<JobEvent>.Continuation
    private let cancelledFlag = Atomic<Bool>(false)
    let enqueued: DispatchTime

    init(_ kind: JobKind) {
        self.kind = kind
        (events, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .unbounded)
        enqueued = .now()
    }

    /// The client went away (or the handler's task was cancelled): the decode thread skips the job.
    func cancel() {
        cancelledFlag.store(true, ordering: .relaxed)
        continuation.finish()
    }

    var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }

    func send(_ e: JobEvent) { continuation.yield(e) }
    func finish(_ e: JobEvent) {
        continuation.yield(e)
        continuation.finish()
    }
}

/// The decode thread and its bounded queue.
///
/// Decoding never runs on Swift's cooperative pool: one dedicated thread owns an `Engine` (its SQLite
/// connection and loaded models, none thread-safe, are touched by no other thread) and takes jobs from
/// the queue. The decoder itself splits large batches across the cores (one single-threaded shard per
/// core). Jobs that arrive within `batchWindow` of the oldest waiting one are taken together; each
/// batch re-reads the registry's state first (cheap when nothing changed), so experts added or removed
/// and routers retrained by the CLI are picked up, and all of a batch sees one consistent snapshot.
final class DecodeWorker: Sendable {
    struct Settings: Sendable {
        var maxQueue = 256
        /// How long the first job of a batch waits for company.
        var batchWindow: Duration = .milliseconds(3)
        /// Idle refresh interval: the model list stays current with no traffic.
        var idleRefresh: Duration = .milliseconds(500)
    }

    private struct State {
        var pending: [Job] = []
        var stopping = false
        var running = false
    }

    let settings: Settings
    let metrics: ServeMetrics
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let makeEngine: @Sendable () throws -> Engine
    private let exited = Mutex<[CheckedContinuation<Void, Never>]?>([])

    init(settings: Settings, metrics: ServeMetrics, makeEngine: @escaping @Sendable () throws -> Engine) {
        self.settings = settings
        self.metrics = metrics
        self.makeEngine = makeEngine
    }

    /// Starts the thread; returns once its Engine is open and the registry read (or throws why not).
    func start() async throws {
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            let t = Thread { [self] in self.threadMain(ready: ready) }
            t.name = "triage-decode"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Enqueues a job, or returns false when the queue is full (or the worker is stopping).
    func submit(_ job: Job) -> Bool {
        let ok = state.withLock { s -> Bool in
            guard s.running, !s.stopping, s.pending.count < settings.maxQueue else { return false }
            s.pending.append(job)
            return true
        }
        if ok {
            metrics.queueDepth.increment()
            wake.signal()
        }
        return ok
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops taking jobs, lets the queued ones finish, and returns when the thread has exited.
    func stop() async {
        let alreadyDone = state.withLock { s -> Bool in
            s.stopping = true
            return !s.running
        }
        wake.signal()
        if alreadyDone { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = exited.withLock { list -> Bool in
                guard list != nil else { return true }
                list!.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    // MARK: The thread

    private func threadMain(ready: CheckedContinuation<Void, any Error>) {
        let engine: Engine
        var snapshot: ServingSnapshot
        do {
            engine = try makeEngine()
            snapshot = try engine.servingSnapshot()
        } catch {
            ready.resume(throwing: error)
            markExited()
            return
        }
        state.withLock { $0.running = true }
        ready.resume()
        var lastRefresh = DispatchTime.now()
        while true {
            let waitResult = wake.wait(timeout: .now() + settings.idleRefresh.timeInterval)
            let (stopping, oldest) = state.withLock { ($0.stopping, $0.pending.first?.enqueued) }
            guard let oldest else {
                if stopping { break }
                if waitResult == .timedOut || DispatchTime.now().uptimeNanoseconds - lastRefresh.uptimeNanoseconds > 500_000_000 {
                    if let s = try? engine.servingSnapshot(reusing: snapshot) { snapshot = s }
                    lastRefresh = .now()
                }
                continue
            }
            // Batching window: give requests arriving within a few ms of the oldest one a chance to join.
            let deadline = oldest + settings.batchWindow.timeInterval
            if !stopping, DispatchTime.now() < deadline {
                let ns = deadline.uptimeNanoseconds - DispatchTime.now().uptimeNanoseconds
                usleep(useconds_t(ns / 1000))
            }
            let jobs = state.withLock { s -> [Job] in
                let j = s.pending
                s.pending.removeAll(keepingCapacity: true)
                return j
            }
            metrics.queueDepth.decrement(by: Double(jobs.count))
            // Drain the semaphore's extra signals (one per job submitted); they only cause empty wake-ups.
            while wake.wait(timeout: .now()) == .success {}
            do {
                snapshot = try engine.servingSnapshot(reusing: snapshot)
                lastRefresh = .now()
            } catch {
                let e = ServeError.internalError("could not read the registry: \(error)")
                for j in jobs { j.finish(.failed(e)) }
                continue
            }
            process(jobs, engine: engine, snapshot: snapshot)
        }
        markExited()
    }

    private func markExited() {
        state.withLock { $0.running = false }
        let waiters = exited.withLock { list -> [CheckedContinuation<Void, Never>] in
            let l = list ?? []
            list = nil
            return l
        }
        for w in waiters { w.resume() }
    }

    /// The models a snapshot serves: `triage` (routed; when a router exists) and every expert.
    static func models(_ snap: ServingSnapshot, started: Int) -> [ModelList.Model] {
        var out = [ModelList.Model]()
        if snap.routerVersion != nil { out.append(.init(id: ServeApp.routedModel, created: started)) }
        for name in snap.expertNames { out.append(.init(id: name, created: snap.experts[name]!.created)) }
        return out
    }

    private struct Work {
        let job: Job
        let request: ParsedCompletion
        let expert: ServingExpert
        let outputLimit: Int
    }

    /// A completion-expert request of the batch: from `/infill`, or `/v1/completions` with a completion
    /// expert or a `suffix`.
    private struct Fill {
        let job: Job
        let request: ExpertModel.CompletionRequest
        let expert: String?
        let infill: Bool
    }

    private func process(_ jobs: [Job], engine: Engine, snapshot snap: ServingSnapshot) {
        var work = [Work]()
        var toRoute = [(Job, ParsedCompletion)]()
        var fills = [Fill]()
        for job in jobs where !job.isCancelled {
            switch job.kind {
            case .models:
                job.finish(.models(DecodeWorker.models(snap, started: metrics.started)))
            case .infill(let r):
                let named = r.model.flatMap { snap.experts[$0]?.kind == .completion ? $0 : nil }
                let deadline = r.tMaxPredictMs.map { MonotonicClock.now() + max(1, $0) / 1000 }
                fills.append(Fill(job: job, request: .init(prefix: r.prefix, suffix: r.inputSuffix ?? "", maxBytes: r.maxBytes, stopAtNewline: false,
                                                           stop: r.stop ?? [], deadline: deadline), expert: named, infill: true))
            case .complete(let req) where snap.experts[req.model]?.kind == .completion || (req.suffix != nil && req.model == ServeApp.routedModel):
                if req.inputParam == "messages" {
                    job.finish(.failed(.badRequest("'\(req.model)' is a completion expert: use /v1/completions (with 'suffix' to fill in the middle) or /infill", param: "model")))
                    continue
                }
                fills.append(Fill(job: job, request: .init(prefix: req.input, suffix: req.suffix, maxBytes: min(512, req.maxTokens ?? 32), stopAtNewline: false,
                                                           stop: req.stop), expert: req.model == ServeApp.routedModel ? nil : req.model, infill: false))
            case .complete(let req) where req.suffix != nil:
                job.finish(.failed(.badRequest("'suffix' fills in the middle, which only completion experts do; '\(req.model)' is not one", param: "suffix")))
            case .complete(let req):
                if req.model == ServeApp.routedModel {
                    toRoute.append((job, req))
                } else if let expert = snap.experts[req.model] {
                    if let w = admit(job, req, expert: expert, info: TriageInfo(expert: expert.name, routed: false, confidence: nil, fallback: false, candidates: [])) {
                        work.append(w)
                    }
                } else {
                    job.finish(.failed(.unknownModel(req.model, known: (snap.routerVersion == nil ? [] : [ServeApp.routedModel]) + snap.expertNames)))
                }
            }
        }
        if !fills.isEmpty { complete(fills, engine: engine, snapshot: snap) }
        if !toRoute.isEmpty {
            guard let routes = engine.route(toRoute.map(\.1.input), in: snap) else {
                for (job, _) in toRoute {
                    job.finish(.failed(.noExpertFits(confidence: nil, reason: "no experts are registered", candidates: [])))
                    metrics.abstentions.increment()
                }
                return finishWork(work, engine: engine, snapshot: snap)
            }
            for ((job, req), r) in zip(toRoute, routes) {
                let candidates = r.candidates.map { Candidate(expert: $0.expert, p: $0.p) }
                guard let name = r.expert, let expert = snap.experts[name] else {
                    metrics.abstentions.increment()
                    job.finish(.failed(.noExpertFits(confidence: r.confidence, reason: r.reason, candidates: candidates)))
                    continue
                }
                if let w = admit(job, req, expert: expert, info: TriageInfo(expert: name, routed: true, confidence: r.confidence, fallback: r.usedFallback, candidates: candidates)) {
                    work.append(w)
                }
            }
        }
        finishWork(work, engine: engine, snapshot: snap)
    }

    /// Decodes the batch's completion-expert requests (one batch per expert) and answers each in its endpoint's events.
    private func complete(_ fills: [Fill], engine: Engine, snapshot snap: ServingSnapshot) {
        let live = fills.filter { !$0.job.isCancelled }
        let t0 = DispatchTime.now()
        let results = engine.complete(live.map { ($0.request, $0.expert) }, in: snap)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        for (f, result) in zip(live, results) {
            switch result {
            case .failure(let e):
                switch e {
                case .notFound(let m): f.job.finish(.failed(ServeError(status: .notFound, message: m, type: "invalid_request_error", param: "model", code: "model_not_found")))
                case .badInput(let m): f.job.finish(.failed(.badRequest(m, param: "model")))
                default: f.job.finish(.failed(.internalError(e.description)))
                }
            case .success(let a):
                let candidates = (a.top ?? []).map { Candidate(expert: $0.expert, p: $0.p) }
                guard let expert = a.expert, let text = a.text else {
                    metrics.abstentions.increment()
                    f.job.finish(.failed(.noExpertFits(confidence: a.confidence, reason: "no completion expert resembles the prefix", candidates: candidates)))
                    continue
                }
                metrics.decoded(expert: expert, requests: 1, seconds: seconds / Double(max(1, live.count)))
                if f.infill {
                    f.job.finish(.completed(a))
                } else {
                    f.job.send(.routed(TriageInfo(expert: expert, routed: f.expert == nil, confidence: a.confidence, fallback: false, candidates: candidates)))
                    f.job.finish(.output(text: text, finishReason: a.finishReason ?? "stop", promptBytes: a.promptTokens, answerConfidence: nil, pCorrect: nil))
                }
            }
        }
    }

    /// Checks the input fits the expert and reports the routing; nil when the job is already answered.
    private func admit(_ job: Job, _ req: ParsedCompletion, expert: ServingExpert, info: TriageInfo) -> Work? {
        let n = req.input.utf8.count
        if n > expert.maxInputBytes {
            job.finish(.failed(.contextLength(input: n, limit: expert.maxInputBytes, expert: expert.name, param: req.inputParam)))
            return nil
        }
        // Room left in the context after the prompt (BOS + input + SEP).
        let room = expert.context - (n + 2)
        let limit = max(1, min(req.maxTokens ?? expert.maxOutputBytes, room))
        job.send(.routed(info))
        return Work(job: job, request: req, expert: expert, outputLimit: limit)
    }

    private func finishWork(_ work: [Work], engine: Engine, snapshot: ServingSnapshot) {
        let byExpert = Dictionary(grouping: work, by: { $0.expert.name })
        var batches = [(name: String, live: [Work])]()
        for (name, items) in byExpert.sorted(by: { $0.key < $1.key }) {
            let live = items.filter { !$0.job.isCancelled }
            if !live.isEmpty { batches.append((name, live)) }
        }
        guard !batches.isEmpty else { return }
        let t0 = DispatchTime.now()
        let results = engine.decode(groups: batches.map {
            Engine.DecodeGroup(expert: $0.name, inputs: $0.live.map(\.request.input), maxOutputBytes: $0.live.map(\.outputLimit).max()!)
        }, in: snapshot)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        for ((name, live), result) in zip(batches, results) {
            switch result {
            case .success(let outs):
                metrics.decoded(expert: name, requests: live.count, seconds: seconds)
                for (w, out) in zip(live, outs) {
                    let (text, finish) = DecodeWorker.finalize(out.text, limit: w.outputLimit, stop: w.request.stop)
                    w.job.finish(.output(text: text, finishReason: finish, promptBytes: w.request.input.utf8.count,
                                         answerConfidence: out.answerConfidence, pCorrect: out.pCorrect))
                }
            case .failure(let error):
                let e = ServeError.internalError("expert '\(name)' failed: \(error)")
                for w in live { w.job.finish(.failed(e)) }
            }
        }
    }

    /// Cuts a greedy answer (decoded up to the batch's longest limit) to this request's own limit and
    /// at its first stop sequence. Greedy decoding does not depend on the batch, so this equals decoding
    /// the request alone with its own limit. `length` when the answer ran to the limit without EOS.
    static func finalize(_ output: String, limit: Int, stop: [String]) -> (String, String) {
        var bytes = Array(output.utf8)
        var finish = "stop"
        if bytes.count >= limit {
            bytes = Array(bytes.prefix(limit))
            finish = "length"
        }
        var text = String(decoding: bytes, as: UTF8.self)
        var cut: String.Index?
        for s in stop {
            if let r = text.range(of: s), cut == nil || r.lowerBound < cut! { cut = r.lowerBound }
        }
        if let cut {
            text = String(text[..<cut])
            finish = "stop"
        }
        return (text, finish)
    }
}

extension Duration {
    var timeInterval: DispatchTimeInterval {
        let (s, atto) = components
        return .nanoseconds(Int(s) * 1_000_000_000 + Int(atto / 1_000_000_000))
    }
}
