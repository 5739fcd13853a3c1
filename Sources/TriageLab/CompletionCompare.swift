import Foundation
import TriageEngine
import ExpertModel
import Registry
import Router
import TensorCore

/// `triage compare --completion`: per-domain completion experts against one model on all the domains'
/// files at equal training FLOPs (Branch-Train-Merge's question, in bits per byte on held-out files),
/// with compressors on the same held-out bytes as anchors and next-line exact match as the user's measure.
public struct CompletionCompareReport: Codable {
    /// One system's score on one domain's held-out files.
    public struct Score: Codable {
        public var bitsPerByte: Double
        public var nextLineExactMatch: Double?
        enum CodingKeys: String, CodingKey { case bitsPerByte = "bits_per_byte", nextLineExactMatch = "next_line_exact_match" }
    }
    public struct Domain: Codable {
        public var domain: String
        public var heldOutFiles: Int
        /// Held-out bytes scored (every system and compressor on the same ones).
        public var heldOutBytes: Int
        /// Held-out files the router sent to this domain's expert (by each file's first kilobyte).
        public var routerAccuracy: Double
        /// routed, oracle, single_same_size, single_same_params.
        public var systems: [String: Score]
        /// `xz -9` and `zstd -19 --long=27`: each file alone, and conditioned on the training files.
        public var anchors: [String: Double]
        enum CodingKeys: String, CodingKey {
            case domain, systems, anchors, heldOutFiles = "held_out_files", heldOutBytes = "held_out_bytes", routerAccuracy = "router_accuracy"
        }
    }
    public struct System: Codable {
        public var params: Int
        public var trainFLOPs: Double
        public var steps: Int
        /// Median wall time of one 32-byte completion of a held-out prefix (routing included for routed).
        public var medianMs32Bytes: Double
        public var note: String
        enum CodingKeys: String, CodingKey { case params, steps, note, trainFLOPs = "train_flops", medianMs32Bytes = "median_ms_32_bytes" }
    }
    public var domains: [Domain]
    public var systems: [String: System]
}

extension Engine {
    /// One completion expert with the files it was trained on, re-read and checked against its manifest.
    struct CompletionForCompare {
        var record: ExpertRecord
        var manifest: ExpertManifest
        var train: [[UInt8]]
        var heldOut: [[UInt8]]
    }

    func completionInputs() throws -> [CompletionForCompare] {
        let experts = try registry.listExperts().filter { Engine.kind(of: $0) == .completion }
        guard experts.count >= 2 else { throw TriageError.badInput("compare --completion needs at least two completion experts (found \(experts.count))") }
        return try experts.map { r in
            let m = try ExpertManifest.decode(Data((r.manifestJSON ?? "").utf8), origin: "expert '\(r.name)'")
            guard let c = m.completion else { throw TriageError.corrupt("completion expert '\(r.name)' has no completion section") }
            let walk: FileWalk
            do { walk = try FileWalk(include: c.include, exclude: c.exclude) } catch {
                throw TriageError.notFound("\(r.name): its files (\(c.include.joined(separator: " "))) cannot be read again: \(error); rebuild them (Experts/data/completion/build_corpora.py)")
            }
            let (train, held) = walk.split()
            let expected = c.heldOut.map { "\($0.path) \($0.sha256)" }
            let found = held.map { "\($0.relativePath) \(SHA256.hex(of: Data($0.bytes)))" }
            guard expected == found, train.count == c.trainFiles else {
                throw TriageError.badInput("\(r.name): the files under \(c.include.joined(separator: " ")) are not the ones it was trained on (held-out list or count differs); rebuild them or retrain")
            }
            return CompletionForCompare(record: r, manifest: m, train: train.map(\.bytes), heldOut: held.map(\.bytes))
        }
    }

    /// Trains (or reuses from the registry) a single model on all the domains' training files.
    func completionBaseline(_ plan: BaselinePlan, corpus: TextCorpus, heldOut: [[UInt8]], precision: Precision,
                            observer: TrainingObserver?, log: (String) -> Void) throws -> (Transformer, TrainingRecord) {
        if let found = try storedBaseline(try registry.baseline(named: plan.name), for: plan) { return found }
        log("\(plan.name): \(plan.config.parameterCount) parameters, \(plan.options.steps!) steps at batch \(plan.options.batchSize), "
            + String(format: "%.3g FLOPs planned", plan.plannedFLOPs) + ", \(corpus.files.count) files of every domain")
        let run = run(named: plan.name)
        let model = try Transformer(config: plan.config, seed: plan.options.seed, zeroOutputProjections: plan.options.zeroOutputProjections ?? false)
        var options = plan.options
        options.precision = precision
        let sampler = WindowSampler(corpus: corpus, batchSize: options.batchSize, length: plan.config.context, seed: options.seed)
        let validation = BitsPerByte.batches(files: Engine.limited(heldOut, to: 32 << 10), context: plan.config.context)
        let record = try run.train(model, sampler: sampler, heldOut: validation, options: options, observer: observer)
        try keepBaseline(model, record: record, plan: plan, run: run)
        return (model, record)
    }

