import AttestCore
import AttestIdentity
import Foundation

/// Keys, claims and a verifier shared by the identity tests. The provider key is the
/// RFC 8037 Appendix A key, as in the spec's vectors.
enum Fixture {
    static let now: Int64 = 1_780_000_000
    static let issuerURL = "https://provider.example"
    static let trustDomain = "agents.provider.example"
    static let audience = "https://tools.acme.example/mcp"
    static let operatorURL = "https://acme.example"

    static func seed(_ label: String) -> [UInt8] { SHA256.hash(Array("identity tests: \(label)".utf8)) }

    static let provider = try! Ed25519.PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
    static let agent = try! Ed25519.PrivateKey(seed: seed("agent"))
    static let attacker = try! Ed25519.PrivateKey(seed: seed("attacker"))
    static let operatorKey = try! Ed25519.PrivateKey(seed: seed("operator"))

    static let agentIdentity = AgentIdentity(provider: "Example Provider", modelFamily: "example-model", modelVersion: "2026-05-01",
                                             deployment: "acme-support-prod", operatorID: operatorURL, safetyLevel: "standard")

    static func claims(audience: String = audience, issuedAt: Int64 = now - 300, expiresAt: Int64 = now + 3300,
                       tokenID: String = "tok-1") -> TokenClaims {
        TokenClaims(issuer: issuerURL, subject: "spiffe://\(trustDomain)/acme/support-bot", audience: audience,
                    issuedAt: issuedAt, expiresAt: expiresAt, tokenID: tokenID,
                    confirmationKeyThumbprint: agent.verifyingKey.thumbprint, agent: agentIdentity)
    }

    static func token(_ claims: TokenClaims = claims(), key: any SigningKey = provider) throws -> String {
        try TokenIssuer(key: key).issue(claims)
    }

    static func configuration(legacyEdDSA: Bool = false) throws -> VerifierConfiguration {
        var config = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuerURL, keys: try JWKS(keys: [JWK(key: provider.verifyingKey)]), trustDomains: [trustDomain]),
        ])
        config.acceptLegacyEdDSA = legacyEdDSA
        return config
    }

    static func verifier(legacyEdDSA: Bool = false) throws -> Verifier {
        Verifier(configuration: try configuration(legacyEdDSA: legacyEdDSA))
    }

    static let params: JSONObject = [
        "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"],
        "name": "get_weather", "arguments": ["location": "New York"],
    ]

    static func request(token: String?, proof: String?, params: JSONObject = params) -> JSONObject {
        var p = params
        var meta = p["_meta"]?.objectValue ?? [:]
        if let token { meta[Carrier.token] = .string(token) }
        if let proof { meta[Carrier.proof] = .string(proof) }
        p["_meta"] = .object(meta)
        return ["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": .object(p)]
    }

    static func proof(token: String, jti: String = "prf-1", issuedAt: Int64 = now, key: any SigningKey = agent,
                      params: JSONObject = params) throws -> String {
        try Proof.issue(method: "tools/call", params: params, audience: audience, token: token,
                        issuedAt: issuedAt, tokenID: jti, key: key)
    }

    /// Replaces the payload of a compact JWS, keeping header and signature.
    static func tamper(_ compact: String, _ change: (inout JSONObject) -> Void) throws -> String {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard case .object(var payload) = try StrictJSONParser().parse(try Base64URL.decode(parts[1])) else { fatalError() }
        change(&payload)
        return parts[0] + "." + Base64URL.encode(JCS.canonicalize(.object(payload))) + "." + parts[2]
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("attest-\(UUID().uuidString)-\(name)").path
    }
}
