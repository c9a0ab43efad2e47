import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation

/// Runs portal.md's scenarios against a portal process (portal.md §Conformance
/// scenarios): for each, it makes the keys, artifacts, mandates and configuration, starts
/// `<portal command> <configuration> -- <scripted upstream…>`, acts as the client over
/// stdio, and compares every answer, every returned receipt and every call that reached
/// the upstream with the scenario.
public struct PortalConformance {
    public let portalCommand: String
    /// The command line that starts the scripted upstream (`attest conformance-upstream`).
    public let upstreamExecutable: String
    public var timeout: Double = 10

    public init(portalCommand: String, upstreamExecutable: String) {
        self.portalCommand = portalCommand
        self.upstreamExecutable = upstreamExecutable
    }

    public struct Outcome: Sendable {
        public let id: String
        public let failure: String?
    }

    static let audience = "https://portal.conformance.example/mcp"
    static let issuer = "https://provider.conformance.example"
    static let trustDomain = "agents.conformance.example"
    static let origin = "portal.conformance.example/log/0"

    static func key(_ name: String) -> Ed25519.PrivateKey? {
        try? Ed25519.PrivateKey(seed: SHA256.hash(Array("portal conformance: \(name)".utf8)))
    }

    static func spiffeID(_ agent: String) -> String { "spiffe://\(trustDomain)/\(agent)" }

    public func run(_ scenario: JSONObject) -> Outcome {
        let id = scenario["id"]?.stringValue ?? "?"
        do {
            try runScenario(scenario)
            return Outcome(id: id, failure: nil)
        } catch let failure as ScenarioFailure {
            return Outcome(id: id, failure: failure.why)
        } catch {
            return Outcome(id: id, failure: "\(error)")
        }
    }

    struct ScenarioFailure: Error { let why: String }

