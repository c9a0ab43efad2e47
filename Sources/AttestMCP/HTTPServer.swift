import AttestCore
import AttestIdentity
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An MCP server on the Swift SDK's Streamable HTTP transport whose governed requests are
/// verified on the POST body, by the binding, before the SDK sees them (spec/mcp-binding.md).
///
/// A rejected request is answered here, with the binding's JSON-RPC error and the HTTP status
/// and `WWW-Authenticate` challenge of its registry code. An accepted one goes to its session's
/// `StatefulHTTPServerTransport` with one header added that names its verdict; the tool
/// handler reads the verdict with `attestation(in: Server.currentHandlerContext)`.
///
/// Handshake era only: the Swift SDK 0.12.1 negotiates revisions up to 2025-11-25
/// (`Version.supported`) and has neither `server/discover` nor the per-request `_meta`
/// envelope, so it cannot serve the stateless era (2026-07-28). Sessions are routed as in
/// the SDK's own HTTP app (Sources/MCPConformance/Server/HTTPApp.swift): a request that is
/// neither `initialize` nor in a known session gets 400 (no session) or 404 (unknown session).
public actor MCPHTTPApp {
    /// Builds the SDK server of a new session; the app starts it on the session's transport.
    public typealias ServerFactory = @Sendable (MCPHTTPApp) async throws -> Server

    public nonisolated let endpoint: String
    private let gate: MCPGate
    private let makeServer: ServerFactory
    private var sessions: [ExactString: Session] = [:]
    private var verdicts: [ExactString: MCPVerdict] = [:]

    private struct Session {
        let server: Server
        let transport: StatefulHTTPServerTransport
        let link: SessionLink
    }


    public init(gate: MCPGate, endpoint: String = "/mcp", makeServer: @escaping ServerFactory) {
        self.gate = gate
        self.endpoint = endpoint
        self.makeServer = makeServer
    }

    /// The verdict on the governed request a handler is running for (nil for any other).
    public func attestation(in context: Server.HandlerContext?) -> MCPVerdict? {
        context?.httpContext?.header(MCPGate.verdictHeader).flatMap { verdicts[ExactString($0)] }
    }

    /// Ends every session.
    public func close() async {
        for session in sessions.values {
            await session.transport.disconnect()
            await session.server.stop()
        }
        sessions = [:]
    }

    func respond(to request: HTTPRequest) async -> Reply {
        guard request.path?.isExactly(endpoint) == true else { return Reply(.error(statusCode: 404, .invalidRequest("Not Found"))) }
        let sessionID = request.header(HTTPHeaderName.sessionID).map { ExactString($0) }
        if let sessionID, let session = sessions[sessionID] {
            let reply = await forward(request, to: session)
            if ASCII.equalIgnoringCase(request.method, "DELETE"), reply.status == 200 { sessions[sessionID] = nil }
            return reply
        }
        if ASCII.equalIgnoringCase(request.method, "POST"), let body = request.body, (try? StrictJSONParser().parse(body))?["method"] == "initialize" {
            return await openSession(for: request)
        }
        if sessionID != nil { return Reply(.error(statusCode: 404, .invalidRequest("Not Found: Session not found or expired"))) }
        return Reply(.error(statusCode: 400, .invalidRequest("Bad Request: Missing \(HTTPHeaderName.sessionID) header")))
    }

    private struct FixedSessionID: SessionIDGenerator {
        let id: String
        func generateSessionID() -> String { id }
    }

    private func openSession(for request: HTTPRequest) async -> Reply {
        let sessionID = UUID().uuidString
        let transport = StatefulHTTPServerTransport(sessionIDGenerator: FixedSessionID(id: sessionID))
        let link = SessionLink(transport, gate: gate)
        let server: Server
        do {
            server = try await makeServer(self)
            try await server.start(transport: link)
        } catch {
            await transport.disconnect()
            return Reply(.error(statusCode: 500, .internalError("Failed to create session: \(error)")))
        }
        let session = Session(server: server, transport: transport, link: link)
        sessions[ExactString(sessionID)] = session
        let reply = await forward(request, to: session)
        if reply.status != 200 {
            sessions[ExactString(sessionID)] = nil
            await transport.disconnect()
        }
        return reply
    }

    /// Verifies a POST body under the session's era, then hands the request to the SDK.
    private func forward(_ request: HTTPRequest, to session: Session) async -> Reply {
        var headers = request.headers.filter { !ASCII.equalIgnoringCase($0.key, MCPGate.verdictHeader) }
        var verdictKey: ExactString?
        if ASCII.equalIgnoringCase(request.method, "POST") {
            let body = Array(request.body ?? Data())
            let era = await session.link.era
            do {
                let verdict = try await gate.verify(body, era: era)
                if case .notGoverned = verdict {} else {
                    let key = ExactString(UUID().uuidString)
                    verdicts[key] = verdict
                    headers[MCPGate.verdictHeader] = key.value
                    verdictKey = key
                }
            } catch {
                let id = (try? StrictJSONParser().parse(body)).flatMap(MCPBinding.requestID(of:))
                return .rejection(error, id: id)
            }
        }
        let response = await session.transport.handleRequest(
            HTTPRequest(method: request.method, headers: headers, body: request.body, path: request.path))
        guard let verdictKey else { return Reply(response) }
        guard case .stream(let stream, let streamHeaders) = response else {
            verdicts[verdictKey] = nil
            return Reply(response)
        }
        // The handler runs before the response ends the stream; the verdict is kept until then.
        return Reply(.stream(releasing(verdictKey, after: stream), headers: streamHeaders))
    }

    private func releasing(_ key: ExactString, after stream: AsyncThrowingStream<Data, any Error>)
        -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await chunk in stream { continuation.yield(chunk) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
                self.release(key)
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func release(_ key: ExactString) { verdicts[key] = nil }
}

/// Sits between a session's SDK server and its transport: advertises the extension in the
/// `initialize` result and keeps the revision negotiated there, under which the session's
/// requests are verified.
actor SessionLink: Transport, HTTPContextProviding {
    nonisolated let logger: Logger
    private let inner: StatefulHTTPServerTransport
    private let gate: MCPGate
    private(set) var era = MCPEra.handshake

    init(_ inner: StatefulHTTPServerTransport, gate: MCPGate) {
        self.inner = inner
        self.gate = gate
        self.logger = inner.logger
    }

    func connect() async throws { try await inner.connect() }
    func disconnect() async { await inner.disconnect() }

    func send(_ data: Data) async throws {
        if case .object(let message)? = try? StrictJSONParser().parse(Array(data)),
           let (advertised, negotiated) = gate.advertising(in: message) {
            era = negotiated
            return try await inner.send(advertised)
        }
        try await inner.send(data)
    }

    func receive() -> AsyncThrowingStream<Data, any Error> {
        let inner = inner
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await data in await inner.receive() { continuation.yield(data) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func httpRequestContext(for id: ID) async -> HTTPRequest? { await inner.httpRequestContext(for: id) }
}

/// One HTTP response: the SDK's, the binding's rejection, or a portal's.
public struct Reply: Sendable {
    public enum Body: Sendable {
        case bytes(Data?)
        case stream(AsyncThrowingStream<Data, any Error>)
    }

    public var status: Int
    public var headers: [String: String]
    public var body: Body

    public init(status: Int, headers: [String: String], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(_ response: HTTPResponse) {
        status = response.statusCode
        headers = response.headers
        if case .stream(let stream, _) = response { body = .stream(stream) } else { body = .bytes(response.bodyData) }
    }

    /// The JSON-RPC error of spec/mcp-binding.md §Rejections with its HTTP status and challenge.
    public static func rejection(_ error: AttestError, id: JSONValue?) -> Reply {
        let http = MCPBinding.httpStatus(for: error.code)
        var headers = [HTTPHeaderName.contentType: "application/json"]
        if let challenge = http.challenge { headers[HTTPHeaderName.wwwAuthenticate] = challenge }
        let body = JSONValue.object(MCPBinding.errorResponse(id: id, error: error)).serialized(pretty: false)
        return Reply(status: http.status, headers: headers, body: .bytes(Data(body.utf8)))
    }
}

/// HTTP/1.1 on SwiftNIO for one request handler, optionally over TLS.
public final class HTTPListener: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> Reply
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    private let listener: NIOAsyncChannel<Connection, Never>
    private let handler: Handler
    private let maxBodyBytes: Int
    /// The port actually bound.
    public let port: Int

    private init(listener: NIOAsyncChannel<Connection, Never>, handler: @escaping Handler, maxBodyBytes: Int, port: Int) {
        self.listener = listener
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes
        self.port = port
    }

    /// Listens on `host`:`port` (0: an ephemeral port); `run()` then serves. A body longer
    /// than `maxBodyBytes` is drained, and the handler sees only its first bytes.
    public static func bind(host: String, port: Int, tls: NIOSSLContext? = nil, maxBodyBytes: Int,
                            handler: @escaping Handler) async throws -> HTTPListener {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        return HTTPListener(listener: listener, handler: handler, maxBodyBytes: maxBodyBytes,
                            port: listener.channel.localAddress?.port ?? port)
    }

    /// Serves connections until the task running it is cancelled.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    private func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let next):
                    head = next
                    body.clear()
                case .body(var chunk):
                    // Past the limit the body is only drained; the handler rejects it as too large.
                    if body.readableBytes <= maxBodyBytes { body.writeBuffer(&chunk) }
                case .end:
                    guard let request = head else { continue }
                    let reply = await handler(HTTPRequest(request, body: body))
                    try await Self.write(reply, version: request.version, keepAlive: request.isKeepAlive, to: outbound)
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private static func write(_ reply: Reply, version: HTTPVersion, keepAlive: Bool,
                              to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: reply.status))
        for (name, value) in reply.headers { head.headers.add(name: name, value: value) }
        if !keepAlive { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        switch reply.body {
        case .bytes(let data):
            head.headers.replaceOrAdd(name: "Content-Length", value: String(data?.count ?? 0))
            try await outbound.write(.head(head))
            if let data, !data.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
        case .stream(let stream):
            try await outbound.write(.head(head))
            for try await chunk in stream { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk)))) }
        }
        try await outbound.write(.end(nil))
    }
}

