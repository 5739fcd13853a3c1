import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TriageEngine

/// Options of `triage serve`.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// When set, every request but `/health` needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Requests waiting for the decode thread beyond which new ones get 503.
    public var maxQueue = 256
    /// Largest request body accepted (413 beyond).
    public var maxBody = 1 << 20
    /// Origins that get CORS headers (`*` for any); none by default.
    public var corsOrigins: [String] = []
    /// How long the first request of a batch waits for others.
    public var batchWindow: Duration = .milliseconds(3)
    /// Longest graceful shutdown before in-flight work is cancelled.
    public var shutdownTimeout: Duration = .seconds(8)
    public init() {}
}

/// The request context: Hummingbird's core storage plus the connection, for disconnect notices.
public struct ServeContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
    public var maxUploadSize: Int { 1 << 20 }
}

/// `triage serve`: an OpenAI-compatible HTTP API over the registry's experts and router.
public final class ServeApp: Sendable {
    /// The routed model's name.
    static let routedModel = "triage"

    public let options: ServeOptions
    let worker: DecodeWorker
    let metrics = ServeMetrics()
    private let draining = Atomic<Bool>(false)

    /// Opens the registry on the decode thread (with `makeEngine`) and reads it; throws if that fails.
    public static func start(options: ServeOptions, makeEngine: @escaping @Sendable () throws -> Engine) async throws -> ServeApp {
        let app = ServeApp(options: options, makeEngine: makeEngine)
        try await app.worker.start()
        return app
    }

    private init(options: ServeOptions, makeEngine: @escaping @Sendable () throws -> Engine) {
        self.options = options
        var s = DecodeWorker.Settings()
        s.maxQueue = options.maxQueue
        s.batchWindow = options.batchWindow
        worker = DecodeWorker(settings: s, metrics: metrics, makeEngine: makeEngine)
    }

