import Foundation
import ExpertModel
import Registry
import Router
import TensorCore

/// The engine behind every CLI command: a registry, the models loaded from it, and the shipped suite.
public final class Engine {
    /// The registry; the CLI and the server go through the engine's methods, the lab reaches it directly.
    package let registry: Registry
    /// The shipped suite's folder, if one was found (see `SuiteLocator`).
    public let suiteDirectory: String?
    private var decoders: [String: (version: Int, decoder: ExpertDecoder)] = [:]
    private var loadedRouter: (version: Int, model: RouterModel)?
    /// Hash checks still running for blobs loaded by a cold-start request (`activeRouterCheckingLater`,
    /// `decoderCheckingLater`), each with what to forget if it fails.
    private var pendingChecks: [(check: PendingCheck, forget: () -> Void)] = []
    /// Single-threaded copies of loaded decoders, for decoding several experts' batches at once.
    var soloDecoders: [String: (version: Int, decoder: ExpertDecoder)] = [:]

    /// Opens (creating if needed) the registry in `home` (nil: `$TRIAGE_HOME`, the XDG folder, or ~/.local/share/triage).
    public init(home: String?, suiteDirectory: String? = SuiteLocator.locate()) throws {
        do { registry = try Registry.open(explicitHome: home) } catch { throw TriageError.from(error) }
        self.suiteDirectory = suiteDirectory
    }

    /// Where temporary files of this process go: inside the home, so renames into blobs/ are atomic.
    package var scratchDirectory: String {
        let dir = registry.home + "/tmp"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A fresh path in the scratch folder, unique to this process.
    package func scratchPath(_ suffix: String) -> String {
        scratchDirectory + "/\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(suffix)"
    }

    // MARK: Loading

    /// The registered expert `name`, or a not-found error that lists the registered ones.
    package func expertRecord(_ name: String) throws -> ExpertRecord {
        guard let r = try registry.expert(named: name) else {
            let known = (try? registry.expertNames()) ?? []
            throw TriageError.notFound("no expert named '\(name)'" + (known.isEmpty ? " (the registry is empty)" : "; registered: \(known.joined(separator: ", "))"))
        }
        return r
    }

    /// The expert's decoder, loaded once per process; the weights blob's hash is checked on load.
    package func decoder(for record: ExpertRecord) throws -> ExpertDecoder {
        let d = try decoderCheckingLater(for: record)
        try settlePendingChecks()
        return d
    }

    /// Like `decoder(for:)`, but a freshly loaded expert's hash may still be being checked on another
    /// core: for one cold-start request that decodes meanwhile and calls `settlePendingChecks()` before
    /// its answer leaves the engine.
    package func decoderCheckingLater(for record: ExpertRecord) throws -> ExpertDecoder {
        try settlePendingChecks()
        if let d = decoders[record.name], d.version == record.version { return d.decoder }
        let (model, check) = try registry.loadWeightsCheckingLater(of: record) { data in
            let file: SafeTensors.File
            do { file = try SafeTensors.read(data: data) } catch {
                throw TriageError.corrupt("expert '\(record.name)' weights: \(error); re-import or remove the expert")
            }
            return try Transformer.load(file, origin: "expert '\(record.name)' weights")
        }
        let d = ExpertDecoder(model: model)
        decoders[record.name] = (record.version, d)
        pendingChecks.append((check, { [unowned self] in self.decoders[record.name] = nil }))
        return d
    }

    /// The active router (nil when no expert is registered), its hash checked on load.
    package func activeRouter() throws -> (record: RouterRecord, model: RouterModel)? {
        let router = try activeRouterCheckingLater()
        try settlePendingChecks()
        return router
    }

    /// The active router with its hash still being checked on another core, for one cold-start request
    /// that routes and loads its expert meanwhile: the caller must call `settlePendingChecks()` before
    /// anything it derived from the router leaves the engine (every other use of the router settles first).
    package func activeRouterCheckingLater() throws -> (record: RouterRecord, model: RouterModel)? {
        try settlePendingChecks()
        guard let rec = try registry.activeRouter() else { return nil }
        if let r = loadedRouter, r.version == rec.version { return (rec, r.model) }
        let origin = registry.blobs.path(for: rec.weightsBlob)
        let (model, check) = try registry.loadWeightsCheckingLater(of: rec) { try RouterModel.load(data: $0, origin: origin) }
        loadedRouter = (rec.version, model)
        pendingChecks.append((check, { [unowned self] in self.loadedRouter = nil }))
        return (rec, model)
    }

    /// Waits for every pending hash check; a mismatch forgets what was loaded from that blob and throws
    /// `corruptBlob` (after the others are settled too).
    package func settlePendingChecks() throws {
        guard !pendingChecks.isEmpty else { return }
        let checks = pendingChecks
        pendingChecks = []
        var failure: Error?
        for (check, forget) in checks {
            do { try check.wait() } catch {
                forget()
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    /// A fallback expert that takes what the router rejects (`triage config set fallback NAME`).
    public var fallbackExpert: String? {
        guard let f = (try? value(of: .fallback)) ?? nil, (try? registry.expert(named: f)) != nil else { return nil }
        return f
    }
}
