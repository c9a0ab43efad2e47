import AttestCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// The TLS connections to an HTTPS upstream, each checked against the pinned key before a
/// byte of a request is sent on it (portal.md §Upstream identity).
///
/// The HTTP client speaks plain HTTP to a Unix socket of the portal's own; for each
/// connection the client opens there, the forwarder opens one TLS connection to the
/// upstream (chain and host name verified), takes the SHA-256 of the leaf certificate's
/// SubjectPublicKeyInfo, and only when it is the pinned one starts reading what the client
/// sent and relaying bytes both ways. A connection presenting another key is closed, with
/// the client's bytes unread: the request it carried never leaves the portal.
final class PinnedTLSForwarder: Sendable {
    /// The Unix socket the HTTP client connects to.
    let socketPath: String
    private let channel: Channel
    private let state: NIOLockedValueBox<State>

    private struct State {
        var pinned: String?
        var observed: String?
        var onObserved: (@Sendable (String) -> Void)?
    }

    /// The SPKI digest (base64url) every connection must present; nil until pinned.
    var pinned: String? {
        get { state.withLockedValue { $0.pinned } }
        set { state.withLockedValue { $0.pinned = newValue } }
    }

    /// The SPKI digest the last connection presented.
    var observed: String? { state.withLockedValue { $0.observed } }

    /// Called with each connection's SPKI digest, before it is used or refused.
    func onObserved(_ callback: @escaping @Sendable (String) -> Void) { state.withLockedValue { $0.onObserved = callback } }

    init(host: String, port: Int, tls: NIOSSLContext, serverName: String?, connectTimeout: TimeAmount) async throws {
        // In a directory only this user may enter: the socket leads to the upstream.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("attest-portal-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let path = directory.appendingPathComponent("upstream.sock").path
        let state = NIOLockedValueBox(State())
        self.state = state
        socketPath = path
        let group = MultiThreadedEventLoopGroup.singleton
        channel = try await ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { inbound in
                inbound.eventLoop.makeCompletedFuture {
                    let outbound = ClientBootstrap(group: inbound.eventLoop)
                        .connectTimeout(connectTimeout)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                                try channel.pipeline.syncOperations.addHandler(PinCheck(inbound: inbound, state: state))
                            }
                        }
                        .connect(host: host, port: port)
                    outbound.whenFailure { _ in inbound.close(promise: nil) }
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
    }

    func close() async {
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: socketPath)
        try? FileManager.default.removeItem(atPath: (socketPath as NSString).deletingLastPathComponent)
    }

    /// On the TLS connection to the upstream: once the handshake completes, compares the
    /// leaf's SPKI digest with the pin; a match glues the two connections, anything else
    /// closes both.
    private final class PinCheck: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
        typealias InboundIn = NIOAny
        private let inbound: Channel
        private let state: NIOLockedValueBox<State>

        init(inbound: Channel, state: NIOLockedValueBox<State>) {
            self.inbound = inbound
            self.state = state
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            let digest: String?
            do {
                digest = try context.pipeline.syncOperations.nioSSL_peerCertificate()
                    .map { Base64URL.encode(SHA256.hash(try $0.extractPublicKey().toSPKIBytes())) }
            } catch {
                digest = nil
            }
            let (pinned, callback) = state.withLockedValue { s -> (String?, (@Sendable (String) -> Void)?) in
                if let digest { s.observed = digest }
                return (s.pinned, s.onObserved)
            }
            if let digest { callback?(digest) }
            guard let digest, let pinned, digest.isExactly(pinned) else {
                // Another key: nothing the client wrote is read, and both ends close.
                context.close(promise: nil)
                inbound.close(promise: nil)
                return
            }
            let outbound = context.channel, inbound = inbound
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            let (toUpstream, toClient) = GlueHandler.pair()
            do {
                try outbound.pipeline.syncOperations.addHandler(toClient)
            } catch {
                outbound.close(promise: nil)
                inbound.close(promise: nil)
                return
            }
            // The upstream connection was opened on the client connection's event loop.
            do {
                // The client's connection is read on demand from here on: GlueHandler asks for
                // a read once it is added to an active channel (or when it becomes active), and
                // for the next whenever one completes.
                try inbound.pipeline.syncOperations.addHandler(toUpstream)
            } catch {
                outbound.close(promise: nil)
                inbound.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
            inbound.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbound.close(promise: nil)
            context.fireChannelInactive()
        }
    }
}

/// Relays bytes between two channels: what one reads, the other writes; when one closes,
/// so does the other.
final class GlueHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?

    static func pair() -> (GlueHandler, GlueHandler) {
        let a = GlueHandler(), b = GlueHandler()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { context.read() }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    /// Both channels of a pair run on one event loop (the upstream connection is opened on
    /// the loop of the client's), so the partner is called directly.
    private func partnerWrite(_ data: NIOAny) { context?.writeAndFlush(data, promise: nil) }

    private func partnerClose() { context?.close(promise: nil) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.partnerWrite(data) }

    /// Reads go on one at a time on a channel that does not read by itself.
    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
