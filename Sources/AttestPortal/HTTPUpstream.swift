import AsyncHTTPClient
import AttestCore
import AttestIdentity
import AttestMCP
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// Why an exchange with an HTTP upstream failed.
public enum HTTPUpstreamError: Error, Equatable, CustomStringConvertible {
    /// The configuration cannot be used (URL, CA file).
    case configuration(String)
    /// The server answered with a status outside 2xx.
    case status(Int)
    /// A body or an event longer than the largest message.
    case tooLarge(String)
    /// The answer is not what Streamable HTTP allows (content type, JSON, header).
    case invalid(String)
    /// The connection or the TLS handshake failed.
    case transport(String)

    public var description: String {
        switch self {
        case .configuration(let text): "upstream configuration: \(text)"
        case .status(let code): "the upstream answered HTTP \(code)"
        case .tooLarge(let text): "the upstream sent too much: \(text)"
        case .invalid(let text): "the upstream's answer is invalid: \(text)"
        case .transport(let text): "the upstream cannot be reached: \(text)"
        }
    }
}

/// One upstream MCP server at `url` (http or https), spoken to over MCP's Streamable HTTP
/// transport on AsyncHTTPClient: no redirect is followed (a redirect would move the calls
/// to a server other than the one measured), TLS 1.2 or later with the certificate chain
/// and host name verified against the trust roots.
public final class HTTPUpstream: Sendable {
    public let url: URL
    /// The largest JSON-RPC message accepted from the server: a JSON body, or one event's data.
    public let maxMessageBytes: Int
    private let client: HTTPClient
    private let host: String
    private let port: Int
    private let tls: NIOSSLContext?
    private let connectTimeout: TimeAmount
    /// Over https: the connections the exchanges use, each checked against the key measured
    /// first (portal.md §Upstream identity); made by the first ``measureIdentity()``.
    private let forwarder = NIOLockedValueBox<PinnedTLSForwarder?>(nil)
    private let keyObserved = NIOLockedValueBox<(@Sendable (JSONValue) -> Void)?>(nil)

