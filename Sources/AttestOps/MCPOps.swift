import AttestCore
import AttestIdentity
import AttestMCP

/// Ops of spec/mcp-binding.md.
enum MCPOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "mcp.request.verify", document: "mcp-binding") { args in
            let verifier = try IdentityOps.verifier(args, requireOperator: args.context["require_operator"]?.boolValue == true)
            let now = try IdentityOps.now(args)
            let policyName = args.context["policy"]?.stringValue ?? "required"
            guard let policy = RequestPolicy(rawValue: policyName) else { throw OpInputError(description: "unknown policy \(policyName)") }
            let era = MCPEra(try args.string("era"))
            let store = try IdentityOps.replayStore(args, now: now)
            let verdict: MCPVerdict
            if args.input["data"] != nil {
                verdict = try MCPBinding.verify(try args.hex("data"), era: era, policy: policy, verifier: verifier, now: now, replayStore: store)
            } else {
                guard let request = args.input["request"] else { throw OpInputError(description: "input has no \"request\" or \"data\"") }
                verdict = try MCPBinding.verify(request, era: era, policy: policy, verifier: verifier, now: now, replayStore: store)
            }
            switch verdict {
            case .notGoverned: return ["governed": false]
            case .unattested: return ["governed": true, "attested": false]
            case .attested(let token, let proof):
                var out = IdentityOps.tokenOutput(token)
                out["governed"] = true
                out["attested"] = true
                out["proof_jti"] = .string(proof.tokenID)
                return out
            }
        },
        .init(name: "mcp.request.attach", document: "mcp-binding") { args in
            let key = try CoreOps.algorithm(args).privateKey(seed: try args.hex("seed"))
            let attester = MCPAttester(token: try args.string("token"), operatorAttestation: try args.optionalString("operator_attestation"),
                                       key: key, audience: try args.string("audience"))
            guard let iat = args.input["iat"]?.integerValue else { throw OpInputError(description: "input has no integer \"iat\"") }
            let request = try attester.attach(to: try args.value("request"), era: MCPEra(try args.string("era")),
                                              issuedAt: iat, proofID: try args.string("jti"))
            return ["request": request]
        },
        .init(name: "mcp.error", document: "mcp-binding") { args in
            let name = try args.string("code")
            guard let code = ErrorCode(rawValue: name) else { throw OpInputError(description: "\(name) is not a registry code") }
            let response = MCPBinding.errorResponse(id: args.input["id"], error: AttestError(code, "rejected"))
            let http = MCPBinding.httpStatus(for: code)
            return ["response": .object(response), "id": response["id"] ?? .null, "error_code": response["error"]?["code"] ?? .null,
                    "data": response["error"]?["data"] ?? .null, "http_status": .number(JSONNumber(http.status)),
                    "www_authenticate": http.challenge.map(JSONValue.string) ?? .null]
        },
    ]
}
