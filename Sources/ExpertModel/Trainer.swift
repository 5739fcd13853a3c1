import Foundation
import TensorCore

/// How an expert is trained. The same data, options, seed and thread count give the same weights, bit for bit.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Budget in optimiser steps; when nil, `minutes` sets it (after timing the first steps).
    public var steps: Int?
    /// Wall-clock budget, used when `steps` is nil.
    public var minutes: Double?
    public var batchSize = 32
    public var learningRate: Float = 1e-3
    public var warmupSteps = 100
    public var minLearningRateRatio: Float = 0.1
    public var weightDecay: Float = 0.1
    public var clipNorm: Float = 1.0
    public var seed: UInt64 = 1
    /// Validate (exact match on up to `validationExamples`) every this many steps, and at the end.
    public var validateEvery = 250
    public var validationExamples = 500
    /// Write a resumable checkpoint every this many steps (0: never).
    public var checkpointEvery = 250
    /// Longest answer decoded during validation.
    public var maxOutputBytes = 64
    /// The precision of the products (nil: fp32, as every run before bf16 existed).
    public var precision: Precision?
    /// The optimiser of the hidden weight matrices (nil: AdamW, as every run before Muon existed).
    public var optimizer: OptimizerChoice?
    /// Muon's peak learning rate (the schedule scales it like AdamW's); nil: 0.02.
    public var muonLearningRate: Float?
    /// How a model trained from scratch with these options is initialised: output projections at zero
    /// (`Transformer(config:seed:zeroOutputProjections:)`); recorded here so a run can be repeated. nil: false.
    public var zeroOutputProjections: Bool?
    /// Keep an exponential moving average of the weights with this decay per step, validate it beside the
    /// live weights, and keep it when it validates better (`WeightAverage`); nil: no average.
    public var weightAverageDecay: Float?

    /// AdamW for every parameter, or Muon for the hidden matrices and AdamW for the rest.
    public enum OptimizerChoice: String, Codable, Sendable, CaseIterable { case adamw, muon }

    public init(steps: Int? = nil, minutes: Double? = nil, seed: UInt64 = 1) {
        self.steps = steps
        self.minutes = minutes
        self.seed = seed
    }
}

/// What a finished run did, as stored with the expert.
public struct TrainingRecord: Codable, Equatable, Sendable {
    public var steps: Int
    public var seconds: Double
    public var seed: UInt64
    /// Real (non-padding) tokens the model read.
    public var tokens: Int
    public var trainExamples: Int
    public var bestValidationAccuracy: Double
    public var bestStep: Int
    public var finalLoss: Float
    public var threads: Int
    /// Training compute, from the model's FLOPs per token and the padded tokens processed.
    public var flops: Double
    /// The precision the products ran in, and the bf16 kernels used (nil in records made before bf16).
    public var precision: Precision?
    public var kernel: String?
    /// A completion expert's best held-out bits per byte during training (nil for task experts, whose
    /// validation is exact match).
    public var bestValidationBitsPerByte: Double?
    /// With a weight average: whether the kept weights are the average (nil without one).
    public var bestIsAverage: Bool?
    enum CodingKeys: String, CodingKey {
        case steps, seconds, seed, tokens, threads, flops, precision, kernel
        case bestIsAverage = "best_is_average"
        case bestValidationBitsPerByte = "best_validation_bits_per_byte"
        case trainExamples = "train_examples", bestValidationAccuracy = "best_validation_accuracy"
        case bestStep = "best_step", finalLoss = "final_loss"
    }
}

/// One line of progress.
public struct TrainingProgress: Sendable {
    public let step: Int
    public let totalSteps: Int
    public let loss: Float
    public let tokensPerSecond: Double
    public let validationAccuracy: Double?
    public let elapsed: Double
    /// A completion expert's validation: bits per byte on held-out files (lower is better).
    public var validationBitsPerByte: Double? = nil
    /// The weight average's exact match at this validation (with `TrainingOptions.weightAverageDecay`).
    public var averageValidationAccuracy: Double? = nil
    public var eta: Double { step > 0 ? elapsed / Double(step) * Double(totalSteps - step) : 0 }
}

