import AttestCore
import Dispatch
import Foundation

/// Verifies receipts handed out alone (receipt.md §Verifying a receipt, steps 3 and 4:
/// `sig.kid`, then the signature) against one log key, on all cores.
///
/// Inside a bundle no receipt signature is verified: the checkpoints authenticate the
/// receipts (bundle.md §Receipts without signatures). A set of receipts held apart from
/// their log (by a client, from `_meta`, or given to an auditor one by one) has only
/// their signatures, and this checks them at the rate of the signature primitive: each
/// worker takes chunks of receipts and verifies each over its domain-separated canonical
/// form, with no lock and nothing shared but the read-only input and its own slots of the
/// output.
public enum ReceiptBatchVerifier {
    /// Receipts per unit of work: large enough that scheduling costs little against
    /// Ed25519 verification, small enough that the cores finish together.
    static let chunk = 128

    /// For each receipt, in order, nil when it is signed by `key` and its signature
    /// verifies, else the first failure in receipt.md's order: a receipt without `sig`
    /// (a bundle's line) `RCP_MALFORMED`, a `sig.kid` other than the key's thumbprint
    /// `RCP_KEY_UNTRUSTED`, a signature that does not verify `RCP_SIGNATURE_INVALID`.
    /// The receipts' structure was checked when they were read (``Receipt/init(json:)``).
    public static func verify(_ receipts: [Receipt], key: Ed25519.PublicKey,
                              workers: Int = ProcessInfo.processInfo.activeProcessorCount) -> [AttestError?] {
        var results = [AttestError?](repeating: nil, count: receipts.count)
        guard !receipts.isEmpty else { return results }
        let chunks = (receipts.count + chunk - 1) / chunk
        let keyID = key.thumbprint
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            receipts.withUnsafeBufferPointer { input in
                nonisolated(unsafe) let input = input
                let run: @Sendable (Int) -> Void = { c in
                    var message: [UInt8] = []
                    for i in (c * chunk)..<min(input.count, (c + 1) * chunk) {
                        out[i] = check(input[i], key: key, keyID: keyID, message: &message)
                    }
                }
                if workers <= 1 || chunks == 1 {
                    for c in 0..<chunks { run(c) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: chunks, execute: run)
                }
            }
        }
        return results
    }

    /// The first failure of the set, by the order of the receipts, or nil when every one verifies.
    public static func firstFailure(_ receipts: [Receipt], key: Ed25519.PublicKey,
                                    workers: Int = ProcessInfo.processInfo.activeProcessorCount) -> (index: Int, error: AttestError)? {
        for (i, result) in verify(receipts, key: key, workers: workers).enumerated() {
            if let result { return (i, result) }
        }
        return nil
    }

    /// One receipt, its signed bytes built in `message`, a buffer the worker reuses.
    static func check(_ r: Receipt, key: Ed25519.PublicKey, keyID: String, message: inout [UInt8]) -> AttestError? {
        guard r.isSigned else {
            return AttestError(.receiptMalformed, "receipt \(r.seq): a receipt handed out alone carries sig")
        }
        guard r.keyID.isExactly(keyID) else {
            return AttestError(.receiptKeyUntrusted, "receipt \(r.seq): sig.kid is not the log key's thumbprint")
        }
        message.removeAll(keepingCapacity: true)
        message.append(contentsOf: Receipt.messagePrefix)
        message.append(contentsOf: r.canonicalBytes)
        guard r.signature.count == Ed25519.signatureLength, key.isValid(signature: r.signature, message: message) else {
            return AttestError(.receiptSignatureInvalid, "receipt \(r.seq): signature does not verify with the log key")
        }
        return nil
    }
}
