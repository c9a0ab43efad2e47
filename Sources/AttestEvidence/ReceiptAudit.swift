import AttestCore
import Foundation

/// Auditing the receipts a client holds against a later checkpoint of their log
/// (receipt.md §Auditing held receipts): every held receipt is signed by the log key, and
/// the log at the checkpoint holds exactly that receipt at its `seq`. A log that left a
/// held receipt out, or holds another receipt at its `seq`, fails with `RCP_OMITTED`; a
/// held receipt the checkpoint does not reach yet fails with `RCP_NOT_COVERED`.
public enum ReceiptAudit {
    /// At most this many held receipts in one audit; a client holding more audits them in
    /// several runs.
    public static let maxHeld = 1 << 20

    /// The outcome of an audit that passed.
    public struct Report: Sendable {
        public let checkpoint: Checkpoint
        public let audited: Int
    }

    /// The ordered algorithm of receipt.md §Auditing held receipts. `proof(i, receipt,
    /// checkpoint)` gives the inclusion proof of the `i`th held receipt in the tree of the
    /// verified checkpoint; it is asked for only once that receipt has passed every earlier
    /// step.
    public static func audit(held values: [JSONValue], checkpoint note: String, logKey keyText: String,
                             proof: (Int, Receipt, Checkpoint) throws(AttestError) -> [[UInt8]]) throws(AttestError) -> Report {
        guard !values.isEmpty, values.count <= maxHeld else {
            throw AttestError(.receiptMalformed, "an audit holds 1 to \(maxHeld) receipts, not \(values.count)")
        }
        // 1. The structure of each held receipt, in the order given.
        var held: [Receipt] = []
        held.reserveCapacity(values.count)
        for value in values { held.append(try Receipt(json: value)) }
        // 2. The log key.
        let logKey = try NoteVerifier(text: keyText)
        // 3. The key and signature of each held receipt, in the order given.
        try verifySignatures(held, key: logKey.key)
        // 4. The checkpoint, for the log the first held receipt names.
        let checkpoint = try Checkpoint.verify(note, trusted: [logKey], origin: held[0].log)
        // 5. Each held receipt is in the log at its seq.
        for (i, receipt) in held.enumerated() {
            try check(receipt, in: checkpoint, proof: try inclusionProof(i, receipt, checkpoint, proof))
        }
        return Report(checkpoint: checkpoint, audited: held.count)
    }

    /// Step 3: for each held receipt in order, its `sig.kid` names the log key
    /// (`RCP_KEY_UNTRUSTED`), then its signature verifies (`RCP_SIGNATURE_INVALID`); the
    /// signatures are verified on all cores (``ReceiptBatchVerifier``), and the first
    /// receipt in this order that fails is reported.
    public static func verifySignatures(_ held: [Receipt], key: Ed25519.PublicKey) throws(AttestError) {
        if let failure = ReceiptBatchVerifier.firstFailure(held, key: key) {
            throw AttestError(failure.error.code, "held \(failure.error.message)")
        }
    }

    private static func inclusionProof(_ i: Int, _ receipt: Receipt, _ checkpoint: Checkpoint,
                                       _ proof: (Int, Receipt, Checkpoint) throws(AttestError) -> [[UInt8]]) throws(AttestError) -> [[UInt8]]? {
        // A receipt that fails before its proof is read needs none.
        guard receipt.log.isExactly(checkpoint.origin), receipt.seq < checkpoint.size else { return nil }
        return try proof(i, receipt, checkpoint)
    }

    /// Step 5 for one held receipt: it names the checkpoint's log (`RCP_LOG_MISMATCH`), its
    /// `seq` is below the checkpoint's size (`RCP_NOT_COVERED`), and its leaf hash is at
    /// index `seq` under the checkpoint's root (`RCP_OMITTED`, whatever merkle.md step the
    /// proof fails).
    static func check(_ receipt: Receipt, in checkpoint: Checkpoint, proof: [[UInt8]]?) throws(AttestError) {
        guard receipt.log.isExactly(checkpoint.origin) else {
            throw AttestError(.receiptLogMismatch, "held receipt \(receipt.seq) names log \(receipt.log), not \(checkpoint.origin)")
        }
        guard receipt.seq < checkpoint.size else {
            throw AttestError(.receiptNotCovered,
                              "held receipt \(receipt.seq) is beyond the checkpoint's size \(checkpoint.size): not yet covered by this checkpoint")
        }
        do throws(AttestError) {
            try Merkle.verifyInclusion(index: receipt.seq, treeSize: checkpoint.size, leafHash: receipt.leafHash.bytes,
                                       proof: proof ?? [], root: checkpoint.root)
        } catch {
            throw AttestError(.receiptOmitted,
                              "held receipt \(receipt.seq) is not in the log at seq \(receipt.seq) of the checkpoint of size \(checkpoint.size): the log left it out or holds another receipt there (\(error.code.rawValue): \(error.message))")
        }
    }
}

/// A log's leaves read from its receipt lines (a bundle's `receipts.jsonl`) for an audit:
/// the leaf of a line is the Merkle leaf hash of SHA-256 of its canonical form (the JCS of
/// the line's object without `sig`), so a line with or without its own `sig` gives the
/// same leaf.
public struct AuditedLog {
    public private(set) var tree = MerkleTree()

    public init() {}

    /// The leaf of one receipt line; the line need not be a valid receipt (only the audit's
    /// comparison with a held receipt gives it a meaning).
    public mutating func append(line: JSONValue) throws(AttestError) {
        guard case .object(var o) = line else { throw AttestError(.receiptMalformed, "a receipt line is a JSON object") }
        o["sig"] = nil
        tree.append(SHA256.hash(JCS.canonicalize(.object(o))))
    }

    /// The inclusion proof of leaf `index` in the tree of `size`, or nil when the lines read
    /// do not reach that size (the proof of such a log is empty, and fails).
    public func proof(index: UInt64, size: UInt64) -> [[UInt8]] {
        guard size <= UInt64(tree.size), index < size else { return [] }
        return tree.inclusionProof(index: Int(index), size: Int(size)).map(\.bytes)
    }
}
