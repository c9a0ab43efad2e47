import AttestCore
import AttestDiscovery
import AttestIdentity
import AttestMCP
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// An MCP gate whose keys come from discovery: the issuer rotates its key, and the gate
/// follows within the refetch rule, over a real HTTPS server and a controlled clock.
@Suite("MCP gate with discovered keys")
struct DiscoveringGateTests {
    @Test("A rotated key is accepted once the 60 s refetch interval allows a fetch, not before")
    func followsKeyRotation() async throws {
        let server = try await TestHTTPSServer()
        let oldKey = try Ed25519.PrivateKey(seed: SHA256.hash(Array("gate tests: old provider key".utf8)))
        let newKey = try Ed25519.PrivateKey(seed: SHA256.hash(Array("gate tests: new provider key".utf8)))
        let agent = try Ed25519.PrivateKey(seed: SHA256.hash(Array("gate tests: agent".utf8)))
        func publish(_ keys: [Ed25519.PrivateKey]) throws {
            server.json("/jwks.json", try JWKS(keys: keys.map { JWK(key: $0.verifyingKey) }).jsonValue.serialized(pretty: false),
                        headers: [("Cache-Control", "max-age=3600")])
        }
        server.json(HTTPSDiscoveryTests.metadataPath,
                    HTTPSDiscoveryTests.metadata(issuer: server.base, jwksURI: server.base + "/jwks.json"))
        try publish([oldKey])

        let audience = "https://tools.example/mcp"
        let clock = NIOLockedValueBox<Int64>(HTTPSDiscoveryTests.now)
        let transport = HTTPSDiscoveryTransport(trustRoots: .pemFile(TestHTTPSServer.fixture("ca.pem")))
        let discovery = try KeyDiscovery(issuers: [.init(issuer: server.base, trustDomains: ["agents.example"])],
                                         transport: transport)
        let gate = MCPGate(verifier: Verifier(configuration: VerifierConfiguration(audience: audience, issuers: [])),
                           policy: .required, replayStore: InMemoryReplayStore(), clock: { clock.withLockedValue { $0 } },
                           keySource: discovery)

        var proofs = 0
        func request(signedBy key: Ed25519.PrivateKey) throws -> [UInt8] {
            let now = clock.withLockedValue { $0 }
            let claims = TokenClaims(issuer: server.base, subject: "spiffe://agents.example/bot", audience: audience,
                                     issuedAt: now, expiresAt: now + 600, tokenID: "tok-\(now)",
                                     confirmationKeyThumbprint: agent.verifyingKey.thumbprint,
                                     agent: AgentIdentity(provider: "Example", modelFamily: "m", modelVersion: "1",
                                                          deployment: "d", operatorID: "https://acme.example"))
            let attester = MCPAttester(token: try TokenIssuer(key: key).issue(claims), key: agent, audience: audience)
            proofs += 1
            let message: JSONValue = ["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["name": "whoami"]]
            let attached = try attester.attach(to: message, era: .handshake, issuedAt: now, proofID: "proof-\(proofs)")
            return Array(attached.serialized(pretty: false).utf8)
        }
        func code(_ bytes: [UInt8]) async -> ErrorCode? {
            do { _ = try await gate.verify(bytes, era: .handshake); return nil } catch { return error.code }
        }

        #expect(await code(try request(signedBy: oldKey)) == nil, "the published key")
        try publish([oldKey, newKey])
        clock.withLockedValue { $0 += 30 }
        #expect(await code(try request(signedBy: newKey)) == .tokenKeyIDUnknown, "30 s after the last fetch: no refetch")
        #expect(server.requests("/jwks.json") == 1)
        clock.withLockedValue { $0 += 30 }
        #expect(await code(try request(signedBy: newKey)) == nil, "60 s after the last fetch: refetched")
        #expect(server.requests("/jwks.json") == 2)
        #expect(await code(try request(signedBy: oldKey)) == nil, "the old key is still published")
        try await transport.shutdown()
        try await server.stop()
    }
}