    /// True for addresses that only this machine can reach.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Marks the server as shutting down: new requests get 503 while in-flight ones finish.
    func beginDraining() { draining.store(true, ordering: .relaxed) }
    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// The Hummingbird application (its services stop the decode thread after the HTTP server drained).
    public func application(logger: Logger? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol {
        let router = Router(context: ServeContext.self)
        router.middlewares.add(ServeMiddleware(app: self))
        router.get("/health") { _, _ -> Response in
            JSONBytes.response(["status": "ok"])
        }
        router.get("/metrics") { [metrics] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/v1/models") { [self] _, _ -> Response in
            try await models()
        }
        router.post("/v1/chat/completions") { [self] request, context -> Response in
            try await complete(request, context: context, chat: true)
        }
        router.post("/v1/completions") { [self] request, context -> Response in
            try await complete(request, context: context, chat: false)
        }
        router.post("/infill") { [self] request, context -> Response in
            try await infill(request, context: context)
        }
        var log = logger ?? Logger(label: "triage.serve")
        if logger == nil { log.logLevel = .warning }
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [DisconnectHandler()], idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "triage"),
            services: [WorkerService(worker: worker)],
            onServerRunning: onServerRunning,
            logger: log)
    }

    /// Runs until SIGTERM or SIGINT, then drains: new requests get 503, in-flight ones finish, the
    /// decode thread empties its queue, and this returns (cancelling what is left after `shutdownTimeout`).
    public func run(logger: Logger? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        let app = application(logger: logger, onServerRunning: onServerRunning)
        var log = logger ?? Logger(label: "triage.serve")
        if logger == nil { log.logLevel = .warning }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup),
                       .init(service: DrainService(app: self), successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: log).withTimeout(options.shutdownTimeout))
        try await group.run()
    }

    // MARK: Endpoints

    private func models() async throws -> Response {
        let job = Job(.models)
        guard worker.submit(job) else { throw ServeError.overloaded("The server is busy (queue full); retry shortly") }
        for await event in job.events {
            if case .models(let list) = event { return JSONBytes.response(ModelList(data: list)) }
            if case .failed(let e) = event { throw e }
        }
        throw ServeError.internalError("the request was cancelled")
    }

    private func readBody(_ request: Request) async throws -> Data {
        if let len = request.headers[.contentLength].flatMap(Int.init), len > options.maxBody {
            throw ServeError.tooLarge(limit: options.maxBody)
        }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: options.maxBody)
            return Data(buffer: buffer)
        } catch is NIOTooManyBytesError {
            throw ServeError.tooLarge(limit: options.maxBody)
        } catch {
            // The connection's input ended before the body did (a truncated body), or reading failed.
            throw ServeError.badRequest("The request body ended before it was complete (\(error))", code: "incomplete_body")
        }
    }

    /// llama.cpp's `/infill` (see `InfillRequest`): a warm-up (`n_predict: 0`) returns at once.
    private func infill(_ request: Request, context: ServeContext) async throws -> Response {
        let parsed = try InfillRequest.parse(try await readBody(request))
        let model = parsed.model.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } ?? ServeApp.routedModel
        if parsed.nPredict == 0 {
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: InfillResponse.warmUp(model: model).json(fields: parsed.responseFields))))
        }
        let job = Job(.infill(parsed))
        guard worker.submit(job) else {
            throw ServeError.overloaded("The server is busy: \(options.maxQueue) requests are already waiting (--max-queue); retry shortly")
        }
        let channelID = ObjectIdentifier(context.channel)
        let token = ConnectionWatch.shared.onClose(channelID) { job.cancel() }
        defer { ConnectionWatch.shared.cancel(channelID, token: token) }
        for await event in job.events {
            switch event {
            case .completed(let a):
                let text = a.text ?? "", ms = a.ms
                let n = a.generatedTokens
                let stopType = a.finishReason == "length" ? "limit" : (parsed.stop ?? []).contains { !$0.isEmpty && text.count < parsed.maxBytes } && a.finishReason == "stop" && n > text.utf8.count ? "word" : "eos"
                // Prefill and generation run as one decoder call: their time is reported together as predicted_ms.
                let response = InfillResponse(content: text, stop: true, model: a.expert ?? model, tokensPredicted: n, tokensEvaluated: a.promptTokens,
                                              truncated: a.truncated, stopType: stopType, stoppingWord: "", hasNewLine: text.contains("\n"),
                                              timings: .init(promptN: a.promptTokens, promptMs: 0, promptPerTokenMs: 0, promptPerSecond: 0,
                                                             predictedN: n, predictedMs: ms, predictedPerTokenMs: n > 0 ? ms / Double(n) : 0,
                                                             predictedPerSecond: ms > 0 ? Double(n) * 1000 / ms : 0),
                                              triage: .init(expert: a.expert ?? "", routed: parsed.model.map { $0 != a.expert } ?? true,
                                                            confidence: a.confidence, candidates: (a.top ?? []).map { Candidate(expert: $0.expert, p: $0.p) }))
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: response.json(fields: parsed.responseFields))))
            case .failed(let e): throw e
            default: continue
            }
        }
        throw ServeError.cancelled
    }

    private func complete(_ request: Request, context: ServeContext, chat: Bool) async throws -> Response {
        let parsed = try RequestParser.parse(try await readBody(request), chat: chat)
        let job = Job(.complete(parsed))
        guard worker.submit(job) else {
            throw ServeError.overloaded("The server is busy: \(options.maxQueue) requests are already waiting (--max-queue); retry shortly")
        }
        let channelID = ObjectIdentifier(context.channel)
        let token = ConnectionWatch.shared.onClose(channelID) { job.cancel() }
        var events = job.events.makeAsyncIterator()
        guard let first = await events.next() else {
            ConnectionWatch.shared.cancel(channelID, token: token)
            throw ServeError.cancelled
        }
        var info: TriageInfo
        switch first {
        case .routed(let i): info = i
        case .failed(let e):
            ConnectionWatch.shared.cancel(channelID, token: token)
            throw e
        default:
            ConnectionWatch.shared.cancel(channelID, token: token)
            throw ServeError.internalError("unexpected event from the decode thread")
        }
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        if !parsed.stream {
            defer { ConnectionWatch.shared.cancel(channelID, token: token) }
            guard let second = await events.next() else { throw ServeError.cancelled }
            guard case .output(let text, let finish, let promptBytes, let answerConfidence, let pCorrect) = second else {
                if case .failed(let e) = second { throw e }
                throw ServeError.internalError("unexpected event from the decode thread")
            }
            (info.answerConfidence, info.pCorrect) = (answerConfidence, pCorrect)
            let usage = Usage(promptTokens: promptBytes, completionTokens: text.utf8.count, totalTokens: promptBytes + text.utf8.count)
            if chat {
                return JSONBytes.response(ChatCompletion(id: id, created: created, model: info.expert,
                                                         choices: [.init(message: .init(content: text), finishReason: finish)],
                                                         usage: usage, systemFingerprint: "triage", triage: info))
            }
            return JSONBytes.response(TextCompletion(id: id, created: created, model: info.expert,
                                                     choices: [.init(text: text, finishReason: finish)], usage: usage, triage: info))
        }
        // Streaming: the headers and the first chunk go out now; the answer follows when decoded.
        let includeUsage = parsed.includeUsage
        let routedInfo = info
        let body = ResponseBody { writer in
            var info = routedInfo
            defer { ConnectionWatch.shared.cancel(channelID, token: token) }
            func send<T: Encodable>(_ v: T) async throws {
                try await writer.write(ByteBuffer(bytes: Array("data: ".utf8) + JSONBytes.encode(v) + Array("\n\n".utf8)))
            }
            do {
                if chat {
                    try await send(ChatCompletionChunk(id: id, created: created, model: info.expert,
                                                       choices: [.init(delta: .init(role: "assistant", content: ""))], triage: info))
                }
                var it = job.events.makeAsyncIterator()
                guard let event = await it.next() else { throw ServeError.cancelled }
                switch event {
                case .output(let text, let finish, let promptBytes, let answerConfidence, let pCorrect):
                    (info.answerConfidence, info.pCorrect) = (answerConfidence, pCorrect)
                    for ch in text {
                        let piece = String(ch)
                        if chat {
                            try await send(ChatCompletionChunk(id: id, created: created, model: info.expert,
                                                               choices: [.init(delta: .init(content: piece))]))
                        } else {
                            try await send(TextCompletion(id: id, created: created, model: info.expert, choices: [.init(text: piece)]))
                        }
                    }
                    let usage = Usage(promptTokens: promptBytes, completionTokens: text.utf8.count, totalTokens: promptBytes + text.utf8.count)
                    if chat {
                        try await send(ChatCompletionChunk(id: id, created: created, model: info.expert,
                                                           choices: [.init(delta: .init(), finishReason: finish)], triage: info))
                        if includeUsage { try await send(ChatCompletionChunk(id: id, created: created, model: info.expert, choices: [], usage: usage)) }
                    } else {
                        try await send(TextCompletion(id: id, created: created, model: info.expert, choices: [.init(text: "", finishReason: finish)],
                                                      triage: info))
                        if includeUsage { try await send(TextCompletion(id: id, created: created, model: info.expert, choices: [], usage: usage)) }
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                case .failed(let e):
                    try await send(e.body)
                default:
                    try await send(ServeError.internalError("unexpected event from the decode thread").body)
                }
            } catch let e as ServeError {
                job.cancel()
                try? await send(e.body)
            } catch {
                job.cancel()  // the client is gone: writing failed
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

extension ServeError {
    static let cancelled = ServeError(status: .init(code: 499, reasonPhrase: "Client Closed Request"), message: "The request was cancelled",
                                      type: "invalid_request_error", param: nil, code: "cancelled")
}

/// Auth, draining, CORS, errors in OpenAI's shape, and request metrics, around every route.
struct ServeMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let app: ServeApp

    static let endpoints: Set<String> = ["/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions", "/infill"]

    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        let t0 = ContinuousClock.now
        let path = request.uri.path
        let endpoint = ServeMiddleware.endpoints.contains(path) ? path : "other"
        var response: Response
        let origin = request.headers[.origin]
        let corsOrigin = origin.flatMap { o in app.options.corsOrigins.contains(o) || app.options.corsOrigins.contains("*") ? o : nil }
        if request.method == .options, corsOrigin != nil {
            response = Response(status: .noContent, headers: [
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlAllowHeaders: request.headers[.accessControlRequestHeaders] ?? "authorization, content-type",
                .accessControlMaxAge: "600",
            ])
        } else if app.isDraining {
            response = ServeError.overloaded("The server is shutting down", code: "shutting_down").response
            response.headers[.connection] = "close"
        } else if path != "/health", let key = app.options.apiKey, !ServeMiddleware.authorized(request.headers[.authorization], key: key) {
            response = ServeError.unauthorized.response
            response.headers[.wwwAuthenticate] = "Bearer"
        } else {
            do {
                response = try await next(request, context)
            } catch let e as ServeError {
                response = e.response
            } catch let e as any HTTPResponseError {
                switch e.status {
                case .notFound:
                    response = ServeError(status: .notFound, message: "No endpoint \(request.method) \(path)", type: "invalid_request_error",
                                          param: nil, code: "unknown_url").response
                case .methodNotAllowed:
                    response = ServeError(status: .methodNotAllowed, message: "\(request.method) is not allowed on \(path)",
                                          type: "invalid_request_error", param: nil, code: "method_not_allowed").response
                case .contentTooLarge:
                    response = ServeError.tooLarge(limit: app.options.maxBody).response
                default:
                    response = ServeError(status: e.status, message: "\(e)", type: e.status.code < 500 ? "invalid_request_error" : "server_error",
                                          param: nil, code: nil).response
                }
            } catch {
                response = ServeError.internalError("\(error)").response
            }
        }
        if let corsOrigin {
            response.headers[.accessControlAllowOrigin] = corsOrigin
            response.headers[.vary] = "Origin"
        }
        app.metrics.request(endpoint: endpoint, status: response.status.code, seconds: (ContinuousClock.now - t0).seconds)
        return response
    }

    /// `Authorization: Bearer KEY`, compared in time that depends only on the lengths, never on where they differ.
    static func authorized(_ header: String?, key: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7)), expected = Array(key.utf8)
        var diff = UInt8(given.count == expected.count ? 0 : 1)
        let n = max(given.count, expected.count, 1)
        for i in 0..<n {
            let a = given.isEmpty ? 0 : given[i % given.count]
            let b = expected.isEmpty ? 0 : expected[i % expected.count]
            diff |= a ^ b
        }
        return diff == 0
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

/// Stops the decode thread when the application shuts down (after the HTTP server has drained: a
/// ServiceGroup shuts its services down in reverse order, and the server comes after this one).
struct WorkerService: Service {
    let worker: DecodeWorker
    func run() async throws {
        try? await gracefulShutdown()
        await worker.stop()
    }
}

/// The first service to hear of a shutdown: it turns new requests away with 503 before the server drains.
struct DrainService: Service {
    let app: ServeApp
    func run() async throws {
        try? await gracefulShutdown()
        app.beginDraining()
    }
}

extension ServiceGroupConfiguration {
    func withTimeout(_ d: Duration) -> ServiceGroupConfiguration {
        var c = self
        c.maximumGracefulShutdownDuration = d
        c.maximumCancellationDuration = .seconds(1)
        return c
    }
}
