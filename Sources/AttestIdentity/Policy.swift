import AttestCore

/// What a policy sees: the token that passed the fixed checks and the other objects
/// presented with it.
public struct Presentation: Sendable {
    public let token: String
    public let operatorAttestation: String?

    public init(token: String, operatorAttestation: String? = nil) {
        self.token = token
        self.operatorAttestation = operatorAttestation
    }
}

/// A verifier policy, in the manner of swift-certificates' `VerifierPolicy`: a check
/// run after the fixed token checks, in the order the policies are listed. A policy
/// rejects with a registry code; it may attach what it verified to the token.
public protocol AttestationPolicy: Sendable {
    func evaluate(_ token: inout VerifiedToken, presentation: Presentation,
                  configuration: VerifierConfiguration, now: Int64) throws(AttestError)
}

/// Policies run one after another; the first rejection wins.
public struct AllOfPolicies: AttestationPolicy {
    public let policies: [any AttestationPolicy]

    public init(_ policies: [any AttestationPolicy]) { self.policies = policies }

    public func evaluate(_ token: inout VerifiedToken, presentation: Presentation,
                         configuration: VerifierConfiguration, now: Int64) throws(AttestError) {
        for policy in policies {
            try policy.evaluate(&token, presentation: presentation, configuration: configuration, now: now)
        }
    }
}

@resultBuilder
public enum AttestationPolicyBuilder {
    public static func buildExpression(_ policy: some AttestationPolicy) -> [any AttestationPolicy] { [policy] }
    public static func buildBlock(_ parts: [any AttestationPolicy]...) -> [any AttestationPolicy] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any AttestationPolicy]?) -> [any AttestationPolicy] { part ?? [] }
    public static func buildEither(first: [any AttestationPolicy]) -> [any AttestationPolicy] { first }
    public static func buildEither(second: [any AttestationPolicy]) -> [any AttestationPolicy] { second }
    public static func buildArray(_ parts: [[any AttestationPolicy]]) -> [any AttestationPolicy] { parts.flatMap { $0 } }
    public static func buildFinalResult(_ parts: [any AttestationPolicy]) -> AllOfPolicies { AllOfPolicies(parts) }
}

/// Requires an operator attestation from one of `operators` that binds this token.
public struct RequireOperatorAttestation: AttestationPolicy {
    /// Keyed by the exact operator identifier.
    public let operators: [ExactString: TrustedOperator]

    public init(operators: [TrustedOperator]) {
        self.operators = Dictionary(operators.map { (ExactString($0.issuer), $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func evaluate(_ token: inout VerifiedToken, presentation: Presentation,
                         configuration: VerifierConfiguration, now: Int64) throws(AttestError) {
        guard let attestation = presentation.operatorAttestation else {
            throw AttestError(.operatorAttestationMissing, "the verifier's policy requires an operator attestation")
        }
        token.operatorAttestation = try OperatorAttestation.verify(
            attestation, for: token, operators: operators, configuration: configuration, now: now)
    }
}
