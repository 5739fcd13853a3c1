import Foundation
import TriageEngine
import Router
import TensorCore

/// Writes the files both the router benchmark and its fastText peer train and score on, from
/// `Experts/*/{train,valid,test}.jsonl`, so the peer sees exactly the training inputs Triage's trainer
/// would use: the training split goes through the same `ExampleBalancer` (cap or upsample per expert,
/// same seed), then is shuffled (fastText reads its file in order, so grouped lines would hurt it).
/// The trainer balancing this file again changes nothing: every expert already has the common count.
public enum RouterPeerFiles {
    /// What was written: experts and line counts.
    public struct Summary: Codable, Sendable {
        public let experts: [String]
        public let train: Int
        public let valid: Int
        public let test: Int
        public let perExpert: Int
    }

    /// Writes the suite's router data as `{train,valid,test}.jsonl` in `dir`, as the router trainer samples it, for the fastText peer.
    public static func write(expertsRoot: String, to dir: String, config: RouterConfig) throws -> Summary {
        let experts = try RouterData.expertNames(root: expertsRoot)
        guard !experts.isEmpty else { throw RouterError.invalidData("no expert folders with train.jsonl under \(expertsRoot)") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let raw = try RouterData.expertSplit(root: expertsRoot, split: "train")
        var train = ExampleBalancer.balance(raw.map { (input: $0.input, expert: $0.expert) },
                                            maxPerGroup: config.maxPerExpert, seed: config.seed)
        var rng = RandomGenerator(seed: config.seed ^ 0x5045_4552)  // "PEER"
        rng.shuffle(&train)
        let valid = try RouterData.expertSplit(root: expertsRoot, split: "valid")
        let test = try RouterData.expertSplit(root: expertsRoot, split: "test")
        try RouterData.write(train.map { RouterData.Pair(input: $0.input, expert: $0.expert) }, to: "\(dir)/train.jsonl")
        try RouterData.write(valid, to: "\(dir)/valid.jsonl")
        try RouterData.write(test, to: "\(dir)/test.jsonl")
        return Summary(experts: experts, train: train.count, valid: valid.count, test: test.count,
                       perExpert: train.count / experts.count)
    }
}
