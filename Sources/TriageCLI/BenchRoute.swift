import ArgumentParser
import Foundation
import TriageEngine
import TriageLab
import TriagePresentation

extension Bench {
    /// `triage bench route`: the router against fastText (Benchmarks/router.sh runs both on the same files).
    struct Route: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "route",
            abstract: "Train the router on one {input, expert} JSONL file, score it on another.",
            discussion: """
                Reports accuracy, single-thread routing requests/s (every test input once per pass, best pass) and \
                training seconds; with --ood, the share of out-of-distribution requests abstained on and of test \
                requests accepted. --write-peer-files DIR writes DIR/{train,valid,test}.jsonl from --experts \
                (train balanced per expert exactly as the trainer does) for this command and the fastText peer.
                """)

        @Option(help: "Training pairs, {\"input\", \"expert\"} per line.") var train: String?
        @Option(help: "Test pairs.") var test: String?
        @Option(help: "Validation pairs that set the threshold (default: every 20th training line, held out).") var valid: String?
        @Option(help: "Out-of-distribution requests, {\"input\", \"kind\"} per line.") var ood: String?
        @Option(help: "Background text, {\"input\"} per line, for the background class.") var background: String?
        @Option(help: "Near-domain background, {\"input\"} per line (other math modules), added to the background class.")
        var nearBackground: String?
        @Option(help: "Near-domain requests to measure abstention on, {\"input\", \"kind\", \"module\"} per line.") var near: String?
        @Option(help: "Near-domain background examples per expert-sized share (0: none).") var nearDomainWeight: Double?
        @Option(help: "Novelty bit-set size per expert (power of two; 0: no novelty check).") var noveltyBits: Int?
        @Option(help: "Lowest novelty threshold (share of never-seen n-grams).") var noveltyFloor: Double?
        @Option(help: "Share of each expert's validation inputs its novelty threshold accepts.") var noveltyTargetAcceptance: Double?
        @Option(name: .customLong("write-peer-files"), help: "Write train/valid/test JSONL for both routers into this folder.")
        var peerDir: String?
        @Option(help: "Expert folders for --write-peer-files.") var experts: String = "Experts"
        @Option(help: "Write the trained router here (safetensors).") var save: String?
        @Option(help: "Embedding rows.") var buckets: Int?
        @Option(help: "Embedding width.") var dim: Int?
        @Option var epochs: Int?
        @Option(help: "Initial learning rate.") var lr: Float?
        @Option(help: "Training inputs per expert (cap, or upsampling target).") var maxPerExpert: Int?
        @Option(help: "Fraction of in-domain validation inputs the threshold accepts.") var targetAcceptance: Double?
        @Option(help: "Background examples per expert-sized share (0: no background class).") var backgroundWeight: Double?
        @Option(help: "Word-count feature on or off.") var wordCount: Bool?
        @Option var seed: UInt64?
        @Option(help: "Timed routing passes over the test file.") var passes: Int = 5
        @Flag(help: "One JSON object.") var json = false

        var overrides: RouterBenchmark.Overrides {
            var o = RouterBenchmark.Overrides()
            (o.buckets, o.dim, o.epochs, o.learningRate, o.maxPerExpert) = (buckets, dim, epochs, lr, maxPerExpert)
            (o.targetAcceptance, o.backgroundWeight, o.wordCount, o.seed) = (targetAcceptance, backgroundWeight, wordCount, seed)
            (o.nearDomainWeight, o.noveltyBits, o.noveltyFloor, o.noveltyTargetAcceptance) = (nearDomainWeight, noveltyBits, noveltyFloor, noveltyTargetAcceptance)
            return o
        }

        func validate() throws {
            if peerDir == nil && (train == nil || test == nil) {
                throw ValidationError("give --train and --test (or --write-peer-files DIR)")
            }
        }

        func run() throws {
            let config = try overrides.config()
            if let peerDir {
                let s = try RouterPeerFiles.write(expertsRoot: experts, to: peerDir, config: config)
                let note = "wrote \(peerDir)/{train,valid,test}.jsonl: \(s.experts.count) experts, \(s.perExpert) training inputs each (\(s.train) in all), \(s.valid) valid, \(s.test) test"
                FileHandle.standardError.write(Data((note + "\n").utf8))
            }
            guard let train, let test else { return }
            let r = try RouterBenchmark.run(trainPath: train, testPath: test, validPath: valid, oodPath: ood,
                                            backgroundPath: background, nearBackgroundPath: nearBackground, nearPath: near,
                                            config: config, passes: passes, savePath: save)
            if json {
                print(try JSONOutput.line(r))
                return
            }
            print("router: \(r.experts.count) experts, buckets \(config.buckets), dim \(config.dim), epochs \(config.epochs)")
            print(String(format: "accuracy %.4f (routed at threshold %.4f: %.4f), validation %.4f", r.accuracy,
                         Double(r.threshold), r.accuracyRouted, r.validationAccuracy))
            print(String(format: "routing %.0f requests/s (one thread, best of %d passes over %d inputs)", r.requestsPerS, r.passes, r.nTest))
            print(String(format: "training %.2f s on %d examples (%d validation)", r.trainS, r.nTrain, r.nValid))
            print("threshold: \(r.thresholdMethod)")
            print(String(format: "in-domain accept rate %.4f", r.acceptRateInDomain))
            print("per expert (accuracy / accept rate): " + r.accuracyByExpert.keys.sorted().map {
                String(format: "%@ %.4f / %.4f", $0, r.accuracyByExpert[$0]!, r.acceptRateByExpert[$0] ?? 0)
            }.joined(separator: ", "))
            if let b = r.backgroundRejectRate { print(String(format: "held-out background abstain rate %.4f", b)) }
            if let o = r.abstainRateOOD {
                let kinds = (r.abstainRateOODByKind ?? [:]).sorted { $0.key < $1.key }
                    .map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ")
                print(String(format: "OOD abstain rate %.4f over %d (%@)", o, r.nOOD ?? 0, kinds))
            }
            if let a = r.abstainRateNear {
                func kinds(_ d: [String: Double]?) -> String { (d ?? [:]).sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ") }
                print(String(format: "near-domain abstain rate %.4f over %d (%@); without the novelty check: %@", a, r.nNear ?? 0,
                             kinds(r.abstainRateNearByKind), kinds(r.abstainRateNearByKindNoNovelty)))
                print("near-domain abstain rate by module: " + kinds(r.abstainRateNearByModule))
                if let acc = r.acceptRateInDomainNoNovelty { print(String(format: "without the novelty check: in-domain accept rate %.4f", acc)) }
            }
        }
    }
}
