import Foundation
import ExpertModel
import TensorCore

/// Renders training progress: a redrawn bar with ETA on a terminal, a plain line every few seconds
/// otherwise, or one JSON object per update for machines. Writes to standard error, keeping standard
/// output for results.
public final class ProgressReporter: TrainingObserver {
    public enum Style { case bar, plain, json }
    public let style: Style
    let label: String
    private var lastPrint = 0.0
    private var drewBar = false

    public init(label: String, json: Bool) {
        self.label = label
        style = json ? .json : (isatty(STDERR_FILENO) == 1 ? .bar : .plain)
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    public func trainingProgress(_ p: TrainingProgress, validated: Bool) {
        let now = MonotonicClock.now()
        let done = p.step >= p.totalSteps
        switch style {
        case .json:
            guard validated || done || now - lastPrint >= 1 else { return }
            lastPrint = now
            var o: [String: Any] = ["event": "progress", "expert": label, "step": p.step, "total_steps": p.totalSteps,
                                    "loss": Double(p.loss), "tokens_per_s": p.tokensPerSecond.rounded(), "elapsed_s": p.elapsed, "eta_s": p.eta]
            if let v = p.validationAccuracy { o["validation_accuracy"] = v }
            if let v = p.averageValidationAccuracy { o["average_validation_accuracy"] = v }
            if let v = p.validationBitsPerByte { o["validation_bits_per_byte"] = v }
            if let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) { FileHandle.standardError.write(d + Data("\n".utf8)) }
        case .plain:
            guard validated || done || now - lastPrint >= 5 else { return }
            lastPrint = now
            FileHandle.standardError.write(Data((line(p) + "\n").utf8))
        case .bar:
            guard done || validated || now - lastPrint >= 0.1 else { return }
            lastPrint = now
            let width = 24, filled = p.totalSteps > 0 ? min(width, width * p.step / p.totalSteps) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(bar) \(line(p))\(done ? "\n" : "")".utf8))
            drewBar = !done
        }
    }

    func line(_ p: TrainingProgress) -> String {
        var s = "\(label) step \(p.step)/\(p.totalSteps) loss \(String(format: "%.3f", p.loss)) \(Int(p.tokensPerSecond)) tok/s"
        if let v = p.validationAccuracy { s += String(format: " val %.1f%%", 100 * v) }
        if let v = p.validationBitsPerByte { s += String(format: " val %.3f bits/byte", v) }
        s += " elapsed \(Self.clock(p.elapsed)) ETA \(Self.clock(p.eta))"
        return s
    }

    public func trainingEnded() { finish() }

    /// Ends a bar that was interrupted (so the next message starts on a fresh line).
    public func finish() {
        if drewBar { FileHandle.standardError.write(Data("\n".utf8)); drewBar = false }
    }
}

