import AttestCore
import AttestMCP
import Foundation
import MCP
import NIOCore
import NIOPosix
import NIOSSL
import Testing
@testable import AttestPortal

/// `HTTPUpstream` against an in-process Streamable HTTP MCP server (AttestMCP's
/// `HTTPListener`) that records every request and answers as each test scripts it.
@Suite struct HTTPUpstreamTests {
    // MARK: Handshake era

    @Test func handshakeSessionLearnedSentAndDeleted() async throws {
        let server = try await ScriptedServer.start { request in
            if request.method == "DELETE" { return .text(200, "") }
            let body = Self.body(of: request)
            switch body?["method"]?.stringValue {
            case "initialize":
                return .json(#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#,
                             headers: ["Mcp-Session-Id": "sess-1A"])
            case "notifications/initialized": return Reply(status: 202, headers: [:], body: .bytes(nil))
            default: return .json(#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#)
            }
        }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil)
        let connection = upstream.connection(protocolVersion: nil)
        let got = Collected()

        try await connection.post(["jsonrpc": "2.0", "id": 1, "method": "initialize",
                                   "params": ["protocolVersion": "2025-11-25", "capabilities": [:],
                                              "clientInfo": ["name": "c", "version": "1"]]], deliver: got.add)
        #expect(connection.sessionID == "sess-1A")
        #expect(connection.protocolVersion == "2025-11-25")
        try await connection.post(["jsonrpc": "2.0", "method": "notifications/initialized"], deliver: got.add)
        try await connection.post(["jsonrpc": "2.0", "id": 2, "method": "tools/list"], deliver: got.add)
        await connection.close()
        await connection.close()  // a second close sends nothing
        await upstream.shutdown()

        #expect(got.ids == ["1", "2"])
        let requests = await server.requests()
        try #require(requests.count == 4)
        #expect(requests.map(\.method) == ["POST", "POST", "POST", "DELETE"])
        for request in requests.prefix(3) {
            #expect(request.header("content-type") == "application/json")
            #expect(request.header("accept") == "application/json, text/event-stream")
            #expect(request.header("mcp-method") == nil, "no routing headers in the handshake era")
        }
        #expect(requests[0].header("mcp-session-id") == nil)
        #expect(requests[0].header("mcp-protocol-version") == nil)
        for request in requests.dropFirst() {
            #expect(request.header("mcp-session-id") == "sess-1A")
            #expect(request.header("mcp-protocol-version") == "2025-11-25")
        }
        #expect(Self.body(of: requests[2])?["method"]?.stringValue == "tools/list")
    }

