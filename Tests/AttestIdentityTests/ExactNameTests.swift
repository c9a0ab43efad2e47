@testable import AttestIdentity
import AttestCore
import Testing
import TestSupport

/// Protocol names are compared by code points, never by Unicode canonical equivalence, under
/// which Swift's `String` would take U+212A KELVIN SIGN for `K`. Each test is a positive
/// control with the exact name, then the same input with one name spelled with the Kelvin
/// sign, which must not match.
@Suite("Exact names")
struct ExactNameTests {
    static let kelvin = "\u{212A}"
    static let now = Fixture.now

    /// `name` with its last `K` spelled as U+212A: canonically equivalent, other code points.
    static func kelvinSpelling(_ name: String) -> String {
        guard let k = name.lastIndex(of: "K") else { preconditionFailure("\(name) has no K") }
        var spelled = name
        spelled.replaceSubrange(k...k, with: kelvin)
        #expect(spelled == name, "Swift's == takes the two spellings for one string")
        #expect(!spelled.isExactly(name))
        return spelled
    }

    static func claims(issuer: String = Fixture.issuerURL, audience: String = Fixture.audience, deployment: String = "acme-support-prod",
                       operatorID: String = Fixture.operatorURL) -> TokenClaims {
        TokenClaims(issuer: issuer, subject: "spiffe://\(Fixture.trustDomain)/acme/support-bot", audience: audience,
                    issuedAt: now - 300, expiresAt: now + 3300, tokenID: "tok-exact",
                    confirmationKeyThumbprint: Fixture.agent.verifyingKey.thumbprint,
                    agent: AgentIdentity(provider: "Example Provider", modelFamily: "example-model", modelVersion: "2026-05-01",
                                         deployment: deployment, operatorID: operatorID))
    }

