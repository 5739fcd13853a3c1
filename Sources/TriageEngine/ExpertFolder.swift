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
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw TriageError.notFound("\(manifestPath) not found: an expert folder needs expert.json, its weights and data files")
        }
        let m = try ExpertManifest.decode(data, origin: manifestPath)
        try ExpertName.validate(m.name)
        var files = [(m.weights, m.weightsSHA256)]
        for role in m.data.roles { files.append((m.data[role]!, m.dataSHA256?[role])) }
        for (file, sha) in files {
            guard !file.contains("/") || !file.contains("..") else { throw TriageError.badInput("\(manifestPath): file \"\(file)\" leaves the folder") }
            let full = path + "/" + file
            guard FileManager.default.fileExists(atPath: full) else { throw TriageError.notFound("\(full) is missing (named in \(manifestPath))") }
            if let sha {
                let actual = try SHA256.hex(ofFile: full)
                guard actual == sha else { throw TriageError.corrupt("\(full) does not match the SHA-256 in \(manifestPath) (file damaged or changed)") }
            }
        }
        return ExpertFolder(path: path, manifest: m)
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
