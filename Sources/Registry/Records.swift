// The registry's record types. JSON fields stay strings: callers encode their own Codable types (model
// configs, metrics, training stats, manifests), so Registry never needs to know what a model is.

import Foundation

/// The data splits stored with an expert.
public enum DataRole: String, CaseIterable, Codable, Comparable, Sendable {
    case train, valid, test

    public static func < (a: DataRole, b: DataRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One registered expert: what `experts list/show` prints and what `ask` loads.
public struct ExpertRecord: Equatable, Codable {
    /// Unique name (see `ExpertName.validate`).
    public var name: String
    /// 1 when first registered, +1 each time it is replaced; assigned by the registry.
    public var version: Int
    public var description: String?
    /// The model configuration, as the caller's JSON.
    public var configJSON: String
    public var paramCount: Int
    /// SHA-256 of the weights blob (filled in by the registry from the `weights` reference).
    public var weightsBlob: String
    /// The longest answer the expert may generate, in bytes (nil: the caller's default).
    public var maxOutputBytes: Int?
    public var metricsJSON: String?
    /// Training statistics as JSON (steps, seconds, seed, tokens).
    public var trainingJSON: String?
    public var manifestJSON: String?
    /// Data blobs by role ("train", "valid", "test") → SHA-256.
    public var dataBlobs: [String: String]
    /// When this version was registered (UTC ISO-8601); nil before registration.
    public var createdAt: String?

    public init(name: String, version: Int = 1, description: String? = nil, configJSON: String, paramCount: Int,
                weightsBlob: String = "", maxOutputBytes: Int? = nil, metricsJSON: String? = nil,
                trainingJSON: String? = nil, manifestJSON: String? = nil, dataBlobs: [String: String] = [:],
                createdAt: String? = nil) {
        self.name = name
        self.version = version
        self.description = description
        self.configJSON = configJSON
        self.paramCount = paramCount
        self.weightsBlob = weightsBlob
        self.maxOutputBytes = maxOutputBytes
        self.metricsJSON = metricsJSON
        self.trainingJSON = trainingJSON
        self.manifestJSON = manifestJSON
        self.dataBlobs = dataBlobs
        self.createdAt = createdAt
    }
}

/// One trained router: which experts it chooses between (in its output order) and its weights.
public struct RouterRecord: Equatable, Codable {
    /// Row id; nil before registration.
    public var id: Int?
    /// 1, 2, 3, … in registration order; assigned by the registry.
    public var version: Int
    /// Expert names in the order of the router's outputs.
    public var expertSet: [String]
    /// SHA-256 of the weights blob.
    public var weightsBlob: String
    public var metricsJSON: String?
    /// True for the one router `ask` uses.
    public var active: Bool
    /// When it was registered (UTC ISO-8601); nil before registration.
    public var createdAt: String?

    public init(id: Int? = nil, version: Int = 0, expertSet: [String], weightsBlob: String,
                metricsJSON: String? = nil, active: Bool = false, createdAt: String? = nil) {
        self.id = id
        self.version = version
        self.expertSet = expertSet
        self.weightsBlob = weightsBlob
        self.metricsJSON = metricsJSON
        self.active = active
        self.createdAt = createdAt
    }
}

/// A single-model baseline of `triage compare`: one model trained on the union of some experts' data.
public struct BaselineRecord: Equatable, Codable {
    /// Unique name (same rules as expert names).
    public var name: String
    public var configJSON: String?
    /// SHA-256 of the weights blob, if it was kept.
    public var weightsBlob: String?
    public var metricsJSON: String?
    public var trainingJSON: String?
    /// The experts whose data it was trained on.
    public var expertSet: [String]?
    /// When it was stored (UTC ISO-8601); nil before.
    public var createdAt: String?

    public init(name: String, configJSON: String? = nil, weightsBlob: String? = nil, metricsJSON: String? = nil,
                trainingJSON: String? = nil, expertSet: [String]? = nil, createdAt: String? = nil) {
        self.name = name
        self.configJSON = configJSON
        self.weightsBlob = weightsBlob
        self.metricsJSON = metricsJSON
        self.trainingJSON = trainingJSON
        self.expertSet = expertSet
        self.createdAt = createdAt
    }
}

/// One expert to register: its record, weights blob and data blobs.
public struct ExpertRegistration {
    public var record: ExpertRecord
    public var weights: BlobRef
    public var data: [DataRole: BlobRef]
    public init(record: ExpertRecord, weights: BlobRef, data: [DataRole: BlobRef] = [:]) {
        self.record = record
        self.weights = weights
        self.data = data
    }
}
