import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// A small bundle written by the portal simulation, then attacked one way at a time.
/// Each attack must turn PASS into FAIL with its code; the unmodified bundle is the
/// positive control.
final class BundleFixture: @unchecked Sendable {
    static let shared = BundleFixture()
    let demo = DemoHistory()
    let base: URL

    init() {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-base-\(UUID().uuidString)")
        try! demo.writeBundle(base, count: 3000, checkpointEvery: 1000)
    }

    func copy() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        try! FileManager.default.copyItem(at: base, to: url)
        return url
    }

    func verify(_ url: URL, trust: BundleVerifier.Trust? = nil) -> BundleVerifier.Report {
        BundleVerifier(trust: trust ?? demo.trust).verify(bundle: url)
    }
}

func lines(_ url: URL) -> [String] {
    (try! String(contentsOf: url, encoding: .utf8)).split(separator: "\n").map(String.init)
}

func write(_ lines: [String], _ url: URL) {
    try! Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
}

func edit(_ url: URL, _ body: (inout [String]) -> Void) {
    var l = lines(url)
    body(&l)
    write(l, url)
}

func parse(_ line: String) -> JSONObject { try! StrictJSONParser().parse(line).objectValue! }
func serialize(_ o: JSONObject) -> String { JSONValue.object(o).serialized(pretty: false) }

@Suite("Evidence bundles", .serialized)
struct BundleTests {
    let f = BundleFixture.shared

    func receipts(_ b: URL) -> URL { b.appendingPathComponent("logs/0/receipts.jsonl") }
    func checkpoints(_ b: URL) -> URL { b.appendingPathComponent("logs/0/checkpoints.jsonl") }
    func payloads(_ b: URL) -> URL { b.appendingPathComponent("logs/0/payloads.jsonl") }

    /// A receipt rewritten in its bundle form (no `sig`), as a portal that rewrites its own
    /// history would write it: the line is valid, only the chain and checkpoints can tell.
    func rewrite(_ o: JSONObject) -> String {
        var fields = o
        fields["sig"] = nil
        return String(decoding: JCS.canonicalize(.object(fields)), as: UTF8.self)
    }

    /// A receipt line with a signature: the receipt signed by `key`, `sig.kid` naming `kid`.
    func signedLine(_ o: JSONObject, key: Ed25519.PrivateKey, kid: String? = nil) -> String {
        var fields = o
        fields["sig"] = nil
        var signed = try! Receipt.sign(fields, key: key).json
        if let kid, var sig = signed["sig"]?.objectValue {
            sig["kid"] = .string(kid)
            signed["sig"] = .object(sig)
        }
        return serialize(signed)
    }

