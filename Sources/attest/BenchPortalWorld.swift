import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import AttestPortal
import Foundation

/// The keys, token, artifact and requests of `attest bench portal`, and the portal's
/// per-call CPU work without I/O (the CPU bound).
struct PortalBenchWorld {
    static let audience = "https://tools.bench.example/mcp"
    static let issuer = "https://provider.bench.example"
    static let origin = "portal.bench/log/0"
    static let subject = "spiffe://agents.provider.bench.example/bench/agent"
    static let governed: Set<ExactString> = Set(Receipt.methods.map { ExactString($0) })

    let provider: Ed25519.PrivateKey, agent: Ed25519.PrivateKey, logKey: Ed25519.PrivateKey
    let authority: Ed25519.PrivateKey
    let token: String
    let artifact: Artifact
    let issuers: [TrustedIssuer]

    /// `origins`: the logs the artifact names; `echoLimit`: a limit per second on `echo` (so
    /// that every call is counted against it), none by default.
    init(origins: [String] = [Self.origin], echoLimit: Int64? = nil) throws {
        func key(_ label: String) throws -> Ed25519.PrivateKey { try Ed25519.PrivateKey(seed: SHA256.hash(Array("bench portal: \(label)".utf8))) }
        provider = try key("provider")
        agent = try key("agent")
        logKey = try key("log")
        authority = try key("authority")
        let now = Int64(Date().timeIntervalSince1970)
        token = try TokenIssuer(key: provider).issue(TokenClaims(
            issuer: Self.issuer, subject: Self.subject, audience: Self.audience, issuedAt: now - 10, expiresAt: now + 3600,
            tokenID: "bench-token", confirmationKeyThumbprint: agent.publicKey.thumbprint,
            agent: AgentIdentity(provider: "Example", modelFamily: "m", modelVersion: "1", deployment: "bench",
                                 operatorID: "https://operator.bench.example")))
        var echo: JSONObject = ["arguments": ["text": ["type": "string", "max_length": 32]], "required": ["text"]]
        if let echoLimit { echo["rate_limit"] = ["max": .number(JSONNumber(Double(echoLimit))), "window": 1] }
        artifact = try Artifact.seal([
            "type": "mcp-attest/artifact/v1", "id": "art-bench", "issuer": "https://policy.bench.example",
            "subject": ["sub": .string(Self.subject), "jkt": .string(agent.publicKey.thumbprint)],
            "not_before": .number(JSONNumber(Double(now - 3600))), "not_after": .number(JSONNumber(Double(now + 86_400))),
            "tools": ["echo": .object(echo)],
            "log": ["origins": .array(origins.map { .string($0) })],
        ], key: authority)
        issuers = [TrustedIssuer(issuer: Self.issuer, keys: try JWKS(keys: [JWK(key: provider.publicKey)]),
                                 trustDomains: ["agents.provider.bench.example"])]
    }

    func configuration(store: URL, origin: String = Self.origin, logKey: Ed25519.PrivateKey? = nil,
                       sharedState: SharedStateLocation? = nil) throws -> PortalConfiguration {
        try PortalConfiguration(audience: Self.audience, issuers: issuers, authorities: [ExactString(authority.publicKey.thumbprint)],
                                artifacts: [artifact], origin: origin, logKey: logKey ?? self.logKey, store: store,
                                checkpointEvery: 1_000_000, checkpointSeconds: 86_400, sharedState: sharedState)
    }

    /// `count` attested `tools/call` requests (fresh proofs, issued now), as objects and as the bytes a client writes.
    func calls(_ count: Int, issuedAt: Int64 = Int64(Date().timeIntervalSince1970)) throws -> [(object: JSONObject, bytes: [UInt8])] {
        let attester = MCPAttester(token: token, key: agent, audience: Self.audience)
        return try (0..<count).map { i in
            let message: JSONValue = ["jsonrpc": "2.0", "id": .number(JSONNumber(Double(i + 1))), "method": "tools/call",
                                      "params": ["name": "echo", "arguments": ["text": .string("hello \(i % 1000)")]]]
            let attested = try attester.attach(to: message, era: .handshake, issuedAt: issuedAt,
                                               proofID: MCPAttester.randomProofID(), governed: Self.governed)
            return (attested.objectValue ?? [:], Array(attested.serialized(pretty: false).utf8))
        }
    }

