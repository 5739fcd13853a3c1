import Foundation
import ExpertModel
import Registry
import Router
import TensorCore

/// What `experts add NAME --files …` needs: a completion expert over a set of files.
public struct CompletionAddRequest: Sendable {
    public var name: String
    /// Files, folders or glob patterns (see `FileWalk`).
    public var include: [String]
    public var exclude: [String] = []
    public var budget: TrainingBudget
    public var seed: UInt64 = 1
    public var preset: ExpertConfig.Preset = .tiny
    /// Tokens of context (completion experts read more than a task's request: 256 by default).
    public var context = 256
    public var recipe = Recipe.standard
    public var precision: PrecisionChoice = .auto
    public var description: String?
    public var replace = false
    /// Also store the training files in the registry (by default only short router windows are kept).
    public var keepData = false
    /// Files larger than this are skipped.
    public var maxFileBytes = 2 << 20
    public var fimRate = FillInTheMiddle.defaultRate
    /// Percent of files held out (by a hash of their relative path).
    public var heldOutPercent = 5

    public init(name: String, include: [String], budget: TrainingBudget) {
        (self.name, self.include, self.budget) = (name, include, budget)
    }
}

/// What `experts add --files` reports.
public struct CompletionAddSummary: Codable, Sendable {
    public var name: String
    public var version: Int
    public var parameters: Int
    public var completion: CompletionSection
    public var training: TrainingRecord
    public var routerVersion: Int
    enum CodingKeys: String, CodingKey { case name, version, parameters, completion, training, routerVersion = "router_version" }
}

/// A completion, as `triage complete`, `/v1/completions` and `/infill` report it.
public struct CompletionAnswer: Codable, Sendable {
    public var expert: String?
    public var text: String?
    public var finishReason: String?
    public var truncated: Bool
    public var promptTokens: Int
    public var generatedTokens: Int
    /// Routing: the expert's share among the completion experts, whether the router abstained, the candidates.
    public var confidence: Float?
    public var abstained: Bool
    public var top: [RoutingDecision.Candidate]?
    public var ms: Double
    enum CodingKeys: String, CodingKey {
        case expert, text, truncated, confidence, abstained, top, ms
        case finishReason = "finish_reason", promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
    }
}

extension Engine {
    /// Windows of training files the router learns a completion expert from: this many, of up to
    /// `routerWindowBytes` bytes each (what the registry keeps of the files by default).
    static let routerWindows = 2000
    static let routerWindowBytes = 96
    /// Held-out bytes scored for bits per byte at registration, and during training (validation).
    package static let heldOutScoredBytes = 256 << 10
    static let validationBytes = 32 << 10
    /// Next-line samples at registration.
    package static let nextLineSamples = 200

    /// Each registered expert's kind (from its manifest; absent: task).
    package func expertKinds() throws -> [String: ExpertKind] {
        Dictionary(uniqueKeysWithValues: try registry.listExperts().map { ($0.name, Engine.kind(of: $0)) })
    }

    /// Names of the registered experts of `kind`, or nil when every expert is a task expert (routing
    /// needs no restriction then, and behaves exactly as before completion experts existed).
    package func experts(ofKind kind: ExpertKind) throws -> Set<String>? {
        let kinds = try expertKinds()
        if kind == .task && !kinds.values.contains(.completion) { return nil }
        return Set(kinds.filter { $0.value == kind }.keys)
    }

