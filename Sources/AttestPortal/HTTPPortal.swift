import AttestCore
import AttestIdentity
import AttestMCP
import Foundation
import MCP
import NIOSSL
import Prometheus

/// The portal on MCP's Streamable HTTP transport (`attest portal http`), in both eras,
/// at the JSON-RPC message level (spec/portal.md §Streamable HTTP).
///
/// - Handshake era (2025-11-25): `initialize` opens a session with an `Mcp-Session-Id`
///   minted here; each session has an upstream process of its own, started for it and
///   stopped with it (DELETE, or the portal's end).
/// - Stateless era (2026-07-28): no sessions; every request carries its revision, and
///   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` must match the body (-32020
///   otherwise). One upstream process serves all stateless requests, ids rewritten.
///
/// A request the portal forwards is answered as `text/event-stream` when the client
/// accepts it: the messages the upstream sends on its own while the request is in flight
/// (its requests, such as sampling, elicitation and roots, and its notifications) travel
/// as events of that stream, untouched, and the response ends it; the client answers the
/// upstream's requests with POSTs. Otherwise, and for every answer the portal gives itself,
/// `application/json`. The front offers no standalone stream (GET is 405): a request the
/// upstream sends while no stream is open is answered for the client with -32601.
public final class HTTPPortal: @unchecked Sendable {
    public let portal: Portal
    private let source: UpstreamSource
    private let httpUpstream: HTTPUpstream?

    /// Where the portal's upstream is: a command it starts (per session, over stdio), or a
    /// Streamable HTTP server at a URL.
    public enum UpstreamSource: Sendable {
        case command([String])
        case url(URL, caFile: String?)
    }
    private let endpoint: String
    private let allowedOrigins: [String]
    private let registry: PrometheusCollectorRegistry?
    private let lock = NSLock()
    private typealias Upstream = (session: PortalSession, stop: @Sendable () -> Void, isRunning: @Sendable () -> Bool,
                                  messages: ServerMessages)
    private var sessions: [ExactString: Upstream] = [:]
    /// When each session was last used; a session idle for `idleSeconds` is closed with its upstream.
    private var lastUsed: [ExactString: ContinuousClock.Instant] = [:]
    public static let idleSeconds = 600
    private var shared: Upstream?
    private var inFlight = 0
    private var draining = false
    private var allowedHosts: [String] = []
    private var listener: HTTPListener?
    private let slots: Slots

    public static let maxSessions = 1024

    /// Opens the portal for an upstream `command`, measured once here; each process
    /// started later is measured again and refused if it differs.
    public convenience init(configuration: PortalConfiguration, command: [String], endpoint: String = "/mcp",
                            allowedOrigins: [String] = [], registry: PrometheusCollectorRegistry? = nil) async throws {
        try await self.init(configuration: configuration, upstream: .command(command), endpoint: endpoint,
                            allowedOrigins: allowedOrigins, registry: registry)
    }

    /// Opens the portal for `upstream`, whose identity is measured here (the executable's
    /// digest; an HTTPS server's SPKI) and again for every session, which is refused if it
    /// differs.
    public init(configuration: PortalConfiguration, upstream: UpstreamSource, endpoint: String = "/mcp",
                allowedOrigins: [String] = [], registry: PrometheusCollectorRegistry? = nil) async throws {
        let identity: JSONValue?
        switch upstream {
        case .command(let command):
            // Measured by path here (no process runs yet); each process through itself.
            guard let first = command.first, let executable = UpstreamProcess.resolve(first),
                  let measured = try StdioMeasurement(command: command, executable: executable, pid: -1).measure(pid: -1) else {
                throw PortalConfigurationError("the upstream command \(command.first ?? "") is not a readable executable file")
            }
            identity = measured
            httpUpstream = nil
        case .url(let url, let caFile):
            let client = try HTTPUpstream(url: url, caFile: caFile, maxMessageBytes: configuration.limits.maxMessageBytes)
            do { identity = try await client.measureIdentity() } catch {
                await client.shutdown()
                throw PortalConfigurationError("the upstream \(url.absoluteString) cannot be reached: \(error)")
            }
            httpUpstream = client
        }
        portal = try Portal(configuration: configuration, upstreamIdentity: identity)
        try await portal.recover()
        source = upstream
        self.endpoint = endpoint
        self.allowedOrigins = allowedOrigins
        self.registry = registry
        slots = Slots(configuration.limits.maxOpenCalls)
    }

