import AttestCore
import AttestDiscovery
import AttestIdentity
import Foundation
import Testing
import TestSupport

/// Key discovery over real TLS sockets: the transport's certificate and host-name
/// validation, size limits and redirect handling, and the cache rules seen from the
/// server's side (requests counted). The rules themselves are fixed by the
/// `keys.discovery` vectors; these tests show the HTTPS transport keeps them.
@Suite("Key discovery over HTTPS")
struct HTTPSDiscoveryTests {
    static let now: Int64 = 1_780_000_000
    static let providerKey = try! Ed25519.PrivateKey(seed: SHA256.hash(Array("discovery tests: provider".utf8)))
    static let agentKey = try! Ed25519.PrivateKey(seed: SHA256.hash(Array("discovery tests: agent".utf8)))
    static let kid = providerKey.verifyingKey.thumbprint
    static let metadataPath = "/.well-known/agent-attestation-issuer"
    static let trustDomain = "agents.provider.example"

    /// A server publishing metadata for its own base URL and a key set with the provider key.
    static func publishingServer(cacheControl: String = "max-age=600") async throws -> TestHTTPSServer {
        let server = try await TestHTTPSServer()
        server.json(metadataPath, metadata(issuer: server.base, jwksURI: server.base + "/jwks.json"))
        server.json("/jwks.json", keySet(), headers: [("Cache-Control", cacheControl)])
        return server
    }

    static func metadata(issuer: String, jwksURI: String) -> String {
        JSONValue.object(["issuer": .string(issuer), "jwks_uri": .string(jwksURI),
                          "token_types": ["agent-attestation+jwt"]]).serialized(pretty: false)
    }

    static func keySet() -> String {
        try! JWKS(keys: [JWK(key: providerKey.verifyingKey)]).jsonValue.serialized(pretty: false)
    }

    static func discovery(_ issuer: String, trust: HTTPSDiscoveryTransport.TrustRoots = .pemFile(TestHTTPSServer.fixture("ca.pem")))
        throws -> (KeyDiscovery, HTTPSDiscoveryTransport) {
        let transport = HTTPSDiscoveryTransport(trustRoots: trust, connectTimeout: .seconds(3), deadline: .seconds(5))
        return (try KeyDiscovery(issuers: [.init(issuer: issuer, trustDomains: [trustDomain])], transport: transport), transport)
    }

    @Test("A token verifies with keys discovered over HTTPS from a server the test CA certifies")
    func discoversAndVerifies() async throws {
        let server = try await Self.publishingServer()
        let (discovery, transport) = try Self.discovery(server.base)
        let claims = TokenClaims(issuer: server.base, subject: "spiffe://\(Self.trustDomain)/acme/bot",
                                 audience: "https://tools.example/mcp", issuedAt: Self.now - 60, expiresAt: Self.now + 600,
                                 tokenID: "tok-discovery", confirmationKeyThumbprint: Self.agentKey.verifyingKey.thumbprint,
                                 agent: AgentIdentity(provider: "Example", modelFamily: "m", modelVersion: "1",
                                                      deployment: "d", operatorID: "https://acme.example"))
        let token = try TokenIssuer(key: Self.providerKey).issue(claims)

        let before = Verifier(configuration: VerifierConfiguration(audience: "https://tools.example/mcp",
                                                                   issuers: await discovery.trustedIssuers(now: Self.now)))
        expectCode(.tokenKeyIDUnknown, "before discovery the issuer has no keys") {
            try before.verify(Presentation(token: token), now: Self.now)
        }
        let lookup = try #require(await discovery.prepare(token: token, now: Self.now))
        #expect(lookup.found && lookup.error == nil, "\(String(describing: lookup.error))")
        #expect(lookup.fetched == [server.base + Self.metadataPath, server.base + "/jwks.json"])
        let after = Verifier(configuration: VerifierConfiguration(audience: "https://tools.example/mcp",
                                                                  issuers: await discovery.trustedIssuers(now: Self.now)))
        let verified = try after.verify(Presentation(token: token), now: Self.now)
        #expect(verified.claims.issuer == server.base)
        #expect(server.requests(Self.metadataPath) == 1 && server.requests("/jwks.json") == 1)
        try await transport.shutdown()
        try await server.stop()
    }