    /// Walks the files, trains a completion expert on windows of the training files (FIM on a fraction),
    /// measures held-out bits per byte and next-line exact match, and registers it with a retrained router,
    /// atomically. A killed run leaves the registry as it was and resumes from its checkpoint.
    public func addCompletionExpert(_ req: CompletionAddRequest, observer: TrainingObserver?, log: (String) -> Void) throws -> CompletionAddSummary {
        try ExpertName.validate(req.name)
        if !req.replace, try registry.expert(named: req.name) != nil {
            throw TriageError.badInput("an expert named '\(req.name)' already exists (remove it first, or pass --replace)")
        }
        guard req.context >= 32 && req.context <= 1024 else { throw TriageError.badInput("--context must be in 32…1024, got \(req.context)") }
        guard req.fimRate >= 0 && req.fimRate <= 1 else { throw TriageError.badInput("--fim-rate must be in [0, 1], got \(req.fimRate)") }
        do { _ = try MixedPrecision.resolve(req.precision) } catch { throw TriageError.badInput("\(error)") }
        var size = req.preset.config
        size.context = req.context
        let config = req.recipe.config(size)
        guard config.positions == .rope || req.context <= req.preset.config.context else {
            throw TriageError.badInput("--context \(req.context) needs rotary positions (learned ones are sized to the preset's \(req.preset.config.context))")
        }
        let walk = try FileWalk(include: req.include, exclude: req.exclude, maxFileBytes: req.maxFileBytes)
        let counts = walk.skippedCounts
        if !counts.isEmpty {
            log("skipped " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.replacingOccurrences(of: "_", with: " "))" }.joined(separator: ", ")
                + (counts["changed"] != nil ? " (changed while read: run again once they are saved)" : ""))
        }
        let (trainFiles, heldFiles) = walk.split(heldOutPercent: req.heldOutPercent)
        guard !trainFiles.isEmpty else { throw TriageError.badInput("--files: no text file to train on (\(walk.files.count) read, \(counts.values.reduce(0, +)) skipped)") }
        let corpus = TextCorpus(files: trainFiles.map(\.bytes))
        log("\(req.name): \(trainFiles.count) training files (\(corpus.byteCount.formatted()) bytes), \(heldFiles.count) held out; "
            + "\(req.preset.rawValue) model, context \(req.context), \(config.parameterCount) parameters")

        var options: TrainingOptions
        switch req.budget {
        case .steps(let s):
            options = req.recipe.options(steps: s, seed: req.seed)
            options.validateEvery = max(50, s / 10)
            options.checkpointEvery = max(50, s / 10)
        case .minutes(let m):
            options = req.recipe.options(steps: nil, minutes: m, seed: req.seed)
        }
        options.precision = try? MixedPrecision.resolve(req.precision)
        options.maxOutputBytes = 64
        let sampler = WindowSampler(corpus: corpus, batchSize: options.batchSize, length: config.context, fimRate: req.fimRate, seed: req.seed)
        let validation = BitsPerByte.batches(files: Engine.limited(heldFiles.map(\.bytes), to: Engine.validationBytes), context: config.context)

        let run = run(named: req.name)
        let model = try Transformer(config: config, seed: options.seed, zeroOutputProjections: req.recipe.zeroOutputProjections)
        let record = try run.train(model, sampler: sampler, heldOut: validation, options: options, observer: observer)
        try Failpoint.reach("train.done")

        // Measurements on the held-out files.
        let scoredFiles = Engine.limited(heldFiles.map(\.bytes), to: Engine.heldOutScoredBytes)
        let bpb = scoredFiles.isEmpty ? nil : BitsPerByte.measure(model, batches: BitsPerByte.batches(files: scoredFiles, context: config.context))
        let decoder = ExpertDecoder(model: model)
        let nextLine = heldFiles.isEmpty ? nil : try NextLine.exactMatch(decoder: decoder, files: heldFiles.map(\.bytes), samples: Engine.nextLineSamples, seed: req.seed)
        if let bpb { log(String(format: "%@: held-out bits per byte %.3f on %d bytes", req.name, bpb, scoredFiles.reduce(0) { $0 + $1.count })) }
        if let nextLine { log(String(format: "%@: next-line exact match %.1f%% (%d lines)", req.name, 100 * nextLine.rate, nextLine.n)) }