    private func runScenario(_ scenario: JSONObject) throws {
        func fail(_ why: String) -> ScenarioFailure { ScenarioFailure(why: why) }
        guard let provider = Self.key("provider"), let authority = Self.key("authority"), let logKey = Self.key("log") else {
            throw fail("keys cannot be made")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portal-conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ value: JSONValue) throws {
            try Data(value.serialized(pretty: false).utf8).write(to: dir.appendingPathComponent(name))
        }
        // The upstream the portal will measure: this runner's executable.
        guard let upstreamBytes = FileManager.default.contents(atPath: upstreamExecutable) else {
            throw fail("cannot read \(upstreamExecutable)")
        }
        let observed: JSONValue = ["transport": "stdio", "executable_sha256": .string(Hex.encode(SHA256.hash(Array(upstreamBytes))))]

        let tools = (scenario["upstream_tools"]?.arrayValue ?? []).compactMap(\.stringValue)
        // Artifacts (by subject agent) and mandates (by name), sealed as the scenario says.
        var sealed: [ExactString: Artifact] = [:]
        var artifactFiles: [JSONValue] = []
        for member in scenario["artifacts"]?.objectValue ?? [:] {
            guard let agent = Self.key(member.name) else { throw fail("no key for \(member.name)") }
            var body = try unsigned(member.value, subject: member.name, key: agent, now: now, observed: observed, upstreamTools: tools)
            body["type"] = "mcp-attest/artifact/v1"
            let artifact = try Artifact.seal(body, key: authority)
            sealed[ExactString(member.name)] = artifact
            try write("artifact-\(member.name).json", .object(artifact.json))
            artifactFiles.append(.string("artifact-\(member.name).json"))
        }
        for member in scenario["mandates"]?.objectValue ?? [:] {
            guard let parentName = member.value["parent"]?.stringValue, let parent = sealed[ExactString(parentName)],
                  let subjectName = member.value["subject"]?.stringValue, let subject = Self.key(subjectName),
                  let parentKey = Self.key(parent.subject.split(separator: "/").last.map(String.init) ?? "") else {
                throw fail("mandate \(member.name) names an unknown parent or subject")
            }
            var body = try unsigned(member.value, subject: subjectName, key: subject, now: now, observed: observed, upstreamTools: tools)
            body["type"] = "mcp-attest/mandate/v1"
            body["parent"] = .string(parent.digest)
            sealed[ExactString(member.name)] = try Artifact.seal(body, key: parentKey)
        }
        try write("provider.jwks.json", ["keys": [JWK(key: provider.verifyingKey).jsonValue]])
        try Data(Hex.encode(SHA256.hash(Array("portal conformance: log".utf8))).utf8).write(to: dir.appendingPathComponent("log.seed"))
        try write("portal.json", [
            "audience": .string(Self.audience), "artifacts": .array(artifactFiles),
            "authorities": [.string(authority.publicKey.thumbprint)],
            "issuers": [["issuer": .string(Self.issuer), "trust_domains": [.string(Self.trustDomain)], "jwks": "provider.jwks.json"]],
            "log": ["origin": .string(Self.origin), "key": "log.seed"], "store": "store",
        ])

        let calls = dir.appendingPathComponent("calls.txt").path
        FileManager.default.createFile(atPath: calls, contents: nil)
        let command = "\(portalCommand) \(quote(dir.appendingPathComponent("portal.json").path)) -- \(quote(upstreamExecutable)) "
            + "conformance-upstream --tools \(quote(tools.joined(separator: ","))) --calls=\(quote(calls))"
        let portal = try PortalProcess(command: command, stderr: dir.appendingPathComponent("portal.stderr").path)
        defer { portal.stop() }

        let era = MCPEra(scenario["era"]?.stringValue ?? MCPEra.handshake.protocolVersion)
        var nextID = 1
        if !era.isStateless {
            let reply = try portal.exchange(["jsonrpc": "2.0", "id": 0, "method": "initialize",
                                             "params": ["protocolVersion": .string(era.protocolVersion), "capabilities": [:],
                                                        "clientInfo": ["name": "conformance", "version": "1"]]], timeout: timeout)
            guard reply["result"]?["capabilities"]?["extensions"]?[MCPBinding.extensionID] != nil else {
                throw fail("initialize: the result does not advertise \(MCPBinding.extensionID)")
            }
            try portal.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        }
        let verifier = NoteVerifier(name: Self.origin, key: logKey.publicKey)
        var lastLink = Receipt.genesis
        var nextSeq: UInt64 = 0
        var previous: JSONObject?
        for (index, step) in (scenario["steps"]?.arrayValue ?? []).enumerated() {
            let label = "step \(index + 1)"
            let agentName = step["as"]?.stringValue ?? "agent"
            guard let agentKey = Self.key(agentName), case .object(var message)? = step["send"] else { throw fail("\(label): malformed") }
            message["jsonrpc"] = "2.0"
            message["id"] = .number(JSONNumber(Double(nextID)))
            nextID += 1
            if let names = step["mandates"]?.arrayValue {
                var params = message["params"]?.objectValue ?? [:]
                var meta = params["_meta"]?.objectValue ?? [:]
                meta["dev.agent-attestation/mandates"] = .array(try names.map { name in
                    guard let m = name.stringValue.flatMap({ sealed[ExactString($0)] }) else { throw fail("\(label): unknown mandate") }
                    return .object(m.json)
                })
                params["_meta"] = .object(meta)
                message["params"] = .object(params)
            }
            let attest = step["attest"]?.stringValue ?? "fresh"
            var request: JSONObject
            switch attest {
            case "none":
                request = message
                if era.isStateless, var params = request["params"]?.objectValue {
                    var meta = params["_meta"]?.objectValue ?? [:]
                    meta[MCPBinding.protocolVersionKey] = .string(era.protocolVersion)
                    meta[MCPBinding.clientCapabilitiesKey] = [:]
                    params["_meta"] = .object(meta)
                    request["params"] = .object(params)
                }
            case "replay":
                guard var earlier = previous else { throw fail("\(label): nothing to replay") }
                earlier["id"] = message["id"]
                request = earlier
            case "fresh", "other-audience":
                let token = try TokenIssuer(key: provider).issue(TokenClaims(
                    issuer: Self.issuer, subject: Self.spiffeID(agentName),
                    audience: attest == "fresh" ? Self.audience : "https://elsewhere.example/mcp",
                    issuedAt: now - 10, expiresAt: now + 600, tokenID: "tok-\(agentName)",
                    confirmationKeyThumbprint: agentKey.verifyingKey.thumbprint,
                    agent: AgentIdentity(provider: "Conformance", modelFamily: "m", modelVersion: "1", deployment: "d",
                                         operatorID: "https://operator.conformance.example", safetyLevel: nil)))
                let attester = MCPAttester(token: token, key: agentKey, audience: Self.audience)
                let governed = Set(Receipt.methods.map { ExactString($0) })
                guard case .object(let attached) = try attester.attach(to: .object(message), era: era, issuedAt: now,
                                                                       proofID: MCPAttester.randomProofID(), governed: governed) else {
                    throw fail("\(label): cannot attach")
                }
                request = attached
            default: throw fail("\(label): unknown attest \(attest)")
            }
            previous = request
            let callsBefore = (try? String(contentsOfFile: calls, encoding: .utf8))?.split(separator: "\n").count ?? 0
            // What the scripted upstream records of this request (the portal may send requests of its own too).
            let expectedLine = "\(request["method"]?.stringValue ?? "") \(request["params"]?["name"]?.stringValue ?? "")"
            let reply = try portal.exchange(request, timeout: timeout)
            // The answer.
            if let code = step["expect"]?["error"]?.stringValue {
                guard reply["error"]?["code"] == -31000, reply["error"]?["data"]?["code"]?.stringValue?.isExactly(code) == true else {
                    throw fail("\(label): expected \(code), got \(reply.serializedSummary)")
                }
            } else if let code = step["expect"]?["jsonrpc_error"]?.integerValue {
                guard reply["error"]?["code"]?.integerValue == code else { throw fail("\(label): expected JSON-RPC error \(code), got \(reply.serializedSummary)") }
            } else {
                guard reply["result"] != nil else { throw fail("\(label): expected a result, got \(reply.serializedSummary)") }
            }
            // The receipts returned, and the log they form.
            let returned = (reply["result"]?["_meta"]?["dev.agent-attestation/receipts"]
                ?? reply["error"]?["data"]?["dev.agent-attestation/receipts"])?.arrayValue ?? []
            let expected = (step["receipts"]?.arrayValue ?? []).compactMap(\.stringValue)
            var described: [String] = []
            for value in returned {
                let receipt: Receipt
                do { receipt = try Receipt(json: value) } catch { throw fail("\(label): a returned receipt is malformed: \(error.message)") }
                described.append(receipt.decision.rawValue + (receipt.code.map { " \($0)" } ?? ""))
                guard receipt.seq == nextSeq else { throw fail("\(label): receipt seq \(receipt.seq), expected \(nextSeq)") }
                guard receipt.prev == lastLink else { throw fail("\(label): receipt \(receipt.seq) does not link to the one before") }
                guard receipt.keyID.isExactly(logKey.publicKey.thumbprint) else { throw fail("\(label): receipt \(receipt.seq) names another key") }
                do { try receipt.verifySignature(verifier.key) } catch { throw fail("\(label): receipt \(receipt.seq): \(error.message)") }
                nextSeq += 1
                lastLink = receipt.link
            }
            guard described == expected else { throw fail("\(label): receipts \(described), expected \(expected)") }
            // Whether the call reached the upstream.
            let newLines = ((try? String(contentsOfFile: calls, encoding: .utf8))?.split(separator: "\n") ?? []).dropFirst(callsBefore)
            let reached = newLines.contains { $0.utf8.elementsEqual(expectedLine.utf8) }
            if let forwarded = step["forwarded"]?.boolValue, forwarded != reached {
                throw fail("\(label): the upstream \(forwarded ? "did not receive" : "received") the request")
            }
        }
    }

