import ArgumentParser
import Foundation
import TriageEngine

/// `triage gc`: frees the blobs nothing refers to.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove blobs no expert, router or baseline refers to (superseded routers' too).")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Also remove orphans written in the last hour, and scratch files (only when no other triage command is running).") var now = false
    @Flag(help: "Print JSON.") var json = false
    func run() throws {
        try guarded {
            let r = try openEngine(global, bootstrap: false).collectGarbage(now: now)
            if json { try printJSON(r); return }
            print("removed \(r.removed.count) blobs, freed \(r.bytesFreed) bytes")
        }
    }
}
