import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A real HTTPS server on 127.0.0.1 for the discovery transport tests: TLS with the test
/// PKI in Fixtures/, HTTP/1.1, canned responses by path, and a count of requests per path.
final class TestHTTPSServer: Sendable {
    struct Route: Sendable {
        var status: HTTPResponseStatus = .ok
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Send the body in chunks without a Content-Length.
        var chunked = false
        /// Wait this long before answering.
        var delay: TimeAmount = .zero
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    private let routes = NIOLockedValueBox<[String: Route]>([:])
    private let counts = NIOLockedValueBox<[String: Int]>([:])
    private let channel: Channel
    let port: Int

    init() async throws {
        let certificate = try NIOSSLCertificate.fromPEMFile(Self.fixture("server.pem"))
        let key = try NIOSSLPrivateKey(file: Self.fixture("server.key"), format: .pem)
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: certificate.map { .certificate($0) }, privateKey: .privateKey(key)))
        let routes = self.routes
        let counts = self.counts
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RouteHandler(routes: routes, counts: counts))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    /// The base URL under the name the certificate is for.
    var base: String { "https://localhost:\(port)" }

    func route(_ path: String, _ route: Route) { routes.withLockedValue { $0[path] = route } }

    func json(_ path: String, _ text: String, headers: [(String, String)] = []) {
        route(path, Route(headers: [("Content-Type", "application/json")] + headers, body: Array(text.utf8)))
    }

    func requests(_ path: String) -> Int { counts.withLockedValue { $0[path, default: 0] } }

    func stop() async throws { try await channel.close() }
}

private final class RouteHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: NIOLockedValueBox<[String: TestHTTPSServer.Route]>
    private let counts: NIOLockedValueBox<[String: Int]>
    private var path = ""

    init(routes: NIOLockedValueBox<[String: TestHTTPSServer.Route]>, counts: NIOLockedValueBox<[String: Int]>) {
        self.routes = routes
        self.counts = counts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
            counts.withLockedValue { $0[head.uri, default: 0] += 1 }
        case .body:
            break
        case .end:
            let route = routes.withLockedValue { $0[path] } ?? TestHTTPSServer.Route(status: .notFound)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: route.delay) {
                let (handler, context) = loopBound.value
                handler.respond(route, context: context)
            }
        }
    }

    private func respond(_ route: TestHTTPSServer.Route, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(route.headers)
        if !route.chunked { headers.replaceOrAdd(name: "Content-Length", value: String(route.body.count)) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: route.status, headers: headers))), promise: nil)
        let pieces = route.chunked ? stride(from: 0, to: route.body.count, by: 4096).map { Array(route.body[$0..<min($0 + 4096, route.body.count)]) } : [route.body]
        for piece in pieces where !piece.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: piece)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