        let windows = Engine.routerWindows(of: trainFiles.map(\.bytes), count: Engine.routerWindows, maxBytes: Engine.routerWindowBytes, seed: req.seed)
        var section = CompletionSection(
            trainFiles: trainFiles.count, trainBytes: corpus.byteCount,
            heldOut: heldFiles.map { .init(path: $0.relativePath, sha256: SHA256.hex(of: Data($0.bytes)), bytes: $0.bytes.count) },
            skipped: counts, fimRate: req.fimRate, heldOutBitsPerByte: bpb, heldOutBytesScored: scoredFiles.reduce(0) { $0 + $1.count },
            nextLineExactMatch: nextLine?.rate, nextLineSamples: nextLine?.n,
            stored: "", include: req.include, exclude: req.exclude)
        let windowBytes = windows.reduce(0) { $0 + $1.utf8.count }
        section.stored = "\(windows.count) windows of up to \(Engine.routerWindowBytes) bytes drawn from the training files (\(windowBytes.formatted()) bytes), "
            + "which the router learns the expert from; the held-out files' paths and SHA-256"
            + (req.keepData ? "; and every training file (--keep-data)" : "; not the files themselves")
        var manifest = ExpertManifest(name: req.name, description: req.description ?? "completes text like \(req.include.joined(separator: " "))",
                                      config: config, maxOutputBytes: 64, data: RoleFiles.standard)
        manifest.kind = .completion
        manifest.completion = section
        manifest.training = .init(options: options, record: record)
        manifest.metrics = ExpertMetrics(n: nextLine?.n ?? 0, exactMatch: nextLine?.rate ?? 0)

        let weights = try storeWeights(model, of: run, name: req.name)
        var data = [DataRole: BlobRef]()
        data[.train] = try registry.blobs.put(Engine.jsonl(windows.map { Example(input: $0, output: "") }, inputsOnly: true))
        if req.keepData {
            data[.test] = try registry.blobs.put(Engine.jsonl(trainFiles.map { Example(input: $0.relativePath, output: String(decoding: $0.bytes, as: UTF8.self)) }))
        }
        let rec = try makeRecord(manifest: manifest, weights: weights)
        let inputs = ExpertInputs(name: req.name, train: windows, valid: [])
        let stored = try withRouterRetry {
            let router = try trainRouter(registered: try registry.listExperts(), extra: [inputs], log: log)
            return try registry.registerExpert(rec, weights: weights, data: data, router: router, replace: req.replace)
        }
        run.removeFolder()
        return CompletionAddSummary(name: req.name, version: stored.expert.version, parameters: config.parameterCount, completion: section,
                                    training: record, routerVersion: stored.router.version)
    }

    /// The first files of `files` up to about `limit` bytes (the last one cut), for a bounded measurement.
    package static func limited(_ files: [[UInt8]], to limit: Int) -> [[UInt8]] {
        var out = [[UInt8]](), total = 0
        for f in files where total < limit {
            out.append(Array(f.prefix(limit - total)))
            total += out.last!.count
        }
        return out
    }

    /// `count` windows of whole lines (up to `maxBytes`) at seeded random places of the files, valid UTF-8.
    static func routerWindows(of files: [[UInt8]], count: Int, maxBytes: Int, seed: UInt64) -> [String] {
        var rng = RandomGenerator(seed: seed ^ 0x5EED_0F_C0DE)
        let total = files.reduce(0) { $0 + $1.count }
        guard total > 0 else { return [] }
        var ends = [Int](), acc = 0
        for f in files { acc += f.count; ends.append(acc) }
        var out = [String]()
        var attempts = 0
        while out.count < count && attempts < count * 4 {
            attempts += 1
            let offset = rng.nextInt(below: total)
            let i = ends.firstIndex { $0 > offset }!
            let f = files[i]
            var start = offset - (i == 0 ? 0 : ends[i - 1])
            while start > 0 && f[start - 1] != 10 && offset - start < maxBytes / 2 { start -= 1 }  // prefer a line start
            var end = min(f.count, start + maxBytes)
            while end < f.count && end > start && (f[end] & 0xC0) == 0x80 { end -= 1 }  // not inside a character
            while start < end && (f[start] & 0xC0) == 0x80 { start += 1 }
            guard let text = String(validating: f[start..<end], as: UTF8.self),
                  text.contains(where: { !$0.isWhitespace }) else { continue }
            out.append(text)
        }
        return out
    }

    /// What the router reads of a completion request: the prefix's last 2,000 characters and the suffix's first 500.
    static func routingText(_ req: CompletionRequest) -> String {
        String(req.prefix.suffix(2000)) + (req.suffix.map { " " + $0.prefix(500) } ?? "")
    }

    /// Completes with `expert`, or with the completion expert the router picks for the prefix.
    public func complete(_ req: CompletionRequest, expert: String? = nil, top: Int = 3) throws -> CompletionAnswer {
        let t0 = MonotonicClock.now()
        guard let completionExperts = try experts(ofKind: .completion), !completionExperts.isEmpty else {
            throw TriageError.notFound("no completion experts registered: add one with `triage experts add NAME --files 'src/**/*.py' --minutes 5`")
        }
        var answer = CompletionAnswer(expert: nil, text: nil, finishReason: nil, truncated: false, promptTokens: 0, generatedTokens: 0,
                                      confidence: nil, abstained: false, top: nil, ms: 0)
        let name: String
        if let expert {
            let rec = try expertRecord(expert)
            guard completionExperts.contains(rec.name) else {
                throw TriageError.badInput("'\(expert)' is a task expert: ask it with `triage ask --expert \(expert)`; completion experts: \(completionExperts.sorted().joined(separator: ", "))")
            }
            name = rec.name
        } else {
            // The router's 12 MB are hashed on another core while it routes and the expert loads and decodes;
            // the check is settled before anything is returned or thrown (a cold `triage complete`: ~7 ms).
            guard let (_, model) = try activeRouterCheckingLater() else { throw TriageError.notFound("no router: the registry has no experts yet") }
            let d = model.routeCompletion(Engine.routingText(req), among: completionExperts, top: top)
            answer.confidence = d.confidence
            answer.top = d.top
            guard let e = d.expert else {
                try settlePendingChecks()
                answer.abstained = true
                answer.ms = (MonotonicClock.now() - t0) * 1000
                return answer
            }
            name = e
        }
        // The expert's hash, too, is checked while it decodes; a failed check outranks any other error.
        let decoded = Result { try decoderCheckingLater(for: try expertRecord(name)).complete([req])[0] }
        try settlePendingChecks()
        let out = try decoded.get()
        answer.expert = name
        answer.text = out.text
        answer.finishReason = out.finishReason
        answer.truncated = out.truncated
        answer.promptTokens = out.promptTokens
        answer.generatedTokens = out.generatedTokens
        answer.ms = (MonotonicClock.now() - t0) * 1000
        return answer
    }
}

