import AttestCore
import AttestIdentity
import Foundation
import JWTKit
import Testing
import TestSupport

/// Interoperability with vapor/jwt-kit 5.8.0, which knows only RFC 8037's polymorphic
/// `EdDSA` (spec/token.md, "Algorithms, and the polymorphic `EdDSA`").
///
/// How the two directions work with jwt-kit 5.8.0, as these tests show:
///
/// - **Our `Ed25519` tokens → jwt-kit: natively.** An EdDSA key added with
///   `JWTKeyCollection.add(eddsa:kid:)` is picked by the header's `kid` (or as the
///   default key); jwt-kit never compares the header's `alg` with such a key, so it
///   verifies a token whose `alg` is `Ed25519` with its own EdDSA code, unchanged.
/// - **jwt-kit → us.** By default jwt-kit writes `alg` `EdDSA` (its `EdDSASigner.name`),
///   which our verifier takes only with `acceptLegacyEdDSA`. jwt-kit keeps an `alg` the
///   caller puts in the `JWTHeader` it passes to `sign` (`makeHeader` fills `alg` only
///   when it is absent), so one header field makes it sign `Ed25519` tokens with the
///   same EdDSA key; those pass our default verifier.
/// - **No registration.** jwt-kit 5.8.0 has no public way to register a custom
///   `JWTAlgorithm` (say one named `Ed25519` that delegates to its EdDSA code):
///   `JWTKeyCollection.add(_:for:)`, `JWTSigner` and `JWTSerializer.sign(_:with:using:)`
///   are internal, and `JWK.Algorithm` is a closed set (`EdDSA` but not `Ed25519`).
///   Registration is not needed for keys added directly, and does not help on the
///   JWKS path (see ``jwtKitJWKSPathKnowsOnlyEdDSA()``).
@Suite("jwt-kit 5.8.0 interoperability")
struct JWTKitInteropTests {
    // MARK: Fixture (the AttestIdentityTests fixture, which this target cannot import)

    static let now: Int64 = 1_780_000_000
    static let issuerURL = "https://provider.example"
    static let trustDomain = "agents.provider.example"
    static let audience = "https://tools.acme.example/mcp"
    static let tokenType = "agent-attestation+jwt"