    /// Runs the comparison (see `CompletionCompareReport`).
    public func compareCompletion(precision: Precision = .fp32, latencySamples: Int = 30, observer: (String) -> TrainingObserver?,
                                  log: (String) -> Void) throws -> CompletionCompareReport {
        let experts = try completionInputs()
        let spec = experts.map { e in
            BaselinePlan.ExpertCompute(name: e.record.name, config: e.manifest.config, options: e.manifest.training!.options, record: e.manifest.training!.record!)
        }
        var plans = [BaselinePlan.sameSize(experts: spec), BaselinePlan.sameParams(experts: spec)]
        plans[0].name = "completion-single-same-size"
        plans[1].name = "completion-single-same-params"
        let union = TextCorpus(files: experts.flatMap(\.train))
        let allHeld = experts.flatMap(\.heldOut)
        var singles = [(name: String, model: Transformer, record: TrainingRecord, plan: BaselinePlan)]()
        for plan in plans {
            let (m, r) = try completionBaseline(plan, corpus: union, heldOut: allHeld, precision: precision, observer: observer(plan.name), log: log)
            singles.append((plan.name, m, r, plan))
        }
        let keys = ["single_same_size", "single_same_params"]
        guard let (_, router) = try activeRouter() else { throw TriageError.notFound("no router") }
        let names = Set(experts.map(\.record.name))
        var domains = [CompletionCompareReport.Domain]()
        var latencies = [String: [Double]]()
        let singleDecoders = singles.map { ExpertDecoder(model: $0.model) }
        var routedTo = [[String]]()  // per domain, the expert each scored file was routed to
        for e in experts {
            let files = Engine.limited(e.heldOut, to: Engine.heldOutScoredBytes)
            let context = e.manifest.config.context
            let own = try decoder(for: e.record)
            var systems = [String: CompletionCompareReport.Score]()
            // Oracle: the domain's own expert. Routed: each file goes where the router sends its first kilobyte.
            let oracleBatches = BitsPerByte.batches(files: files, context: context)
            let oracle = BitsPerByte.measure(own.model, batches: oracleBatches)
            var routedBits = 0.0, bytes = 0.0, rightlyRouted = 0
            routedTo.append([])
            for f in files {
                let d = router.routeCompletion(String(decoding: f.prefix(1024), as: UTF8.self), among: names)
                let chosen = d.expert ?? e.record.name
                if chosen == e.record.name { rightlyRouted += 1 }
                routedTo[routedTo.count - 1].append(chosen)
                let rec = try expertRecord(chosen)
                let bpb = BitsPerByte.measure(try decoder(for: rec).model, batches: BitsPerByte.batches(files: [f], context: context))
                routedBits += bpb * Double(f.count)
                bytes += Double(f.count)
            }
            let lineSeed = e.manifest.training?.options.seed ?? 1
            let oracleLines = try NextLine.exactMatch(decoder: own, files: files, samples: Engine.nextLineSamples, seed: lineSeed)
            systems["oracle"] = .init(bitsPerByte: oracle, nextLineExactMatch: oracleLines.rate)
            systems["routed"] = .init(bitsPerByte: routedBits / max(1, bytes), nextLineExactMatch: nil)
            for (i, s) in singles.enumerated() {
                let bpb = BitsPerByte.measure(s.model, batches: BitsPerByte.batches(files: files, context: s.plan.config.context))
                let lines = try NextLine.exactMatch(decoder: singleDecoders[i], files: files, samples: Engine.nextLineSamples, seed: lineSeed)
                systems[keys[i]] = .init(bitsPerByte: bpb, nextLineExactMatch: lines.rate)
            }
            let anchors = try Compressors.anchors(heldOut: files, train: e.train)
            domains.append(.init(domain: e.record.name, heldOutFiles: e.heldOut.count, heldOutBytes: Int(bytes),
                                 routerAccuracy: Double(rightlyRouted) / Double(max(1, files.count)), systems: systems, anchors: anchors))
            log(String(format: "%@: oracle %.3f, routed %.3f, same-size %.3f, same-params %.3f bits/byte; xz per file %.3f",
                       e.record.name, oracle, systems["routed"]!.bitsPerByte, systems[keys[0]]!.bitsPerByte, systems[keys[1]]!.bitsPerByte,
                       anchors["xz_per_file"] ?? .nan))
            // Latency of a 32-byte completion at a held-out line start (batch 1, process warm).
            let text = files.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let starts = text.indices.filter { $0 == text.startIndex || text[text.index(before: $0)] == "\n" }.prefix(latencySamples)
            for s in starts {
                let req = CompletionRequest(prefix: String(text[..<s]), maxBytes: 32, stopAtNewline: false)
                var t0 = MonotonicClock.now()
                _ = try complete(req)
                latencies["routed", default: []].append((MonotonicClock.now() - t0) * 1000)
                t0 = MonotonicClock.now()
                _ = try own.complete([req])
                latencies["oracle", default: []].append((MonotonicClock.now() - t0) * 1000)
                for (i, d) in singleDecoders.enumerated() {
                    t0 = MonotonicClock.now()
                    _ = try d.complete([req])
                    latencies[keys[i], default: []].append((MonotonicClock.now() - t0) * 1000)
                }
            }
        }
        // Routed next-line exact match: the oracle's where the router picks the domain's expert for the file,
        // so it is the oracle's figure on files routed right; computed through the routed path.
        for i in domains.indices {
            let e = experts[i]
            let files = Engine.limited(e.heldOut, to: Engine.heldOutScoredBytes)
            var right = 0.0, n = 0.0
            for (f, chosen) in zip(files, routedTo[i]) {
                let dec = try decoder(for: try expertRecord(chosen))
                let r = try NextLine.exactMatch(decoder: dec, files: [f], samples: max(1, Engine.nextLineSamples / max(1, files.count)), seed: e.manifest.training?.options.seed ?? 1)
                right += r.rate * Double(r.n)
                n += Double(r.n)
            }
            domains[i].systems["routed"]!.nextLineExactMatch = n > 0 ? right / n : nil
        }
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        let expertParams = experts.reduce(0) { $0 + $1.manifest.config.parameterCount }
        let expertFLOPs = spec.reduce(0.0) { $0 + $1.record.flops }, expertSteps = spec.reduce(0) { $0 + $1.record.steps }
        var systems = [String: CompletionCompareReport.System]()
        for k in ["routed", "oracle"] {
            systems[k] = .init(params: expertParams, trainFLOPs: expertFLOPs, steps: expertSteps, medianMs32Bytes: median(latencies[k] ?? []),
                               note: "\(experts.count) experts, one per domain")
        }
        for (i, s) in singles.enumerated() {
            systems[keys[i]] = .init(params: s.plan.config.parameterCount, trainFLOPs: s.record.flops, steps: s.record.steps,
                                     medianMs32Bytes: median(latencies[keys[i]] ?? []),
                                     note: i == 0 ? "the experts' config on every domain's files, the sum of their steps"
                                                  : "parameters closest to the experts' sum, steps scaled so FLOPs match")
        }
        return CompletionCompareReport(domains: domains, systems: systems)
    }
}

