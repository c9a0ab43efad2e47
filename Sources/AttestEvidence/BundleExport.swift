import AttestCore
import Foundation

/// Writes a bundle directory from receipt logs and artifacts (`attest bundle export`).
public enum BundleExporter {
    public static func export(logs: [(origin: String, directory: URL)], artifacts: [URL], to out: URL,
                              includePayloads: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        var artifactLines = ""
        for url in artifacts {
            let value = try StrictJSONParser().parse(Array(try Data(contentsOf: url)))
            _ = try Artifact(json: value)
            artifactLines += value.serialized(pretty: false) + "\n"
        }
        try Data(artifactLines.utf8).write(to: out.appendingPathComponent("artifacts.jsonl"))
        var entries: [BundleFormat.LogEntry] = []
        for (i, log) in logs.enumerated() {
            let dir = out.appendingPathComponent("logs/\(i)")
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            var names = ["receipts.jsonl", "checkpoints.jsonl"]
            if includePayloads { names.append("payloads.jsonl") }
            for name in names {
                let target = dir.appendingPathComponent(name)
                try? fm.removeItem(at: target)
                if name == "receipts.jsonl" {
                    try writeBundleReceipts(from: log.directory.appendingPathComponent(name), to: target)
                } else {
                    try fm.copyItem(at: log.directory.appendingPathComponent(name), to: target)
                }
            }
            entries.append(.init(origin: log.origin, receipts: "logs/\(i)/receipts.jsonl",
                                 checkpoints: "logs/\(i)/checkpoints.jsonl",
                                 payloads: includePayloads ? "logs/\(i)/payloads.jsonl" : nil))
        }
        let manifest = BundleFormat.Manifest(artifacts: "artifacts.jsonl", logs: entries)
        try Data(manifest.json.serialized(pretty: true).utf8).write(to: out.appendingPathComponent("manifest.json"))
    }

    /// Copies a log's receipt lines in their bundle form (``Receipt/bundleLine(fromLogLine:)``),
    /// streaming, so memory does not grow with the log.
    static func writeBundleReceipts(from source: URL, to target: URL) throws {
        guard FileManager.default.createFile(atPath: target.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: target) else {
            throw AttestError(.bundleMalformed, "cannot write \(target.path)")
        }
        defer { try? handle.close() }
        var reader = try LineReader(url: source, maxLineBytes: BundleVerifier.Limits.receiptLineBytes)
        var out: [UInt8] = []
        while case let lines = reader.next(4096), !lines.isEmpty {
            out.removeAll(keepingCapacity: true)
            for line in lines where !line.isEmpty {
                out += try Receipt.bundleLine(fromLogLine: line)
                out.append(0x0A)
            }
            try handle.write(contentsOf: out)
        }
        if let failure = reader.failure { throw AttestError(.receiptMalformed, "\(source.path): \(failure)") }
    }
}