    /// An artifact or mandate body from a scenario's short form: `tools`, optional
    /// `rate_limit`, `valid` ([from, to] seconds relative to now), `upstream` (`observed`
    /// or `other`).
    /// The base64url SHA-256 of the JCS of the scripted upstream's `tools` for these names.
    static func toolsDigest(_ names: [String]) -> String {
        guard case .success(let list) = ScriptedUpstream.answer(method: "tools/list", name: nil, params: nil, tools: names),
              let tools = list["tools"] else { return "" }
        return Base64URL.encode(SHA256.hash(JCS.canonicalize(tools)))
    }

    private func unsigned(_ spec: JSONValue, subject: String, key: Ed25519.PrivateKey, now: Int64, observed: JSONValue,
                          upstreamTools: [String]) throws -> JSONObject {
        let valid = spec["valid"]?.arrayValue?.compactMap(\.integerValue) ?? [-3600, 86_400]
        var body: JSONObject = [
            "id": .string("scenario-\(subject)"), "issuer": "https://policy.conformance.example",
            "subject": ["sub": .string(Self.spiffeID(subject)), "jkt": .string(key.publicKey.thumbprint)],
            "not_before": .number(JSONNumber(Double(now + (valid.first ?? -3600)))),
            "not_after": .number(JSONNumber(Double(now + (valid.last ?? 86_400)))),
            "tools": spec["tools"] ?? [:], "log": ["origins": [.string(Self.origin)]],
        ]
        if let limit = spec["rate_limit"] { body["rate_limit"] = limit }
        // `drift`: the artifact's drift member as written (sequences, burst, on_drift).
        if let drift = spec["drift"] { body["drift"] = drift }
        switch spec["upstream"]?.stringValue {
        case "observed": body["upstream"] = observed
        case "other": body["upstream"] = ["transport": "stdio", "executable_sha256": .string(String(repeating: "0", count: 64))]
        default: break
        }
        // `tools_pin`: the digest of the scripted upstream's tool list, or of another list.
        switch spec["tools_pin"]?.stringValue {
        case "observed":
            body["drift"] = ["on_drift": "deny", "tools_sha256": .string(Self.toolsDigest(upstreamTools))]
        case "other":
            body["drift"] = ["on_drift": "deny", "tools_sha256": .string(Self.toolsDigest(["other"]))]
        default: break
        }
        return body
    }

