import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// Bundle verification under a trust policy (bundle.md §Trust policy): a bundle cut back at
/// a checkpoint boundary verifies without one, and fails under a freshness bound or a pin.
@Suite("Trust policy", .serialized)
struct TrustPolicyTests {
    let f = BundleFixture.shared
    static let w1 = Cosigner(name: "witness.example/w1", key: try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xD1, count: 32)))  // trap-free: a 32-byte seed
    static let w2 = Cosigner(name: "witness.example/w2", key: try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xD2, count: 32)))  // trap-free: a 32-byte seed

    var policyText: String {
        """
        # two witnesses, both needed
        log \(f.demo.trust.logKeys[0].text)
        witness w1 \(Self.w1.verifier.text)
        witness w2 \(Self.w2.verifier.text)
        group both all w1 w2
        quorum both

        """
    }

    func file(_ b: URL, _ name: String) -> URL { b.appendingPathComponent("logs/0/\(name).jsonl") }

    /// The fixture with checkpoint i (sizes 1000, 2000, 3000) cosigned by both witnesses at start + 10,000 (i + 1).
    func cosigned(skipLastW2: Bool = false) throws -> URL {
        let b = f.copy()
        var out: [String] = []
        for (i, line) in lines(file(b, "checkpoints")).enumerated() {
            var o = parse(line)
            var note = o["note"]?.stringValue ?? ""
            let time = UInt64(f.demo.start) + 10_000 * UInt64(i + 1)
            note = try Self.w1.cosign(note: note, time: time)
            if !(skipLastW2 && i == 2) { note = try Self.w2.cosign(note: note, time: time) }
            o["note"] = .string(note)
            out.append(serialize(o))
        }
        write(out, file(b, "checkpoints"))
        return b
    }

    /// The same bundle cut back at its checkpoint of size 2000: later receipts, payloads and checkpoints dropped.
    func cut(_ b: URL) -> URL {
        let c = FileManager.default.temporaryDirectory.appendingPathComponent("cut-\(UUID().uuidString)")
        try? FileManager.default.copyItem(at: b, to: c)
        edit(file(c, "receipts")) { $0.removeLast($0.count - 2000) }
        edit(file(c, "checkpoints")) { $0.removeLast() }
        edit(file(c, "payloads")) { l in l.removeAll { (parse($0)["seq"]?.integerValue ?? 0) >= 2000 } }
        return c
    }

    func trust(freshAfter: Int64? = nil, pinned: String? = nil) throws -> BundleVerifier.Trust {
        var t = f.demo.trust
        let policy = try TrustPolicy(text: policyText)
        t.policy = policy
        t.logKeys = policy.logs
        t.freshAfter = freshAfter
        if let pinned { t.pinned = [(origin: f.demo.origin, note: pinned)] }
        return t
    }

    func expectFail(_ report: BundleVerifier.Report, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(report.failure?.code == code, "\(String(describing: report.failure))", sourceLocation: sourceLocation)
        if report.failure?.code == code { EvidenceLog.observed(code, sourceLocation: sourceLocation) }
    }

    @Test("a bundle cut back at a checkpoint passes without a bound (end not proven), fails with a freshness bound or a later pin")
    func cutBack() throws {
        let full = try cosigned()
        let short = cut(full)
        let lastNote = parse(lines(file(full, "checkpoints"))[2])["note"]?.stringValue ?? ""

        // No policy: both pass, neither end proven.
        for b in [full, short] {
            let r = f.verify(b)
            #expect(r.passed, "\(String(describing: r.failure))")
            #expect(r.logs.first?.endProven == false)
        }
        // The policy without a bound: the cut bundle passes, its end not proven; both witnesses counted.
        let plain = f.verify(short, trust: try trust())
        #expect(plain.passed, "\(String(describing: plain.failure))")
        #expect(plain.logs.first?.witnesses == ["w1", "w2"] && plain.logs.first?.endProven == false)

        // A freshness bound at the newest cosignatures: the full bundle passes with its end proven, the cut one fails.
        let bound = f.demo.start + 30_000
        let fresh = f.verify(full, trust: try trust(freshAfter: bound))
        #expect(fresh.passed && fresh.logs.first?.endProven == true, "\(String(describing: fresh.failure))")
        expectFail(f.verify(short, trust: try trust(freshAfter: bound)), .bundleNotFresh)

        // The auditor's pin of the checkpoint of size 3000: the full bundle passes, the cut one is truncated.
        let pinnedFull = f.verify(full, trust: try trust(pinned: lastNote))
        #expect(pinnedFull.passed && pinnedFull.logs.first?.endProven == true, "\(String(describing: pinnedFull.failure))")
        expectFail(f.verify(short, trust: try trust(pinned: lastNote)), .bundlePinnedTruncated)
    }

    @Test("two pins for one origin, or a freshness bound after now: BND_POLICY_MALFORMED, after their controls (BND-056)")
    func unusableTrustInputs() throws {
        let full = try cosigned()
        let lastNote = parse(lines(file(full, "checkpoints"))[2])["note"]?.stringValue ?? ""
        let firstNote = parse(lines(file(full, "checkpoints"))[0])["note"]?.stringValue ?? ""
        // One pin per origin passes; the same origin pinned twice (an earlier pin first) is refused.
        #expect(f.verify(full, trust: try trust(pinned: lastNote)).passed)
        var twice = try trust(pinned: firstNote)
        twice.pinned.append((origin: f.demo.origin, note: lastNote))
        expectFail(f.verify(full, trust: twice), .bundlePolicyMalformed)
        // A freshness bound at now passes the pinned-free check; one second later is refused.
        var atNow = try trust(freshAfter: f.demo.start + 30_000)
        #expect(atNow.inputProblem == nil)
        atNow.freshAfter = atNow.now + 1
        expectFail(f.verify(full, trust: atNow), .bundlePolicyMalformed)
    }

    @Test("below quorum, a receipt later than a cosignature, a pin of another root: each its code, after its control")
    func policyFailures() throws {
        let good = try cosigned()
        #expect(f.verify(good, trust: try trust()).passed)
        expectFail(f.verify(try cosigned(skipLastW2: true), trust: try trust()), .bundleQuorumNotMet)

        // A witness that cosigned the checkpoint of size 1000 before its last receipt's time.
        let early = f.copy()
        edit(file(early, "checkpoints")) { l in
            var out: [String] = []
            for (i, line) in l.enumerated() {
                var o = parse(line)
                let note = o["note"]?.stringValue ?? ""
                let time = i == 0 ? UInt64(f.demo.start) + 100 : UInt64(f.demo.start) + 10_000 * UInt64(i + 1)
                o["note"] = .string((try? Self.w2.cosign(note: try Self.w1.cosign(note: note, time: time), time: time)) ?? note)
                out.append(serialize(o))
            }
            l = out
        }
        let report = f.verify(early, trust: try trust())
        expectFail(report, .bundleReceiptAfterCosignature)
        #expect(report.failure?.seq == 202, "receipt 202 is the first dated after start + 100")

        // A pin of size 1500 whose root is not the receipts' at that size.
        let forged = Checkpoint(origin: f.demo.origin, size: 1500, root: [UInt8](repeating: 9, count: 32))
            .signed(by: [Checkpoint.Signer(name: f.demo.origin, key: f.demo.logKey)])
        let forkedReport = f.verify(good, trust: try trust(pinned: forged))
        expectFail(forkedReport, .bundlePinnedForked)
        #expect(forkedReport.failure?.seq == 1499)
    }

    @Test("a policy file that is not C2SP tlog-policy is BND_POLICY_MALFORMED; a witness's log-type key is KEY_INVALID")
    func policyFile() throws {
        #expect(try TrustPolicy(text: policyText).witnesses.count == 2)
        expectCode(.bundlePolicyMalformed) { try TrustPolicy(text: policyText.replacingOccurrences(of: "quorum both", with: "")) }
        expectCode(.bundlePolicyMalformed) { try TrustPolicy(text: policyText.replacingOccurrences(of: "all w1 w2", with: "3 w1 w2")) }
        expectCode(.keyInvalid) {
            try TrustPolicy(text: policyText.replacingOccurrences(of: Self.w2.verifier.text,
                                                                  with: NoteVerifier(name: Self.w2.name, key: Self.w2.key.publicKey).text))
        }
    }
}
