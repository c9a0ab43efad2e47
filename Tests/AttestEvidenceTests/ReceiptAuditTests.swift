import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// receipt.md §Auditing held receipts through ``ReceiptAudit`` with the proofs an
/// ``AuditedLog`` computes from receipt lines, with and without their own `sig`.
@Suite("Auditing held receipts against a log's lines")
struct ReceiptAuditTests {
    static let origin = "portal.example/log/audit"

    /// A chain of `n` signed receipts, and the signed checkpoint of all of them.
    static func log(_ n: Int, key: Ed25519.PrivateKey, skipping skipped: Int? = nil) throws -> ([Receipt], String) {
        var receipts: [Receipt] = []
        var prev = Receipt.genesis
        for i in 0..<n where i != skipped {
            let fields: JSONObject = [
                "log": .string(origin), "seq": .number(JSONNumber(Double(receipts.count))), "time": .number(JSONNumber(Double(1_760_000_000 + i))),
                "prev": .string(Base64URL.encode(prev)), "artifact": "art", "session": "s", "method": "tools/call",
                "tool": .string("tool\(i)"), "decision": "ALLOW", "request": .string(Base64URL.encode(SHA256.hash([UInt8(i)]))),
            ]
            let r = try Receipt.sign(fields, key: key)
            receipts.append(r)
            prev = r.link
        }
        let tree = MerkleTree(leafHashes: receipts.map(\.leafHash))
        let note = Checkpoint(origin: origin, size: UInt64(receipts.count), root: tree.root().bytes)
            .signed(by: [Checkpoint.Signer(name: origin, key: key)])
        return (receipts, note)
    }

    static func audit(_ held: [Receipt], lines: [Receipt], note: String, key: Ed25519.PrivateKey, withSig: Bool) throws -> Int {
        var log = AuditedLog()
        for r in lines {
            var o = r.json
            if !withSig { o["sig"] = nil }
            try log.append(line: .object(o))
        }
        let keyText = NoteVerifier(name: origin, key: key.publicKey).text
        return try ReceiptAudit.audit(held: held.map { .object($0.json) }, checkpoint: note, logKey: keyText) { _, r, c throws(AttestError) in
            log.proof(index: r.seq, size: c.size)
        }.audited
    }

    @Test("held receipts pass against the log's lines, with or without their sig")
    func passes() throws {
        let key = try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x5A, count: 32))
        let (receipts, note) = try Self.log(7, key: key)
        for withSig in [true, false] {
            #expect(try Self.audit([receipts[2], receipts[6]], lines: receipts, note: note, key: key, withSig: withSig) == 2)
        }
    }

    @Test("a log re-signed without a held receipt fails with RCP_OMITTED; one that does not reach it with RCP_NOT_COVERED")
    func omission() throws {
        let key = try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x5A, count: 32))
        let (receipts, _) = try Self.log(7, key: key)
        let (rewritten, rewrittenNote) = try Self.log(7, key: key, skipping: 2)
        for withSig in [true, false] {
            expectCode(.receiptOmitted) {
                try Self.audit([receipts[1], receipts[2]], lines: rewritten, note: rewrittenNote, key: key, withSig: withSig)
            }
            expectCode(.receiptNotCovered) {
                try Self.audit([receipts[6]], lines: rewritten, note: rewrittenNote, key: key, withSig: withSig)
            }
        }
        // The lines of a log shorter than its checkpoint prove nothing.
        let (_, fullNote) = try Self.log(7, key: key)
        expectCode(.receiptOmitted) { try Self.audit([receipts[6]], lines: Array(receipts.prefix(6)), note: fullNote, key: key, withSig: true) }
    }
}