/// Next-line exact match, the user-facing measure of a completion expert: at a random line start of a
/// held-out file, given everything before it, is the greedy completion up to the end of the line the true
/// line? (Blank lines are not sampled.)
public enum NextLine {
    public static func exactMatch(decoder: ExpertDecoder, files: [[UInt8]], samples: Int, seed: UInt64) throws -> (rate: Double, n: Int) {
        var points = [(file: Int, at: Int, line: [UInt8])]()
        for (i, f) in files.enumerated() {
            var start = 0
            while start < f.count {
                let end = f[start...].firstIndex(of: 10) ?? f.count
                if end > start && f[start..<end].contains(where: { $0 != 32 && $0 != 9 }) && end - start <= 60 { points.append((i, start, Array(f[start..<end]))) }
                start = end + 1
            }
        }
        guard !points.isEmpty else { return (0, 0) }
        var rng = RandomGenerator(seed: seed ^ 0x11E5)
        var picked = points
        rng.shuffle(&picked)
        picked = Array(picked.prefix(samples))
        let requests = picked.map { p in
            CompletionRequest(prefix: String(decoding: files[p.file][..<p.at], as: UTF8.self), maxBytes: p.line.count + 1, stopAtNewline: true)
        }
        var right = 0
        for start in stride(from: 0, to: requests.count, by: 32) {
            let part = Array(requests[start..<min(requests.count, start + 32)])
            for (j, r) in try decoder.complete(part).enumerated() where Array(r.text.utf8) == picked[start + j].line { right += 1 }
        }
        return (Double(right) / Double(picked.count), picked.count)
    }
}
