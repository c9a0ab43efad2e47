import AttestCore
@testable import AttestDiscovery
import AttestIdentity
import Testing
import TestSupport

/// Issuer URLs and Cache-Control directive names are matched by code points (directive
/// names ignoring ASCII case only), never by Unicode canonical equivalence or case mapping.
@Suite("Discovery: exact names")
struct DiscoveryExactNameTests {
    static let issuer = "https://provider.example/tenants/K"
    static let kelvinIssuer = "https://provider.example/tenants/\u{212A}"
    static let jwksURI = "https://keys.provider.example/jwks.json"
    static let key = try! Ed25519.PrivateKey(seed: SHA256.hash(Array("discovery exact names: provider".utf8)))

    /// Serves the metadata of `issuer` and a key set with `key`; counts requests.
    actor Scripted: DiscoveryTransport {
        let metadataIssuer: String
        private(set) var requested: [String] = []
        init(metadataIssuer: String) { self.metadataIssuer = metadataIssuer }

        func get(_ url: String, maxBytes: Int) async throws(AttestError) -> DiscoveryResponse {
            requested.append(url)
            if url.isExactly(DiscoveryExactNameTests.jwksURI) {
                let set = try JWKS(keys: [JWK(key: DiscoveryExactNameTests.key.verifyingKey)])
                return DiscoveryResponse(status: 200, body: Array(set.jsonValue.serialized(pretty: false).utf8))
            }
            let metadata: JSONValue = ["issuer": .string(metadataIssuer), "jwks_uri": .string(DiscoveryExactNameTests.jwksURI),
                                       "token_types": ["agent-attestation+jwt"]]
            return DiscoveryResponse(status: 200, body: Array(metadata.serialized(pretty: false).utf8))
        }
    }

    @Test("a token's iss that only canonically equals a configured issuer fetches nothing and is untrusted")
    func lookupByExactIssuer() async throws {
        #expect(Self.kelvinIssuer == Self.issuer && !Self.kelvinIssuer.isExactly(Self.issuer))
        let transport = Scripted(metadataIssuer: Self.issuer)
        let discovery = try KeyDiscovery(issuers: [.init(issuer: Self.issuer, trustDomains: ["agents.provider.example"])],
                                         transport: transport)
        let spoofed = await discovery.lookup(issuer: Self.kelvinIssuer, kid: Self.key.verifyingKey.thumbprint, now: 1000)
        #expect(spoofed.error?.code == .tokenIssuerUntrusted)
        #expect(spoofed.fetched.isEmpty && !spoofed.found)
        let exact = await discovery.lookup(issuer: Self.issuer, kid: Self.key.verifyingKey.thumbprint, now: 1000)
        #expect(exact.found && exact.error == nil)
        #expect(await transport.requested.count == 2)
    }

    @Test("metadata naming the issuer with a Kelvin sign is another issuer's")
    func metadataIssuerExact() throws {
        func metadata(_ issuer: String) -> JSONValue {
            ["issuer": .string(issuer), "jwks_uri": .string(Self.jwksURI), "token_types": ["agent-attestation+jwt"]]
        }
        #expect(try KeySetFetch.checkMetadata(metadata(Self.issuer), issuer: Self.issuer) == Self.jwksURI)
        expectCode(.discoveryIssuerMismatch) { try KeySetFetch.checkMetadata(metadata(Self.kelvinIssuer), issuer: Self.issuer) }
    }

    @Test("Cache-Control directive names ignore ASCII case only")
    func directiveNames() {
        let policy = DiscoveryPolicy()
        #expect(policy.cacheLifetime(cacheControl: "MAX-AGE=600") == 600)
        #expect(policy.cacheLifetime(cacheControl: "No-Store, max-age=600") == 300)
        // U+017F LATIN SMALL LETTER LONG S upper-cases to S: no-ſtore is no directive here.
        #expect("no-\u{17F}tore".uppercased() == "NO-STORE")
        #expect(policy.cacheLifetime(cacheControl: "no-\u{17F}tore, max-age=600") == 600)
    }
}
