import AttestCore
@testable import AttestEvidence
import Foundation
import Testing

/// Receipts handed out alone, verified as a set on all cores (``ReceiptBatchVerifier``):
/// the same result, receipt by receipt, as verifying each alone, whatever the workers.
@Suite("Receipt batch verification")
struct ReceiptBatchVerifierTests {
    let key = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA4, count: 32))  // trap-free: a constant 32-byte seed
    let other = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xA5, count: 32))  // trap-free: a constant 32-byte seed

    func receipt(_ i: Int, key: Ed25519.PrivateKey) throws -> Receipt {
        try Receipt.sign(["log": "portal.example/log/0", "seq": .number(JSONNumber(i)), "time": .number(JSONNumber(1_760_000_000 + i)),
                          "prev": .string(Base64URL.encode(SHA256.hash(Array("\(i)".utf8)))), "artifact": "a", "session": "s",
                          "method": "tools/list", "decision": "ALLOW",
                          "request": .string(Base64URL.encode(SHA256.hash(Array("q\(i)".utf8))))], key: key)
    }

    @Test("every receipt verified, each failure at its index with receipt.md's code, the same with one worker or all")
    func batch() throws {
        var receipts = try (0..<1000).map { try receipt($0, key: key) }
        // 17: signed by another key that its kid names; 500: signed by another key under the log key's kid;
        // 998: its signature is another receipt's; 999: the bundle form, without sig.
        receipts[17] = try receipt(17, key: other)
        var forged = try receipt(500, key: other).json
        var sig = try #require(forged["sig"]?.objectValue)
        sig["kid"] = .string(key.publicKey.thumbprint)
        forged["sig"] = .object(sig)
        receipts[500] = try Receipt(json: .object(forged))
        var swapped = receipts[998].json
        swapped["sig"] = receipts[997].json["sig"]
        receipts[998] = try Receipt(json: .object(swapped))
        receipts[999] = try Receipt(bundleJSON: try StrictJSONParser().parse(receipts[999].canonical))

        let all = ReceiptBatchVerifier.verify(receipts, key: key.publicKey)
        let one = ReceiptBatchVerifier.verify(receipts, key: key.publicKey, workers: 1)
        #expect(all.map { $0?.code } == one.map { $0?.code })
        let failed = all.enumerated().filter { $0.element != nil }.map { ($0.offset, $0.element?.code) }
        #expect(failed.map(\.0) == [17, 500, 998, 999])
        #expect(failed.map(\.1) == [.receiptKeyUntrusted, .receiptSignatureInvalid, .receiptSignatureInvalid, .receiptMalformed])
        // Each agrees with verifying the receipt alone.
        for (i, r) in receipts.enumerated() where r.isSigned && r.keyID.isExactly(key.publicKey.thumbprint) {
            #expect(((try? r.verifySignature(key.publicKey)) != nil) == (all[i] == nil))
        }
        #expect(ReceiptBatchVerifier.firstFailure(receipts, key: key.publicKey)?.index == 17)
        #expect(ReceiptBatchVerifier.firstFailure(Array(receipts[0..<17]), key: key.publicKey) == nil)
        #expect(ReceiptBatchVerifier.verify([], key: key.publicKey).isEmpty)
    }
}