    @Test func sessionIDOnlyFromInitializeAndOnlyVisibleASCII() async throws {
        let server = try await ScriptedServer.start { request in
            let id = Self.body(of: request)?["id"] ?? .null
            let session = Self.body(of: request)?["method"]?.stringValue == "initialize" ? "bad id" : "other"
            return .json(JSONValue.object(["jsonrpc": "2.0", "id": id, "result": [:]]).serialized(pretty: false),
                         headers: ["Mcp-Session-Id": session])
        }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil)
        let connection = upstream.connection(protocolVersion: "2025-06-18")
        // A session id on a response to something other than initialize is not learned.
        try await connection.post(["jsonrpc": "2.0", "id": 1, "method": "ping"], deliver: { _ in })
        #expect(connection.sessionID == nil)
        // One with a space is refused.
        await #expect(throws: HTTPUpstreamError.invalid("the Mcp-Session-Id header is not one visible-ASCII value")) {
            try await connection.post(["jsonrpc": "2.0", "id": 2, "method": "initialize", "params": [:]], deliver: { _ in })
        }
        #expect(connection.sessionID == nil)
        let requests = await server.requests()
        #expect(requests.allSatisfy { $0.header("mcp-protocol-version") == "2025-06-18" })
        await upstream.shutdown()
    }

    // MARK: Event streams

    @Test func eventStreamDeliversEveryEventInOrder() async throws {
        // Chunk borders fall inside lines and between a CR and its LF.
        let chunks = [
            "\u{FEFF}: a comment\r\n",
            "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",",
            "\"params\":{\"progressToken\":\"t\",\"progress\":1}}\r",
            "\n\r\nevent: ping\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"not/delivered\"}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\ndata:\"id\":7,\ndata:  \"result\":{\"text\":\"a\\nb\"}}\n",
            "\n",
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"after/the/response\"}\n\n",
        ]
        let server = try await ScriptedServer.start { _ in .stream(chunks, type: "text/event-stream; charset=utf-8") }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil)
        let got = Collected()
        try await upstream.connection(protocolVersion: "2025-11-25")
            .post(["jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ["name": "echo", "arguments": [:]]], deliver: got.add)
        await upstream.shutdown()
        let messages = got.messages
        try #require(messages.count == 2, "\(messages)")
        #expect(messages[0]["method"]?.stringValue == "notifications/progress")
        #expect(messages[1]["id"]?.integerValue == 7)
        #expect(messages[1]["result"]?["text"]?.stringValue == "a\nb")
    }

    @Test func eventStreamParserJoinsDataLines() throws {
        var parser = EventStreamParser(maxDataBytes: 64)
        #expect(try parser.feed(Array("data: a\ndata\ndata: b\n\n".utf8)) == [Array("a\n\nb".utf8)])
        #expect(try parser.feed(Array("data:x\r\rdata: y\r\n".utf8)) == [Array("x".utf8)])
        #expect(try parser.feed(Array("data: z\n".utf8)) == [])
        #expect(try parser.feed(Array(": comment\n\nevent: other\ndata: q\n\n".utf8)) == [Array("y\nz".utf8)])
        // An event the stream does not end with a blank line is never dispatched.
        #expect(try parser.feed(Array("data: never".utf8)) == [])
    }

    @Test func aStreamWithoutTheResponseEndsWithoutIt() async throws {
        let server = try await ScriptedServer.start { _ in
            .stream(["data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"], type: "text/event-stream")
        }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil)
        let got = Collected()
        try await upstream.connection(protocolVersion: nil).post(["jsonrpc": "2.0", "id": 1, "method": "ping"], deliver: got.add)
        #expect(got.messages.count == 1)
        await upstream.shutdown()
    }

    // MARK: Stateless era

    @Test func statelessRoutingHeadersFromTheBody() async throws {
        let server = try await ScriptedServer.start { request in
            // Notifications and responses: 202.
            guard let body = Self.body(of: request), body["method"] != nil, let id = body["id"] else {
                return Reply(status: 202, headers: [:], body: .bytes(nil))
            }
            return .json(JSONValue.object(["jsonrpc": "2.0", "id": id, "result": [:]]).serialized(pretty: false),
                         headers: ["Mcp-Session-Id": "must-not-be-echoed"])
        }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil)
        let connection = upstream.connection(protocolVersion: "2026-07-28")
        #expect(connection.isStateless)
        let meta: JSONValue = ["io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": [:]]
        let sent: [JSONObject] = [
            ["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["_meta": meta, "name": "get_weather", "arguments": [:]]],
            ["jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": ["_meta": meta, "uri": "file:///a%20b.txt"]],
            ["jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": ["_meta": meta, "name": "summarise"]],
            ["jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": ["_meta": meta]],
            ["jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": ["_meta": meta, "name": "météo", "arguments": [:]]],
            ["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 1]],
            ["jsonrpc": "2.0", "id": "s-1", "result": [:]],
        ]
        let got = Collected()
        for message in sent { try await connection.post(message, deliver: got.add) }
        await connection.close()
        await upstream.shutdown()

        #expect(got.ids == ["1", "2", "3", "4", "5"])
        #expect(connection.sessionID == nil)
        let requests = await server.requests()
        try #require(requests.count == sent.count, "close() sends nothing in the stateless era")
        #expect(requests.map { $0.header("mcp-method") } ==
                ["tools/call", "resources/read", "prompts/get", "tools/list", "tools/call", "notifications/cancelled", nil])
        #expect(requests.map { $0.header("mcp-name") } ==
                ["get_weather", "file:///a%20b.txt", "summarise", nil, "=?base64?bcOpdMOpbw==?=", nil, nil])
        for request in requests {
            #expect(request.header("mcp-protocol-version") == "2026-07-28")
            #expect(request.header("mcp-session-id") == nil)
            #expect(request.method == "POST")
        }
    }

    // MARK: Bounds and failures

    @Test func bodiesAndEventsAreBounded() async throws {
        let limit = 100
        let fits = #"{"jsonrpc":"2.0","id":1,"result":{"pad":""# + String(repeating: "x", count: limit - 44) + #""}}"#
        let over = #"{"jsonrpc":"2.0","id":1,"result":{"pad":""# + String(repeating: "x", count: limit - 43) + #""}}"#
        #expect(fits.utf8.count == limit && over.utf8.count == limit + 1)
        let answer = Answer()
        let server = try await ScriptedServer.start { _ in answer.reply }
        defer { server.stop() }
        let upstream = try HTTPUpstream(url: server.url, caFile: nil, maxMessageBytes: limit)
        let connection = upstream.connection(protocolVersion: "2025-11-25")
        let ping: JSONObject = ["jsonrpc": "2.0", "id": 1, "method": "ping"]

        let cases: [(Reply, HTTPUpstreamError?)] = [
            (.json(fits), nil),
            (.json(over), .tooLarge("a body of 101 bytes; the limit is 100")),
            (.stream([fits], type: "application/json"), nil),
            (.stream([String(over.prefix(60)), String(over.dropFirst(60))], type: "application/json"), .tooLarge("a body over 100 bytes")),
            (.stream(["data: \(fits)\n\n"], type: "text/event-stream"), nil),
            (.stream(["data: \(over.prefix(60))\ndata: \(over.dropFirst(60).dropLast())\n\n"], type: "text/event-stream"),
             .tooLarge("an event over 100 bytes")),
            (.stream(["data: \(over)\n\n"], type: "text/event-stream"), .tooLarge("an event line over 100 bytes")),
            (.stream(["data: " + String(repeating: " ", count: 200)], type: "text/event-stream"), .tooLarge("an event line over 100 bytes")),
            (.text(500, "boom"), .status(500)),
            (.text(404, "no such session"), .status(404)),
            (.text(200, "hello"), .invalid("the answer's Content-Type is text/plain")),
            (.json("[1]"), .invalid("a message that is a JSON array, not an object")),
        ]
        for (reply, expected) in cases {
            answer.reply = reply
            let got = Collected()
            do {
                try await connection.post(ping, deliver: got.add)
                #expect(expected == nil, "expected \(String(describing: expected))")
                #expect(got.ids == ["1"])
            } catch let error as HTTPUpstreamError {
                #expect(error == expected)
                #expect(got.ids == [])
            }
        }
        await #expect(throws: HTTPUpstreamError.self) {
            answer.reply = .json("{\"a\":1,\"a\":2}")
            try await connection.post(ping, deliver: { _ in })
        }
        await upstream.shutdown()
    }

    @Test func configurationIsChecked() throws {
        #expect(throws: HTTPUpstreamError.self) { try HTTPUpstream(url: URL(string: "ftp://example.com/mcp")!, caFile: nil) }
        #expect(throws: HTTPUpstreamError.self) { try HTTPUpstream(url: URL(string: "http://127.0.0.1:1/mcp")!, caFile: "/dev/null") }
        #expect(throws: HTTPUpstreamError.self) { try HTTPUpstream(url: URL(string: "https://127.0.0.1:1/mcp")!, caFile: "/nonexistent.pem") }
    }

    @Test func plainHTTPHasNoIdentity() async throws {
        let upstream = try HTTPUpstream(url: URL(string: "http://127.0.0.1:1/mcp")!, caFile: nil)
        #expect(try await upstream.measureIdentity() == nil)
        await upstream.shutdown()
    }

    // MARK: TLS

    @Test func spkiOfTheLeafOverTLS() async throws {
        let pki = try TestPKI()
        let other = try TestPKI()
        let server = try await ScriptedServer.start(tls: try pki.serverContext()) { request in
            .json(JSONValue.object(["jsonrpc": "2.0", "id": Self.body(of: request)?["id"] ?? .null, "result": [:]]).serialized(pretty: false))
        }
        defer { server.stop() }
        let expected = try pki.spkiSHA256()
        #expect(expected != (try other.spkiSHA256()))

        for host in ["localhost", "127.0.0.1"] {
            let url = try #require(URL(string: "https://\(host):\(server.port)/mcp"))
            let upstream = try HTTPUpstream(url: url, caFile: pki.certificate)
            let identity = try await upstream.measureIdentity()
            #expect(identity == ["transport": "http", "url": .string(url.absoluteString), "spki_sha256": .string(expected)])
            let got = Collected()
            try await upstream.connection(protocolVersion: "2025-11-25").post(["jsonrpc": "2.0", "id": 9, "method": "ping"], deliver: got.add)
            #expect(got.ids == ["9"])
            await upstream.shutdown()
        }
        // Negative controls: the system's roots, or another CA, do not trust the server.
        for caFile in [nil, other.certificate] {
            // AsyncHTTPClient retries a failed connection until its connect timeout: kept short here.
            let upstream = try HTTPUpstream(url: try #require(URL(string: "https://localhost:\(server.port)/mcp")), caFile: caFile,
                                            connectTimeout: .seconds(2))
            let start = ContinuousClock.now
            await #expect(throws: HTTPUpstreamError.self) { try await upstream.measureIdentity() }
            await #expect(throws: HTTPUpstreamError.self) {
                try await upstream.connection(protocolVersion: nil).post(["jsonrpc": "2.0", "id": 1, "method": "ping"], deliver: { _ in })
            }
            #expect(ContinuousClock.now - start < .seconds(8))
            await upstream.shutdown()
        }
        // A certificate for another name, from a trusted CA.
        let elsewhere = try TestPKI(names: "DNS:elsewhere.example")
        let elsewhereServer = try await ScriptedServer.start(tls: try elsewhere.serverContext()) { _ in .json("{}") }
        defer { elsewhereServer.stop() }
        let wrongName = try HTTPUpstream(url: try #require(URL(string: "https://localhost:\(elsewhereServer.port)/mcp")),
                                         caFile: elsewhere.certificate)
        await #expect(throws: HTTPUpstreamError.self) { try await wrongName.measureIdentity() }
        await wrongName.shutdown()
        // Nothing listening.
        let closed = try HTTPUpstream(url: try #require(URL(string: "https://127.0.0.1:1/mcp")), caFile: pki.certificate)
        await #expect(throws: HTTPUpstreamError.self) { try await closed.measureIdentity() }
        await closed.shutdown()
    }

    /// Every TLS connection the exchanges open is checked against the key measured first:
    /// with the server's key swapped between connections, the next connection is closed
    /// before the request is sent on it, and the other server receives nothing.
    @Test func spkiPinnedOnEveryConnection() async throws {
        let a = try TestPKI(), b = try TestPKI()
        let reply: @Sendable (HTTPRequest) -> Reply = { request in
            .json(JSONValue.object(["jsonrpc": "2.0", "id": Self.body(of: request)?["id"] ?? .null, "result": [:]]).serialized(pretty: false))
        }
        let serverA = try await ScriptedServer.start(tls: try a.serverContext(), reply)
        let serverB = try await ScriptedServer.start(tls: try b.serverContext(), reply)
        defer { serverA.stop(); serverB.stop() }
        // One CA file trusting both: the chain verifies either way, only the pin tells them apart.
        let both = FileManager.default.temporaryDirectory.appendingPathComponent("both-\(UUID().uuidString).pem")
        try (try Data(contentsOf: URL(fileURLWithPath: a.certificate)) + Data(contentsOf: URL(fileURLWithPath: b.certificate))).write(to: both)
        let proxy = try await SwitchingProxy.start(target: serverA.port)
        defer { proxy.stop() }
        let url = try #require(URL(string: "https://localhost:\(proxy.port)/mcp"))
        let upstream = try HTTPUpstream(url: url, caFile: both.path, connectTimeout: .seconds(2))
        let identity = try await upstream.measureIdentity()
        #expect(identity?["spki_sha256"] == .string(try a.spkiSHA256()))
        let connection = upstream.connection(protocolVersion: "2025-11-25")
        // Positive control: the pinned server answers, on a connection checked against the pin.
        let got = Collected()
        try await connection.post(["jsonrpc": "2.0", "id": 1, "method": "ping"], deliver: got.add)
        #expect(got.ids == ["1"])
        #expect(upstream.observedIdentity == identity)
        // The key swapped: new connections reach server B; the open one is dropped.
        await proxy.route(to: serverB.port)
        await #expect(throws: HTTPUpstreamError.self) {
            try await connection.post(["jsonrpc": "2.0", "id": 2, "method": "ping"], deliver: got.add)
        }
        #expect(await serverB.requests().isEmpty, "a request was sent on a connection presenting another key")
        #expect(upstream.observedIdentity?["spki_sha256"] == .string(try b.spkiSHA256()))
        // Back to the pinned key: a new connection is used again.
        await proxy.route(to: serverA.port)
        try await connection.post(["jsonrpc": "2.0", "id": 3, "method": "ping"], deliver: got.add)
        #expect(got.ids == ["1", "3"])
        #expect(await serverA.requests().count == 2)
        await upstream.shutdown()
    }

    // MARK: Helpers

    static func body(of request: HTTPRequest) -> JSONObject? {
        guard let body = request.body, case .object(let object)? = try? StrictJSONParser().parse(Array(body)) else { return nil }
        return object
    }
}