    /// Binds `host`:`port` (0: ephemeral) and returns the endpoint URL; `serve` then runs.
    public func bind(host: String, port: Int, tls: NIOSSLContext? = nil) async throws -> String {
        let listener = try await HTTPListener.bind(host: host, port: port, tls: tls,
                                                   maxBodyBytes: portal.configuration.limits.maxMessageBytes) { [self] in
            await self.respond(to: $0)
        }
        let authority = host.contains(":") ? "[\(host)]:\(listener.port)" : "\(host):\(listener.port)"
        lock.withLock {
            self.listener = listener
            allowedHosts = [authority, "localhost:\(listener.port)", "127.0.0.1:\(listener.port)", "[::1]:\(listener.port)"]
        }
        return "\(tls == nil ? "http" : "https")://\(authority)\(endpoint)"
    }

    public func serve() async throws {
        guard let listener = lock.withLock({ listener }) else { return }
        let reaper = Task { [weak self] in
            while (try? await Task.sleep(for: .seconds(30))) != nil { self?.closeIdleSessions() }
        }
        defer { reaper.cancel() }
        try await listener.run()
    }

    /// Sessions are opened by an unauthenticated `initialize`, each with a process: at most
    /// `maxSessions` at once, and none kept past `idleSeconds` without a request.
    func closeIdleSessions(now: ContinuousClock.Instant = .now) {
        let idle = lock.withLock { () -> [Upstream] in
            let expired = lastUsed.filter { now - $0.value > .seconds(Self.idleSeconds) }.map(\.key)
            return expired.compactMap { id in
                lastUsed[id] = nil
                return sessions.removeValue(forKey: id)
            }
        }
        for upstream in idle {
            upstream.stop()
            portal.endSession(upstream.session.id)
        }
    }

    /// Refuses new requests, waits for those in flight, stops every upstream and writes a
    /// final checkpoint.
    public func drain() async {
        lock.withLock { draining = true }
        while lock.withLock({ inFlight }) > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        let upstreams = lock.withLock { () -> [Upstream] in
            defer { sessions = [:]; shared = nil }
            return Array(sessions.values) + (shared.map { [$0] } ?? [])
        }
        for u in upstreams { u.stop() }
        await httpUpstream?.shutdown()
        await portal.close()
    }

    // MARK: Routing