    /// The RFC 8037 Appendix A key, as in the spec's vectors.
    static let provider = try! AttestCore.Ed25519.PrivateKey(
        seed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    static let agent = try! AttestCore.Ed25519.PrivateKey(seed: SHA256.hash(Array("jwt-kit interop: agent".utf8)))
    static var kid: String { provider.publicKey.thumbprint }

    static let claims = TokenClaims(
        issuer: issuerURL, subject: "spiffe://\(trustDomain)/acme/support-bot", audience: audience,
        issuedAt: now - 300, expiresAt: now + 3300, tokenID: "tok-jwtkit-1",
        confirmationKeyThumbprint: agent.publicKey.thumbprint,
        agent: AgentIdentity(provider: "Example Provider", modelFamily: "example-model", modelVersion: "2026-05-01",
                             deployment: "acme-support-prod", operatorID: "https://acme.example", safetyLevel: "standard"))

    static func verifier(legacyEdDSA: Bool = false) throws -> Verifier {
        var config = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuerURL, keys: try AttestCore.JWKS(keys: [AttestCore.JWK(key: provider.verifyingKey)]),
                          trustDomains: [trustDomain]),
        ])
        config.acceptLegacyEdDSA = legacyEdDSA
        return Verifier(configuration: config)
    }

    /// The provider's public key in a jwt-kit key collection, under its thumbprint `kid`.
    static func jwtKitVerifierKeys() async throws -> JWTKeyCollection {
        let publicKey = try EdDSA.PublicKey(x: Base64URL.encode(provider.publicKey.rawRepresentation), curve: .ed25519)
        return await JWTKeyCollection().add(eddsa: publicKey, kid: JWKIdentifier(string: kid))
    }

    /// The provider's private key (same seed) in a jwt-kit key collection, with jwt-kit's
    /// default serializer: a legacy issuer "without extra code".
    static func jwtKitSignerKeys() async throws -> JWTKeyCollection {
        let privateKey = try EdDSA.PrivateKey(d: Base64URL.encode(provider.seed), curve: .ed25519)
        #expect(Array(privateKey.publicKey.rawRepresentation) == provider.publicKey.rawRepresentation)
        return await JWTKeyCollection().add(eddsa: privateKey, kid: JWKIdentifier(string: kid))
    }

    static func header(_ compact: String) throws -> JSONObject {
        let segment = String(compact.split(separator: ".", omittingEmptySubsequences: false)[0])
        guard case .object(let header) = try StrictJSONParser().parse(try Base64URL.decode(segment)) else {
            throw AttestError(.jwsMalformed, "header is not an object")
        }
        return header
    }

    /// Replaces the payload of a compact JWS, keeping header and signature.
    static func tamper(_ compact: String, _ change: (inout JSONObject) -> Void) throws -> String {
        var parts = compact.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard case .object(var payload) = try StrictJSONParser().parse(try Base64URL.decode(parts[1])) else {
            throw AttestError(.jwsMalformed, "payload is not an object")
        }
        change(&payload)
        parts[1] = Base64URL.encode(JCS.canonicalize(.object(payload)))
        return parts.joined(separator: ".")
    }

    static func expectSameClaims(_ verified: VerifiedToken, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(verified.claims.jsonObject == claims.jsonObject, sourceLocation: sourceLocation)
        #expect(verified.keyID == kid, sourceLocation: sourceLocation)
    }

    // MARK: Our tokens, verified by jwt-kit

    /// Works natively: jwt-kit picks its EdDSA key by `kid` and does not look at `alg`,
    /// so our `Ed25519` token verifies with jwt-kit's own EdDSA code and no extra code,
    /// and its claims decode into jwt-kit claim types.
    @Test func ourEd25519TokenVerifiesWithJWTKit() async throws {
        let token = try TokenIssuer(key: Self.provider).issue(Self.claims)
        #expect(try Self.header(token)["alg"] == "Ed25519")

        let keys = try await Self.jwtKitVerifierKeys()
        let payload = try await keys.verify(token, as: AttestationPayload.self)
        #expect(payload == AttestationPayload(Self.claims))
        #expect(payload.iss.value == Self.issuerURL)
        #expect(payload.aud.value == [Self.audience])
        #expect(payload.iat.value == Date(timeIntervalSince1970: TimeInterval(Self.now - 300)))
        #expect(payload.exp.value == Date(timeIntervalSince1970: TimeInterval(Self.now + 3300)))
        #expect(payload.cnf.jkt == Self.agent.publicKey.thumbprint)
        #expect(payload.agent.modelFamily == "example-model")

        // Control on our side: the same token verifies with our default verifier.
        Self.expectSameClaims(try Self.verifier().verify(Presentation(token: token), now: Self.now))
    }

    /// Why the direction above is native, and what it costs: for a key added directly,
    /// jwt-kit 5.8.0 verifies whatever the header's `alg` says (here `ES256` over an
    /// Ed25519 signature). Our verifier rejects the same token with `JWS_ALG_NOT_ALLOWED`.
    @Test func jwtKitChoosesKeyByKidNotByAlg() async throws {
        let header: JSONObject = ["alg": "ES256", "typ": .string(Self.tokenType), "kid": .string(Self.kid)]
        let input = Base64URL.encode(JCS.canonicalize(.object(header))) + "."
            + Base64URL.encode(JCS.canonicalize(.object(Self.claims.jsonObject)))
        let token = input + "." + Base64URL.encode(try Self.provider.signRaw(Array(input.utf8)))

        let keys = try await Self.jwtKitVerifierKeys()
        #expect(try await keys.verify(token, as: AttestationPayload.self) == AttestationPayload(Self.claims))
        expectCode(.jwsAlgorithmNotAllowed) { try Self.verifier(legacyEdDSA: true).verify(Presentation(token: token), now: Self.now) }
    }

    /// The JWKS path is where jwt-kit's closed `JWK.Algorithm` shows: our published JWK
    /// (`kty` `OKP`, `crv` `Ed25519`, no `alg`) loads, but jwt-kit makes a verifier for
    /// it only from a header `alg` it knows, so an `EdDSA` token verifies (control) and
    /// an `Ed25519` token is refused before any signature check. A jwt-kit verifier of
    /// our tokens therefore adds the key with `add(eddsa:kid:)`, not from the JWKS.
    @Test func jwtKitJWKSPathKnowsOnlyEdDSA() async throws {
        let jwks = try AttestCore.JWKS(keys: [AttestCore.JWK(key: Self.provider.verifyingKey)])
        let jwksJSON = String(decoding: JCS.canonicalize(jwks.jsonValue), as: UTF8.self)

        let legacy = try await Self.jwtKitSignerKeys().sign(
            AttestationPayload(Self.claims), kid: JWKIdentifier(string: Self.kid), header: ["typ": .string(Self.tokenType)])
        let fromJWKS = try await JWTKeyCollection().add(jwksJSON: jwksJSON)
        #expect(try await fromJWKS.verify(legacy, as: AttestationPayload.self) == AttestationPayload(Self.claims))

        let ours = try TokenIssuer(key: Self.provider).issue(Self.claims)
        let fromJWKS2 = try await JWTKeyCollection().add(jwksJSON: jwksJSON)
        let error = await #expect(throws: JWTError.self) { try await fromJWKS2.verify(ours, as: AttestationPayload.self) }
        #expect(error?.errorType == .generic)
        #expect(error?.reason?.contains("Invalid algorithm") == true, "\(String(describing: error))")
    }

    // MARK: jwt-kit's tokens, verified by us

    /// jwt-kit's default `alg` is `EdDSA`: our verifier rejects it by default with
    /// `JWS_ALG_DEPRECATED` (TOK-010) and accepts it, as an Ed25519 key, only with
    /// `acceptLegacyEdDSA` (TOK-011).
    @Test func jwtKitEdDSATokenNeedsLegacyOption() async throws {
        let keys = try await Self.jwtKitSignerKeys()
        let token = try await keys.sign(
            AttestationPayload(Self.claims), kid: JWKIdentifier(string: Self.kid), header: ["typ": .string(Self.tokenType)])
        let header = try Self.header(token)
        #expect(header["alg"] == "EdDSA")
        #expect(header["typ"] == .string(Self.tokenType))
        #expect(header["kid"] == .string(Self.kid))

        expectCode(.jwsAlgorithmDeprecated) { try Self.verifier().verify(Presentation(token: token), now: Self.now) }

        let verified = try Self.verifier(legacyEdDSA: true).verify(Presentation(token: token), now: Self.now)
        #expect(verified.algorithm == .legacyEdDSA)
        Self.expectSameClaims(verified)
    }

    /// jwt-kit signs `alg` `Ed25519` when the header it is given names it (no custom
    /// algorithm: there is no public registration API in 5.8.0, and the signer is the
    /// one chosen by `kid`). Such a token passes our default verifier, and jwt-kit
    /// verifies its own token too.
    @Test func jwtKitEd25519TokenVerifiesByDefault() async throws {
        let keys = try await Self.jwtKitSignerKeys()
        let token = try await keys.sign(
            AttestationPayload(Self.claims), kid: JWKIdentifier(string: Self.kid),
            header: ["alg": .string("Ed25519"), "typ": .string(Self.tokenType)])
        #expect(try Self.header(token)["alg"] == "Ed25519")

        let verified = try Self.verifier().verify(Presentation(token: token), now: Self.now)
        #expect(verified.algorithm == .ed25519)
        Self.expectSameClaims(verified)

        // jwt-kit verifies its own Ed25519 token as well.
        #expect(try await Self.jwtKitVerifierKeys().verify(token, as: AttestationPayload.self) == AttestationPayload(Self.claims))
    }

    // MARK: Tampering

    /// A token whose payload is changed after signing (a different agent `sub`) is
    /// rejected by both libraries, whichever signed it; the untampered tokens verify.
    @Test func tamperedTokensAreRejectedByBoth() async throws {
        let ours = try TokenIssuer(key: Self.provider).issue(Self.claims)
        let signer = try await Self.jwtKitSignerKeys()
        let theirs = try await signer.sign(
            AttestationPayload(Self.claims), kid: JWKIdentifier(string: Self.kid),
            header: ["alg": .string("Ed25519"), "typ": .string(Self.tokenType)])
        let theirsLegacy = try await signer.sign(
            AttestationPayload(Self.claims), kid: JWKIdentifier(string: Self.kid), header: ["typ": .string(Self.tokenType)])
        let jwtKit = try await Self.jwtKitVerifierKeys()

        for (name, token, legacy) in [("ours", ours, false), ("jwt-kit Ed25519", theirs, false), ("jwt-kit EdDSA", theirsLegacy, true)] {
            let tampered = try Self.tamper(token) { $0["sub"] = .string("spiffe://\(Self.trustDomain)/acme/admin-bot") }
            #expect(tampered != token)

            // Positive controls: the untampered token verifies on both sides.
            Self.expectSameClaims(try Self.verifier(legacyEdDSA: legacy).verify(Presentation(token: token), now: Self.now))
            #expect(try await jwtKit.verify(token, as: AttestationPayload.self) == AttestationPayload(Self.claims), "\(name)")

            expectCode(.tokenSignatureInvalid, "\(name)") {
                try Self.verifier(legacyEdDSA: legacy).verify(Presentation(token: tampered), now: Self.now)
            }
            let error = await #expect(throws: JWTError.self, "\(name)") {
                try await jwtKit.verify(tampered, as: AttestationPayload.self)
            }
            #expect(error?.errorType == .signatureVerificationFailed, "\(name)")
        }
    }
}

