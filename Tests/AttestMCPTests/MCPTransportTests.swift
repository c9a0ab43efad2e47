import AttestCore
import AttestIdentity
import AttestMCP
import Foundation
import MCP
import SystemPackage
import Testing

/// End to end over the MCP Swift SDK 0.12.1: an attesting client and a verifying server,
/// over InMemoryTransport and over stdio pipes.
enum MCPFixture {
    static let audience = "https://tools.acme.example/mcp"
    static let issuer = "https://provider.example"
    static let provider = try! Ed25519.PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
    static let agent = try! Ed25519.PrivateKey(seed: SHA256.hash(Array("mcp tests: agent".utf8)))

    static func token(now: Int64) throws -> String {
        try TokenIssuer(key: provider).issue(TokenClaims(
            issuer: issuer, subject: "spiffe://agents.provider.example/acme/support-bot", audience: audience,
            issuedAt: now - 10, expiresAt: now + 600, tokenID: "tok-mcp", confirmationKeyThumbprint: agent.verifyingKey.thumbprint,
            agent: AgentIdentity(provider: "Example Provider", modelFamily: "example-model", modelVersion: "2026-05-01",
                                 deployment: "acme-support-prod", operatorID: "https://acme.example", safetyLevel: "standard")))
    }

    static func gate(policy: RequestPolicy = .required, replayStore: any ReplayStore = InMemoryReplayStore()) throws -> MCPGate {
        let configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuer, keys: try JWKS(keys: [JWK(key: provider.verifyingKey)]), trustDomains: ["agents.provider.example"]),
        ])
        return MCPGate(verifier: Verifier(configuration: configuration), policy: policy, replayStore: replayStore)
    }

    static func attester() throws -> MCPAttester {
        MCPAttester(token: try token(now: systemClock()), key: agent, audience: audience)
    }

    /// Counts the calls that reached the tool handler.
    actor Calls { var count = 0; func add() { count += 1 } }

    static func server(_ transport: AttestingServerTransport, calls: Calls) async throws -> Server {
        let server = Server(name: "test", version: "1", capabilities: .init(tools: .init()))
        await server.withMethodHandler(CallTool.self) { params in
            await calls.add()
            let verdict = await transport.attestation(in: Server.currentHandlerContext)
            let who = verdict?.identity?.subject ?? "unattested"
            let echo = params.arguments?["payload"].map { "\($0)" } ?? ""
            return CallTool.Result(content: [.text(text: "\(who) \(echo)", annotations: nil, _meta: nil)], isError: false)
        }
        try await server.start(transport: transport)
        return server
    }
}

@Suite struct MCPTransportTests {
    @Test func attestedCallOverInMemoryTransport() async throws {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        let serverTransport = AttestingServerTransport(wrapping: serverSide, gate: try MCPFixture.gate())
        let calls = MCPFixture.Calls()
        let server = try await MCPFixture.server(serverTransport, calls: calls)
        let client = Client(name: "agent", version: "1")
        _ = try await client.connect(transport: AttestingClientTransport(wrapping: clientSide, attester: try MCPFixture.attester()))
        // Values the SDK re-encodes (a "data:" string, 1.0): the proof is over the bytes sent.
        let result = try await client.callTool(name: "whoami", arguments: ["payload": "data:text/plain,hello", "n": 1.0])
        guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text"); return }
        #expect(text.hasPrefix("spiffe://agents.provider.example/acme/support-bot"))
        #expect(await calls.count == 1)
        #expect(await serverTransport.clientDeclaration == .object([:]))
        await client.disconnect()
        await server.stop()
    }

    @Test func callWithoutTokenIsRejectedBeforeTheHandler() async throws {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        let serverTransport = AttestingServerTransport(wrapping: serverSide, gate: try MCPFixture.gate())
        let calls = MCPFixture.Calls()
        let server = try await MCPFixture.server(serverTransport, calls: calls)
        let client = Client(name: "plain", version: "1")
        _ = try await client.connect(transport: clientSide)
        do {
            _ = try await client.callTool(name: "whoami", arguments: [:])
            Issue.record("the call was accepted")
        } catch let error as MCPError {
            #expect(error.code == MCPBinding.errorCode)
            #expect("\(error)".contains("PRF_TOKEN_MISSING"))
        }
        #expect(await calls.count == 0)
        await client.disconnect()
        await server.stop()
    }

    @Test func optionalPolicyMarksPlainCallsUnattested() async throws {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        let serverTransport = AttestingServerTransport(wrapping: serverSide, gate: try MCPFixture.gate(policy: .optional))
        let server = try await MCPFixture.server(serverTransport, calls: MCPFixture.Calls())
        let client = Client(name: "plain", version: "1")
        _ = try await client.connect(transport: clientSide)
        let result = try await client.callTool(name: "whoami", arguments: [:])
        guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text"); return }
        #expect(text.hasPrefix("unattested"))
        await client.disconnect()
        await server.stop()
    }

    /// Raw JSON-RPC over the pair: a replayed request gets -31000 with PRF_REPLAY in error.data.
    @Test func replayedRequestCarriesTheRegistryCode() async throws {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        let calls = MCPFixture.Calls()
        let server = try await MCPFixture.server(AttestingServerTransport(wrapping: serverSide, gate: try MCPFixture.gate()), calls: calls)
        try await clientSide.connect()
        var responses = await clientSide.receive().makeAsyncIterator()
        func send(_ text: String) async throws { try await clientSide.send(Data(text.utf8)) }
        func next() async throws -> JSONValue { try StrictJSONParser().parse(Array(try await responses.next()!)) }

        try await send(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"extensions":{"dev.agent-attestation/v1":{}}},"clientInfo":{"name":"raw","version":"1"}}}"#)
        let initialized = try await next()
        #expect(initialized["result"]?["capabilities"]?["extensions"]?[MCPBinding.extensionID]?["policy"] == "required")
        try await send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        let call = try StrictJSONParser().parse(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#)
        let attached = try MCPFixture.attester().attach(to: call, era: .handshake, issuedAt: systemClock(), proofID: "prf-replay-test")
        try await send(attached.serialized(pretty: false))
        #expect(try await next()["result"] != nil)
        try await send(attached.serialized(pretty: false))
        let second = try await next()
        #expect(second["error"]?["code"]?.integerValue == -31000)
        #expect(second["error"]?["data"]?["code"] == "PRF_REPLAY")
        #expect(second["id"] == 1)
        #expect(await calls.count == 1)
        await clientSide.disconnect()
        await server.stop()
    }

    @Test func attestedCallOverStdioPipes() async throws {
        let toServer = try FileDescriptor.pipe(), toClient = try FileDescriptor.pipe()
        let serverTransport = AttestingServerTransport(
            wrapping: StdioTransport(input: toServer.readEnd, output: toClient.writeEnd), gate: try MCPFixture.gate())
        let calls = MCPFixture.Calls()
        let server = try await MCPFixture.server(serverTransport, calls: calls)
        let clientTransport = AttestingClientTransport(
            wrapping: StdioTransport(input: toClient.readEnd, output: toServer.writeEnd), attester: try MCPFixture.attester())
        let client = Client(name: "agent", version: "1")
        _ = try await client.connect(transport: clientTransport)
        for i in 0..<3 {
            let result = try await client.callTool(name: "whoami", arguments: ["payload": .int(i)])
            guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text"); return }
            #expect(text.hasPrefix("spiffe://"))
        }
        #expect(await calls.count == 3)
        await client.disconnect()
        await server.stop()
        for fd in [toServer.readEnd, toServer.writeEnd, toClient.readEnd, toClient.writeEnd] { try? fd.close() }
    }
}