/// The messages delivered, in order.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var _messages: [JSONObject] = []
    var messages: [JSONObject] { lock.withLock { _messages } }
    var ids: [String] { messages.compactMap { $0["id"].map { $0.stringValue ?? $0.serialized(pretty: false) } } }
    @Sendable func add(_ message: JSONObject) { lock.withLock { _messages.append(message) } }
}

/// The reply the scripted server gives next.
private final class Answer: @unchecked Sendable {
    private let lock = NSLock()
    private var _reply = Reply(status: 500, headers: [:], body: .bytes(nil))
    var reply: Reply {
        get { lock.withLock { _reply } }
        set { lock.withLock { _reply = newValue } }
    }
}

private actor Recorder {
    var requests: [HTTPRequest] = []
    func add(_ request: HTTPRequest) { requests.append(request) }
}

/// A Streamable HTTP MCP server played by a script, on 127.0.0.1.
private struct ScriptedServer {
    let port: Int
    let url: URL
    private let recorder: Recorder
    private let task: Task<Void, Never>

    static func start(tls: NIOSSLContext? = nil, _ script: @escaping @Sendable (HTTPRequest) -> Reply) async throws -> ScriptedServer {
        let recorder = Recorder()
        let listener = try await HTTPListener.bind(host: "127.0.0.1", port: 0, tls: tls, maxBodyBytes: 1 << 20) { request in
            await recorder.add(request)
            return script(request)
        }
        let task = Task { _ = try? await listener.run() }
        let url = try #require(URL(string: "\(tls == nil ? "http" : "https")://127.0.0.1:\(listener.port)/mcp"))
        return ScriptedServer(port: listener.port, url: url, recorder: recorder, task: task)
    }

