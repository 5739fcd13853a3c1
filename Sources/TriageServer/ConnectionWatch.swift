import NIOCore
import Synchronization

/// Tells request handlers when their client went away, so a queued or running request can be dropped.
///
/// Hummingbird enables remote half-closure and does not cancel a handler when its client disconnects.
/// `DisconnectHandler`, added to every connection's pipeline, reports the connection's end of input
/// (the client closed its socket) and its closing here; handlers register a callback for their channel.
/// A client that half-closes on purpose after sending its request counts as gone (HTTP/1.1 clients
/// do not do that; the OpenAI clients never do).
final class ConnectionWatch: Sendable {
    static let shared = ConnectionWatch()

    private struct Entry {
        var closed = false
        var callbacks: [UInt64: @Sendable () -> Void] = [:]
    }
    private struct Table {
        var next: UInt64 = 0
        var entries: [ObjectIdentifier: Entry] = [:]
    }
    private let table = Mutex(Table())

    func opened(_ id: ObjectIdentifier) {
        table.withLock { $0.entries[id] = Entry() }
    }

    /// The client is gone: run (once) every callback registered for the connection.
    func closed(_ id: ObjectIdentifier) {
        let callbacks = table.withLock { t -> [@Sendable () -> Void] in
            guard var e = t.entries[id], !e.closed else { return [] }
            e.closed = true
            let cbs = Array(e.callbacks.values)
            e.callbacks = [:]
            t.entries[id] = e
            return cbs
        }
        for cb in callbacks { cb() }
    }

    func removed(_ id: ObjectIdentifier) {
        closed(id)
        table.withLock { _ = $0.entries.removeValue(forKey: id) }
    }

    /// Registers `callback` for when the connection closes; runs it at once if it already has.
    /// Returns a token for `cancel`, or nil if the connection is not watched (tests without sockets).
    func onClose(_ id: ObjectIdentifier, _ callback: @escaping @Sendable () -> Void) -> UInt64? {
        enum Outcome { case registered(UInt64), alreadyClosed, unknown }
        let outcome = table.withLock { t -> Outcome in
            guard var e = t.entries[id] else { return .unknown }
            if e.closed { return .alreadyClosed }
            t.next += 1
            e.callbacks[t.next] = callback
            t.entries[id] = e
            return .registered(t.next)
        }
        switch outcome {
        case .registered(let token): return token
        case .alreadyClosed: callback(); return nil
        case .unknown: return nil
        }
    }

    func cancel(_ id: ObjectIdentifier, token: UInt64?) {
        guard let token else { return }
        table.withLock { _ = $0.entries[id]?.callbacks.removeValue(forKey: token) }
    }

    var watchedConnections: Int { table.withLock { $0.entries.count } }
}

/// Reports a connection's end of input and close to `ConnectionWatch`; passes everything through.
final class DisconnectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        ConnectionWatch.shared.opened(ObjectIdentifier(context.channel))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ConnectionWatch.shared.removed(ObjectIdentifier(context.channel))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            ConnectionWatch.shared.closed(ObjectIdentifier(context.channel))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        ConnectionWatch.shared.closed(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }
}