    @Test("A server certified by a CA the verifier does not trust is refused before any request")
    func refusesUntrustedCertificate() async throws {
        let server = try await Self.publishingServer()
        for trust in [HTTPSDiscoveryTransport.TrustRoots.pemFile(TestHTTPSServer.fixture("other-ca.pem")), .system] {
            let (discovery, transport) = try Self.discovery(server.base, trust: trust)
            let lookup = await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now)
            #expect(!lookup.found)
            #expect(lookup.error?.code == .discoveryTransport, "\(String(describing: lookup.error))")
            #expect(lookup.error?.message.contains("CERTIFICATE_VERIFY_FAILED") == true, "a certificate failure, not a timeout")
            try await transport.shutdown()
        }
        #expect(server.requests(Self.metadataPath) == 0, "the TLS handshake must fail before the request is sent")
        try await server.stop()
    }

    @Test("A certificate for another host name is refused (the server is certified for localhost, not 127.0.0.1)")
    func refusesHostNameMismatch() async throws {
        let server = try await Self.publishingServer()
        let byAddress = "https://127.0.0.1:\(server.port)"
        server.json(Self.metadataPath, Self.metadata(issuer: byAddress, jwksURI: byAddress + "/jwks.json"))
        let (discovery, transport) = try Self.discovery(byAddress)
        let lookup = await discovery.lookup(issuer: byAddress, kid: Self.kid, now: Self.now)
        #expect(lookup.error?.code == .discoveryTransport, "\(String(describing: lookup.error))")
        #expect(lookup.error?.message.contains("failedToValidateHostname") == true, "a host-name failure, not a timeout")
        #expect(server.requests(Self.metadataPath) == 0)
        try await transport.shutdown()
        try await server.stop()
    }

    @Test("A key set over 64 KiB is refused, announced or chunked; one of exactly 64 KiB is accepted")
    func enforcesKeySetLimitOnTheWire() async throws {
        let server = try await Self.publishingServer()
        let text = Array(Self.keySet().utf8)
        let cases: [(body: [UInt8], chunked: Bool, code: ErrorCode?)] = [
            (text + Array(repeating: 0x20, count: 65_536 - text.count), false, nil),
            (text + Array(repeating: 0x20, count: 65_537 - text.count), false, .discoveryTooLarge),
            (text + Array(repeating: 0x20, count: 70_000 - text.count), true, .discoveryTooLarge),
            (text + Array(repeating: 0x20, count: 65_536 - text.count), true, nil),
        ]
        for (body, chunked, code) in cases {
            server.route("/jwks.json", .init(body: body, chunked: chunked))
            let (discovery, transport) = try Self.discovery(server.base)
            let lookup = await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now)
            #expect(lookup.found == (code == nil), "\(body.count) bytes, chunked: \(chunked)")
            #expect(lookup.error?.code == code, "\(body.count) bytes, chunked: \(chunked): \(String(describing: lookup.error))")
            try await transport.shutdown()
        }
        try await server.stop()
    }

    @Test("A redirect to an https URL is followed; one to http is refused without contacting it")
    func followsOnlyHTTPSRedirects() async throws {
        let server = try await Self.publishingServer()
        server.json("/metadata-moved", Self.metadata(issuer: server.base, jwksURI: server.base + "/jwks.json"))
        server.route(Self.metadataPath, .init(status: .found, headers: [("Location", "/metadata-moved")]))
        let (followed, transport1) = try Self.discovery(server.base)
        let ok = await followed.lookup(issuer: server.base, kid: Self.kid, now: Self.now)
        #expect(ok.found && ok.fetched == [server.base + Self.metadataPath, server.base + "/metadata-moved", server.base + "/jwks.json"])
        try await transport1.shutdown()

        server.route(Self.metadataPath, .init(status: .movedPermanently,
                                               headers: [("Location", "http://localhost:\(server.port)/metadata-moved")]))
        let (refused, transport2) = try Self.discovery(server.base)
        let downgraded = await refused.lookup(issuer: server.base, kid: Self.kid, now: Self.now)
        #expect(downgraded.error?.code == .discoveryNotHTTPS, "\(String(describing: downgraded.error))")
        #expect(server.requests("/metadata-moved") == 1, "the http target is never requested")
        try await transport2.shutdown()
        try await server.stop()
    }

    @Test("Cache-Control max-age bounds the requests the server sees; unknown kids refetch once per 60 s")
    func cachesByResponseHeader() async throws {
        let server = try await Self.publishingServer(cacheControl: "max-age=600")
        let (discovery, transport) = try Self.discovery(server.base)
        for offset: Int64 in [0, 1, 599] {
            #expect(await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now + offset).found)
        }
        #expect(server.requests("/jwks.json") == 1)
        for offset: Int64 in [10, 20, 30] {  // unknown kids within 60 s of the last fetch
            #expect(await !discovery.lookup(issuer: server.base, kid: "unknown-\(offset)", now: Self.now + offset).found)
        }
        #expect(server.requests("/jwks.json") == 1)
        _ = await discovery.lookup(issuer: server.base, kid: "unknown-60", now: Self.now + 60)
        #expect(server.requests("/jwks.json") == 2)
        #expect(await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now + 660).found)
        #expect(server.requests("/jwks.json") == 3, "the set fetched at +60 with max-age 600 expires at +660")
        try await transport.shutdown()
        try await server.stop()
    }

    @Test("An issuer that keeps failing is asked three times, then left alone for the pause")
    func pausesAFailingIssuer() async throws {
        let server = try await Self.publishingServer()
        server.route(Self.metadataPath, .init(status: .serviceUnavailable))
        let (discovery, transport) = try Self.discovery(server.base)
        var codes: [ErrorCode?] = []
        for offset: Int64 in [0, 1, 2, 3, 29] {
            codes.append(await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now + offset).error?.code)
        }
        #expect(codes == [.discoveryHTTPStatus, .discoveryHTTPStatus, .discoveryHTTPStatus, .discoveryCircuitOpen, .discoveryCircuitOpen])
        #expect(server.requests(Self.metadataPath) == 3)
        server.json(Self.metadataPath, Self.metadata(issuer: server.base, jwksURI: server.base + "/jwks.json"))
        #expect(await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now + 32).found, "after the 30 s pause")
        #expect(server.requests(Self.metadataPath) == 4)
        try await transport.shutdown()
        try await server.stop()
    }

    @Test("Overlapping lookups of one issuer share one refresh")
    func overlappingLookupsShareOneRefresh() async throws {
        let server = try await Self.publishingServer()
        server.route("/jwks.json", .init(body: Array(Self.keySet().utf8), delay: .milliseconds(300)))
        let (discovery, transport) = try Self.discovery(server.base)
        let found = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask { await discovery.lookup(issuer: server.base, kid: Self.kid, now: Self.now).found }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(found == 20)
        #expect(server.requests(Self.metadataPath) == 1 && server.requests("/jwks.json") == 1)
        try await transport.shutdown()
        try await server.stop()
    }

    @Test("Discovery refuses to be configured with an http issuer")
    func refusesHTTPIssuer() {
        expectCode(.discoveryNotHTTPS) {
            try KeyDiscovery(issuers: [.init(issuer: "http://provider.example", trustDomains: [])],
                             transport: HTTPSDiscoveryTransport())
        }
    }
}