    /// An upstream at `url`. Over https the server's certificate is verified against the
    /// system's CA certificates, or, with `caFile`, only against the CA certificates in that
    /// PEM file (a private PKI). `caFile` with a plain http URL is refused.
    public init(url: URL, caFile: String?, maxMessageBytes: Int = StrictJSONParser.Limits.default.maxBytes,
                connectTimeout: TimeAmount = .seconds(10)) throws {
        guard let scheme = url.scheme.map(ASCII.lowercased), scheme == "http" || scheme == "https" else {
            throw HTTPUpstreamError.configuration("the upstream URL \(url.absoluteString) is neither http nor https")
        }
        guard var host = url.host, !host.isEmpty else {
            throw HTTPUpstreamError.configuration("the upstream URL \(url.absoluteString) names no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard maxMessageBytes > 0 else { throw HTTPUpstreamError.configuration("the largest message must be positive") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if scheme == "https" {
            if let caFile {
                let roots: [NIOSSLCertificate]
                do {
                    roots = try NIOSSLCertificate.fromPEMFile(caFile)
                } catch {
                    throw HTTPUpstreamError.configuration("cannot read the CA certificates in \(caFile): \(error)")
                }
                guard !roots.isEmpty else { throw HTTPUpstreamError.configuration("\(caFile) holds no certificate") }
                configuration.trustRoots = .certificates(roots)
            }
            do {
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw HTTPUpstreamError.configuration("TLS: \(error)")
            }
        } else {
            if caFile != nil { throw HTTPUpstreamError.configuration("a CA file applies to an https upstream only") }
            tls = nil
        }
        self.url = url
        self.host = host
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
        self.maxMessageBytes = maxMessageBytes
        self.connectTimeout = connectTimeout
        client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                tlsConfiguration: configuration, redirectConfiguration: .disallow,
                timeout: .init(connect: connectTimeout), decompression: .disabled))
    }

    /// An upstream dropped without `shutdown()` still closes its client (a second shutdown
    /// reports an error, which does not matter here).
    deinit { client.shutdown { _ in } }

    /// Closes the client's connections; call once, after the last exchange.
    public func shutdown() async {
        try? await client.shutdown()
        await forwarder.withLockedValue { $0 }?.close()
    }

    /// The identity the last TLS connection to the server presented (nil before the first, or over http).
    public var observedIdentity: JSONValue? {
        guard let spki = forwarder.withLockedValue({ $0 })?.observed else { return nil }
        return identity(spki: spki)
    }

    /// Runs with the identity of every TLS connection the exchanges open, before it is used
    /// (or closed, when its key is not the pinned one).
    public func onConnection(_ callback: @escaping @Sendable (JSONValue) -> Void) {
        keyObserved.withLockedValue { $0 = callback }
    }

    private func identity(spki: String) -> JSONValue {
        ["transport": "http", "url": .string(url.absoluteString), "spki_sha256": .string(spki)]
    }

    /// What the portal records in every ALLOW (artifact.md, `upstream`), measured now by a
    /// TLS handshake of its own to the server: `{"transport": "http", "url", "spki_sha256"}`,
    /// the base64url SHA-256 of the DER SubjectPublicKeyInfo of the server's leaf certificate,
    /// after the chain and the host name were verified.
    ///
    /// A plain http upstream has no identity that can be measured (anyone on the path can
    /// answer for it), so the result is nil; an artifact pinning an `upstream` then cannot
    /// be satisfied by it.
    ///
    /// A server whose certificate is not trusted fails every POST only after the connect
    /// timeout: AsyncHTTPClient retries a failed connection until then.
    ///
    /// The first measurement pins the key: every TLS connection the exchanges open later is
    /// checked against it before a request is sent on it, and one presenting another key is
    /// closed unused (``PinnedTLSForwarder``). No exchange runs before the key is pinned.
    public func measureIdentity() async throws -> JSONValue? {
        guard let tls else { return nil }
        let spki = Base64URL.encode(SHA256.hash(try await leafSPKI(tls)))
        if forwarder.withLockedValue({ $0 }) == nil {
            let made = try await PinnedTLSForwarder(host: host, port: port, tls: tls,
                                                    serverName: SocketAddressCheck.isIPAddress(host) ? nil : host,
                                                    connectTimeout: connectTimeout)
            made.pinned = spki
            let observed = keyObserved, url = url
            made.onObserved { digest in
                observed.withLockedValue { $0 }?(["transport": "http", "url": .string(url.absoluteString), "spki_sha256": .string(digest)])
            }
            let kept = forwarder.withLockedValue { f -> PinnedTLSForwarder in
                if let f { return f }
                f = made
                return made
            }
            if kept !== made { await made.close() }
        }
        return identity(spki: spki)
    }

    private func leafSPKI(_ tls: NIOSSLContext) async throws -> [UInt8] {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = eventLoop.makePromise(of: [UInt8].self)
        let serverName: String? = SocketAddressCheck.isIPAddress(host) ? nil : host
        let timeout = eventLoop.scheduleTask(in: connectTimeout + .seconds(10)) {
            promise.fail(HTTPUpstreamError.transport("the TLS handshake with \(self.host):\(self.port) did not complete in time"))
        }
        defer { timeout.cancel() }
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try channel.pipeline.syncOperations.addHandler(LeafCapture(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            let failure = HTTPUpstreamError.transport("\(host):\(port): \(error)")
            promise.fail(failure)
            throw failure
        }
        do {
            let spki = try await promise.futureResult.get()
            try? await channel.close()
            return spki
        } catch let error as HTTPUpstreamError {
            try? await channel.close()
            throw error
        } catch {
            try? await channel.close()
            throw HTTPUpstreamError.transport("TLS with \(host):\(port): \(error)")
        }
    }

    /// Opens one upstream conversation. With a stateless revision (2026-07-28 or later) it is
    /// stateless: no session id is read or sent, and every POST carries `Mcp-Method` (and
    /// `Mcp-Name`). Otherwise it is a handshake-era session: its `Mcp-Session-Id` is learned
    /// from the `initialize` response and sent on every later POST and on `close()`.
    public func connection(protocolVersion: String?) -> HTTPUpstreamConnection {
        HTTPUpstreamConnection(upstream: self, protocolVersion: protocolVersion)
    }

    // MARK: Exchanges

    fileprivate func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        var request = request
        if tls != nil {
            // Over https every exchange goes through the pinned connections.
            guard let forwarder = forwarder.withLockedValue({ $0 }),
                  let socket = forwarder.socketPath.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else {
                throw HTTPUpstreamError.transport("the upstream's key is not pinned: no measurement was taken")
            }
            let components = URLComponents(url: url, resolvingAgainstBaseURL: false)
            let path = components?.percentEncodedPath ?? "/"
            request.url = "http+unix://\(socket)\(path.isEmpty ? "/" : path)" + (components?.percentEncodedQuery.map { "?\($0)" } ?? "")
            let hostName = host.contains(":") ? "[\(host)]" : host
            request.headers.replaceOrAdd(name: "Host", value: url.port.map { "\(hostName):\($0)" } ?? hostName)
        }
        do {
            // No deadline of its own: the portal bounds each call (`upstream_timeout_seconds`) by
            // cancelling the task, which AsyncHTTPClient turns into cancelling the request.
            return try await client.execute(request, deadline: .distantFuture)
        } catch {
            throw HTTPUpstreamError.transport("\(request.method.rawValue) \(url.absoluteString): \(error)")
        }
    }

    fileprivate var endpoint: String { url.absoluteString }
}

