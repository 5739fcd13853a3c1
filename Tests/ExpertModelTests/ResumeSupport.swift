import ExpertModel

/// Stops a training run at a step (as an interrupted process would), for resume tests; counts the
/// validations that measured a weight average on the way.
final class StopAtStep: TrainingObserver {
    let step: Int
    weak var trainer: Trainer?
    private(set) var averagedValidations = 0
    init(_ step: Int) { self.step = step }
    func trainingProgress(_ p: TrainingProgress, validated: Bool) {
        if p.averageValidationAccuracy != nil { averagedValidations += 1 }
        if p.step == step { trainer?.stopRequested = true }
    }
}

/// The short reversal run the resume tests interrupt: 40 steps, validated and checkpointed every 10.
func resumeTestOptions() -> TrainingOptions {
    var opt = TrainingOptions(steps: 40, seed: 3)
    opt.batchSize = 16
    opt.warmupSteps = 5
    opt.validateEvery = 10
    opt.checkpointEvery = 10
    return opt
}
