import AttestCore

/// An operator's statement that it deployed the agent a given provider token names:
/// a JWS of `typ` `operator-attestation+jwt` over `iss` (the operator), `iat`,
/// `deployment` and `tkh`, the base64url SHA-256 of the token's ASCII bytes.
public struct VerifiedOperatorAttestation: Sendable {
    public let operatorID: String
    public let deployment: String
    public let issuedAt: Int64
    public let keyID: String
}

public enum OperatorAttestation {
    /// Signs an operator attestation for `token`.
    public static func issue(token: String, operatorID: String, deployment: String, issuedAt: Int64,
                             key: any SigningKey) throws(AttestError) -> String {
        let payload: JSONObject = [
            "iss": .string(operatorID), "iat": .number(JSONNumber(Double(issuedAt))),
            "deployment": .string(deployment), "tkh": .string(Thumbprint.hash(Array(token.utf8))),
        ]
        return try CompactJWS.sign(payload: payload, type: .operatorAttestation, key: key)
    }

    /// Verifies `attestation` against an already verified token (spec/token.md, operator steps).
    static func verify(_ attestation: String, for token: VerifiedToken, operators: [ExactString: TrustedOperator],
                       configuration: VerifierConfiguration, now: Int64) throws(AttestError) -> VerifiedOperatorAttestation {
        let jws = try CompactJWS.parse(attestation, as: .operatorAttestation, acceptLegacyEdDSA: configuration.acceptLegacyEdDSA)
        let reader = ClaimReader(object: jws.payload, missing: .tokenClaimMissing, invalid: .tokenClaimInvalid, prefix: "operator attestation ")
        let operatorID = try reader.string("iss")
        guard let trusted = operators[ExactString(operatorID)] else {
            throw AttestError(.operatorUntrusted, "operator \"\(operatorID)\" is not a trusted operator")
        }
        let kid = jws.keyID ?? ""
        guard let jwk = trusted.keys.key(id: kid) else {
            throw AttestError(.operatorUntrusted, "kid \(kid) is not in the key set of operator \(operatorID)")
        }
        try jws.verifySignature(with: jwk.key, failure: .operatorSignatureInvalid)
        let issuedAt = try reader.time("iat")
        let deployment = try reader.string("deployment")
        let tkh = try reader.string("tkh")
        guard Thumbprint.isWellFormed(tkh) else {
            throw AttestError(.tokenClaimInvalid, "operator attestation tkh is not the base64url of 32 bytes")
        }
        guard issuedAt <= now + configuration.leeway else {
            throw AttestError(.tokenIssuedInFuture, "operator attestation iat \(issuedAt) is after now + leeway (\(now + configuration.leeway))")
        }
        guard tkh.isExactly(token.tokenHash) else {
            throw AttestError(.operatorBindingMismatch, "the operator attestation is for another token (tkh differs)")
        }
        guard operatorID.isExactly(token.agent.operatorID) else {
            throw AttestError(.operatorBindingMismatch, "the operator attestation is by \(operatorID); the token names operator \(token.agent.operatorID)")
        }
        guard deployment.isExactly(token.agent.deployment) else {
            throw AttestError(.operatorBindingMismatch, "the operator attestation names deployment \(deployment); the token names \(token.agent.deployment)")
        }
        return VerifiedOperatorAttestation(operatorID: operatorID, deployment: deployment, issuedAt: issuedAt, keyID: kid)
    }
}