/// One conversation with an `HTTPUpstream`: a handshake-era session or the stateless era.
public final class HTTPUpstreamConnection: Sendable {
    private struct State {
        var protocolVersion: String?
        var sessionID: String?
    }

    private let upstream: HTTPUpstream
    private let state: NIOLockedValueBox<State>
    /// Stateless era: no session, routing headers on every POST.
    public let isStateless: Bool

    init(upstream: HTTPUpstream, protocolVersion: String?) {
        self.upstream = upstream
        isStateless = protocolVersion.map { MCPEra($0).isStateless } ?? false
        state = NIOLockedValueBox(State(protocolVersion: protocolVersion, sessionID: nil))
    }

    /// The session id the server assigned in its `initialize` response (handshake era).
    public var sessionID: String? { state.withLockedValue { $0.sessionID } }
    /// The revision sent as `MCP-Protocol-Version`: the one given, or the one the server's
    /// `initialize` result negotiated.
    public var protocolVersion: String? { state.withLockedValue { $0.protocolVersion } }

    /// POSTs one JSON-RPC message (request, notification or response) with the headers its
    /// era requires, and delivers every JSON-RPC message of the answer to `deliver`, in
    /// order: the body of an `application/json` answer, or the data of each event of a
    /// `text/event-stream` answer (its `data:` lines joined with LF); 202 delivers nothing.
    /// A stream is read until the server ends it or until it carried the response to the
    /// request posted.
    ///
    /// A body or an event's data longer than `maxMessageBytes` is `.tooLarge`; a status
    /// outside 2xx is `.status(code)`; anything delivered is a JSON object parsed by the
    /// strict parser.
    public func post(_ message: JSONObject, deliver: @Sendable (JSONObject) -> Void) async throws {
        let method = message["method"]?.stringValue
        let isInitialize = !isStateless && method?.isExactly("initialize") == true
        var request = HTTPClientRequest(url: upstream.endpoint)
        request.method = .POST
        request.headers = try headers(for: message, method: method)
        request.body = .bytes(ByteBuffer(string: JSONValue.object(message).serialized(pretty: false)))
        let response = try await upstream.execute(request)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { throw HTTPUpstreamError.status(status) }
        if isInitialize { try learnSession(from: response.headers) }
        if status == 202 { return }
        let requestID = method != nil ? message["id"].map(Relay.key) : nil
        var sawResponse = false
        func deliverAndLearn(_ answer: JSONObject) {
            if let requestID, answer["method"] == nil, let id = answer["id"], Relay.key(id) == requestID {
                sawResponse = true
                if isInitialize, let version = answer["result"]?["protocolVersion"]?.stringValue,
                   Self.isHeaderSafe(version) {
                    state.withLockedValue { $0.protocolVersion = version }
                }
            }
            deliver(answer)
        }
        switch try mediaType(of: response.headers) {
        case .json:
            try await readJSON(response, deliver: deliverAndLearn)
        case .eventStream:
            var parser = EventStreamParser(maxDataBytes: upstream.maxMessageBytes)
            let limits = StrictJSONParser.Limits(maxBytes: upstream.maxMessageBytes)
            do {
                reading: for try await chunk in response.body {
                    for data in try parser.feed(chunk.readableBytesView) {
                        deliverAndLearn(try Self.object(data, limits: limits))
                        if sawResponse { break reading }
                    }
                }
            } catch let error as HTTPUpstreamError {
                throw error
            } catch {
                throw HTTPUpstreamError.transport("reading the event stream: \(error)")
            }
        }
    }