    func respond(to request: HTTPRequest) async -> Reply {
        let path = request.path ?? ""
        if path.isExactly("/healthz") { return Self.text(200, "ok\n") }
        if path.isExactly("/readyz") { return lock.withLock({ draining }) ? Self.text(503, "draining\n") : Self.text(200, "ready\n") }
        if path.isExactly("/metrics") {
            guard let registry else { return Self.text(404, "no metrics\n") }
            return Reply(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4"], body: .bytes(Data(registry.emitToBuffer())))
        }
        guard path.isExactly(endpoint) else { return Self.text(404, "not found\n") }
        // DNS rebinding: the Host must be this portal, and a browser's Origin one allowed.
        let hosts = lock.withLock { allowedHosts }
        guard let host = request.header("host"), hosts.containsExactly(host) else {
            return Self.jsonError(403, id: nil, code: -32600, "the Host header does not name this portal")
        }
        if let origin = request.header("origin"), !allowedOrigins.containsExactly(origin) {
            return Self.jsonError(403, id: nil, code: -32600, "the Origin \(origin) is not allowed")
        }
        let admitted = lock.withLock { () -> Bool in
            if draining { return false }
            inFlight += 1
            return true
        }
        guard admitted else { return Self.jsonError(503, id: nil, code: -32603, "the portal is draining") }
        defer { lock.withLock { inFlight -= 1 } }

        let version = request.header(HTTPHeaderName.protocolVersion)
        let stateless = version.map { MCPEra($0).isStateless } ?? false
        // HTTP methods are ASCII tokens: compared without Unicode case mapping ("poſt" is not POST).
        let isPost = ASCII.equalIgnoringCase(request.method, "POST")
        if stateless {
            guard isPost else { return Self.text(405, "method not allowed\n", allow: "POST") }
            return await post(request, era: MCPEra(version ?? ""), stateless: true)
        }
        switch true {
        case isPost: return await post(request, era: version.map(MCPEra.init) ?? .handshake, stateless: false)
        case ASCII.equalIgnoringCase(request.method, "DELETE"):
            guard let id = request.header(HTTPHeaderName.sessionID), let entry = lock.withLock({ () -> Upstream? in
                lastUsed[ExactString(id)] = nil
                return sessions.removeValue(forKey: ExactString(id))
            }) else {
                return Self.text(404, "no such session\n")
            }
            entry.stop()
            portal.endSession(entry.session.id)
            return Self.text(200, "")
        default:
            return Self.text(405, "method not allowed\n", allow: "POST, DELETE")
        }
    }

    private func post(_ request: HTTPRequest, era: MCPEra, stateless: Bool) async -> Reply {
        let body = request.body ?? Data()
        guard body.count <= portal.configuration.limits.maxMessageBytes else {
            return Self.message(413, MCPBinding.errorResponse(id: nil, error: AttestError(.jsonTooLarge, "the body is larger than the portal accepts")))
        }
        let session: PortalSession
        var newSessionID: String?
        let parsedMethod = (try? StrictJSONParser().parse(Array(body)))?["method"]?.stringValue
        if stateless {
            guard let s = await sharedSession(version: era.protocolVersion) else {
                return Self.jsonError(502, id: nil, code: -32603, "the upstream cannot be started")
            }
            session = s
        } else if let id = request.header(HTTPHeaderName.sessionID) {
            guard let s = lock.withLock({ () -> PortalSession? in
                lastUsed[ExactString(id)] = .now
                return sessions[ExactString(id)]?.session
            }) else { return Self.text(404, "no such session\n") }
            session = s
        } else if parsedMethod?.isExactly("initialize") == true {
            guard let (s, id) = await openSession() else { return Self.jsonError(502, id: nil, code: -32603, "the upstream cannot be started") }
            session = s
            newSessionID = id
        } else {
            return Self.jsonError(400, id: nil, code: -32600, "Bad Request: missing \(HTTPHeaderName.sessionID) header")
        }
        var reply: Reply
        // At most `max_open_calls` requests in progress; the others wait their turn.
        await slots.acquire()
        var releaseLater = false
        defer { if !releaseLater { Task { await slots.release() } } }
        switch session.classify(Array(body)) {
        case .invalid(let error):
            reply = Self.message(400, error)
        case .oneWay(let message):
            session.forward(message)
            reply = Reply(status: 202, headers: [:], body: .bytes(nil))
        case .request(let message, let method):
            if stateless, let mismatch = Self.headerMismatch(request, message, method: method, version: era.protocolVersion) {
                return Self.jsonError(400, id: message["id"], code: -32020, mismatch)
            }
            let requestSession = stateless ? PortalSession(request: "http-" + MCPAttester.randomProofID(), on: session) : session
            let planned = await requestSession.plan(request: message, method: method, era: stateless ? era : session.era(of: message))
            // A stateless request is a session of its own: decided, it can ask nothing more.
            if stateless { portal.endSession(requestSession.id) }
            switch planned {
            case .reply(let response):
                reply = Self.answer(response)
            case .forward(let run):
                let accepted = request.header("accept").map { ASCII.lowercased($0).contains("text/event-stream") } ?? false
                if accepted, let messages = lock.withLock({ stateless ? shared?.messages : sessions[ExactString(request.header(HTTPHeaderName.sessionID) ?? newSessionID ?? "")]?.messages }) {
                    // The slot is held until the stream's last event: the call is in progress until then.
                    releaseLater = true
                    let slots = slots
                    reply = Reply(status: 200, headers: [HTTPHeaderName.contentType: "text/event-stream", "Cache-Control": "no-cache"],
                                  body: .stream(messages.stream(until: run, then: { await slots.release() })))
                } else {
                    reply = Self.answer(await run())
                }
            }
        }
        if let newSessionID {
            if reply.status == 200 { reply.headers[HTTPHeaderName.sessionID] = newSessionID } else { closeSession(newSessionID) }
        }
        return reply
    }

    /// SEP-2243: the routing headers of a stateless request must repeat its body.
    static func headerMismatch(_ request: HTTPRequest, _ message: JSONObject, method: String, version: String) -> String? {
        let meta = message["params"]?["_meta"]
        guard meta?[MCPBinding.protocolVersionKey]?.stringValue?.isExactly(version) == true else {
            return "MCP-Protocol-Version \(version) is not the body's \(MCPBinding.protocolVersionKey)"
        }
        guard request.header("mcp-method")?.isExactly(method) == true else { return "Mcp-Method does not match the body's method" }
        let nameMember: String? = ["tools/call", "prompts/get"].containsExactly(method) ? "name" : method.isExactly("resources/read") ? "uri" : nil
        if let nameMember {
            guard let name = message["params"]?[nameMember]?.stringValue,
                  let header = request.header("mcp-name").map(Self.decodedHeaderValue), header.isExactly(name) else {
                return "Mcp-Name does not match the body's params.\(nameMember)"
            }
        }
        return nil
    }

    /// A header value as SEP-2243 carries text that is not ASCII: `=?base64?…?=` around the
    /// standard base64 of its UTF-8; any other value is itself.
    static func decodedHeaderValue(_ value: String) -> String {
        let prefix = "=?base64?", suffix = "?="
        guard value.utf8.starts(with: prefix.utf8), value.utf8.reversed().starts(with: suffix.utf8.reversed()),
              value.utf8.count >= prefix.utf8.count + suffix.utf8.count else { return value }
        let body = String(decoding: value.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count), as: UTF8.self)
        guard let data = Data(base64Encoded: body), let text = String(data: data, encoding: .utf8) else { return value }
        return text
    }

