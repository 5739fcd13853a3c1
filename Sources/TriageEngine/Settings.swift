import Registry

/// The registry settings Triage knows, by name: what `triage config` reads and writes, and what the
/// engine keeps for itself. Stored as text in the registry's `settings` table.
public enum Setting: String, CaseIterable, Sendable {
    /// An expert that takes the requests the router rejects.
    case fallback
    /// Set once the shipped suite has been imported into an empty registry, so that removing every
    /// expert later does not bring the suite back.
    case suiteImported = "suite.imported"

    /// The settings a user may read and write with `triage config`.
    public static let userSettable: [Setting] = [.fallback]
}

extension Engine {
    /// The value of `setting`, or nil when it is not set.
    public func value(of setting: Setting) throws -> String? {
        try registry.setting(setting.rawValue)
    }

    /// Sets (or, with nil or "", clears) `setting`. A fallback must name a registered expert.
    public func set(_ setting: Setting, to value: String?) throws {
        let value = (value ?? "").isEmpty ? nil : value
        if setting == .fallback, let name = value { _ = try expertRecord(name) }
        try registry.setSetting(setting.rawValue, value)
    }
}