/// Compressors as anchors for bits per byte: `xz -9` and `zstd -19 --long=27`, on each held-out file
/// alone, and on the held-out files given the training files (the size they add to the training files
/// compressed, the analogue of a model trained on them).
enum Compressors {
    static func anchors(heldOut: [[UInt8]], train: [[UInt8]]) throws -> [String: Double] {
        let heldBytes = Double(heldOut.reduce(0) { $0 + $1.count })
        guard heldBytes > 0 else { return [:] }
        let trainData = Data(train.joined())
        let heldData = Data(heldOut.joined())
        var out = [String: Double]()
        for (name, args) in [("xz", ["xz", "-9", "-c", "-T1"]), ("zstd", ["zstd", "-19", "--long=27", "-c", "-q", "-T1"])] {
            let perFile = try heldOut.reduce(0) { $0 + (try compressedSize(Data($1), args)) }
            out["\(name)_per_file"] = Double(perFile) * 8 / heldBytes
            let base = try compressedSize(trainData, args), both = try compressedSize(trainData + heldData, args)
            out["\(name)_conditioned"] = Double(both - base) * 8 / heldBytes
        }
        return out
    }

    static func compressedSize(_ data: Data, _ args: [String]) throws -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw TriageError.notFound("\(args[0]) is not installed (apt-get install xz-utils zstd): \(error)") }
        let writer = Thread { input.fileHandleForWriting.write(data); try? input.fileHandleForWriting.close() }
        writer.start()
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TriageError.internalError("\(args.joined(separator: " ")) failed (exit \(p.terminationStatus))") }
        return compressed.count
    }
}
