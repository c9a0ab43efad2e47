import AttestCore

/// The `params._meta` members that carry the attestation objects in a request. They are
/// removed from `params` before hashing it for `ph`, since the proof cannot cover itself.
public enum Carrier {
    public static let token = "dev.agent-attestation/token"
    public static let proof = "dev.agent-attestation/proof"
    public static let operatorAttestation = "dev.agent-attestation/operator"
    public static let all = [token, proof, operatorAttestation]

    /// base64url SHA-256 of the JCS form of `params` without the carrier members of `_meta`.
    public static func paramsHash(_ params: JSONObject) -> String {
        // The same bytes as removing the members from a copy of `_meta` and
        // canonicalizing the copy, without the copies.
        Thumbprint.hash(JCS.canonicalize(params, removing: all, fromMember: "_meta"))
    }
}

/// A proof that passed every check.
public struct VerifiedProof: Sendable {
    public let tokenID: String
    public let issuedAt: Int64
    /// Until when the replay store keeps `(iss, jti)`: `iat + max age + leeway`.
    public let replayExpires: Int64
}

public enum Proof {
    /// Signs a proof with the agent key for one request.
    public static func issue(method: String, params: JSONObject, audience: String, token: String,
                             issuedAt: Int64, tokenID: String, key: any SigningKey) throws(AttestError) -> String {
        let payload: JSONObject = [
            "mth": .string(method), "ph": .string(Carrier.paramsHash(params)), "aud": .string(audience),
            "iat": .number(JSONNumber(Double(issuedAt))), "jti": .string(tokenID),
            "ath": .string(Thumbprint.hash(Array(token.utf8))),
        ]
        return try CompactJWS.sign(payload: payload, type: .proof, key: key)
    }
}

/// A JSON-RPC request's attestation as the request policy treats it.
public enum RequestPolicy: String, Sendable {
    /// A request without a token is rejected.
    case required
    /// A request without a token is accepted unattested; a present token must be valid.
    case optional
}

/// The outcome of verifying a request: attested (token and proof verified) or, under
/// the `optional` policy only, unattested.
public enum RequestAttestation: Sendable {
    case attested(VerifiedToken, VerifiedProof)
    case unattested
}

