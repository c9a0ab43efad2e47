import AttestCore

/// Verifies attestation tokens, their operator attestations and per-request proofs.
///
/// The token checks run in the fixed order of spec/token.md, so a token with several
/// defects always yields the same code; the configured policies run after them.
///
/// ```swift
/// let verifier = Verifier(configuration: config) {
///     RequireOperatorAttestation(operators: operators)
/// }
/// let token = try verifier.verify(Presentation(token: t, operatorAttestation: o), now: now)
/// ```
public struct Verifier: Sendable {
    public var configuration: VerifierConfiguration
    public var policy: AllOfPolicies

    public init(configuration: VerifierConfiguration,
                @AttestationPolicyBuilder policy: () -> AllOfPolicies = { AllOfPolicies([]) }) {
        self.configuration = configuration
        self.policy = policy()
    }

    /// Verifies a token at time `now` (seconds since the epoch, an explicit input).
    public func verify(_ presentation: Presentation, now: Int64) throws(AttestError) -> VerifiedToken {
        let config = configuration
        let jws = try CompactJWS.parse(presentation.token, as: .token, acceptLegacyEdDSA: config.acceptLegacyEdDSA)

        guard let issValue = jws.payload["iss"] else { throw AttestError(.tokenClaimMissing, "the token has no iss") }
        guard case .string(let iss) = issValue, iss.hasPrefix("https://"), Self.longerThanScheme(iss) else {
            throw AttestError(.tokenClaimInvalid, "iss \(describe(issValue)) is not an HTTPS URL")
        }
        guard let issuer = config.issuers[iss] else {
            throw AttestError(.tokenIssuerUntrusted, "issuer \"\(iss)\" is not trusted by this verifier")
        }
        let kid = jws.keyID ?? ""
        guard let jwk = issuer.keys.key(id: kid) else {
            throw AttestError(.tokenKeyIDUnknown, "kid \(kid) is not in the key set of \(iss)")
        }
        try jws.verifySignature(with: jwk.key, failure: .tokenSignatureInvalid)

        let claims = try TokenClaims(payload: jws.payload)
        guard claims.audience == config.audience else {
            throw AttestError(.tokenAudienceMismatch, "aud \"\(claims.audience)\" is not this verifier (\(config.audience))")
        }
        let leeway = config.leeway
        guard now <= claims.expiresAt + leeway else {
            throw AttestError(.tokenExpired, "exp \(claims.expiresAt) + leeway \(leeway) is before now (\(now))")
        }
        if let nbf = claims.notBefore, nbf > now + leeway {
            throw AttestError(.tokenNotYetValid, "nbf \(nbf) is after now + leeway (\(now + leeway))")
        }
        guard claims.issuedAt <= now + leeway else {
            throw AttestError(.tokenIssuedInFuture, "iat \(claims.issuedAt) is after now + leeway (\(now + leeway))")
        }
        guard claims.expiresAt > claims.issuedAt, claims.expiresAt - claims.issuedAt <= config.maxLifetime else {
            throw AttestError(.tokenLifetimeExceeded,
                "exp - iat is \(claims.expiresAt - claims.issuedAt) s; it must be positive and at most \(config.maxLifetime) s")
        }
        guard let domain = SPIFFEID.trustDomain(of: claims.subject) else {
            throw AttestError(.tokenClaimInvalid, "sub \"\(claims.subject)\" is not a SPIFFE ID")
        }
        guard issuer.trustDomains.contains(domain) else {
            throw AttestError(.tokenSubjectDomainMismatch, "sub trust domain \(domain) is not bound to issuer \(iss)")
        }

        var token = VerifiedToken(compact: presentation.token, keyID: kid, algorithm: jws.algorithm, claims: claims)
        try policy.evaluate(&token, presentation: presentation, configuration: config, now: now)
        return token
    }

    /// Whether `iss`, which starts with `https://`, has more characters than that: its
    /// ninth byte is then present, and an ASCII byte there starts a new character; only
    /// a non-ASCII one (which could extend the `/`) needs the characters counted.
    static func longerThanScheme(_ iss: String) -> Bool {
        let scheme = "https://".utf8.count
        let utf8 = iss.utf8
        guard utf8.count > scheme else { return false }
        if utf8[utf8.index(utf8.startIndex, offsetBy: scheme)] < 0x80 { return true }
        return iss.count > scheme
    }

    /// The same verification as a value: the verified identity or the registry code.
    public func result(_ presentation: Presentation, now: Int64) -> Result<VerifiedToken, AttestError> {
        do { return .success(try verify(presentation, now: now)) } catch { return .failure(error) }
    }
}