    private func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

extension JSONObject {
    var serializedSummary: String { String(JSONValue.object(self).serialized(pretty: false).prefix(300)) }
}

/// A portal under test, spoken to over its stdin and stdout.
final class PortalProcess: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let lock = NSCondition()
    private var lines: [[UInt8]] = []
    private var ended = false

    init(command: String, stderr: String) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        process.standardInput = input
        process.standardOutput = output
        FileManager.default.createFile(atPath: stderr, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        try process.run()
        let reader = output.fileHandleForReading
        Thread { [self] in
            var buffer: [UInt8] = []
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                for byte in chunk {
                    if byte == 0x0A {
                        lock.withLock { lines.append(buffer); lock.signal() }
                        buffer.removeAll()
                    } else if buffer.count < 16 << 20 {
                        buffer.append(byte)
                    }
                }
            }
            lock.withLock { ended = true; lock.signal() }
        }.start()
    }

    func send(_ message: JSONObject) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((JSONValue.object(message).serialized(pretty: false) + "\n").utf8))
    }

    /// Sends a request and returns the response with its id, skipping other messages.
    func exchange(_ request: JSONObject, timeout: Double) throws -> JSONObject {
        try send(request)
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            while let line = lines.first {
                lines.removeFirst()
                if case .object(let message)? = try? StrictJSONParser(limits: .init(maxBytes: 16 << 20)).parse(line),
                   message["method"] == nil, message["id"] == request["id"] {
                    return message
                }
            }
            if ended { throw PortalConformance.ScenarioFailure(why: "the portal closed its output") }
            if !lock.wait(until: deadline) { throw PortalConformance.ScenarioFailure(why: "no answer within \(timeout) s") }
        }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
    }
}