extension Verifier {
    /// Verifies a proof for `token` over one request (spec/proof.md, steps in order).
    public func verifyProof(_ proof: String, for token: VerifiedToken, method: String, params: JSONObject,
                            now: Int64, replayStore: some ReplayStore) throws(AttestError) -> VerifiedProof {
        let config = configuration
        let jws = try CompactJWS.parse(proof, as: .proof, acceptLegacyEdDSA: config.acceptLegacyEdDSA)
        guard let jwkValue = jws.header["jwk"] else {
            throw AttestError(.jwsKeyMissing, "the header has no jwk naming the signing key")
        }
        let jwk = try JWK(json: jwkValue)
        guard jwk.algorithm == jws.algorithm.suite else {
            throw AttestError(.jwsAlgorithmKeyMismatch, "alg \(jws.algorithm.rawValue) cannot be used with a \(jwk.algorithm.rawValue) key")
        }
        guard jwk.thumbprint.isExactly(token.claims.confirmationKeyThumbprint) else {
            throw AttestError(.proofKeyMismatch, "the proof key \(jwk.thumbprint) is not the token's cnf.jkt")
        }
        try jws.verifySignature(with: jwk.key, failure: .proofSignatureInvalid)

        let reader = ClaimReader(object: jws.payload, missing: .proofClaimMissing, invalid: .proofClaimInvalid, prefix: "proof ")
        // Presence and type of all six first, then the form of ph and of ath (proof.md, step 5).
        let mth = try reader.string("mth")
        let ph = try reader.string("ph")
        let aud = try reader.string("aud")
        let iat = try reader.time("iat")
        let jti = try reader.string("jti", maxLength: 256)
        let ath = try reader.string("ath")
        guard Thumbprint.isWellFormed(ph) else {
            throw AttestError(.proofClaimInvalid, "proof ph is not the base64url of 32 bytes")
        }
        guard Thumbprint.isWellFormed(ath) else {
            throw AttestError(.proofClaimInvalid, "proof ath is not the base64url of 32 bytes")
        }
        guard ath.isExactly(token.tokenHash) else {
            throw AttestError(.proofTokenHashMismatch, "the proof is for another token (ath differs)")
        }
        guard mth.isExactly(method) else {
            throw AttestError(.proofMethodMismatch, "the proof is for method \(mth), the request is \(method)")
        }
        guard aud.isExactly(config.audience) else {
            throw AttestError(.proofAudienceMismatch, "the proof is for audience \(aud), not \(config.audience)")
        }
        // `ph` covers the JCS form, which rounds every number to a double: a literal that
        // denotes another value than its double would be acted on unsigned (json.md,
        // §Exact numbers). The carrier members are strings, so the whole of params is walked.
        if let inexact = JSONValue.object(params).firstInexactNumber {
            throw AttestError(.jsonNumberInexact, "params holds the number \(inexact.source), which is not exactly its double \(JCS.format(inexact.value))")
        }
        guard ph.isExactly(Carrier.paramsHash(params)) else {
            throw AttestError(.proofParamsHashMismatch, "the proof covers other params")
        }
        guard iat <= now + config.leeway else {
            throw AttestError(.proofIssuedInFuture, "proof iat \(iat) is after now + leeway (\(now + config.leeway))")
        }
        let expires = iat + config.proofMaxAge + config.leeway
        guard now <= expires else {
            throw AttestError(.proofStale, "proof iat \(iat) is older than max age \(config.proofMaxAge) s + leeway")
        }
        try replayStore.insert(issuer: token.issuer, tokenID: jti, expires: expires, now: now)
        return VerifiedProof(tokenID: jti, issuedAt: iat, replayExpires: expires)
    }

    /// Verifies the token, the optional operator attestation and the proof that a
    /// JSON-RPC request carries in `params._meta`.
    ///
    /// The request is first checked as mcp-binding.md checks a governed request: a string
    /// `method`, an object `params` whose `_meta`, if present, is an object
    /// (`MCP_MALFORMED_REQUEST`), and carrier members that are strings (`MCP_CARRIER_INVALID`).
    public func verifyRequest(_ request: JSONObject, policy: RequestPolicy, now: Int64,
                              replayStore: some ReplayStore) throws(AttestError) -> RequestAttestation {
        guard case .string(let method)? = request["method"] else {
            throw AttestError(.mcpMalformedRequest, "the request has no string method")
        }
        guard case .object(let params)? = request["params"] else {
            throw AttestError(.mcpMalformedRequest, "the request has no params object")
        }
        let meta: JSONObject
        switch params["_meta"] {
        case nil: meta = [:]
        case .object(let object)?: meta = object
        case .some: throw AttestError(.mcpMalformedRequest, "params._meta is not an object")
        }
        for name in Carrier.all {
            if let value = meta[name], value.stringValue == nil {
                throw AttestError(.mcpCarrierInvalid, "params._meta[\"\(name)\"] is not a string")
            }
        }
        func carried(_ name: String) -> String? { meta[name]?.stringValue }
        guard let token = carried(Carrier.token) else {
            if policy == .optional, meta[Carrier.proof] == nil, meta[Carrier.operatorAttestation] == nil {
                return .unattested
            }
            throw AttestError(.proofTokenMissing, "the request carries no attestation token")
        }
        let verified = try verify(Presentation(token: token, operatorAttestation: carried(Carrier.operatorAttestation)), now: now)
        guard let proof = carried(Carrier.proof) else {
            throw AttestError(.proofMissing, "the request carries a token but no proof")
        }
        let verifiedProof = try verifyProof(proof, for: verified, method: method, params: params, now: now, replayStore: replayStore)
        return .attested(verified, verifiedProof)
    }
}
