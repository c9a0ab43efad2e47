import AttestCore

/// A model provider the verifier trusts: its issuer URL, its current key set and the
/// SPIFFE trust domains it may attest agents in.
public struct TrustedIssuer: Sendable {
    public let issuer: String
    public let keys: JWKS
    /// Compared by code points: a trust domain is never matched by a canonically
    /// equivalent spelling.
    public let trustDomains: Set<ExactString>

    public init(issuer: String, keys: JWKS, trustDomains: some Sequence<String>) {
        self.issuer = issuer
        self.keys = keys
        self.trustDomains = Set(trustDomains.map { ExactString($0) })
    }
}

/// An operator the verifier trusts to attest deployments.
public struct TrustedOperator: Sendable {
    public let issuer: String
    public let keys: JWKS

    public init(issuer: String, keys: JWKS) {
        self.issuer = issuer
        self.keys = keys
    }
}

/// Everything a verifier knows besides the presented objects. The clock is not here:
/// it is an argument of each verification, so verification never reads the system clock.
public struct VerifierConfiguration: Sendable {
    /// The verifier's own identity; a token's `aud` and a proof's `aud` must equal it.
    public var audience: String
    /// Keyed by the exact issuer URL (TOK-021: `iss` is compared exactly).
    public var issuers: [ExactString: TrustedIssuer]
    /// Clock leeway in seconds, applied once to each time comparison.
    public var leeway: Int64 = 60
    /// Largest accepted `exp - iat` of a token, in seconds.
    public var maxLifetime: Int64 = 86_400
    /// Largest accepted age of a proof, in seconds, before the leeway.
    public var proofMaxAge: Int64 = 60
    /// Accept the deprecated `alg` `EdDSA`, with an Ed25519 key only (legacy issuers).
    public var acceptLegacyEdDSA = false

    public init(audience: String, issuers: [TrustedIssuer]) {
        self.audience = audience
        self.issuers = Self.byIssuer(issuers)
    }

    /// Issuers by exact URL; of two with the same URL the first is kept.
    public static func byIssuer(_ issuers: [TrustedIssuer]) -> [ExactString: TrustedIssuer] {
        Dictionary(issuers.map { (ExactString($0.issuer), $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Supplies a verifier's trusted issuers with their current key sets, for verifiers whose
/// keys are discovered rather than configured (spec/keys.md). Verification stays offline:
/// the caller refreshes first, then verifies against the snapshot `trustedIssuers` returns.
public protocol IssuerKeySource: Sendable {
    /// Readies the key a token names, fetching if the discovery rules allow. Never throws:
    /// a key that cannot be had shows as a rejection when the token is verified.
    func refresh(forToken token: String, now: Int64) async
    /// The issuers with their usable key sets at `now`.
    func trustedIssuers(now: Int64) async -> [TrustedIssuer]
}
