import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import GRDB
@testable import AttestPortal

/// Keys, tokens, artifacts and a portal whose upstream is scripted in process.
enum PortalFixture {
    static let audience = "https://tools.acme.example/mcp"
    static let issuer = "https://provider.example"
    static let origin = "portal.test/log/0"
    static func key(_ label: String) -> Ed25519.PrivateKey {
        try! Ed25519.PrivateKey(seed: SHA256.hash(Array("portal tests: \(label)".utf8)))  // trap-free: a 32-byte digest is a valid seed
    }
    static let provider = key("provider"), agent = key("agent"), stranger = key("stranger"), helper = key("helper")
    static let authority = key("authority"), logKey = key("log")
    static let agentID = "spiffe://agents.provider.example/acme/orchestrator"
    static let strangerID = "spiffe://agents.provider.example/acme/stranger"
    static let helperID = "spiffe://agents.provider.example/acme/helper"
    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    static func token(subject: String = agentID, key: Ed25519.PrivateKey = agent, audience: String = audience,
                      issuedAt: Int64? = nil, expiresAt: Int64? = nil) throws -> String {
        try TokenIssuer(key: provider).issue(TokenClaims(
            issuer: issuer, subject: subject, audience: audience, issuedAt: issuedAt ?? now - 10, expiresAt: expiresAt ?? now + 600,
            tokenID: "tok-\(subject)", confirmationKeyThumbprint: key.verifyingKey.thumbprint,
            agent: AgentIdentity(provider: "Example Provider", modelFamily: "example-model", modelVersion: "2026-05-01",
                                 deployment: "acme-prod", operatorID: "https://acme.example", safetyLevel: "standard")))
    }

    /// The agent's artifact: `echo` (a short string), `add` (rate limited), nothing else.
    static func unsignedArtifact(subject: String = agentID, key: Ed25519.PrivateKey = agent, window: (Int64, Int64)? = nil,
                                 addLimit: Int64 = 1000, upstream: JSONValue? = nil) -> JSONObject {
        let (nb, na) = window ?? (now - 3600, now + 86_400)
        var o: JSONObject = [
            "type": "mcp-attest/artifact/v1", "id": .string("art-\(subject)"), "issuer": "https://policy.acme.example",
            "subject": ["sub": .string(subject), "jkt": .string(key.publicKey.thumbprint)],
            "not_before": .number(JSONNumber(Double(nb))), "not_after": .number(JSONNumber(Double(na))),
            "tools": [
                "echo": ["arguments": ["text": ["type": "string", "max_length": 32]], "required": ["text"]],
                "add": ["arguments": ["a": ["type": "integer"], "b": ["type": "integer"]],
                        "rate_limit": ["max": .number(JSONNumber(Double(addLimit))), "window": 3600]],
            ],
            "log": ["origins": [.string(origin)]],
        ]
        if let upstream { o["upstream"] = upstream }
        return o
    }

    static func artifact(_ unsigned: JSONObject) throws -> Artifact { try Artifact.seal(unsigned, key: authority) }

    static func configuration(store: URL, artifacts: [Artifact], checkpointSeconds: Int = 86_400) throws -> PortalConfiguration {
        try PortalConfiguration(
            audience: audience,
            issuers: [TrustedIssuer(issuer: issuer, keys: try JWKS(keys: [JWK(key: provider.verifyingKey)]),
                                    trustDomains: ["agents.provider.example"])],
            authorities: [ExactString(authority.publicKey.thumbprint)], artifacts: artifacts, origin: origin,
            logKey: logKey, store: store, checkpointEvery: 100_000, checkpointSeconds: checkpointSeconds)
    }

    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("portal-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let upstreamIdentity: JSONValue = ["transport": "stdio", "executable_sha256": .string(String(repeating: "ab", count: 32))]
}

/// An upstream scripted in process: it answers each request with `answer` (nil: never).
final class ScriptedUpstream: @unchecked Sendable {
    private let lock = NSLock()
    private var _received: [JSONObject] = []
    var answer: @Sendable (JSONObject) -> JSONObject? = { request in
        ["jsonrpc": "2.0", "id": request["id"] ?? .null,
         "result": ["content": [["type": "text", "text": .string("ran \(request["params"]?["name"]?.stringValue ?? "")")]], "isError": false]]
    }
    var received: [JSONObject] { lock.withLock { _received } }
    var calls: Int { lock.withLock { _received.filter { $0["method"] != nil && $0["id"] != nil }.count } }
    private(set) var relay: Relay!