    /// The CPU work of `calls` governed calls, prepared (requests made) but not yet run.
    func cpuLoop(calls count: Int) throws -> CPULoop {
        let now = Int64(Date().timeIntervalSince1970)
        return CPULoop(world: self, requests: try calls(count, issuedAt: now).map(\.bytes), now: now)
    }
}

/// The portal's work per allowed `tools/call` without I/O: parse the client's bytes,
/// verify token and proof (replay store in memory), evaluate the artifact, commit to the
/// request, sign and hash the ALLOW, commit to the response, sign and hash the RESULT,
/// and serialize both receipts, their payloads and the response the client receives.
struct CPULoop: @unchecked Sendable {
    let world: PortalBenchWorld
    let requests: [[UInt8]]
    let now: Int64

    /// Runs every request once; returns calls per second and the calls that went through.
    func run() -> (rate: Double, completed: Int) {
        let verifier = Verifier(configuration: VerifierConfiguration(audience: PortalBenchWorld.audience, issuers: world.issuers))
        let replay = InMemoryReplayStore(capacity: requests.count + 1)
        var engine = PolicyEngine()
        var state = (seq: 0, link: Receipt.genesis)
        let start = DispatchTime.now().uptimeNanoseconds
        for bytes in requests {
            guard case .object(let request)? = try? StrictJSONParser().parse(bytes),
                  case .attested(let token, _)? = try? MCPBinding.verify(.object(request), era: .handshake, policy: .required,
                                                                        verifier: verifier, now: now, replayStore: replay,
                                                                        governed: PortalBenchWorld.governed),
                  case .object(let params)? = request["params"], let tool = params["name"]?.stringValue
            else { continue }
            var recorded = params
            if case .object(var meta)? = params["_meta"] {
                for name in Carrier.all { meta[name] = nil }
                recorded["_meta"] = .object(meta)
            }
            let chain = [world.artifact]
            guard engine.evaluate(chain: chain, tool: tool, arguments: params["arguments"] ?? .object([:]), time: now) == nil else { continue }
            engine.recordAllowed(chain: chain, tool: tool, time: now)
            var fields: JSONObject = [
                "log": .string(PortalBenchWorld.origin), "time": .number(JSONNumber(Double(now))), "artifact": .string(world.artifact.digest),
                "session": "bench", "method": "tools/call", "tool": .string(tool),
                "agent": ["sub": .string(token.subject), "jkt": .string(token.claims.confirmationKeyThumbprint)],
            ]
            func append(_ fields: JSONObject, payload: JSONValue) -> JSONValue? {
                var fields = fields
                fields["seq"] = .number(JSONNumber(Double(state.seq)))
                fields["prev"] = .string(Base64URL.encode(state.link))
                guard let receipt = try? Receipt.sign(fields, key: world.logKey) else { return nil }
                _ = JSONValue.object(receipt.json).serialized(pretty: false)
                _ = payload.serialized(pretty: false)
                _ = receipt.leafHash
                state = (state.seq + 1, receipt.link)
                return .object(receipt.json)
            }
            let requestSalt = Self.salt()
            fields["decision"] = "ALLOW"
            fields["request"] = .string(Base64URL.encode(Receipt.commitment(salt: requestSalt, payload: .object(recorded))))
            guard let allow = append(fields, payload: ["request": .object(recorded), "request_salt": .string(Base64URL.encode(requestSalt))]) else { continue }
            let response: JSONValue = BenchUpstream.answer(id: request["id"] ?? .null)["result"] ?? .null
            let responseSalt = Self.salt()
            fields["decision"] = "RESULT"
            fields["tool"] = .string(tool)
            fields["call"] = .number(JSONNumber(Double(state.seq - 1)))
            fields["request"] = nil
            fields["response"] = .string(Base64URL.encode(Receipt.commitment(salt: responseSalt, payload: response)))
            guard let result = append(fields, payload: ["response": response, "response_salt": .string(Base64URL.encode(responseSalt))]) else { continue }
            var reply = response.objectValue ?? [:]
            reply["_meta"] = ["dev.agent-attestation/receipts": [allow, result]]
            _ = JSONValue.object(["jsonrpc": "2.0", "id": request["id"] ?? .null, "result": .object(reply)]).serialized(pretty: false)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (Double(state.seq / 2) / seconds, state.seq / 2)
    }

    static func salt() -> [UInt8] { SecureRandom.bytes(32) }
}
