import AttestCore
import AttestIdentity

/// Ops of the identity documents: token, proof, keys (discovery), mcp-binding.
enum IdentityOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "token.issue", document: "token") { args in
            let algorithm = try CoreOps.algorithm(args)
            let key = try algorithm.privateKey(seed: try args.hex("seed"))
            guard let claims = args.input["claims"]?.objectValue else { throw OpInputError(description: "input has no \"claims\" object") }
            let token = try TokenIssuer(key: key).issue(payload: claims)
            return ["token": .string(token), "kid": .string(key.verifyingKey.thumbprint)]
        },
        .init(name: "token.verify", document: "token") { args in
            let verifier = try verifier(args, requireOperator: args.context["require_operator"]?.boolValue == true)
            let token = try verifier.verify(presentation(args), now: try now(args))
            return tokenOutput(token)
        },
        .init(name: "operator.verify", document: "token") { args in
            let verifier = try verifier(args, requireOperator: true)
            let token = try verifier.verify(Presentation(token: try args.string("token"), operatorAttestation: try args.string("attestation")),
                                            now: try now(args))
            guard let attestation = token.operatorAttestation else {
                throw AttestError(.operatorAttestationMissing, "the verifier requires an operator attestation and returned none")
            }
            return ["operator": .string(attestation.operatorID), "deployment": .string(attestation.deployment),
                    "kid": .string(attestation.keyID), "sub": .string(token.subject)]
        },
        .init(name: "proof.verify", document: "proof") { args in
            let verifier = try verifier(args, requireOperator: false)
            let now = try now(args)
            let token = try verifier.verify(Presentation(token: try args.string("token")), now: now)
            guard let params = args.input["params"]?.objectValue else { throw OpInputError(description: "input has no \"params\" object") }
            let proof = try verifier.verifyProof(try args.string("proof"), for: token, method: try args.string("method"),
                                                 params: params, now: now, replayStore: try replayStore(args, now: now))
            return ["jti": .string(proof.tokenID), "iat": .number(JSONNumber(Double(proof.issuedAt))),
                    "replay_expires": .number(JSONNumber(Double(proof.replayExpires))), "iss": .string(token.issuer)]
        },
        .init(name: "request.verify", document: "proof") { args in
            let verifier = try verifier(args, requireOperator: args.context["require_operator"]?.boolValue == true)
            let now = try now(args)
            guard let request = args.input["request"]?.objectValue else { throw OpInputError(description: "input has no \"request\" object") }
            let policyName = args.context["policy"]?.stringValue ?? "required"
            guard let policy = RequestPolicy(rawValue: policyName) else { throw OpInputError(description: "unknown policy \(policyName)") }
            switch try verifier.verifyRequest(request, policy: policy, now: now, replayStore: try replayStore(args, now: now)) {
            case .unattested:
                return ["attested": false]
            case .attested(let token, let proof):
                var out = tokenOutput(token)
                out["attested"] = true
                out["proof_jti"] = .string(proof.tokenID)
                return out
            }
        },
    ]

    static func now(_ args: OpArguments) throws -> Int64 {
        guard let now = args.context["now"]?.integerValue else { throw OpInputError(description: "context has no integer \"now\"") }
        return now
    }

    static func presentation(_ args: OpArguments) throws -> Presentation {
        Presentation(token: try args.string("token"), operatorAttestation: try args.optionalString("operator_attestation"))
    }

    static func tokenOutput(_ token: VerifiedToken) -> JSONObject {
        var out: JSONObject = [
            "iss": .string(token.issuer), "sub": .string(token.subject), "aud": .string(token.claims.audience),
            "jti": .string(token.claims.tokenID), "kid": .string(token.keyID), "alg": .string(token.algorithm.rawValue),
            "jkt": .string(token.claims.confirmationKeyThumbprint), "agent": token.agent.jsonValue,
            "exp": .number(JSONNumber(Double(token.claims.expiresAt))), "token_hash": .string(token.tokenHash),
        ]
        if let op = token.operatorAttestation {
            out["operator"] = ["iss": .string(op.operatorID), "deployment": .string(op.deployment)]
        }
        return out
    }

    /// The verifier the context describes.
    static func verifier(_ args: OpArguments, requireOperator: Bool) throws -> Verifier {
        let context = args.context
        guard let audience = context["audience"]?.stringValue else { throw OpInputError(description: "context has no \"audience\"") }
        var issuers: [TrustedIssuer] = []
        for entry in context["issuers"]?.arrayValue ?? [] {
            guard let iss = entry["iss"]?.stringValue, let jwks = entry["jwks"] else {
                throw OpInputError(description: "an issuers entry lacks iss or jwks")
            }
            let domains = (entry["trust_domains"]?.arrayValue ?? []).compactMap(\.stringValue)
            issuers.append(TrustedIssuer(issuer: iss, keys: try JWKS(json: jwks), trustDomains: domains))
        }
        var operators: [TrustedOperator] = []
        for entry in context["operators"]?.arrayValue ?? [] {
            guard let iss = entry["iss"]?.stringValue, let jwks = entry["jwks"] else {
                throw OpInputError(description: "an operators entry lacks iss or jwks")
            }
            operators.append(TrustedOperator(issuer: iss, keys: try JWKS(json: jwks)))
        }
        var configuration = VerifierConfiguration(audience: audience, issuers: issuers)
        if let leeway = try args.contextInt("leeway") { configuration.leeway = Int64(leeway) }
        if let maxLifetime = try args.contextInt("max_lifetime") { configuration.maxLifetime = Int64(maxLifetime) }
        if let maxAge = try args.contextInt("proof_max_age") { configuration.proofMaxAge = Int64(maxAge) }
        configuration.acceptLegacyEdDSA = context["accept_eddsa"]?.boolValue == true
        return Verifier(configuration: configuration) {
            if requireOperator { RequireOperatorAttestation(operators: operators) }
        }
    }

    /// An in-memory store holding the context's `seen` entries.
    static func replayStore(_ args: OpArguments, now: Int64) throws -> InMemoryReplayStore {
        let store = InMemoryReplayStore(capacity: try args.contextInt("replay_capacity") ?? 1024)
        for entry in args.context["seen"]?.arrayValue ?? [] {
            guard let iss = entry["iss"]?.stringValue, let jti = entry["jti"]?.stringValue,
                  let expires = entry["expires"]?.integerValue else {
                throw OpInputError(description: "a seen entry lacks iss, jti or expires")
            }
            try store.insert(issuer: iss, tokenID: jti, expires: expires, now: now)
        }
        return store
    }
}
