import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// receipt.md §Exporting one receipt's proof, against Tests/Fixtures/receipt-proof-formats.json,
/// whose bytes scripts/author_proof_fixtures.py computes independently with Python.
@Suite("Exported receipt proofs: tlog-proof and COSE Receipt")
struct ReceiptProofFormatTests {
    struct Fixture {
        let seed: [UInt8], logKey: String, receipt: JSONValue, checkpoint: String, proof: [[UInt8]]
        let tlogProof: String, coseReceipt: [UInt8]
    }

    static func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/receipt-proof-formats.json")
        let f = try StrictJSONParser().parse(Array(try Data(contentsOf: url)))
        return Fixture(seed: Hex.decode(f["log_seed"]?.stringValue ?? "") ?? [], logKey: f["log_key"]?.stringValue ?? "",
                       receipt: f["receipt"] ?? .null, checkpoint: f["checkpoint"]?.stringValue ?? "",
                       proof: (f["proof"]?.arrayValue ?? []).map { Hex.decode($0.stringValue ?? "") ?? [] },
                       tlogProof: f["tlog_proof"]?.stringValue ?? "", coseReceipt: Hex.decode(f["cose_receipt"]?.stringValue ?? "") ?? [])
    }

    @Test("the tlog proof is the fixture's text, byte for byte, and verifies")
    func tlogProofBytes() throws {
        let f = try Self.fixture()
        let text = ReceiptProofFormat.tlogProof(receipt: f.receipt, seq: 3, proof: f.proof, note: f.checkpoint)
        #expect(Array(text.utf8) == Array(f.tlogProof.utf8))
        let (receipt, checkpoint) = try ReceiptProofFormat.verifyTlogProof(text, logKey: f.logKey)
        #expect(receipt.seq == 3 && checkpoint.size == 5)
    }

    @Test("a tlog proof with one defect fails with the code of its first failing step")
    func tlogProofRejections() throws {
        let f = try Self.fixture()
        func edited(_ change: (inout [String]) -> Void) -> String {
            let parts = f.tlogProof.components(separatedBy: "\n\n")
            var lines = parts[0].components(separatedBy: "\n")
            change(&lines)
            return lines.joined(separator: "\n") + "\n\n" + parts.dropFirst().joined(separator: "\n\n")
        }
        expectCode(.receiptProofMalformed, "another header") { try ReceiptProofFormat.verifyTlogProof(edited { $0[0] = "c2sp.org/tlog-proof@v2" }, logKey: f.logKey) }
        expectCode(.receiptProofMalformed, "index with a leading zero") { try ReceiptProofFormat.verifyTlogProof(edited { $0[2] = "index 03" }, logKey: f.logKey) }
        expectCode(.receiptProofMalformed, "the index of another receipt") { try ReceiptProofFormat.verifyTlogProof(edited { $0[2] = "index 2" }, logKey: f.logKey) }
        expectCode(.receiptProofMalformed, "a hash of 31 bytes") {
            try ReceiptProofFormat.verifyTlogProof(edited { $0[3] = Data(repeating: 1, count: 31).base64EncodedString() }, logKey: f.logKey)
        }
        expectCode(.merkleInclusionInvalid, "a proof line dropped") { try ReceiptProofFormat.verifyTlogProof(edited { $0.removeLast() }, logKey: f.logKey) }
        expectCode(.receiptProofMalformed, "no empty line") {
            try ReceiptProofFormat.verifyTlogProof(f.tlogProof.replacingOccurrences(of: "\n\n", with: "\n"), logKey: f.logKey)
        }
    }

    @Test("the COSE Receipt is the fixture's bytes, and verifies")
    func coseReceiptBytes() throws {
        let f = try Self.fixture()
        let key = try Ed25519.PrivateKey(seed: f.seed)
        let checkpoint = try Checkpoint.verify(f.checkpoint, trusted: [try NoteVerifier(text: f.logKey)])
        let bytes = try ReceiptProofFormat.coseReceipt(index: 3, treeSize: checkpoint.size, proof: f.proof, root: checkpoint.root, key: key)
        #expect(bytes == f.coseReceipt, "\(Hex.encode(bytes))")
        let (receipt, root) = try ReceiptProofFormat.verifyCOSEReceipt(bytes, receipt: f.receipt, logKey: f.logKey)
        #expect(receipt.seq == 3 && root == checkpoint.root)
    }

    @Test("a COSE Receipt with one defect fails with the code of its first failing step")
    func coseReceiptRejections() throws {
        let f = try Self.fixture()
        guard case .tagged(let tag, .array(let parts))? = CBOR.decode(f.coseReceipt), tag == 18 else {
            Issue.record("the fixture is a tagged COSE_Sign1")
            return
        }
        func with(_ i: Int, _ item: CBOR) -> [UInt8] {
            var p = parts
            p[i] = item
            return CBOR.tagged(18, .array(p)).encoded
        }
        func verify(_ bytes: [UInt8], _ receipt: JSONValue? = nil) throws -> [UInt8] {
            try ReceiptProofFormat.verifyCOSEReceipt(bytes, receipt: receipt ?? f.receipt, logKey: f.logKey).1
        }
        // -8 (EdDSA, deprecated by RFC 9864) is not accepted, even with a valid signature.
        let eddsa = CBOR.map([(.unsigned(1), .int(-8)), (.unsigned(395), .unsigned(1))]).encoded
        let key = try Ed25519.PrivateKey(seed: f.seed)
        let root = try Checkpoint.verify(f.checkpoint, trusted: [try NoteVerifier(text: f.logKey)]).root
        let resigned = try key.signRaw(ReceiptProofFormat.signatureInput(protected: eddsa, root: root))
        var p = parts
        p[0] = .bytes(eddsa)
        p[3] = .bytes(resigned)
        expectCode(.receiptProofMalformed, "alg -8") { try verify(CBOR.tagged(18, .array(p)).encoded) }
        expectCode(.receiptProofMalformed, "untagged") { try verify(CBOR.array(parts).encoded) }
        expectCode(.receiptProofMalformed, "an attached payload") { try verify(with(2, .bytes(root))) }
        expectCode(.receiptProofMalformed, "a trailing byte") { try verify(f.coseReceipt + [0]) }
        var other = f.receipt
        if case .object(var o) = other { o["seq"] = .number(JSONNumber(2.0)); other = .object(o) }
        expectCode(.receiptSignatureInvalid, "the receipt's seq edited") { try verify(f.coseReceipt, other) }
        let otherRoot = try key.signRaw(ReceiptProofFormat.signatureInput(protected: ReceiptProofFormat.protectedHeader, root: [UInt8](repeating: 7, count: 32)))
        expectCode(.receiptProofSignatureInvalid, "signed over another root") { try verify(with(3, .bytes(otherRoot))) }
        expectCode(.receiptProofSignatureInvalid, "one signature bit flipped") {
            var s = parts[3].bytesValue ?? []
            s[0] ^= 1
            return try verify(with(3, .bytes(s)))
        }
    }

    @Test("mutated COSE Receipts and tlog proofs are rejected with a code or verify, never trap")
    func mutationsNeverTrap() throws {
        let f = try Self.fixture()
        var rng = SeededGenerator(state: 0xC05E)
        var outcomes: [String: Int] = [:]
        for _ in 0..<2000 {
            var bytes = f.coseReceipt
            var text = Array(f.tlogProof.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng), j = Int.random(in: 0..<text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng)); text[j] ^= UInt8(1 << Int.random(in: 0..<7, using: &rng))
                case 1: bytes.remove(at: i); text.remove(at: j)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i); text.insert(0x41, at: j)
                }
            }
            for attempt in [{ _ = try ReceiptProofFormat.verifyCOSEReceipt(bytes, receipt: f.receipt, logKey: f.logKey) },
                            { _ = try ReceiptProofFormat.verifyTlogProof(String(decoding: text, as: UTF8.self), logKey: f.logKey) }] {
                do { try attempt(); outcomes["valid", default: 0] += 1 } catch let e as AttestError { outcomes[e.code.rawValue, default: 0] += 1 }
            }
        }
        #expect(outcomes["RCP_PROOF_MALFORMED", default: 0] > 0 && outcomes["RCP_PROOF_SIGNATURE_INVALID", default: 0] > 0, "\(outcomes)")
    }

    @Test("the CBOR decoder accepts the deterministic encoding only")
    func cborDeterministic() {
        #expect(CBOR.decode([0x18, 0x17]) == nil, "23 in two bytes")
        #expect(CBOR.decode([0xA2, 0x02, 0x00, 0x01, 0x00]) == nil, "map keys out of order")
        #expect(CBOR.decode([0xA2, 0x01, 0x00, 0x01, 0x00]) == nil, "a repeated key")
        #expect(CBOR.decode([0x5F]) == nil, "an indefinite length")
        #expect(CBOR.decode([0xFB, 0, 0, 0, 0, 0, 0, 0, 0]) == nil, "a float")
        #expect(CBOR.decode([0x62, 0xC3, 0x28]) == nil, "invalid UTF-8")
        #expect(CBOR.decode([0x5A, 0xFF, 0xFF, 0xFF, 0xFF]) == nil, "a length past the input")
        #expect(CBOR.decode(Array(repeating: 0x81, count: 64) + [0x00]) == nil, "nested deeper than the bound")
        #expect(CBOR.decode([0x38, 0x18]) == .int(-25))
        #expect(CBOR.int(-19).encoded == [0x32] && CBOR.unsigned(395).encoded == [0x19, 0x01, 0x8B])
    }

    @Test("whatever the CBOR decoder accepts, the encoder writes back byte for byte")
    func cborRoundTrip() {
        var rng = SeededGenerator(state: 0xCB0E)
        var accepted = 0
        // Short random inputs drawn from the heads the subset uses, so that many decode.
        let alphabet: [UInt8] = [0x00, 0x01, 0x17, 0x18, 0x19, 0x20, 0x32, 0x38, 0x40, 0x41, 0x42, 0x58, 0x60, 0x61, 0x78,
                                 0x80, 0x81, 0x82, 0x83, 0x84, 0x98, 0xA0, 0xA1, 0xA2, 0xB8, 0xC0, 0xD2, 0xD8, 0xF6, 0xF7, 0xFF, 0x0A, 0x8B]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            guard let item = CBOR.decode(bytes) else { continue }
            accepted += 1
            #expect(item.encoded == bytes, "\(Hex.encode(bytes)) decodes to \(item), which encodes to \(Hex.encode(item.encoded))")
        }
        #expect(accepted > 100, "\(accepted) inputs decoded")
    }
}