    init() {
        relay = Relay(send: { [unowned self] bytes in
            guard case .object(let message)? = try? StrictJSONParser().parse(bytes) else { return }
            self.lock.withLock { self._received.append(message) }
            guard message["id"] != nil, let response = self.answer(message) else { return }
            let relay = self.relay!
            Task { relay.receive(response) }
        }, unsolicited: { _ in })
    }
}

/// A portal on a fresh store with a scripted upstream, and an attesting client.
struct PortalHarness {
    let portal: Portal
    let upstream: ScriptedUpstream
    let session: PortalSession
    let store: URL

    init(artifacts: [Artifact]? = nil, store: URL = PortalFixture.temporaryDirectory(),
         upstreamIdentity: JSONValue? = PortalFixture.upstreamIdentity, checkpointSeconds: Int = 86_400,
         clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
         configure: (inout PortalConfiguration) -> Void = { _ in }) async throws {
        let artifacts = try artifacts ?? [PortalFixture.artifact(PortalFixture.unsignedArtifact())]
        var configuration = try PortalFixture.configuration(store: store, artifacts: artifacts, checkpointSeconds: checkpointSeconds)
        configure(&configuration)
        portal = try Portal(configuration: configuration, upstreamIdentity: upstreamIdentity, clock: clock)
        try await portal.recover()
        upstream = ScriptedUpstream()
        session = PortalSession(portal: portal, relay: upstream.relay, id: "test-session")
        self.store = store
    }

    /// A `tools/call` as the client writes it, attested by `key` for `subject` unless `attest` is false.
    func request(_ tool: String, _ arguments: JSONValue = .object([:]), id: Int = 1, subject: String = PortalFixture.agentID,
                 key: Ed25519.PrivateKey = PortalFixture.agent, attest: Bool = true, mandates: [Artifact]? = nil,
                 method: String = "tools/call", token: String? = nil) throws -> JSONObject {
        var params: JSONObject = ["name": .string(tool), "arguments": arguments]
        if method != "tools/call" { params = [:] }
        if let mandates { params["_meta"] = [Portal.mandatesKey: .array(mandates.map { .object($0.json) })] }
        let message: JSONValue = ["jsonrpc": "2.0", "id": .number(JSONNumber(Double(id))), "method": .string(method), "params": .object(params)]
        guard attest else { return message.objectValue ?? [:] }
        let attester = MCPAttester(token: try token ?? PortalFixture.token(subject: subject, key: key), key: key, audience: PortalFixture.audience)
        let governed = Portal.governed
        return try attester.attach(to: message, era: .handshake, issuedAt: PortalFixture.now, proofID: MCPAttester.randomProofID(),
                                   governed: governed).objectValue ?? [:]
    }

    func send(_ request: JSONObject) async -> JSONObject {
        await session.handle(request: request, method: request["method"]?.stringValue ?? "", era: .handshake)
    }

    func call(_ tool: String, _ arguments: JSONValue = .object([:]), subject: String = PortalFixture.agentID,
              key: Ed25519.PrivateKey = PortalFixture.agent) async throws -> JSONObject {
        await send(try request(tool, arguments, subject: subject, key: key))
    }

    /// The registry code of a rejection, nil for a result.
    static func code(_ response: JSONObject) -> String? { response["error"]?["data"]?["code"]?.stringValue }

    static func receipts(_ response: JSONObject) -> [JSONValue] {
        (response["result"]?["_meta"]?[Portal.receiptsKey] ?? response["error"]?["data"]?[Portal.receiptsKey])?.arrayValue ?? []
    }

    /// The log as stored: each receipt's decision and code, in order.
    func log() throws -> [(decision: String, code: String?, line: JSONValue)] {
        let queue = try DatabaseQueue(path: store.appendingPathComponent(PortalStore.fileName).path)
        return try queue.read { db in
            try Data.fetchAll(db, sql: "SELECT line FROM receipts ORDER BY seq").map { data in
                let line = try StrictJSONParser().parse(Array(data))
                return (line["decision"]?.stringValue ?? "", line["code"]?.stringValue, line)
            }
        }
    }
}