    func requests() async -> [HTTPRequest] { await recorder.requests }
    func stop() { task.cancel() }
}

extension Reply {
    fileprivate static func json(_ text: String, headers: [String: String] = [:]) -> Reply {
        Reply(status: 200, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a }, body: .bytes(Data(text.utf8)))
    }

    fileprivate static func text(_ status: Int, _ text: String) -> Reply {
        Reply(status: status, headers: ["Content-Type": "text/plain"], body: .bytes(Data(text.utf8)))
    }

    /// A body sent in these chunks, without a Content-Length.
    fileprivate static func stream(_ chunks: [String], type: String) -> Reply {
        let stream = AsyncThrowingStream<Data, any Error> { continuation in
            for chunk in chunks { continuation.yield(Data(chunk.utf8)) }
            continuation.finish()
        }
        return Reply(status: 200, headers: ["Content-Type": type], body: .stream(stream))
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, made with openssl in a temporary directory.
private struct TestPKI {
    let certificate: String
    let key: String

    init(names: String = "DNS:localhost,IP:127.0.0.1") throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("httpupstream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        certificate = dir.appendingPathComponent("cert.pem").path
        key = dir.appendingPathComponent("key.pem").path
        _ = try Self.shell(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=\(names)"])
    }

    func serverContext() throws -> NIOSSLContext {
        try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
    }

    /// SHA-256 of the certificate's SubjectPublicKeyInfo, computed by openssl alone, base64url.
    func spkiSHA256() throws -> String {
        let digest = try Self.shell(["sh", "-c",
            "openssl x509 -in '\(certificate)' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary"])
        #expect(digest.count == 32)
        return Base64URL.encode(digest)
    }

    static func shell(_ arguments: [String]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(arguments) failed")
        return Array(data)
    }
}

/// A TCP proxy on 127.0.0.1 whose target port can be changed: new connections go to the
/// current target; changing it drops the open ones.
private final class SwitchingProxy: @unchecked Sendable {
    private let lock = NSLock()
    private var target: Int
    private var open: [Channel] = []
    private var server: Channel?
    var port: Int { server?.localAddress?.port ?? 0 }

    private init(target: Int) { self.target = target }

    static func start(target: Int) async throws -> SwitchingProxy {
        let proxy = SwitchingProxy(target: target)
        proxy.server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                let port = proxy.lock.withLock { () -> Int in
                    proxy.open.append(inbound)
                    return proxy.target
                }
                return ClientBootstrap(group: inbound.eventLoop).connect(host: "127.0.0.1", port: port).flatMap { outbound in
                    proxy.lock.withLock { proxy.open.append(outbound) }
                    let (x, y) = GlueHandler.pair()
                    do {
                        try inbound.pipeline.syncOperations.addHandler(x)
                        try outbound.pipeline.syncOperations.addHandler(y)
                    } catch {
                        return inbound.eventLoop.makeFailedFuture(error)
                    }
                    // The client's channel is registered (and read) once this future completes.
                    return inbound.eventLoop.makeSucceededVoidFuture()
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return proxy
    }

    func route(to port: Int) async {
        let channels = lock.withLock { () -> [Channel] in
            target = port
            defer { open = [] }
            return open
        }
        for c in channels { try? await c.close() }
        try? await Task.sleep(for: .milliseconds(100))
    }

    func stop() { server?.close(promise: nil) }
}