/// Receives progress; the CLI renders it as a bar, plain lines or JSON.
public protocol TrainingObserver: AnyObject {
    func trainingProgress(_ p: TrainingProgress, validated: Bool)
    /// The run returned or threw: a bar drawn in place ends its line here.
    func trainingEnded()
}

extension TrainingObserver {
    public func trainingEnded() {}
}

/// Trains a transformer on examples with AdamW (warm-up, cosine decay, clipping), validating,
/// keeping the best weights and writing resumable checkpoints.
public final class Trainer {
    public let model: Transformer
    public let options: TrainingOptions
    let train: [[Int32]]
    let validation: [Example]
    /// A completion expert's windows and held-out batches (then `train` and `validation` are empty).
    let sampler: WindowSampler?
    let heldOut: [TokenBatch]
    /// Checkpoint and best-weights files (in a run directory); nil disables both.
    public let checkpointPath: String?
    public var bestWeightsPath: String? { checkpointPath.map { $0 + ".best.safetensors" } }
    /// Set (by an observer, or another thread) to stop after the current step with a checkpoint; `run`
    /// then returns the partial record. A SIGINT or SIGTERM caught by `Interruption` stops the same way
    /// but makes `run` throw `ExpertError.interrupted`, so nothing half-trained is registered.
    nonisolated(unsafe) public var stopRequested = false

    public init(model: Transformer, train: [Example], validation: [Example], options: TrainingOptions, checkpointPath: String? = nil) throws {
        guard !train.isEmpty else { throw ExpertError.emptyData(file: "training data") }
        for ex in train + validation where ex.trainingLength > model.config.context {
            throw ExpertError.invalidConfig("an example of \(ex.trainingLength) tokens does not fit the context \(model.config.context)")
        }
        self.model = model
        self.options = options
        self.train = train.map(\.tokens)
        // An evenly spaced subset: data files may be sorted (pronounce's are alphabetical).
        let stride = max(1, validation.count / max(1, options.validationExamples))
        self.validation = Array(Swift.stride(from: 0, to: validation.count, by: stride).prefix(options.validationExamples).map { validation[$0] })
        self.checkpointPath = checkpointPath
        sampler = nil
        heldOut = []
    }

    /// A language model over a corpus: random windows (`sampler`, with FIM), validated by bits per byte
    /// on `heldOut` (from `BitsPerByte.batches`); the best validation keeps the lowest.
    public init(model: Transformer, sampler: WindowSampler, heldOut: [TokenBatch], options: TrainingOptions, checkpointPath: String? = nil) throws {
        guard sampler.length <= model.config.context else {
            throw ExpertError.invalidConfig("windows of \(sampler.length) tokens do not fit the context \(model.config.context)")
        }
        self.model = model
        self.options = options
        self.sampler = sampler
        self.heldOut = heldOut
        train = []
        validation = []
        self.checkpointPath = checkpointPath
    }

    /// Exact-match accuracy of greedy answers on the validation examples.
    /// For a completion expert: minus its bits per byte on the held-out files (higher is better either way).
    public func validate() throws -> Double {
        if sampler != nil { return heldOut.isEmpty ? 0 : -BitsPerByte.measure(model, batches: heldOut) }
        guard !validation.isEmpty else { return 0 }
        let answers = try ExpertDecoder(model: model).answer(validation.map(\.input), maxOutputBytes: options.maxOutputBytes)
        let right = zip(answers, validation).filter { $0 == $1.output }.count
        return Double(right) / Double(validation.count)
    }

    struct State {
        var step = 0
        var tokens = 0
        var paddedTokens = 0
        var seconds = 0.0
        /// The best validation score so far (exact match, or minus bits per byte); `unvalidated` before any.
        var best = State.unvalidated
        static let unvalidated = -Double.greatestFiniteMagnitude
        var bestStep = 0
        var bestIsAverage = false
        var totalSteps = 0
        var lastLoss: Float = 0
    }

    /// Runs to the budget, resuming from the checkpoint when `resume` is set and one exists.
    /// On return the model holds the best validated weights.
    @discardableResult
    public func run(resume: Bool = false, observer: TrainingObserver? = nil) throws -> TrainingRecord {
        defer { observer?.trainingEnded() }
        return try MixedPrecision.with(options.precision ?? .fp32) { try loop(resume: resume, observer: observer) }
    }

