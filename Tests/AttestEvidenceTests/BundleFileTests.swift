import AttestCore
@testable import AttestEvidence
import Foundation
import Testing

/// Bundle files a JSON vector cannot describe (bundle.md BND-012): manifest paths naming
/// a directory, a FIFO or a symbolic link, over-long lines, lines that are not JSON.
/// Each attack is run after the unmodified copy passes, so the code is the attack's.
@Suite("Bundle files", .serialized)
struct BundleFileTests {
    let f = BundleFixture.shared

    func manifest(_ b: URL) -> URL { b.appendingPathComponent("manifest.json") }

    /// Replaces the receipts path of the only log in the manifest.
    func pointReceipts(_ b: URL, to path: String) {
        var o = parse(lines(manifest(b)).joined())
        var log = o["logs"]?.arrayValue?.first?.objectValue ?? JSONObject()
        log["receipts"] = .string(path)
        o["logs"] = [.object(log)]
        write([serialize(o)], manifest(b))
    }

    func expectFail(_ b: URL, _ code: ErrorCode, _ message: String? = nil, seq: UInt64? = nil,
                    sourceLocation: SourceLocation = #_sourceLocation) {
        let control = f.verify(f.base)
        #expect(control.passed, sourceLocation: sourceLocation)
        let report = f.verify(b)
        #expect(report.failure?.code == code, "\(String(describing: report.failure))", sourceLocation: sourceLocation)
        if let message { #expect(report.failure?.message.contains(message) == true, "\(String(describing: report.failure))", sourceLocation: sourceLocation) }
        if let seq { #expect(report.failure?.seq == seq, sourceLocation: sourceLocation) }
    }

    @Test("a manifest path naming a directory is refused with BND_MALFORMED, never read")
    func directory() {
        for path in ["", ".", "logs", "logs/0", "logs/./0/receipts.jsonl", "logs//0/receipts.jsonl", "/etc/passwd", "../x"] {
            let b = f.copy()
            pointReceipts(b, to: path)
            expectFail(b, .bundleMalformed)
        }
        let b = f.copy()
        pointReceipts(b, to: "logs/0/receipts.jsonl")
        #expect(f.verify(b).passed)
    }

    @Test("a manifest of another format, the v1 whose receipt lines carried sig included, is BND_MALFORMED")
    func refusesAnotherFormat() {
        for format in ["mcp-attest/bundle/v1", "mcp-attest/bundle/v3", "MCP-ATTEST/BUNDLE/V2"] {
            let b = f.copy()
            var o = parse(lines(manifest(b)).joined())
            o["format"] = .string(format)
            write([serialize(o)], manifest(b))
            expectFail(b, .bundleMalformed, "manifest")
        }
    }

    @Test("a FIFO is refused at once, not waited on")
    func fifo() {
        let b = f.copy()
        let path = b.appendingPathComponent("logs/0/fifo").path
        #expect(mkfifo(path, 0o600) == 0)
        pointReceipts(b, to: "logs/0/fifo")
        expectFail(b, .bundleMalformed, "not a regular file")
    }

    @Test("a symbolic link, to /dev/zero or to a real receipts file, is refused")
    func symlink() throws {
        for target in ["/dev/zero", "receipts.jsonl"] {
            let b = f.copy()
            try FileManager.default.createSymbolicLink(atPath: b.appendingPathComponent("logs/0/link").path, withDestinationPath: target)
            pointReceipts(b, to: "logs/0/link")
            expectFail(b, .bundleMalformed, "symbolic link")
        }
        // A symbolic link to a directory on the way is refused too.
        let b = f.copy()
        try FileManager.default.createSymbolicLink(atPath: b.appendingPathComponent("alias").path, withDestinationPath: "logs")
        pointReceipts(b, to: "alias/0/receipts.jsonl")
        expectFail(b, .bundleMalformed, "symbolic link")
    }

    @Test("a receipt line over 64 KiB is RCP_MALFORMED at its seq, read no further than the limit")
    func longLine() {
        let b = f.copy()
        let url = b.appendingPathComponent("logs/0/receipts.jsonl")
        edit(url) { $0[5] = String(repeating: " ", count: 2 << 20) + $0[5] }
        expectFail(b, .receiptMalformed, seq: 5)
        // A line of exactly the limit is read (and fails only as the receipt it is not).
        let c = f.copy()
        edit(c.appendingPathComponent("logs/0/receipts.jsonl")) { $0[5] = String(repeating: "x", count: 1 << 16) }
        expectFail(c, .receiptMalformed, "not JSON", seq: 5)
    }

    @Test("lines that are not JSON report the file's own code: receipt, artifact, checkpoint, payload")
    func notJSON() {
        let receipts = f.copy()
        edit(receipts.appendingPathComponent("logs/0/receipts.jsonl")) { $0[7] = "{\"type\":" }
        expectFail(receipts, .receiptMalformed, seq: 7)
        let artifacts = f.copy()
        edit(artifacts.appendingPathComponent("artifacts.jsonl")) { $0.append("[1,") }
        expectFail(artifacts, .artifactMalformed)
        let checkpoints = f.copy()
        edit(checkpoints.appendingPathComponent("logs/0/checkpoints.jsonl")) { $0[0] = "{\"note\"" }
        expectFail(checkpoints, .bundleMalformed)
        let payloads = f.copy()
        edit(payloads.appendingPathComponent("logs/0/payloads.jsonl")) { $0[9] = "not json" }
        expectFail(payloads, .bundleMalformed)
    }

    @Test("a bad payload line never hides an earlier receipt's failure")
    func payloadAfterReceipt() {
        let b = f.copy()
        edit(b.appendingPathComponent("logs/0/receipts.jsonl")) { l in
            var o = parse(l[1])
            o["session"] = "altered after the log was written"
            l[1] = serialize(o)
        }
        edit(b.appendingPathComponent("logs/0/payloads.jsonl")) { $0[2000] = "not json" }
        expectFail(b, .receiptChainBroken, seq: 2)
    }

    @Test("two verifications at once share no position: each names its own log and seq")
    func concurrent() async {
        let broken = f.copy()
        edit(broken.appendingPathComponent("logs/0/receipts.jsonl")) { $0.swapAt(20, 21) }
        let verifier = BundleVerifier(trust: f.demo.trust)
        async let a = Task.detached { verifier.verify(bundle: broken) }.value
        async let b = Task.detached { verifier.verify(bundle: f.base) }.value
        let (failed, passed) = await (a, b)
        #expect(failed.failure?.code == .receiptSequenceGap)
        #expect(failed.failure?.seq == 21)
        #expect(passed.passed)
    }
}

/// Verification time is linear in the receipts whatever the artifact says (BND-013):
/// the rate windows do a bounded amount of work per call, counted, not timed.
@Suite("Rate windows scale linearly")
struct BundleScalingTests {
    func artifact(limit: JSONValue?) throws -> Artifact {
        let demo = DemoHistory()
        var o = demo.unsignedArtifact()
        o["rate_limit"] = limit
        o["tools"] = ["search": [:]]
        return try Artifact.seal(o, key: demo.authority)
    }

    func work(calls: Int, artifact: Artifact) -> Int {
        var engine = PolicyEngine()
        for i in 0..<calls {
            let time = artifact.notBefore + Int64(i / 4)
            if engine.evaluate(chain: [artifact], tool: "search", arguments: nil, time: time) == nil {
                engine.recordAllowed(chain: [artifact], tool: "search", time: time)
            }
        }
        return engine.steps
    }

    @Test("no limit, a day-long window, a one-second window: steps per call stay bounded as calls double")
    func linear() throws {
        for limit: JSONValue? in [nil, ["max": 1_000_000_000, "window": 86_400], ["max": 3, "window": 1]] {
            let a = try artifact(limit: limit)
            let small = work(calls: 100_000, artifact: a), large = work(calls: 200_000, artifact: a)
            #expect(large <= 2 * small + 64, "limit \(String(describing: limit)): \(small) then \(large) steps")
            #expect(large <= 4 * 200_000, "limit \(String(describing: limit)): \(large) steps for 200,000 calls")
        }
    }

    @Test("the counting is exact: allowed calls equal the limit's capacity over the run")
    func exact() throws {
        let a = try artifact(limit: ["max": 3, "window": 10])
        var engine = PolicyEngine()
        var allowed = 0
        for i in 0..<1000 {
            let time = a.notBefore + Int64(i / 4)  // four calls a second
            if engine.evaluate(chain: [a], tool: "search", arguments: nil, time: time) == nil {
                engine.recordAllowed(chain: [a], tool: "search", time: time)
                allowed += 1
            }
        }
        // 250 seconds: three calls in each window of ten seconds, 75 in all.
        #expect(allowed == 75)
    }
}