    // MARK: Sessions and upstreams

    private func openSession() async -> (PortalSession, String)? {
        let id = MCPAttester.randomProofID()
        guard lock.withLock({ sessions.count }) < Self.maxSessions,
              let pair = await startUpstream(sessionID: id, protocolVersion: nil) else { return nil }
        lock.withLock {
            sessions[ExactString(id)] = pair
            lastUsed[ExactString(id)] = .now
        }
        return (pair.session, id)
    }

    private func closeSession(_ id: String) {
        lock.withLock { sessions.removeValue(forKey: ExactString(id)) }?.stop()
        portal.endSession(id)
    }

    private func sharedSession(version: String) async -> PortalSession? {
        if let s = lock.withLock({ shared }), s.isRunning() { return s.session }
        guard let pair = await startUpstream(sessionID: "stateless", protocolVersion: version) else { return nil }
        lock.withLock { shared = pair }
        return pair.session
    }

    private func startUpstream(sessionID: String, protocolVersion: String?) async -> Upstream? {
        switch source {
        case .command(let command): return startProcess(command, sessionID: sessionID)
        case .url: return await connect(sessionID: sessionID, protocolVersion: protocolVersion)
        }
    }

    /// A request of the upstream's own with no stream open to carry it is answered for the client.
    private static func unsolicited(_ messages: ServerMessages, _ relay: @escaping @Sendable () -> Relay?) -> @Sendable (JSONObject) -> Void {
        { message in
            guard !messages.publish(message) else { return }
            if let id = message["id"], message["method"] != nil {
                try? relay()?.forward(["jsonrpc": "2.0", "id": id,
                                       "error": ["code": -32601, "message": "no client stream is open to carry this request"]])
            }
        }
    }

    private func startProcess(_ command: [String], sessionID: String) -> Upstream? {
        let box = UpstreamInbox()
        let process: UpstreamProcess
        do {
            process = try UpstreamProcess(
                command: command, maxMessageBytes: portal.configuration.limits.maxMessageBytes,
                onMessage: { line in box.receive(line) }, onTooLong: { box.tooLong() },
                onExit: { [weak self] status in
                    box.relay?.close(reason: "the upstream server exited with status \(status)")
                    self?.lock.withLock { _ = self?.sessions.removeValue(forKey: ExactString(sessionID)) }
                })
        } catch {
            portal.logger.error("the upstream cannot be started", metadata: ["error": "\(error)"])
            return nil
        }
        guard process.identity == (portal.upstreamIdentity ?? .null) else {
            portal.logger.error("the upstream executable changed since the portal started; refused")
            process.terminate()
            return nil
        }
        let messages = ServerMessages()
        let relay = Relay(send: { try process.send($0) }, unsolicited: Self.unsolicited(messages, { box.relay }))
        box.set(relay: relay, portal: portal)
        let session = PortalSession(portal: portal, relay: relay, id: sessionID)
        // Measured again while it runs (portal.md §Upstream identity).
        let monitor = UpstreamMonitor(seconds: portal.configuration.measureSeconds) { [weak session] in
            await session?.remeasured(process.measure())
        }
        return (session, { monitor.cancel(); process.terminate() }, { process.isRunning }, messages)
    }