    static func verifier(issuer: String = Fixture.issuerURL, audience: String = Fixture.audience,
                         operators: [TrustedOperator]? = nil) throws -> Verifier {
        let configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuer, keys: try JWKS(keys: [JWK(key: Fixture.provider.verifyingKey)]), trustDomains: [Fixture.trustDomain]),
        ])
        return Verifier(configuration: configuration) {
            if let operators { RequireOperatorAttestation(operators: operators) }
        }
    }

    /// A compact JWS over exactly these header and payload objects (JCS), signed by `key`.
    static func sign(header: JSONObject, payload: JSONObject, key: any SigningKey) throws -> String {
        let input = Base64URL.encode(JCS.canonicalize(.object(header))) + "." + Base64URL.encode(JCS.canonicalize(.object(payload)))
        return input + "." + Base64URL.encode(try key.signRaw(Array(input.utf8)))
    }

    @Test("kid: a kid naming the issuer's key with a Kelvin sign for its K names no key")
    func kid() throws {
        let kid = Fixture.provider.verifyingKey.thumbprint
        let payload = Self.claims().jsonObject
        func token(kid: String) throws -> String {
            try Self.sign(header: ["alg": "Ed25519", "typ": "agent-attestation+jwt", "kid": .string(kid)],
                          payload: payload, key: Fixture.provider)
        }
        let verifier = try Self.verifier()
        _ = try verifier.verify(Presentation(token: try token(kid: kid)), now: Self.now)
        expectCode(.tokenKeyIDUnknown) { try verifier.verify(Presentation(token: try token(kid: Self.kelvinSpelling(kid))), now: Self.now) }
        let set = try JWKS(keys: [JWK(key: Fixture.provider.verifyingKey)])
        #expect(set.key(id: kid) != nil)
        #expect(set.key(id: Self.kelvinSpelling(kid)) == nil)
    }

    @Test("iss: a token whose iss is a trusted issuer's URL spelled with a Kelvin sign is from no trusted issuer")
    func issuer() throws {
        let trusted = "https://provider.example/tenants/K"
        let verifier = try Self.verifier(issuer: trusted)
        _ = try verifier.verify(Presentation(token: try Fixture.token(Self.claims(issuer: trusted))), now: Self.now)
        let spoofed = try Fixture.token(Self.claims(issuer: Self.kelvinSpelling(trusted)))
        expectCode(.tokenIssuerUntrusted) { try verifier.verify(Presentation(token: spoofed), now: Self.now) }
    }

    @Test("aud: a token for the verifier's identity spelled with a Kelvin sign is for another audience")
    func audience() throws {
        let identity = "https://tools.acme.example/K"
        let verifier = try Self.verifier(audience: identity)
        _ = try verifier.verify(Presentation(token: try Fixture.token(Self.claims(audience: identity))), now: Self.now)
        let other = try Fixture.token(Self.claims(audience: Self.kelvinSpelling(identity)))
        expectCode(.tokenAudienceMismatch) { try verifier.verify(Presentation(token: other), now: Self.now) }
    }

    @Test("operator: the trusted operator's name and the token's deployment compare exactly")
    func operatorAttestation() throws {
        let operatorID = "https://acme.example/K"
        let deployment = "K-prod"
        let operators = [TrustedOperator(issuer: operatorID, keys: try JWKS(keys: [JWK(key: Fixture.operatorKey.verifyingKey)]))]
        let verifier = try Self.verifier(operators: operators)
        let token = try Fixture.token(Self.claims(deployment: deployment, operatorID: operatorID))
        func attestation(operatorID: String, deployment: String) throws -> String {
            try OperatorAttestation.issue(token: token, operatorID: operatorID, deployment: deployment,
                                          issuedAt: Self.now - 10, key: Fixture.operatorKey)
        }
        let verified = try verifier.verify(
            Presentation(token: token, operatorAttestation: try attestation(operatorID: operatorID, deployment: deployment)), now: Self.now)
        #expect(verified.operatorAttestation?.operatorID == operatorID)
        let otherOperator = try attestation(operatorID: Self.kelvinSpelling(operatorID), deployment: deployment)
        expectCode(.operatorUntrusted) {
            try verifier.verify(Presentation(token: token, operatorAttestation: otherOperator), now: Self.now)
        }
        let otherDeployment = try attestation(operatorID: operatorID, deployment: Self.kelvinSpelling(deployment))
        expectCode(.operatorBindingMismatch) {
            try verifier.verify(Presentation(token: token, operatorAttestation: otherDeployment), now: Self.now)
        }
    }

    @Test("proof: mth and aud compare exactly with the request's method and the verifier's identity")
    func proofClaims() throws {
        let identity = "https://tools.acme.example/K"
        let method = "tools/K"
        let verifier = try Self.verifier(audience: identity)
        let token = try Fixture.token(Self.claims(audience: identity))
        let verified = try verifier.verify(Presentation(token: token), now: Self.now)
        func proof(method: String, audience: String) throws -> String {
            try Proof.issue(method: method, params: Fixture.params, audience: audience, token: token,
                            issuedAt: Self.now, tokenID: "prf-exact", key: Fixture.agent)
        }
        func check(_ proof: String) throws {
            _ = try verifier.verifyProof(proof, for: verified, method: method, params: Fixture.params, now: Self.now,
                                         replayStore: InMemoryReplayStore())
        }
        try check(try proof(method: method, audience: identity))
        expectCode(.proofMethodMismatch) { try check(try proof(method: Self.kelvinSpelling(method), audience: identity)) }
        expectCode(.proofAudienceMismatch) { try check(try proof(method: method, audience: Self.kelvinSpelling(identity))) }
    }

    @Test("replay store: two jti that are only canonically equivalent are two proofs; the same jti is a replay")
    func replayStore() throws {
        let store = InMemoryReplayStore(capacity: 8)
        try store.insert(issuer: "https://provider.example", tokenID: "prf-K", expires: 200, now: 100)
        try store.insert(issuer: "https://provider.example", tokenID: Self.kelvinSpelling("prf-K"), expires: 200, now: 100)
        expectCode(.proofReplay) { try store.insert(issuer: "https://provider.example", tokenID: "prf-K", expires: 200, now: 100) }
        #expect(store.count == 2)
    }

    @Test("JWK: kty OKP spelled with a Kelvin sign is no supported key type")
    func jwkKeyType() throws {
        let x = Base64URL.encode(Fixture.provider.verifyingKey.rawRepresentation)
        _ = try JWK(json: ["kty": "OKP", "crv": "Ed25519", "x": .string(x)])
        expectCode(.jwkUnsupportedKeyType) { try JWK(json: ["kty": .string(Self.kelvinSpelling("OKP")), "crv": "Ed25519", "x": .string(x)]) }
    }

    @Test("agent identity: equal only when every member is the same code points")
    func agentIdentity() {
        let identity = AgentIdentity(provider: "P", modelFamily: "m", modelVersion: "1", deployment: "K-prod", operatorID: "https://o.example")
        var spelled = identity
        #expect(spelled == identity)
        spelled.deployment = Self.kelvinSpelling(identity.deployment)
        #expect(spelled != identity)
    }

    @Test("typ and other ASCII case-insensitive names fold A-Z only")
    func asciiCase() {
        #expect(CompactJWS.typeMatches("application/KID+JWT", "kid+jwt"))
        #expect("\(Self.kelvin)ID+JWT".lowercased() == "kid+jwt", "Unicode lowercasing maps the Kelvin sign to k")
        #expect(!CompactJWS.typeMatches("application/\(Self.kelvin)ID+JWT", "kid+jwt"))
        #expect(!CompactJWS.typeMatches("\(Self.kelvin)id+jwt", "kid+jwt"))
        #expect(ASCII.equalIgnoringCase("Max-Age", "max-age"))
        #expect(!ASCII.equalIgnoringCase("\(Self.kelvin)", "k"))
    }

    @Test("alg: only the exact suite names select an algorithm")
    func algorithmNames() {
        #expect(JWSAlgorithm(exactly: "Ed25519") == .ed25519)
        #expect(JWSAlgorithm(exactly: "ML-DSA-65") == .mldsa65)
        #expect(JWSAlgorithm(exactly: "ed25519") == nil)
        #expect(SignatureAlgorithm(exactly: "ML-DSA-65") == .mldsa65)
        #expect(SignatureAlgorithm(exactly: "ML-DSA-65 ") == nil)
    }
}
