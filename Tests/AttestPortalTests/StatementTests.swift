import AttestCore
import AttestEvidence
import AttestMCP
import Foundation
import MCP
import TestSupport
import Testing
@testable import AttestPortal

/// Forwarding statements (statement.md): the portal attaches one to every `tools/call` it
/// forwards, and a server on the MCP Swift SDK whose `CallTool` handler is wrapped with
/// `governed(_:verifier:)` runs only calls whose statement verifies for it.
@Suite struct StatementPortalTests {
    static let audience = "mcp://upstream.test"

    static func harness() async throws -> PortalHarness {
        try await PortalHarness(configure: { $0.statementAudience = audience })
    }

    static func verifier(_ h: PortalHarness, audience: String = audience) -> StatementVerifier {
        StatementVerifier(trusted: [NoteVerifier(name: PortalFixture.origin, key: h.portal.configuration.logKey.publicKey).text],
                          audience: audience)
    }

    @Test func portalAttachesAStatementPerForwardedCall() async throws {
        let h = try await Self.harness()
        #expect(PortalHarness.code(try await h.call("echo", ["text": "one"])) == nil)
        #expect(PortalHarness.code(try await h.call("echo", ["text": "two"])) == nil)
        let forwarded = h.upstream.received.filter { $0["method"] == "tools/call" }
        let allows = try h.log().filter { $0.decision == "ALLOW" }.map(\.line)
        #expect(forwarded.count == 2 && allows.count == 2)
        let verifier = Self.verifier(h)
        for (request, allow) in zip(forwarded, allows) {
            let params = try #require(request["params"]?.objectValue)
            let statement = params["_meta"]?[Statement.metaKey]
            #expect(statement?["seq"] == allow["seq"])
            #expect(statement?["iat"] == allow["time"])
            #expect(statement?["log"] == .string(PortalFixture.origin))
            let meta = params["_meta"]?.objectValue ?? [:]
            #expect(meta.names.filter { $0.hasPrefix("dev.agent-attestation/") } == [Statement.metaKey])
            let now = allow["time"]?.integerValue ?? 0
            let verified = try verifier.verify(params: params, now: now)
            #expect(verified.seq == allow["seq"]?.integerValue)
            // The same statement at a server with another audience.
            expectCode(.statementAudienceMismatch) { try Self.verifier(h, audience: "mcp://other.test").verify(params: params, now: now) }
        }
    }

    /// A statement member the client sends is replaced by the portal's own.
    @Test func clientStatementIsReplaced() async throws {
        let h = try await Self.harness()
        let planted: JSONValue = ["type": "mcp-attest/statement/v1", "seq": 999]
        let message: JSONValue = ["jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                  "params": ["name": "echo", "arguments": ["text": "x"], "_meta": [Statement.metaKey: planted]]]
        let attester = MCPAttester(token: try PortalFixture.token(subject: PortalFixture.agentID, key: PortalFixture.agent),
                                   key: PortalFixture.agent, audience: PortalFixture.audience)
        let request = try attester.attach(to: message, era: .handshake, issuedAt: PortalFixture.now,
                                          proofID: MCPAttester.randomProofID(), governed: Portal.governed).objectValue ?? [:]
        #expect(PortalHarness.code(await h.send(request)) == nil)
        let params = try #require(h.upstream.received.last?["params"]?.objectValue)
        #expect(params["_meta"]?[Statement.metaKey]?["seq"] == 0)
        _ = try Self.verifier(h).verify(params: params, now: try h.log()[0].line["time"]?.integerValue ?? 0)
    }

    /// Without `statement` in the configuration nothing is attached, and a client's statement
    /// member is still removed (it is a member of this extension).
    @Test func noAudienceNoStatement() async throws {
        let h = try await PortalHarness()
        #expect(PortalHarness.code(try await h.call("echo", ["text": "x"])) == nil)
        let meta = h.upstream.received.last?["params"]?["_meta"]?.objectValue ?? [:]
        #expect(meta[Statement.metaKey] == nil)
    }
}

/// The MCP Swift SDK 0.12.1 server: a `CallTool` handler wrapped with `governed`, spoken to
/// in raw JSON-RPC over an in-memory transport pair. The requests the portal forwarded (its
/// scripted upstream kept them) are the governed calls; everything else is sent around it.
@Suite struct StatementSDKTests {
    actor Ran { var tools: [String] = []; func add(_ t: String) { tools.append(t) } }

    struct Peer {
        let server: Server
        let client: InMemoryTransport
        var responses: AsyncThrowingStream<Data, Swift.Error>.AsyncIterator
        var next = 100