    /// DELETE the session, if one was learned (errors are ignored: the session is over).
    public func close() async {
        let learned = state.withLockedValue { (s: inout State) -> (id: String, version: String?)? in
            defer { s.sessionID = nil }
            return s.sessionID.map { ($0, s.protocolVersion) }
        }
        guard !isStateless, let sessionID = learned?.id else { return }
        let version = learned?.version
        var request = HTTPClientRequest(url: upstream.endpoint)
        request.method = .DELETE
        request.headers.add(name: HTTPHeaderNames.sessionID, value: sessionID)
        if let version, Self.isHeaderSafe(version) { request.headers.add(name: HTTPHeaderNames.protocolVersion, value: version) }
        if let response = try? await upstream.execute(request) {
            _ = try? await response.body.collect(upTo: 4096)
        }
    }

    // MARK: Requests

    private func headers(for message: JSONObject, method: String?) throws -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json, text/event-stream")
        let (version, sessionID) = state.withLockedValue { ($0.protocolVersion, $0.sessionID) }
        if let version {
            guard Self.isHeaderSafe(version) else { throw HTTPUpstreamError.configuration("the protocol version is not a header value") }
            headers.add(name: HTTPHeaderNames.protocolVersion, value: version)
        }
        if isStateless {
            if let method {
                headers.add(name: "Mcp-Method", value: Self.headerValue(method))
                let nameMember: String? = method.isExactly("tools/call") || method.isExactly("prompts/get") ? "name"
                    : method.isExactly("resources/read") ? "uri" : nil
                if let nameMember, let name = message["params"]?[nameMember]?.stringValue {
                    headers.add(name: "Mcp-Name", value: Self.headerValue(name))
                }
            }
        } else if let sessionID {
            headers.add(name: HTTPHeaderNames.sessionID, value: sessionID)
        }
        return headers
    }

    /// A value as a header carries it: unchanged when it is visible ASCII and spaces with no
    /// space at either end, otherwise `=?base64?…?=` over its UTF-8 (SEP-2243).
    static func headerValue(_ value: String) -> String {
        if isHeaderSafe(value) { return value }
        return "=?base64?" + Data(value.utf8).base64EncodedString() + "?="
    }

    static func isHeaderSafe(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last, first != 0x20, last != 0x20 else { return bytes.isEmpty }
        return bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    // MARK: Answers

    private func learnSession(from headers: HTTPHeaders) throws {
        let values = headers[HTTPHeaderNames.sessionID]
        guard let id = values.first else { return }
        // MCP 2025-11-25: visible ASCII (0x21-0x7E) only.
        guard values.count == 1, !id.isEmpty, id.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw HTTPUpstreamError.invalid("the Mcp-Session-Id header is not one visible-ASCII value")
        }
        state.withLockedValue { $0.sessionID = id }
    }

    private enum MediaType { case json, eventStream }

    private func mediaType(of headers: HTTPHeaders) throws -> MediaType {
        let values = headers["Content-Type"]
        guard values.count == 1, let value = values.first else {
            throw HTTPUpstreamError.invalid("the answer has \(values.count) Content-Type headers, not one")
        }
        // Media types are case-insensitive (RFC 9110 §8.3.1); parameters are not read.
        let type = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")) } ?? ""
        if ASCII.equalIgnoringCase(type, "application/json") { return .json }
        if ASCII.equalIgnoringCase(type, "text/event-stream") { return .eventStream }
        throw HTTPUpstreamError.invalid("the answer's Content-Type is \(value)")
    }

    private func readJSON(_ response: HTTPClientResponse, deliver: (JSONObject) -> Void) async throws {
        let max = upstream.maxMessageBytes
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > max {
            throw HTTPUpstreamError.tooLarge("a body of \(length) bytes; the limit is \(max)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: max)
        } catch is NIOTooManyBytesError {
            throw HTTPUpstreamError.tooLarge("a body over \(max) bytes")
        } catch {
            throw HTTPUpstreamError.transport("reading the answer: \(error)")
        }
        deliver(try Self.object(Array(buffer: body), limits: StrictJSONParser.Limits(maxBytes: max)))
    }

    static func object(_ bytes: [UInt8], limits: StrictJSONParser.Limits) throws -> JSONObject {
        let value: JSONValue
        do {
            value = try StrictJSONParser(limits: limits).parse(bytes)
        } catch {
            throw HTTPUpstreamError.invalid("a message that is not JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw HTTPUpstreamError.invalid("a message that is a JSON \(value.typeName), not an object")
        }
        return object
    }
}

/// The server-sent events parser of the HTML standard (§9.2.6), reduced to what MCP uses:
/// the data of each `message` event (no `event:` field, or `event: message`), its `data:`
/// lines joined with LF. Comments, `id:` and `retry:` are read and dropped; an event not
/// ended by a blank line before the stream ends is discarded. Bounded: a line, or an
/// event's data, longer than `maxDataBytes` (plus the field name) is an error.
struct EventStreamParser {
    let maxDataBytes: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: [UInt8] = []
    private var afterCR = false
    private var atStart = true
    private var bomProgress = 0

    init(maxDataBytes: Int) { self.maxDataBytes = maxDataBytes }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Feeds bytes of the stream; returns the data of the events they complete, in order.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [[UInt8]] {
        var events: [[UInt8]] = []
        for byte in bytes {
            if atStart {
                // A leading U+FEFF is not part of the stream.
                if bomProgress < 3, byte == Self.bom[bomProgress] {
                    bomProgress += 1
                    if bomProgress == 3 { atStart = false }
                    continue
                }
                atStart = false
                if bomProgress > 0 {
                    let partial = Array(Self.bom.prefix(bomProgress))
                    for b in partial { try append(b) }
                }
            }
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0A || byte == 0x0D {
                afterCR = byte == 0x0D
                if let event = try endLine() { events.append(event) }
            } else {
                try append(byte)
            }
        }
        return events
    }

    private mutating func append(_ byte: UInt8) throws {
        // The longest useful line is `data: ` and a whole message.
        guard line.count < maxDataBytes + 6 else {
            throw HTTPUpstreamError.tooLarge("an event line over \(maxDataBytes) bytes")
        }
        line.append(byte)
    }

    private mutating func endLine() throws -> [UInt8]? {
        defer { line.removeAll(keepingCapacity: line.count <= 1 << 16) }
        if line.isEmpty { return dispatch() }
        if line.first == 0x3A { return nil }  // a comment
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: 0x3A) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == 0x20 { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        if field.elementsEqual("data".utf8) {
            let added = (hasData ? 1 : 0) + value.count
            guard data.count + added <= maxDataBytes else {
                throw HTTPUpstreamError.tooLarge("an event over \(maxDataBytes) bytes")
            }
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            eventType = Array(value)
        }
        return nil
    }

    private mutating func dispatch() -> [UInt8]? {
        defer {
            data = []
            hasData = false
            eventType = []
        }
        guard hasData, eventType.isEmpty || eventType.elementsEqual("message".utf8) else { return nil }
        return data
    }
}

/// Header names as sent (they compare case-insensitively on the wire).
enum HTTPHeaderNames {
    static let sessionID = "Mcp-Session-Id"
    static let protocolVersion = "MCP-Protocol-Version"
}

enum SocketAddressCheck {
    /// An IPv4 or IPv6 literal, which TLS may not send as a server name (SNI).
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Completes `promise` with the DER SubjectPublicKeyInfo of the peer's leaf certificate once
/// the TLS handshake (chain and host name verified) completes, then closes the channel.
private final class LeafCapture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<[UInt8]>

    init(promise: EventLoopPromise<[UInt8]>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            do {
                guard let leaf = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    throw HTTPUpstreamError.invalid("the server presented no certificate")
                }
                promise.succeed(try leaf.extractPublicKey().toSPKIBytes())
            } catch {
                promise.fail(error)
            }
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A promise completes once; later completions are ignored.
        promise.fail(HTTPUpstreamError.transport("the connection closed before the TLS handshake completed"))
    }
}