/// A reproducible portal history for tests, benchmarks and `attest bundle demo`: an
/// authority seals an artifact for an agent, the agent derives a mandate for a
/// sub-agent, and the portal logs calls of both, deciding each with ``PolicyEngine``.
public struct DemoHistory {
    public let authority = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA1, count: 32))  // trap-free: a constant 32-byte seed
    public let agent = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA2, count: 32))  // trap-free: a constant 32-byte seed
    public let subAgent = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA3, count: 32))  // trap-free: a constant 32-byte seed
    public let logKey = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA4, count: 32))  // trap-free: a constant 32-byte seed
    public let origin = "portal.example/log/0"
    public let start: Int64 = 1_760_000_000

    public init() {}

    public var trust: BundleVerifier.Trust {
        BundleVerifier.Trust(authorities: [ExactString(authority.publicKey.thumbprint)],
                             logKeys: [NoteVerifier(name: origin, key: logKey.publicKey)], now: start + 100_000_000)
    }

    public func unsignedArtifact() -> JSONObject {
        [
            "type": .string(Artifact.typeName), "id": "art-demo-1", "issuer": "https://policy.example",
            "subject": ["sub": "spiffe://agents.example/orchestrator", "jkt": .string(agent.publicKey.thumbprint)],
            "not_before": .number(JSONNumber(Double(start))), "not_after": .number(JSONNumber(Double(start + 50_000_000))),
            "tools": [
                "search": [
                    "arguments": ["query": ["type": "string", "max_length": 64], "limit": ["type": "integer", "minimum": 1, "maximum": 50]],
                    "required": ["query"], "rate_limit": ["max": 30, "window": 60],
                ],
                "read_file": [
                    "arguments": ["path": ["type": "string", "prefix": "/data/"]], "required": ["path"],
                ],
            ],
            "rate_limit": ["max": 100, "window": 60],
            "upstream": ["transport": "stdio", "executable_sha256": .string(String(repeating: "ab", count: 32))],
            "log": ["origins": [.string(origin)]],
        ]
    }

    public func unsignedMandate(parent: Artifact) -> JSONObject {
        var mandate: JSONObject = [
            "type": .string(Artifact.mandateTypeName), "id": "man-demo-1", "issuer": "spiffe://agents.example/orchestrator",
            "parent": .string(parent.digest),
            "subject": ["sub": "spiffe://agents.example/researcher", "jkt": .string(subAgent.publicKey.thumbprint)],
            "not_before": .number(JSONNumber(Double(start))), "not_after": .number(JSONNumber(Double(start + 40_000_000))),
            "tools": [
                "search": [
                    "arguments": ["query": ["type": "string", "max_length": 32], "limit": ["type": "integer", "minimum": 1, "maximum": 10]],
                    "required": ["query"], "rate_limit": ["max": 20, "window": 60],
                ],
            ],
            "rate_limit": ["max": 50, "window": 120],
            "log": ["origins": [.string(origin)]],
        ]
        mandate["upstream"] = parent.upstream  // a pin is kept as the parent has it
        return mandate
    }

    public func artifacts() throws -> (artifact: Artifact, mandate: Artifact) {
        let artifact = try Artifact.seal(unsignedArtifact(), key: authority)
        let mandate = try Artifact.seal(unsignedMandate(parent: artifact), key: agent)
        return (artifact, mandate)
    }

    /// Writes `count` receipts into a log at `directory`, with a checkpoint every
    /// `checkpointEvery` receipts and one at the end, and returns the artifacts.
    public func writeLog(_ directory: URL, count: Int, checkpointEvery: Int = 100_000,
                         progress: ((Int) -> Void)? = nil) throws -> [Artifact] {
        let (artifact, mandate) = try artifacts()
        let log = try ReceiptLog(directory: directory, origin: origin, key: logKey)
        var engine = PolicyEngine()
        let tools = ["search", "read_file", "search", "delete_file"]
        for i in 0..<count {
            let useMandate = i % 3 == 2
            let a = useMandate ? mandate : artifact
            let tool = useMandate ? "search" : tools[i % tools.count]
            let arguments: JSONValue = tool == "read_file"
                ? ["path": .string(i % 7 == 0 ? "/etc/passwd" : "/data/report-\(i).txt")]
                : ["query": .string("q\(i)"), "limit": .number(JSONNumber(i % 12 + 1))]
            let time = start + Int64(i / 2)
            let chain = useMandate ? [artifact, mandate] : [artifact]
            let code = engine.evaluate(chain: chain, tool: tool, arguments: arguments, time: time)
            if code == nil { engine.recordAllowed(chain: chain, tool: tool, time: time) }
            let request: JSONValue = ["name": .string(tool), "arguments": arguments]
            let response: JSONValue = code.map { Disclosure.denial($0, "the artifact denies this call") }
                ?? ["content": [["type": "text", "text": .string("result \(i)")]], "isError": false]
            try log.append(time: time, artifact: a.digest, session: "session-\(i / 1000)",
                           agent: (a.subject, a.subjectKey), method: "tools/call", tool: tool,
                           decision: code == nil ? .allow : .deny, code: code, request: request, response: response,
                           upstream: code == nil ? a.upstream : nil, durable: false)
            if (i + 1) % checkpointEvery == 0 { try log.checkpoint() }
            if (i + 1) % 100_000 == 0 { progress?(i + 1) }
        }
        if count % checkpointEvery != 0 || count == 0 { try log.checkpoint() }
        try log.close()
        return [artifact, mandate]
    }

    /// Writes a log and exports it as a bundle at `out` (with payloads).
    public func writeBundle(_ out: URL, count: Int, checkpointEvery: Int = 100_000, progress: ((Int) -> Void)? = nil) throws {
        let fm = FileManager.default
        let work = out.appendingPathComponent(".log")
        try? fm.removeItem(at: work)
        let artifacts = try writeLog(work, count: count, checkpointEvery: checkpointEvery, progress: progress)
        var urls: [URL] = []
        for (i, a) in artifacts.enumerated() {
            let url = work.appendingPathComponent("artifact-\(i).json")
            try Data(JSONValue.object(a.json).serialized(pretty: true).utf8).write(to: url)
            urls.append(url)
        }
        try BundleExporter.export(logs: [(origin, work)], artifacts: urls, to: out, includePayloads: true)
        try fm.removeItem(at: work)
    }
}