/// An `MCPHTTPApp` served over HTTP/1.1.
public final class MCPHTTPServer: Sendable {
    private let listener: HTTPListener
    /// The MCP endpoint's URL, with the port actually bound.
    public let url: String

    private init(listener: HTTPListener, url: String) {
        self.listener = listener
        self.url = url
    }

    /// Listens on `host`:`port` (0: an ephemeral port); `run()` then serves.
    public static func bind(_ app: MCPHTTPApp, host: String, port: Int) async throws -> MCPHTTPServer {
        let listener = try await HTTPListener.bind(host: host, port: port, maxBodyBytes: StrictJSONParser.Limits.default.maxBytes) {
            await app.respond(to: $0)
        }
        let authority = host.contains(":") ? "[\(host)]:\(listener.port)" : "\(host):\(listener.port)"
        return MCPHTTPServer(listener: listener, url: "http://\(authority)\(app.endpoint)")
    }

    /// Serves connections until the task running it is cancelled.
    public func run() async throws { try await listener.run() }
}

extension HTTPRequest {
    /// Header names lower-cased, repeated headers joined with ", " (RFC 9110 §5.3), no query in the path.
    init(_ head: HTTPRequestHead, body: ByteBuffer) {
        var headers: [String: String] = [:]
        for (name, value) in head.headers {
            let name = ASCII.lowercased(name)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        self.init(method: head.method.rawValue, headers: headers,
                  body: body.readableBytes > 0 ? Data(body.readableBytesView) : nil,
                  path: String(head.uri.prefix { $0 != "?" }))
    }
}
