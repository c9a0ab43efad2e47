import AttestCore
import AttestIdentity

/// The keys and trust of the spec's identity vectors (scripts/author_identity_vectors.py):
/// the RFC 8037 provider key, the agent and operator keys, and the vectors' verifier context.
enum IdentityFixture {
    static func seed(_ label: String) -> [UInt8] { SHA256.hash(Array("MCP agent attestation vectors: \(label)".utf8)) }

    static let provider = try! Ed25519.PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
    static let otherProvider = try! Ed25519.PrivateKey(seed: seed("other provider"))
    static let providerPQ = try! MLDSA65Suite.PrivateKey(seed: seed("provider ML-DSA-65"))
    static let agent = try! Ed25519.PrivateKey(seed: seed("agent"))
    static let operatorKey = try! Ed25519.PrivateKey(seed: seed("operator"))

    static let now: Int64 = 1_780_000_000
    static let audience = "https://tools.acme.example/mcp"

    static func configuration(legacy: Bool) -> VerifierConfiguration {
        var config = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: "https://provider.example",
                          keys: try! JWKS(keys: [JWK(key: provider.verifyingKey), JWK(key: providerPQ.verifyingKey)]),
                          trustDomains: ["agents.provider.example"]),
            TrustedIssuer(issuer: "https://other-provider.example", keys: try! JWKS(keys: [JWK(key: otherProvider.verifyingKey)]),
                          trustDomains: ["agents.other-provider.example"]),
        ])
        config.acceptLegacyEdDSA = legacy
        return config
    }

    static let verifiers = [false, true].map { Verifier(configuration: configuration(legacy: $0)) }
    static let operatorVerifier = Verifier(configuration: configuration(legacy: false)) {
        RequireOperatorAttestation(operators: [
            TrustedOperator(issuer: "https://acme.example", keys: try! JWKS(keys: [JWK(key: operatorKey.verifyingKey)])),
        ])
    }

    static let defaultParams: JSONObject = [
        "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"],
        "name": "get_weather", "arguments": ["location": "New York"],
    ]
}