        static func start(verifier: StatementVerifier, ran: Ran) async throws -> Peer {
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            let server = Server(name: "governed", version: "1", capabilities: .init(tools: .init()))
            await server.withMethodHandler(CallTool.self, handler: governed({ params in
                let text = params.arguments?["text"]?.stringValue ?? ""
                await ran.add(text)
                return CallTool.Result(content: [.text(text: "echo: \(text)", annotations: nil, _meta: nil)], isError: false)
            }, verifier: verifier))
            try await server.start(transport: serverSide)
            try await clientSide.connect()
            var peer = Peer(server: server, client: clientSide, responses: await clientSide.receive().makeAsyncIterator())
            _ = try await peer.ask(["jsonrpc": "2.0", "id": 0, "method": "initialize", "params": [
                "protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "raw", "version": "1"]]])
            try await clientSide.send(Data(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8))
            return peer
        }

        mutating func ask(_ message: JSONValue) async throws -> JSONValue {
            try await client.send(Data(message.serialized(pretty: false).utf8))
            guard let data = try await responses.next() else { throw AttestError(.mcpMalformedRequest, "no response") }
            return try StrictJSONParser().parse(Array(data))
        }

        mutating func call(_ params: JSONObject) async throws -> JSONValue {
            next += 1
            return try await ask(["jsonrpc": "2.0", "id": .number(JSONNumber(Double(next))), "method": "tools/call", "params": .object(params)])
        }

        func stop() async {
            await client.disconnect()
            await server.stop()
        }
    }

    /// The registry code of a refusal: -31000, and the message the SDK writes for it,
    /// `Server error: CODE: …` (the SDK's error has no data).
    static func code(_ response: JSONValue) -> String? {
        guard response["error"]?["code"]?.integerValue == Int64(MCPBinding.errorCode),
              let message = response["error"]?["message"]?.stringValue else { return nil }
        let parts = message.components(separatedBy: ": ")
        guard parts.count >= 2, parts[0].isExactly("Server error") else { return nil }
        return parts[1]
    }

    static func fresh(_ params: JSONObject, seq: UInt64, audience: String = StatementPortalTests.audience,
                      h: PortalHarness) throws -> JSONObject {
        try Statement.attach(params, log: PortalFixture.origin, seq: seq, iat: Int64(Date().timeIntervalSince1970),
                             audience: audience, key: h.portal.configuration.logKey)
    }

    @Test func swiftSDKServerAcceptsOnlyGovernedCalls() async throws {
        let h = try await StatementPortalTests.harness()
        #expect(PortalHarness.code(try await h.call("echo", ["text": "governed"])) == nil)
        let forwarded = try #require(h.upstream.received.last?["params"]?.objectValue)
        let ran = Ran()
        var peer = try await Peer.start(verifier: StatementPortalTests.verifier(h), ran: ran)
        var other = try await Peer.start(verifier: StatementPortalTests.verifier(h, audience: "mcp://other.test"), ran: ran)
        // Through the portal: the forwarded request runs.
        #expect(try await peer.call(forwarded)["result"]?["content"]?.arrayValue?.first?["text"] == "echo: governed")
        // Around the portal: no statement; control: the same params with a statement.
        let bare: JSONObject = ["name": "echo", "arguments": ["text": "direct"]]
        expectRegistryCode(Self.code(try await peer.call(bare)), "STM_MISSING")
        #expect(try await peer.call(try Self.fresh(bare, seq: 1000, h: h))["result"] != nil)
        // The portal's statement replayed; control: a fresh statement for the same params.
        expectRegistryCode(Self.code(try await peer.call(forwarded)), "STM_REPLAY")
        #expect(try await peer.call(try Self.fresh(forwarded, seq: 1001, h: h))["result"] != nil)
        // The statement moved to other arguments; control: one made for those arguments.
        var moved = forwarded
        moved["arguments"] = ["text": "moved"]
        expectRegistryCode(Self.code(try await peer.call(moved)), "STM_PARAMS_MISMATCH")
        #expect(try await peer.call(try Self.fresh(moved, seq: 1002, h: h))["result"] != nil)
        // A statement for this server at another; control: one made for the other server.
        expectRegistryCode(Self.code(try await other.call(try Self.fresh(bare, seq: 1003, h: h))), "STM_AUDIENCE_MISMATCH")
        #expect(try await other.call(try Self.fresh(bare, seq: 1004, audience: "mcp://other.test", h: h))["result"] != nil)
        #expect(await ran.tools == ["governed", "direct", "governed", "moved", "direct"])
        await peer.stop()
        await other.stop()
    }
}
