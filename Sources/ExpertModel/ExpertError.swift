/// Errors an expert reports to its user, each with the file, line or value at fault.
public enum ExpertError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case badData(file: String, line: Int, problem: String)
    case emptyData(file: String)
    case inputTooLong(bytes: Int, limit: Int)
    case badWeights(String)
    case badCheckpoint(String)
    case diverged(step: Int, learningRate: Float)
    /// Stopped by SIGINT or SIGTERM after `step`, with a checkpoint at `checkpoint` to resume from.
    case interrupted(step: Int, checkpoint: String?)

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid model config: \(s)"
        case .badData(let f, let l, let p): return "\(f):\(l): \(p)"
        case .emptyData(let f): return "\(f): no examples (the file is empty)"
        case .inputTooLong(let b, let limit):
            return "input is \(b) bytes; this expert's context allows at most \(limit) (inputs are never cut)"
        case .badWeights(let s): return "bad weights: \(s)"
        case .badCheckpoint(let s): return "bad checkpoint: \(s)"
        case .diverged(let step, let lr):
            return "training diverged at step \(step) (the loss is not finite at learning rate \(lr)); lower the learning rate and run again"
        case .interrupted(let step, let checkpoint):
            return "interrupted at step \(step)" + (checkpoint.map { "; checkpoint saved (\($0)): run the same command again to resume" } ?? "")
        }
    }
}
