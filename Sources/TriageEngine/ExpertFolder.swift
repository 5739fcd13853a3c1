import Foundation
import ExpertModel
import Registry
import TensorCore

/// An expert as a folder — `expert.json`, the weights, the data files — checked file by file on read.
public struct ExpertFolder {
    /// The folder.
    public let path: String
    /// Its `expert.json`, checked against the files.
    public let manifest: ExpertManifest

    /// Reads and checks the manifest, and that every file it names exists and matches its SHA-256.
    public static func read(_ path: String) throws -> ExpertFolder {
        let manifestPath = path + "/expert.json"
        guard let data = FileBytes.read(manifestPath) else {
            throw TriageError.notFound("\(manifestPath) not found: an expert folder needs expert.json, its weights and data files")
        }
        let m = try ExpertManifest.decode(data, origin: manifestPath)
        try ExpertName.validate(m.name)
        var files = [(m.weights, m.weightsSHA256)]
        for role in m.data.roles { files.append((m.data[role]!, m.dataSHA256?[role])) }
        for (file, sha) in files {
            // A plain relative path: "", ".", ".." or an empty component would name the folder itself or
            // its parent (the manifest fuzzer found "" accepted), an absolute one anything.
            let parts = file.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                throw TriageError.badInput("\(manifestPath): file \"\(file)\" is not a file name inside the folder")
            }
            let full = path + "/" + file
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { throw TriageError.notFound("\(full) is missing (named in \(manifestPath))") }
            guard !isDirectory.boolValue else { throw TriageError.badInput("\(manifestPath): \"\(file)\" is a folder, not a file") }
            if let sha {
                let actual = try SHA256.hex(ofFile: full)
                guard actual == sha else { throw TriageError.corrupt("\(full) does not match the SHA-256 in \(manifestPath) (file damaged or changed)") }
            }
        }
        return ExpertFolder(path: path, manifest: m)
    }

    /// A folder's model and examples, loaded and checked: everything `import` stores comes from here, so
    /// that a bad folder is refused before any blob is written (and the fuzzer reaches the same code).
    public struct Contents {
        /// The manifest, with a calibration fitted on the validation examples when it had none.
        public var manifest: ExpertManifest
        public let model: Transformer
        /// Examples by role, for the roles the folder has.
        public let examples: [DataRole: [Example]]
    }

    /// Loads the weights as the manifest's model (their config must be the manifest's) and reads every data
    /// file; a manifest from before calibrations gets one fitted on its validation examples.
    public func load(log: (String) -> Void) throws -> Contents {
        var m = manifest
        let model = try Transformer.load(from: weightsPath)
        guard model.config == m.config else { throw TriageError.badInput("\(weightsPath): its config differs from \(path)/expert.json") }
        var examples = [DataRole: [Example]]()
        for role in DataRole.allCases {
            guard let p = dataPath(role) else { continue }
            // A completion expert's train.jsonl holds router windows (inputs only); test.jsonl, with
            // --keep-data, its files as {input: path, output: text}.
            examples[role] = try ExampleReader.read(path: p, requireOutput: m.expertKind == .task).examples
        }
        if m.calibration == nil, m.expertKind == .task, let valid = examples[.valid] {
            m.calibration = try Engine.fitCalibration(decoder: ExpertDecoder(model: model), validation: valid,
                                                      maxOutputBytes: m.maxOutputBytes)
            if m.calibration != nil { log("\(m.name): calibrated answer confidence on \(valid.count) validation examples") }
        }
        return Contents(manifest: m, model: model, examples: examples)
    }

    /// The weights file.
    public var weightsPath: String { path + "/" + manifest.weights }
    /// The data file of `role`, if the folder has one.
    public func dataPath(_ role: DataRole) -> String? { manifest.data[role].map { path + "/" + $0 } }
}

extension SHA256 {
    /// Hex digest of a file, read in 1 MiB chunks.
    public static func hex(ofFile path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw TriageError.notFound("cannot read \(path)") }
        defer { try? h.close() }
        var sha = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { sha.update(chunk) }
        return sha.finalizeHex()
    }
}