    private func loop(resume: Bool, observer: TrainingObserver?) throws -> TrainingRecord {
        let opt = AdamW(learningRate: options.learningRate, beta1: 0.9, beta2: 0.95, eps: 1e-8,
                        weightDecay: options.weightDecay, decayOnlyMatrices: true)
        let muonPeak = options.muonLearningRate ?? 0.02
        let muon = options.optimizer == .muon ? Muon(learningRate: muonPeak) : nil
        let params = model.parameters.all
        let hidden = muon == nil ? [] : model.hiddenMatrices
        let hiddenNames = Set(hidden.map(\.name))
        let adamParams = params.filter { !hiddenNames.contains($0.name) }
        var st = State()
        var batcher = sampler == nil ? Batcher(examples: train, batchSize: options.batchSize, seed: options.seed) : nil
        let average = options.weightAverageDecay.map { WeightAverage(params, decay: $0) }
        if resume, let cp = checkpointPath, FileManager.default.fileExists(atPath: cp) {
            try restore(from: cp, optimizer: opt, muon: muon, average: average, state: &st, batcher: &batcher)
        }
        if st.totalSteps == 0 { st.totalSteps = options.steps ?? 0 }
        guard options.steps != nil || options.minutes != nil else { throw ExpertError.invalidConfig("give a budget: steps or minutes") }
        let flopsPerToken = model.config.trainingFLOPsPerToken(sequenceLength: model.config.context / 2)
        let calibrationSteps = 10
        let refineStep = max(calibrationSteps + 20, min(options.warmupSteps, 150))
        var calibratedAt: Double? = nil
        var checkAt = -1, checkFrom: (Int, Double)? = nil
        var windowStart = MonotonicClock.now(), windowTokens = 0
        var runStart = MonotonicClock.now() - st.seconds
        while st.totalSteps == 0 || st.step < st.totalSteps {
            if stopRequested || Interruption.requested { break }
            let batch = sampler?.batch(at: st.step) ?? batcher!.next()
            model.parameters.zeroGrad()
            let loss = model.loss(batch)
            guard loss.item.isFinite else {
                throw ExpertError.diverged(step: st.step + 1, learningRate: opt.learningRate)
            }
            loss.backward()
            clipGradNorm(params, maxNorm: options.clipNorm)
            let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: options.warmupSteps,
                                                totalSteps: max(st.totalSteps, options.warmupSteps + 1), minRatio: options.minLearningRateRatio)
            let rate = schedule.rate(at: st.step)
            opt.learningRate = rate
            opt.update(adamParams)
            if let muon {
                muon.learningRate = muonPeak * rate / options.learningRate
                muon.update(hidden) { $0.name.hasSuffix(".qkv.weight") ? 3 : 1 }  // q, k and v are three matrices
            }
            average?.update()
            st.step += 1
            st.lastLoss = loss.item
            let real = batch.realTokens
            st.tokens += real
            st.paddedTokens += batch.batch * batch.seq
            windowTokens += real
            st.seconds = MonotonicClock.now() - runStart
            if st.totalSteps == 0 && st.step == calibrationSteps, let minutes = options.minutes {
                // A wall-clock budget becomes a step count once the speed is known, so the schedule can decay.
                st.totalSteps = max(calibrationSteps + 1, Int(minutes * 60 / (st.seconds / Double(st.step))))
                calibratedAt = st.seconds
            } else if let t0 = calibratedAt, st.step == refineStep, let minutes = options.minutes {
                // The first steps run slower than the rest (one-time set-up), so the count is redone from the
                // steady speed since; still inside warm-up, whose rates do not depend on the total.
                let perStep = (st.seconds - t0) / Double(refineStep - calibrationSteps)
                st.totalSteps = max(refineStep + 1, refineStep + Int((minutes * 60 - st.seconds) / perStep))
                calibratedAt = nil
                checkAt = st.totalSteps / 2
                checkFrom = (st.step, st.seconds)
            } else if st.step == checkAt, let (s0, t0) = checkFrom, let minutes = options.minutes {
                // Halfway, once more from the speed since: batches of varying length make the first estimate
                // drift, and a wall-clock budget is a budget (the cosine's remaining half stretches or shrinks a little).
                let perStep = (st.seconds - t0) / Double(max(1, st.step - s0))
                st.totalSteps = max(st.step + 1, st.step + Int((minutes * 60 - st.seconds) / perStep))
                checkFrom = nil
            }
            let atEnd = st.totalSteps > 0 && st.step >= st.totalSteps
            var validated: Double? = nil, averaged: Double? = nil
            if atEnd || st.step % options.validateEvery == 0 {
                let t0 = MonotonicClock.now()
                let acc = try validate()
                validated = acc
                if acc > st.best {
                    st.best = acc
                    st.bestStep = st.step
                    st.bestIsAverage = false
                    if let bp = bestWeightsPath { try model.save(to: bp) }
                }
                if let average {
                    // One swap of the weights: validate the average, and keep it as the best while it is in the model.
                    averaged = try average.withAveragedWeights {
                        let avg = try validate()
                        if avg > st.best {
                            st.best = avg
                            st.bestStep = st.step
                            st.bestIsAverage = true
                            if let bp = bestWeightsPath { try model.save(to: bp) }
                        }
                        return avg
                    }
                }
                runStart += MonotonicClock.now() - t0  // validation time is not training time
                st.seconds = MonotonicClock.now() - runStart
            }
            if let cp = checkpointPath, options.checkpointEvery > 0, st.step % options.checkpointEvery == 0 || atEnd {
                try saveCheckpoint(to: cp, optimizer: opt, muon: muon, average: average, state: st, batcher: batcher)
            }
            let now = MonotonicClock.now()
            let tps = Double(windowTokens) / max(1e-9, now - windowStart)
            if now - windowStart > 2 { windowStart = now; windowTokens = 0 }
            let shown = validated ?? (st.best > State.unvalidated ? st.best : nil)
            observer?.trainingProgress(TrainingProgress(step: st.step, totalSteps: max(st.totalSteps, st.step), loss: st.lastLoss,
                                                        tokensPerSecond: tps, validationAccuracy: sampler == nil ? shown : nil,
                                                        elapsed: st.seconds, validationBitsPerByte: sampler == nil ? nil : shown.map { -$0 },
                                                        averageValidationAccuracy: averaged),
                                       validated: validated != nil)
        }
        if let cp = checkpointPath, stopRequested || Interruption.requested {
            try saveCheckpoint(to: cp, optimizer: opt, muon: muon, average: average, state: st, batcher: batcher)
        }
        if Interruption.requested { throw ExpertError.interrupted(step: st.step, checkpoint: checkpointPath) }
        if let bp = bestWeightsPath, st.best > State.unvalidated, FileManager.default.fileExists(atPath: bp) {
            let best = try Transformer.load(from: bp)
            try model.parameters.load(best.parameters.entries())
        }
        var record = TrainingRecord(steps: st.step, seconds: st.seconds, seed: options.seed, tokens: st.tokens, trainExamples: train.count,
                                    bestValidationAccuracy: sampler == nil ? max(0, st.best) : 0, bestStep: st.bestStep, finalLoss: st.lastLoss,
                                    threads: BLAS.threads, flops: flopsPerToken * Double(st.paddedTokens),
                                    precision: MixedPrecision.products, kernel: MixedPrecision.products == .bf16 ? MixedPrecision.kernel.rawValue : nil)
        if average != nil { record.bestIsAverage = st.bestIsAverage }
        if sampler != nil {
            record.trainExamples = sampler!.corpus.files.count
            record.bestValidationBitsPerByte = st.best > State.unvalidated && !heldOut.isEmpty ? -st.best : nil
        }
        return record
    }

    // MARK: Checkpoints

    private func saveCheckpoint(to path: String, optimizer: AdamW, muon: Muon?, average: WeightAverage?, state st: State, batcher: Batcher?) throws {
        var items = model.parameters.entries().mapValues { SafeTensors.Item($0) }
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.all.map { ($0.name, $0.shape) })
        for (k, t) in optimizer.stateTensors(shapes: shapes) { items[k] = SafeTensors.Item(t) }
        for (k, t) in muon?.stateTensors(shapes: shapes) ?? [:] { items[k] = SafeTensors.Item(t) }
        for (k, t) in average?.stateTensors() ?? [:] { items[k] = SafeTensors.Item(t) }
        var meta = model.config.metadata
        meta["checkpoint.step"] = "\(st.step)"
        meta["checkpoint.total_steps"] = "\(st.totalSteps)"
        meta["checkpoint.optimizer_step"] = "\(optimizer.step)"
        meta["checkpoint.tokens"] = "\(st.tokens)"
        meta["checkpoint.padded_tokens"] = "\(st.paddedTokens)"
        meta["checkpoint.seconds"] = "\(st.seconds)"
        meta["checkpoint.best"] = "\(st.best)"
        meta["checkpoint.best_step"] = "\(st.bestStep)"
        if let average {
            meta["checkpoint.average_updates"] = "\(average.updates)"
            meta["checkpoint.best_is_average"] = st.bestIsAverage ? "1" : "0"
        }
        if let batcher {
            meta["checkpoint.epoch"] = "\(batcher.epoch)"
            meta["checkpoint.batch_index"] = "\(batcher.indexInEpoch)"
            meta["checkpoint.rng"] = batcher.epochStartState.map(String.init).joined(separator: ",")
        }
        meta["checkpoint.options"] = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        meta["checkpoint.examples"] = "\(sampler?.corpus.byteCount ?? train.count)"
        try SafeTensors.write(items, metadata: meta, to: path)
    }

    private func restore(from path: String, optimizer: AdamW, muon: Muon?, average: WeightAverage?, state st: inout State,
                         batcher: inout Batcher?) throws {
        let file: SafeTensors.File
        do { file = try SafeTensors.read(path: path) } catch { throw ExpertError.badCheckpoint("\(error)") }
        let m = file.metadata
        func int(_ k: String) throws -> Int {
            guard let v = m["checkpoint.\(k)"].flatMap({ Int($0) }) else { throw ExpertError.badCheckpoint("\(path) lacks checkpoint.\(k)") }
            return v
        }
        guard let optJSON = m["checkpoint.options"], let saved = try? JSONDecoder().decode(TrainingOptions.self, from: Data(optJSON.utf8)),
              saved == options else {
            throw ExpertError.badCheckpoint("\(path) was written with other training options; delete it to start over")
        }
        guard try int("examples") == sampler?.corpus.byteCount ?? train.count else {
            throw ExpertError.badCheckpoint("\(path) was written for other training data; delete it to start over")
        }
        let weights = file.tensors.filter { !$0.key.hasPrefix("adam.") && !$0.key.hasPrefix("muon.") && !$0.key.hasPrefix("average.") }
        do { try model.parameters.load(weights) } catch { throw ExpertError.badCheckpoint("\(path): \(error)") }
        optimizer.restore(step: try int("optimizer_step"), tensors: file.tensors.filter { $0.key.hasPrefix("adam.") })
        muon?.restore(tensors: file.tensors.filter { $0.key.hasPrefix("muon.") })
        st.step = try int("step")
        st.totalSteps = try int("total_steps")
        st.tokens = try int("tokens")
        st.paddedTokens = try int("padded_tokens")
        st.seconds = Double(m["checkpoint.seconds"] ?? "0") ?? 0
        st.best = Double(m["checkpoint.best"] ?? "") ?? State.unvalidated
        st.bestStep = try int("best_step")
        if let average {
            guard average.restore(file.tensors, updates: try int("average_updates")) else {
                throw ExpertError.badCheckpoint("\(path) lacks the weight average; delete it to start over")
            }
            st.bestIsAverage = m["checkpoint.best_is_average"] == "1"
        }
        if sampler != nil { return }  // windows are a function of the step: nothing else to restore
        let rng = (m["checkpoint.rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard rng.count == 4 else { throw ExpertError.badCheckpoint("\(path) lacks the data-order generator state") }
        batcher = Batcher(examples: train, batchSize: options.batchSize, epoch: try int("epoch"), index: try int("batch_index"), epochStartState: rng)
    }
}
