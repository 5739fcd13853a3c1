import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import TriageEngine
import TriageServer

/// `triage serve`: the OpenAI-compatible HTTP server (TriageServer).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the experts over an OpenAI-compatible HTTP API (chat completions, completions, models).",
        discussion: """
            Listens on loopback by default; any other address needs --api-key or --api-key-file. Model `triage` \
            routes each request, a model named after an expert skips the router. Decoding is greedy: temperature \
            and top_p are accepted and ignored. Token counts are bytes. SIGTERM or SIGINT: in-flight requests \
            finish, new ones get 503, and the server exits 0.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Address to bind (loopback unless an API key is set).") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the address is printed on stderr).") var port = 8080
    @Option(help: "Require 'Authorization: Bearer KEY' on every request but /health.") var apiKey: String?
    @Option(help: "Read the API key from this file (first line).") var apiKeyFile: String?
    @Option(help: "Requests that may wait for decoding; more get 503 with Retry-After.") var maxQueue = 256
    @Option(help: "Largest request body in bytes (413 beyond).") var maxBody = 1 << 20
    @Option(help: "An origin that gets CORS headers (repeatable; * for any). None by default.") var corsOrigin: [String] = []
    @Option(help: "Milliseconds a request waits for others to batch with.") var batchWindowMs = 3

    func run() throws {
        try guarded {
            var options = ServeOptions()
            options.host = host
            options.port = port
            if apiKey != nil && apiKeyFile != nil { throw TriageError.badInput("give --api-key or --api-key-file, not both") }
            if let apiKeyFile {
                guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8) else { throw TriageError.notFound("cannot read \(apiKeyFile)") }
                let key = text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
                guard !key.isEmpty else { throw TriageError.badInput("\(apiKeyFile) holds no API key") }
                options.apiKey = key
            } else if let apiKey {
                guard !apiKey.isEmpty else { throw TriageError.badInput("--api-key must not be empty") }
                options.apiKey = apiKey
            }
            if !ServeApp.isLoopback(host) && options.apiKey == nil {
                throw TriageError.badInput("refusing to serve on \(host) without an API key: anyone who can reach it could use the server. "
                                           + "Pass --api-key KEY or --api-key-file F, or bind a loopback address (127.0.0.1, ::1)")
            }
            guard (0...65535).contains(port) else { throw TriageError.badInput("--port must be 0 to 65535") }
            guard maxQueue >= 1 else { throw TriageError.badInput("--max-queue must be at least 1") }
            guard maxBody >= 1024 else { throw TriageError.badInput("--max-body must be at least 1024 bytes") }
            guard (0...1000).contains(batchWindowMs) else { throw TriageError.badInput("--batch-window-ms must be 0 to 1000") }
            options.maxQueue = maxQueue
            options.maxBody = maxBody
            options.corsOrigins = corsOrigin
            options.batchWindow = .milliseconds(batchWindowMs)
            // Import the shipped suite on first use here; the decode thread opens its own Engine.
            _ = try openEngine(global)
            let home = global.home
            let opts = options
            let result = Mutex<Result<Void, any Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            // The root command is synchronous: run the async server on the cooperative pool and wait here.
            Task {
                do {
                    let app = try await ServeApp.start(options: opts) { try Engine(home: home) }
                    try await app.run { channel in
                        let port = channel.localAddress?.port ?? opts.port
                        let shown = opts.host.contains(":") ? "[\(opts.host)]" : opts.host
                        note("triage serve: listening on http://\(shown):\(port)/v1" + (opts.apiKey == nil ? "" : " (API key required)"))
                    }
                    note("triage serve: stopped")
                    result.withLock { $0 = .success(()) }
                } catch {
                    result.withLock { $0 = .failure(error) }
                }
                done.signal()
            }
            done.wait()
            try result.withLock { $0! }.get()
        }
    }
}
