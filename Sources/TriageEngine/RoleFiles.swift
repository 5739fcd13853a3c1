import Foundation
import Registry

/// A value per data role (train, valid, test): a manifest's file names or their SHA-256. Stored in JSON
/// as an object keyed by the role's name, as before; an unknown role is an error that names it.
public struct RoleFiles: Codable, Equatable, Sendable, ExpressibleByDictionaryLiteral {
    /// The value for each role present.
    public var byRole: [DataRole: String]

    /// Values keyed by role.
    public init(_ byRole: [DataRole: String] = [:]) { self.byRole = byRole }
    /// `[.train: "train.jsonl", …]`.
    public init(dictionaryLiteral elements: (DataRole, String)...) { self.init(Dictionary(uniqueKeysWithValues: elements)) }

    /// The value for `role`, nil when the role is absent.
    public subscript(role: DataRole) -> String? {
        get { byRole[role] }
        set { byRole[role] = newValue }
    }

    /// `train.jsonl`, `valid.jsonl`, `test.jsonl`: the file names of an expert folder.
    public static let standard: RoleFiles = [.train: "train.jsonl", .valid: "valid.jsonl", .test: "test.jsonl"]

    /// The roles present, in train, valid, test order.
    public var roles: [DataRole] { byRole.keys.sorted() }

    public init(from decoder: any Swift.Decoder) throws {
        let raw = try [String: String](from: decoder)
        var byRole = [DataRole: String]()
        for (key, value) in raw {
            guard let role = DataRole(rawValue: key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "unknown data role \"\(key)\" (train, valid, test)"))
            }
            byRole[role] = value
        }
        self.byRole = byRole
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        try Dictionary(uniqueKeysWithValues: byRole.map { ($0.key.rawValue, $0.value) }).encode(to: encoder)
    }
}