/// The token claims (spec/token.md, "Claims") as a jwt-kit payload.
struct AttestationPayload: JWTPayload, Equatable {
    struct Confirmation: Codable, Equatable, Sendable {
        var jkt: String
    }

    struct Agent: Codable, Equatable, Sendable {
        var provider: String
        var modelFamily: String
        var modelVersion: String
        var deployment: String
        var operatorID: String
        var safetyLevel: String?

        enum CodingKeys: String, CodingKey {
            case provider, deployment
            case modelFamily = "model_family", modelVersion = "model_version"
            case operatorID = "operator", safetyLevel = "safety_level"
        }
    }

    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var cnf: Confirmation
    var agent: Agent

    init(_ claims: TokenClaims) {
        iss = IssuerClaim(value: claims.issuer)
        sub = SubjectClaim(value: claims.subject)
        aud = AudienceClaim(value: [claims.audience])
        iat = IssuedAtClaim(value: Date(timeIntervalSince1970: TimeInterval(claims.issuedAt)))
        exp = ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(claims.expiresAt)))
        jti = IDClaim(value: claims.tokenID)
        cnf = Confirmation(jkt: claims.confirmationKeyThumbprint)
        let a = claims.agent
        agent = Agent(provider: a.provider, modelFamily: a.modelFamily, modelVersion: a.modelVersion,
                      deployment: a.deployment, operatorID: a.operatorID, safetyLevel: a.safetyLevel)
    }

    /// jwt-kit runs this after the signature; time is the fixture's, not the clock's.
    func verify(using _: some JWTAlgorithm) throws {
        try exp.verifyNotExpired(currentDate: Date(timeIntervalSince1970: TimeInterval(JWTKitInteropTests.now)))
        try aud.verifyIntendedAudience(includes: JWTKitInteropTests.audience)
    }
}