extension FuzzTargets {
    /// Compact JWS envelopes of every type. Parsing agrees with an independent split and
    /// decode; whatever parses passes `verifyGeneric`'s envelope rules (it may only fail
    /// on the key or signature), and whatever `verifyGeneric` finds malformed does not parse.
    @Sendable public static func jws(_ data: [UInt8]) throws(OracleFailure) {
        let compact = text(data)
        let segments = Array(compact.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let generic = Result { () throws(AttestError) in
            try CompactJWS.verifyGeneric(compact, key: IdentityFixture.provider.verifyingKey, acceptLegacyEdDSA: true)
        }
        for type in [JWSType.token, .proof, .operatorAttestation] {
            for legacy in [false, true] {
                let jws: CompactJWS
                do { jws = try CompactJWS.parse(compact, as: type, acceptLegacyEdDSA: legacy) } catch {
                    if compact.utf8.count <= type.maxBytes, segments.count != 3 {
                        try check(error.code == .jwsMalformed, "\(segments.count) segments rejected with \(error.code), not JWS_MALFORMED")
                    }
                    continue
                }
                try check(segments.count == 3, "parsed with \(segments.count) segments")
                try check(jws.signingInput == Array(segments[0]) + [UInt8(ascii: ".")] + Array(segments[1]), "signing input is not the first two segments")
                try check(Base64URL.encode(jws.signature) == text(Array(segments[2])), "signature does not re-encode to its segment")
                guard let header = try? StrictJSONParser().parse(try Base64URL.decode(utf8: segments[0])),
                      let payload = try? StrictJSONParser().parse(try Base64URL.decode(utf8: segments[1])) else {
                    throw OracleFailure("parsed, but its segments do not decode and parse independently")
                }
                try check(header == .object(jws.header) && payload == .object(jws.payload), "header or payload differs from an independent decode")
                try check(legacy || jws.algorithm != .legacyEdDSA, "EdDSA accepted without opting in")
                switch generic {
                case .success: break
                case .failure(let e):
                    try check([.signatureInvalid, .jwsAlgorithmKeyMismatch].contains(e.code),
                              "parses as \(type.typ), but verifyGeneric rejects its envelope with \(e.code)")
                }
            }
        }
    }

    /// Token, operator attestation and proof verification with the vectors' trust and
    /// clock. Input: raw texts separated by NUL (token, proof, params JSON, operator
    /// attestation); or, after a leading 0x01 byte, the JSON of token header, token
    /// payload, proof header, proof payload and params, separated by NUL, which the
    /// target encodes and signs with the provider and agent keys, so every check after
    /// the signatures is reachable. Placeholders in the JSON: `$kid` (provider key),
    /// `$jkt` (agent thumbprint), `"$jwk"` (agent public JWK), `$ath` (token hash),
    /// `$ph` (params hash).
    @Sendable public static func token(_ data: [UInt8]) throws(OracleFailure) {
        let token: String, proof: String?, paramsText: [UInt8]?, operatorAttestation: String?
        if data.first == 0x01 {
            let p = parts(Array(data.dropFirst()), separator: 0, limit: 5)
            guard p.count >= 2 else { return }
            let replacements = [("$kid", IdentityFixture.provider.verifyingKey.thumbprint),
                                ("$jkt", IdentityFixture.agent.verifyingKey.thumbprint)]
            token = signed(substitute(p[0], replacements), substitute(p[1], replacements), key: IdentityFixture.provider)
            paramsText = p.count > 4 ? p[4] : nil
            if p.count > 3 {
                let params = paramsText.flatMap { try? StrictJSONParser().parse($0).objectValue } ?? IdentityFixture.defaultParams
                let jwk = JWK(key: IdentityFixture.agent.verifyingKey).jsonValue.serialized(pretty: false)
                let proofReplacements = [("\"$jwk\"", jwk), ("$ath", Base64URL.encode(SHA256.hash(Array(token.utf8)))),
                                         ("$ph", Carrier.paramsHash(params))]
                proof = signed(substitute(p[2], proofReplacements), substitute(p[3], proofReplacements), key: IdentityFixture.agent)
            } else {
                proof = nil
            }
            operatorAttestation = nil
        } else {
            let p = parts(data, separator: 0, limit: 4).map(text)
            token = p[0]
            proof = p.count > 1 ? p[1] : nil
            paramsText = p.count > 2 ? Array(p[2].utf8) : nil
            operatorAttestation = p.count > 3 ? p[3] : nil
        }
        let now = IdentityFixture.now
        for verifier in IdentityFixture.verifiers {
            let config = verifier.configuration
            guard let verified = try? verifier.verify(Presentation(token: token), now: now) else { continue }
            let claims = verified.claims
            guard let issuer = config.issuers[ExactString(claims.issuer)] else { throw OracleFailure("verified a token of an untrusted issuer") }
            try check(issuer.keys.key(id: verified.keyID) != nil, "verified with a kid outside the issuer's key set")
            try check(claims.audience.isExactly(config.audience), "verified a token for another audience")
            try check(now <= claims.expiresAt + config.leeway && claims.issuedAt <= now + config.leeway
                      && (claims.notBefore ?? 0) <= now + config.leeway, "verified a token outside its validity")
            try check(claims.expiresAt > claims.issuedAt && claims.expiresAt - claims.issuedAt <= config.maxLifetime,
                      "verified a token with a lifetime out of bounds")
            guard let subject = SPIFFEID(claims.subject), issuer.trustDomains.contains(ExactString(subject.trustDomain)) else {
                throw OracleFailure("verified a token whose sub is outside the issuer's trust domains")
            }
            try check(verified.tokenHash == Base64URL.encode(SHA256.hash(Array(token.utf8))), "tokenHash is not the hash of the token")
        }
        if let operatorAttestation {
            let presentation = Presentation(token: token, operatorAttestation: operatorAttestation)
            if let verified = try? IdentityFixture.operatorVerifier.verify(presentation, now: now) {
                guard let attestation = verified.operatorAttestation else { throw OracleFailure("operator policy passed without an attestation") }
                try check(attestation.operatorID == verified.agent.operatorID && attestation.deployment == verified.agent.deployment,
                          "operator attestation verified for another operator or deployment")
            }
        }
        guard let proof else { return }
        let verifier = IdentityFixture.verifiers[0]
        guard let verified = try? verifier.verify(Presentation(token: token), now: now) else { return }
        var params = paramsText.flatMap { try? StrictJSONParser().parse($0).objectValue } ?? IdentityFixture.defaultParams
        if params["_meta"] == nil { params["_meta"] = .object([:]) }
        let direct = Result { () throws(AttestError) in
            try verifier.verifyProof(proof, for: verified, method: "tools/call", params: params, now: now, replayStore: InMemoryReplayStore())
        }
        if case .success(let accepted) = direct {
            try check(accepted.issuedAt <= now + verifier.configuration.leeway && now <= accepted.replayExpires,
                      "verified a proof outside its freshness window")
        }
        // The same proof carried in a request, as the MCP binding presents it.
        guard case .object(var meta)? = params["_meta"], Carrier.all.allSatisfy({ !meta.contains($0) }) else { return }
        meta[Carrier.token] = .string(token)
        meta[Carrier.proof] = .string(proof)
        var carried = params
        carried["_meta"] = .object(meta)
        let request: JSONObject = ["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": .object(carried)]
        let viaRequest = Result { () throws(AttestError) in
            try verifier.verifyRequest(request, policy: .required, now: now, replayStore: InMemoryReplayStore())
        }
        switch (direct, viaRequest) {
        case (.success, .success): break
        case (.failure(let a), .failure(let b)) where a.code == b.code: break
        default: throw OracleFailure("the proof verifies differently alone (\(direct.map { _ in "valid" })) and in a request (\(viaRequest.map { _ in "valid" }))")
        }
    }

    /// `header.payload.signature` with the JSON texts as given, signed with `key`.
    static func signed(_ header: [UInt8], _ payload: [UInt8], key: any SigningKey) -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        let signature = (try? key.signRaw(Array(input.utf8))) ?? []
        return input + "." + Base64URL.encode(signature)
    }
}
