import AttestCore
@testable import AttestEvidence
import Foundation
import Testing

/// Forwarded calls written in two entries (receipt.md §Forwarded calls): what vectors
/// cannot hold, the bound of bundle.md step 4 on open calls, and the receipt forms the
/// portal writes through `Receipt.sign` read back by both readers.
@Suite("Forwarded calls", .serialized)
struct BundleOpenCallsTests {
    let demo = DemoHistory()

    /// A bundle of `count` open `tools/list` ALLOWs (one a second: no rate limit applies)
    /// followed by `results` RESULTs completing the first calls.
    func bundle(open count: Int, results: Int = 0) throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("open-calls-\(UUID().uuidString)")
        let work = out.appendingPathComponent(".log")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let (artifact, _) = try demo.artifacts()
        var text: [UInt8] = []
        var prev = Receipt.genesis
        var seq: UInt64 = 0
        func append(_ fields: ReceiptFields) throws {
            let signed = try fields.sign(with: demo.logKey)
            text += signed.line + [0x0A]
            prev = signed.link
            seq += 1
        }
        for i in 0..<count {
            try append(ReceiptFields(log: demo.origin, seq: seq, time: demo.start + Int64(i), prev: prev, artifact: artifact.digest,
                                     session: "s", agent: (artifact.subject, artifact.subjectKey), method: "tools/list", tool: nil,
                                     decision: .allow, code: nil, request: SHA256.hash(Array("q\(i)".utf8)), response: nil,
                                     upstream: artifact.upstream))
        }
        for i in 0..<results {
            try append(ReceiptFields(log: demo.origin, seq: seq, time: demo.start + Int64(count), prev: prev, artifact: artifact.digest,
                                     session: "s", agent: (artifact.subject, artifact.subjectKey), method: "tools/list", tool: nil,
                                     decision: .result, code: nil, call: UInt64(i), request: nil,
                                     response: SHA256.hash(Array("r\(i)".utf8))))
        }
        try Data(text).write(to: work.appendingPathComponent("receipts.jsonl"))
        let log = try ReceiptLog(directory: work, origin: demo.origin, key: demo.logKey)
        try log.checkpoint()
        try log.close()
        let artifactURL = work.appendingPathComponent("artifact.json")
        try Data(JSONValue.object(artifact.json).serialized().utf8).write(to: artifactURL)
        try BundleExporter.export(logs: [(demo.origin, work)], artifacts: [artifactURL], to: out, includePayloads: false)
        return out
    }

    @Test("65,536 calls open at once pass and are counted; 65,537 fail with BND_MALFORMED")
    func openCallBound() throws {
        let limit = BundleVerifier.Limits.openCalls
        #expect(limit == 65_536)
        let atLimit = try bundle(open: limit)
        let passed = BundleVerifier(trust: demo.trust).verify(bundle: atLimit)
        #expect(passed.passed, "\(String(describing: passed.failure))")
        #expect(passed.openCalls == limit)
        #expect(passed.json["open_calls"]?.integerValue == Int64(limit))
        // Completing one call and opening another keeps the count at the bound.
        let completed = BundleVerifier(trust: demo.trust).verify(bundle: try bundle(open: limit, results: 2))
        #expect(completed.passed)
        #expect(completed.openCalls == limit - 2)

        let beyond = BundleVerifier(trust: demo.trust).verify(bundle: try bundle(open: limit + 1))
        #expect(beyond.failure?.code == .bundleMalformed)
        #expect(beyond.failure?.seq == UInt64(limit))
        for url in [atLimit] { try? FileManager.default.removeItem(at: url) }
    }

    @Test("Receipt.sign accepts the open ALLOW, the RESULT and an ALLOW with upstream; both readers agree")
    func signedForms() throws {
        let key = demo.logKey
        let base: JSONObject = [
            "log": "portal.example/log/0", "seq": 3, "time": 1_760_000_000, "prev": .string(Base64URL.encode(Receipt.genesis)),
            "artifact": "art", "session": "s", "agent": ["sub": "spiffe://a", "jkt": "k"], "method": "tools/call", "tool": "search",
        ]
        let digest = JSONValue.string(Base64URL.encode(SHA256.hash([1])))
        let upstream: JSONValue = ["transport": "http", "url": "https://tools.example/mcp", "spki_sha256": digest]
        var open = base
        open["decision"] = "ALLOW"; open["request"] = digest; open["upstream"] = upstream
        var result = base
        result["decision"] = "RESULT"; result["call"] = 1; result["response"] = digest; result["code"] = "PTL_OUTCOME_UNKNOWN"
        var shadow = open
        shadow["shadow"] = "PTL_TOOL_NOT_ALLOWED"
        for fields in [open, result, shadow] {
            let r = try Receipt.sign(fields, key: key)
            let line = Array(JCS.canonicalize(.object(r.json)))
            let fast = try #require(Receipt.read(canonicalLine: line[...], maxBytes: 1 << 16, cache: Receipt.StringCache()))
            #expect(fast.canonical == r.canonical)
            #expect(fast.call == r.call && fast.decision == r.decision && fast.session == r.session)
            #expect(fast.requestCommitment == r.requestCommitment && fast.responseCommitment == r.responseCommitment)
            #expect(fast.upstream.map { JCS.canonicalize($0) } == r.upstream.map { JCS.canonicalize($0) })
            #expect(fast.shadow == r.shadow)
            try r.verifySignature(key.publicKey)
        }
        #expect(try Receipt.sign(shadow, key: key).shadow == "PTL_TOOL_NOT_ALLOWED")
        // A REVOKE is read by the generic reader only, and keeps exactly its members.
        let revoke = try Receipt.sign(["log": "portal.example/log/0", "seq": 4, "time": 1_760_000_001,
                                       "prev": .string(Base64URL.encode(Receipt.genesis)), "artifact": "art", "decision": "REVOKE"], key: key)
        #expect(Receipt.read(canonicalLine: Array(JCS.canonicalize(.object(revoke.json)))[...], maxBytes: 1 << 16,
                             cache: Receipt.StringCache()) == nil)
        #expect(revoke.json.names.sorted() == ["artifact", "decision", "log", "prev", "seq", "sig", "time", "type"])
        try revoke.verifySignature(key.publicKey)
        #expect(try Receipt.sign(open, key: key).isOpenCall)
        var bad = result
        bad["upstream"] = upstream
        #expect(throws: AttestError.self) { try Receipt.sign(bad, key: key) }
    }

    @Test("the request commitment leaves out the credential carriers of _meta")
    func carriers() {
        let params: JSONValue = ["name": "search", "_meta": ["progressToken": "p", "dev.agent-attestation/token": "t",
                                                           "dev.agent-attestation/proof": "p", "dev.agent-attestation/operator": "o"]]
        #expect(Disclosure.withoutCarriers(params) == ["name": "search", "_meta": ["progressToken": "p"]])
        #expect(Disclosure.carrierMember(Disclosure.withoutCarriers(params)) == nil)
        #expect(Disclosure.carrierMember(params) != nil)
    }
}