    func expectFail(_ b: URL, _ code: ErrorCode, seq: UInt64? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let report = f.verify(b)
        #expect(report.failure?.code == code, "\(String(describing: report.failure))", sourceLocation: sourceLocation)
        if let seq { #expect(report.failure?.seq == seq, sourceLocation: sourceLocation) }
        if report.failure?.code == code && (seq == nil || report.failure?.seq == seq) {
            EvidenceLog.observed(code, sourceLocation: sourceLocation)
        }
    }

    @Test("the unmodified bundle verifies PASS, with every decision re-checked against its payload")
    func control() {
        let report = f.verify(f.base)
        #expect(report.passed, "\(String(describing: report.failure))")
        #expect(report.receipts == 3000)
        #expect(report.payloadsChecked > 1000)
    }

    @Test("receipts reordered, deleted, duplicated: sequence codes at the receipt")
    func sequence() {
        let reordered = f.copy(); edit(receipts(reordered)) { $0.swapAt(10, 11) }
        expectFail(reordered, .receiptSequenceGap, seq: 11)
        let deleted = f.copy(); edit(receipts(deleted)) { $0.remove(at: 10) }
        expectFail(deleted, .receiptSequenceGap, seq: 11)
        let duplicated = f.copy(); edit(receipts(duplicated)) { $0.insert($0[10], at: 11) }
        expectFail(duplicated, .receiptSequenceDuplicate, seq: 10)
    }

    @Test("a receipt line carrying a signature, by the log key, forged under its kid, or by another key: RCP_MALFORMED alike")
    func signedLines() {
        let attacker = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xEE, count: 32))
        let logKid = f.demo.logKey.publicKey.thumbprint
        for (key, kid) in [(f.demo.logKey, nil), (attacker, logKid), (attacker, nil)] as [(Ed25519.PrivateKey, String?)] {
            let b = f.copy()
            edit(receipts(b)) { l in l[10] = signedLine(parse(l[10]), key: key, kid: kid) }
            expectFail(b, .receiptMalformed, seq: 10)
        }
    }

    @Test("a field changed in place: the next receipt's chain, or the checkpoint over the last one")
    func tampered() {
        let b = f.copy()
        edit(receipts(b)) { l in
            var o = parse(l[3]); o["session"] = "another-session"; l[3] = serialize(o)
        }
        expectFail(b, .receiptChainBroken, seq: 4)
        // The last receipt, an ALLOW of a call the artifact forbids: the root fails first.
        let last = f.copy()
        edit(receipts(last)) { l in
            var o = parse(l[2999]); o["decision"] = "ALLOW"; o["code"] = nil; o["tool"] = "delete_file"; l[2999] = serialize(o)
        }
        expectFail(last, .bundleRootMismatch, seq: 2999)
    }

    @Test("history rewritten by the log key: chain break, or root mismatch at the checkpoint")
    func rewritten() {
        let b = f.copy()
        edit(receipts(b)) { l in var o = parse(l[5]); o["session"] = "rewritten"; l[5] = rewrite(o) }
        expectFail(b, .receiptChainBroken, seq: 6)
        let last = f.copy()
        edit(receipts(last)) { l in var o = parse(l[2999]); o["session"] = "rewritten"; l[2999] = rewrite(o) }
        expectFail(last, .bundleRootMismatch, seq: 2999)
    }

    @Test("a content failure waits for the log's authentication: a chain break later in the log comes first")
    func authenticationFirst() {
        let b = f.copy()
        // Payload line of receipt 5 dropped its salt (content, step 5); receipt 20 edited in place (chain, step 4 at 21).
        edit(payloads(b)) { l in var o = parse(l[5]); o["request_salt"] = nil; l[5] = serialize(o) }
        let contentOnly = f.copy()
        edit(payloads(contentOnly)) { l in var o = parse(l[5]); o["request_salt"] = nil; l[5] = serialize(o) }
        expectFail(contentOnly, .receiptDisclosureMalformed)
        edit(receipts(b)) { l in var o = parse(l[20]); o["session"] = "edited"; l[20] = serialize(o) }
        expectFail(b, .receiptChainBroken, seq: 21)
    }

    @Test("the exporter writes each receipt as its canonical form without sig, and the bundle verifies")
    func exportWritesReceiptsWithoutSignatures() throws {
        let logLines = lines(f.base.appendingPathComponent("logs/0/receipts.jsonl"))
        #expect(logLines.count == 3000)
        for line in logLines.prefix(50) {
            let o = parse(line)
            #expect(o["sig"] == nil)
            #expect(Array(line.utf8) == JCS.canonicalize(.object(o)))
        }
        // A log line, signed, and its bundle line: the canonical form of the one is the other.
        let signed = try Receipt.sign(["log": "portal.example/log/0", "seq": 0, "time": 1, "prev": .string(Base64URL.encode(Receipt.genesis)),
                                       "artifact": "a", "session": "s", "method": "tools/list", "decision": "ALLOW",
                                       "request": .string(Base64URL.encode([UInt8](repeating: 1, count: 32)))], key: f.demo.logKey)
        let logLine = Array(serialize(signed.json).utf8)
        #expect(try Receipt.bundleLine(fromLogLine: logLine[...]) == signed.canonical)
        let bundled = try Receipt(bundleJSON: try StrictJSONParser().parse(try Receipt.bundleLine(fromLogLine: logLine[...])))
        #expect(bundled.link == signed.link && !bundled.isSigned)
    }

    @Test("truncated log: fewer receipts than the last checkpoint")
    func truncated() {
        let b = f.copy(); edit(receipts(b)) { $0.removeLast(5) }
        expectFail(b, .bundleSizeMismatch)
    }

    @Test("a log without checkpoints commits to nothing: BND_NO_CHECKPOINT")
    func noCheckpoint() {
        let b = f.copy()
        try! Data().write(to: checkpoints(b))
        expectFail(b, .bundleNoCheckpoint)
    }

    @Test("payload swapped under its commitment, and a wrong salt")
    func disclosure() {
        let swapped = f.copy()
        edit(payloads(swapped)) { l in
            var o = parse(l[4]); var request = o["request"]!.objectValue!
            request["arguments"] = ["query": "other"]; o["request"] = .object(request); l[4] = serialize(o)
        }
        expectFail(swapped, .receiptCommitmentMismatch, seq: 4)
        let salted = f.copy()
        edit(payloads(salted)) { l in
            var o = parse(l[4]); o["request_salt"] = .string(Base64URL.encode([UInt8](repeating: 0, count: 32))); l[4] = serialize(o)
        }
        expectFail(salted, .receiptCommitmentMismatch, seq: 4)
    }

    func appendCheckpoint(_ b: URL, size: UInt64, root: [UInt8], signer: Checkpoint.Signer? = nil, consistency: [[UInt8]] = []) {
        let note = Checkpoint(origin: f.demo.origin, size: size, root: root)
            .signed(by: [signer ?? Checkpoint.Signer(name: f.demo.origin, key: f.demo.logKey)])
        edit(checkpoints(b)) { l in
            l.append(serialize(["note": .string(note), "consistency": .array(consistency.map { .string(Base64URL.encode($0)) })]))
        }
    }

    @Test("forked log, rollback, bad consistency proof, checkpoint signed by another key")
    func checkpointAttacks() throws {
        let notes = lines(checkpoints(f.base)).map { parse($0)["note"]!.stringValue! }
        let last = try Checkpoint.verify(notes[2], trusted: f.demo.trust.logKeys)
        let first = try Checkpoint.verify(notes[0], trusted: f.demo.trust.logKeys)
        let fork = f.copy(); appendCheckpoint(fork, size: last.size, root: first.root)
        expectFail(fork, .checkpointEquivocation)
        let rollback = f.copy(); appendCheckpoint(rollback, size: first.size, root: first.root)
        expectFail(rollback, .checkpointRollback)
        let badProof = f.copy()
        edit(checkpoints(badProof)) { l in
            var o = parse(l[1]); var proof = o["consistency"]!.arrayValue!
            proof[0] = .string(Base64URL.encode([UInt8](repeating: 7, count: 32))); o["consistency"] = .array(proof); l[1] = serialize(o)
        }
        expectFail(badProof, .merkleConsistencyInvalid)
        let otherKey = f.copy()
        edit(checkpoints(otherKey)) { $0.removeAll() }
        appendCheckpoint(otherKey, size: last.size, root: last.root,
                         signer: Checkpoint.Signer(name: f.demo.origin, key: try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x55, count: 32))))
        expectFail(otherKey, .checkpointNoTrustedSignature)
    }

    /// A portal that logs ALLOW for calls its artifact forbids: a fresh log written with
    /// the legitimate log key, so every signature and link is valid.
    func lyingPortal(_ calls: [(tool: String, arguments: JSONValue, time: Int64)], payloads: Bool = true) throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lying-\(UUID().uuidString)")
        let work = out.appendingPathComponent(".log")
        let (artifact, _) = try f.demo.artifacts()
        let log = try ReceiptLog(directory: work, origin: f.demo.origin, key: f.demo.logKey)
        for c in calls {
            try log.append(time: c.time, artifact: artifact.digest, session: "s", agent: (artifact.subject, artifact.subjectKey),
                           method: "tools/call", tool: c.tool, decision: .allow, code: nil,
                           request: ["name": .string(c.tool), "arguments": c.arguments], response: ["content": []],
                           upstream: artifact.upstream, durable: false)
        }
        try log.checkpoint()
        try log.close()
        let artifactURL = work.appendingPathComponent("artifact.json")
        try Data(JSONValue.object(artifact.json).serialized().utf8).write(to: artifactURL)
        try BundleExporter.export(logs: [(f.demo.origin, work)], artifacts: [artifactURL], to: out, includePayloads: payloads)
        return out
    }

    @Test("ALLOW that the artifact forbids: tool, arguments, rate limit, validity window")
    func enforcement() throws {
        let t = f.demo.start
        let ok: (String, JSONValue, Int64) = ("search", ["query": "a"], t + 1)
        #expect(f.verify(try lyingPortal([ok, ok])).passed)
        expectFail(try lyingPortal([ok, ("delete_file", ["path": "/"], t + 2)]), .portalToolNotAllowed, seq: 1)
        expectFail(try lyingPortal([ok, ("read_file", ["path": "/etc/passwd"], t + 2)]), .portalConstraintViolated, seq: 1)
        // Without the payload the same log passes: argument constraints need disclosure.
        #expect(f.verify(try lyingPortal([ok, ("read_file", ["path": "/etc/passwd"], t + 2)], payloads: false)).passed)
        let burst = (0..<31).map { _ in ok }
        expectFail(try lyingPortal(burst), .portalRateLimited, seq: 30)
        let spaced: [(tool: String, arguments: JSONValue, time: Int64)] = (0..<31).map { i in ("search", ["query": "a"], t + Int64(i) * 2) }
        #expect(f.verify(try lyingPortal(spaced)).passed)
        expectFail(try lyingPortal([ok, ("search", ["query": "a"], t + 50_000_000)]), .portalOutsideValidity, seq: 1)
    }

    @Test("mandates: widening tools, time, constraint, limit; missing parent; wrong signer")
    func mandates() throws {
        let (artifact, mandate) = try f.demo.artifacts()
        _ = try MandateChain.verify([artifact, mandate], trustedAuthorities: f.demo.trust.authorities)
        func derive(_ change: (inout JSONObject) -> Void, signer: Ed25519.PrivateKey? = nil) throws -> Artifact {
            var o = f.demo.unsignedMandate(parent: artifact)
            change(&o)
            return try Artifact.seal(o, key: signer ?? f.demo.agent)
        }
        func expectChain(_ m: Artifact, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) {
            expectCode(code, sourceLocation: sourceLocation) {
                try MandateChain.verify([artifact, m], trustedAuthorities: f.demo.trust.authorities)
            }
        }
        expectChain(try derive { $0["tools"] = ["delete_file": [:]] }, .mandateWidensTools)
        expectChain(try derive { $0["not_after"] = .number(JSONNumber(Double(f.demo.start + 60_000_000))) }, .mandateWidensValidity)
        expectChain(try derive { o in
            o["tools"] = ["search": ["arguments": ["query": ["type": "string", "max_length": 100]], "required": ["query"],
                                     "rate_limit": ["max": 20, "window": 60]]]
        }, .mandateWidensConstraint)
        expectChain(try derive { o in
            o["tools"] = ["search": ["arguments": ["query": ["type": "string", "max_length": 10],
                                                   "limit": ["type": "integer", "minimum": 1, "maximum": 10]],
                                     "required": ["query"], "rate_limit": ["max": 40, "window": 60]]]
        }, .mandateWidensRateLimit)
        expectChain(try derive({ _ in }, signer: f.demo.subAgent), .mandateSignerNotSubject)
        expectCode(.mandateParentMissing) { try MandateChain.chain(endingAt: mandate.digest, from: [ExactString(mandate.digest): mandate]) }
        expectCode(.artifactSignerUntrusted) { try MandateChain.verify([artifact], trustedAuthorities: ["someone-else"]) }
    }

    @Test("a signature made for one object type presented as another")
    func crossDomain() throws {
        let (artifact, _) = try f.demo.artifacts()
        // Sign the artifact's exact payload as a receipt, and present that signature as the artifact's.
        let receiptSignature = try f.demo.authority.sign(JCS.canonicalize(.object(artifact.unsigned)), domain: .receipt)
        var o = artifact.json
        var sig = o["sig"]!.objectValue!
        sig["value"] = .string(Base64URL.encode(receiptSignature))
        o["sig"] = .object(sig)
        let forged = try Artifact(json: .object(o))
        expectCode(.artifactSignatureInvalid) { try forged.verifySignature() }
        _ = try artifact.verifySignature()
    }

    @Test("the verdict is deterministic, and trust comes only from the inputs")
    func determinism() {
        let a = f.verify(f.base), b = f.verify(f.base)
        #expect(a.json == b.json)
        var noLog = f.demo.trust
        noLog.logKeys = []
        #expect(f.verify(f.base, trust: noLog).failure?.code == .bundleLogUntrusted)
        var early = f.demo.trust
        early.now = f.demo.start + 10
        #expect(f.verify(f.base, trust: early).failure?.code == .bundleFutureReceipt)
    }
}