    /// A conversation with the HTTP upstream: each message the relay sends is one POST, and
    /// every message of its answer goes back through the relay.
    private func connect(sessionID: String, protocolVersion: String?) async -> Upstream? {
        guard let httpUpstream else { return nil }
        do {
            guard try await httpUpstream.measureIdentity() == portal.upstreamIdentity else {
                portal.logger.error("the upstream's identity changed since the portal started; refused")
                return nil
            }
        } catch {
            portal.logger.error("the upstream cannot be reached", metadata: ["error": "\(error)"])
            return nil
        }
        let connection = httpUpstream.connection(protocolVersion: protocolVersion)
        let holder = Locked<Relay?>(nil)
        let messages = ServerMessages()
        let relay = Relay(send: { bytes in
            guard case .object(let message)? = try? StrictJSONParser().parse(bytes) else { return }
            Task {
                do {
                    try await connection.post(message) { holder.value?.receive($0) }
                } catch {
                    if let id = message["id"], message["method"] != nil {
                        holder.value?.fail(ownID: id, reason: "the upstream failed: \(error)")
                    }
                }
            }
        }, unsolicited: Self.unsolicited(messages, { holder.value }))
        holder.value = relay
        // The identity each TLS connection presents (portal.md §Upstream identity).
        let observation = UpstreamObservation(identity: portal.upstreamIdentity, sandbox: portal.sandbox,
                                              source: { httpUpstream.observedIdentity })
        return (PortalSession(portal: portal, relay: relay, id: sessionID, upstream: observation),
                { Task { await connection.close() } }, { true }, messages)
    }

    // MARK: Replies

    /// A response as `application/json`, with the status and challenge of its registry code (MCP-019).
    static func answer(_ response: JSONObject) -> Reply {
        var reply = message(status(of: response), response)
        if let code = response["error"]?["data"]?["code"]?.stringValue, let registry = ErrorCode(exactly: code),
           let challenge = MCPBinding.httpStatus(for: registry).challenge {
            reply.headers[HTTPHeaderName.wwwAuthenticate] = challenge
        }
        return reply
    }

    static func status(of response: JSONObject) -> Int {
        guard let code = response["error"]?["data"]?["code"]?.stringValue, let registry = ErrorCode(exactly: code) else { return 200 }
        return MCPBinding.httpStatus(for: registry).status
    }

    static func message(_ status: Int, _ message: JSONObject) -> Reply {
        Reply(status: status, headers: [HTTPHeaderName.contentType: "application/json"], body: .bytes(Data(JSONValue.object(message).line)))
    }

    static func jsonError(_ status: Int, id: JSONValue?, code: Int, _ text: String) -> Reply {
        message(status, ["jsonrpc": "2.0", "id": id ?? .null, "error": ["code": .number(JSONNumber(Double(code))), "message": .string(text)]])
    }

    static func text(_ status: Int, _ text: String, allow: String? = nil) -> Reply {
        var headers = [HTTPHeaderName.contentType: "text/plain"]
        if let allow { headers["Allow"] = allow }
        return Reply(status: status, headers: headers, body: .bytes(Data(text.utf8)))
    }
}

/// The messages an upstream sends on its own, carried to the client on the event stream
/// of a request in flight (the newest open one).
final class ServerMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var open: [(id: UInt64, continuation: AsyncThrowingStream<Data, any Error>.Continuation)] = []
    private var next: UInt64 = 0

    /// An event stream that carries the upstream's own messages until `run` yields the response.
    func stream(until run: @escaping @Sendable () async -> JSONObject,
                then done: @escaping @Sendable () async -> Void) -> AsyncThrowingStream<Data, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        let id = lock.withLock { () -> UInt64 in
            next += 1
            open.append((next, continuation))
            return next
        }
        Task {
            let response = await run()
            lock.withLock { open.removeAll { $0.id == id } }
            continuation.yield(Self.event(response))
            continuation.finish()
            await done()
        }
        return stream
    }

    /// Sends `message` on the newest open stream; false when none is open.
    func publish(_ message: JSONObject) -> Bool {
        guard let target = lock.withLock({ open.last }) else { return false }
        target.continuation.yield(Self.event(message))
        return true
    }

    static func event(_ message: JSONObject) -> Data {
        Data(("event: message\ndata: " + JSONValue.object(message).serialized(pretty: false) + "\n\n").utf8)
    }
}

/// A counting semaphore for tasks: at most `count` holders, the others wait in order.
actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
