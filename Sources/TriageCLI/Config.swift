import ArgumentParser
import Foundation
import TriageEngine

/// `triage config get|set KEY [VALUE]`: the registry settings a user may change.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Registry settings: `fallback` names an expert that takes requests the router rejects.")
    enum Action: String, ExpressibleByArgument, CaseIterable { case get, set }
    @OptionGroup var global: GlobalOptions
    @Argument(help: "get or set") var action: Action
    @Argument(help: "Setting name (fallback).") var key: Setting
    @Argument(help: "Value for set (empty to clear).") var value: String?
    func validate() throws {
        guard Setting.userSettable.contains(key) else {
            throw ValidationError("'\(key.rawValue)' is kept by triage itself; settable: \(Setting.userSettable.map(\.rawValue).joined(separator: ", "))")
        }
    }
    func run() throws {
        try guarded {
            let engine = try openEngine(global, bootstrap: false)
            switch action {
            case .get: print(try engine.value(of: key) ?? "")
            case .set: try engine.set(key, to: value)
            }
        }
    }
}
