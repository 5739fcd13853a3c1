import Foundation
import ExpertModel
import Registry

/// A training run that survives interruption: it checkpoints into a folder and, run again with the same
/// data and options, resumes from there. Every long training in Triage goes through here — an expert
/// (`experts add`), `compare`'s baselines, the suite's experts and its shared base.
package struct TrainingRun {
    /// The folder that holds the checkpoint (and the best weights beside it).
    package let folder: String
    /// The checkpoint file: `checkpoint.safetensors` in a home's run folder, `.checkpoint.safetensors` in a suite folder.
    package let checkpoint: String

    /// A run whose checkpoint is `folder/checkpointName`.
    package init(folder: String, checkpointName: String = "checkpoint.safetensors") {
        self.folder = folder
        checkpoint = folder + "/" + checkpointName
    }

    /// Trains `model`, resuming from the folder's checkpoint when there is one; the model then holds the
    /// best validated weights.
    package func train(_ model: Transformer, train: [Example], validation: [Example], options: TrainingOptions,
                       observer: TrainingObserver?) throws -> TrainingRecord {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return try run(try Trainer(model: model, train: train, validation: validation, options: options, checkpointPath: checkpoint), observer: observer)
    }

    /// Trains a completion expert's `model` on windows of a corpus (see `train`).
    package func train(_ model: Transformer, sampler: WindowSampler, heldOut: [TokenBatch], options: TrainingOptions,
                       observer: TrainingObserver?) throws -> TrainingRecord {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return try run(try Trainer(model: model, sampler: sampler, heldOut: heldOut, options: options, checkpointPath: checkpoint), observer: observer)
    }

    private func run(_ trainer: Trainer, observer: TrainingObserver?) throws -> TrainingRecord {
        let record = try trainer.run(resume: true, observer: observer)
        // A Ctrl-C after the last step: keep the finished checkpoint, let the caller store nothing.
        if Interruption.requested { throw ExpertError.interrupted(step: record.steps, checkpoint: checkpoint) }
        return record
    }

    /// Removes the checkpoint files once what the run made is stored.
    package func removeCheckpoints() {
        for path in [checkpoint, checkpoint + ".best.safetensors"] { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Removes the whole folder (a home's run folder, once its result is registered).
    package func removeFolder() { try? FileManager.default.removeItem(atPath: folder) }
}

extension Engine {
    /// A run folder in the home, `runs/NAME/`: renames from it into `blobs/` stay on one file system.
    package func run(named name: String) -> TrainingRun { TrainingRun(folder: registry.home + "/runs/\(name)") }

    /// Saves `model` in `run`'s folder and stores the file as a blob.
    package func storeWeights(_ model: Transformer, of run: TrainingRun, name: String) throws -> BlobRef {
        let path = run.folder + "/weights.safetensors"
        try model.save(to: path, name: name)
        return try registry.blobs.put(fileAt: path)
    }
}
