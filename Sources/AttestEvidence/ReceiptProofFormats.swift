import AttestCore
import Foundation

/// One receipt's inclusion proof in the two standard formats of receipt.md §Exporting one
/// receipt's proof: the C2SP `tlog-proof@v1` text, which carries the receipt, its index,
/// the proof and the checkpoint; and a COSE Receipt (RFC 9942) with the RFC9162_SHA256
/// verifiable data structure, a COSE_Sign1 by the log key over the root of the
/// checkpoint's tree (detached payload) with the inclusion proof in its unprotected header.
public enum ReceiptProofFormat {
    /// The first line of a tlog proof.
    public static let tlogProofHeader = "c2sp.org/tlog-proof@v1"
    /// COSE algorithm Ed25519, fully specified (RFC 9864).
    public static let coseAlgorithm: Int64 = -19
    /// COSE header parameters and values of RFC 9942.
    public static let vdsLabel: UInt64 = 395, vdpLabel: UInt64 = 396, rfc9162SHA256: UInt64 = 1, inclusionLabel: Int64 = -1
    /// The tag of COSE_Sign1 (RFC 9052).
    public static let coseSign1Tag: UInt64 = 18
    /// At most this many hashes in an exported proof: a tree of 2^64 leaves needs 64.
    public static let maxProofHashes = 64

    static func malformed(_ why: String) -> AttestError { AttestError(.receiptProofMalformed, why) }

    // MARK: tlog-proof

    /// The tlog proof of `receipt` (its JSON as signed), with its proof in the tree of the
    /// checkpoint `note`. The `extra` line is the base64 of the receipt's JCS serialization
    /// with its `sig`, so that the proof is self-contained.
    public static func tlogProof(receipt: JSONValue, seq: UInt64, proof: [[UInt8]], note: String) -> String {
        var text = tlogProofHeader + "\n"
        text += "extra " + Data(JCS.canonicalize(receipt)).base64EncodedString() + "\n"
        text += "index \(seq)\n"
        for hash in proof { text += Data(hash).base64EncodedString() + "\n" }
        return text + "\n" + note
    }

    /// Verifies a tlog proof with the log key (receipt.md §Exporting one receipt's proof):
    /// its format (`RCP_PROOF_MALFORMED`), the receipt its `extra` carries (`JSON_*`,
    /// `RCP_*`, `KEY_INVALID`), its index against the receipt's `seq`
    /// (`RCP_PROOF_MALFORMED`), the checkpoint (`CKP_*`) and the inclusion (`MRK_*`).
    public static func verifyTlogProof(_ text: String, logKey keyText: String) throws(AttestError) -> (Receipt, Checkpoint) {
        let bytes = Array(text.utf8)
        guard bytes.count <= 1 << 20 else { throw malformed("a tlog proof is at most 1 MiB") }
        // The lines before the first empty line; the checkpoint is everything after it.
        guard let blank = bytes.indices.dropLast().first(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            throw malformed("a tlog proof has an empty line before its checkpoint")
        }
        let note = String(decoding: bytes[(blank + 2)...], as: UTF8.self)
        let lines = bytes[..<blank].split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 3, lines[0].isExactly(tlogProofHeader) else {
            throw malformed("a tlog proof starts with \(tlogProofHeader), then its extra and index lines")
        }
        guard lines[1].utf8.starts(with: "extra ".utf8), let extra = standardBase64(String(decoding: Array(lines[1].utf8.dropFirst(6)), as: UTF8.self)) else {
            throw malformed("the second line is extra and the base64 of the receipt")
        }
        guard lines[2].utf8.starts(with: "index ".utf8), let index = decimal(String(decoding: Array(lines[2].utf8.dropFirst(6)), as: UTF8.self)) else {
            throw malformed("the index line is index and a decimal without leading zeros")
        }
        let hashLines = lines[3...]
        guard hashLines.count <= maxProofHashes else { throw malformed("a proof has at most \(maxProofHashes) hashes") }
        var proof: [[UInt8]] = []
        for line in hashLines {
            guard let hash = standardBase64(line), hash.count == 32 else { throw malformed("each proof line is the base64 of 32 bytes") }
            proof.append(hash)
        }
        let receipt = try Receipt(json: try StrictJSONParser().parse(extra))
        let logKey = try NoteVerifier(text: keyText)
        try ReceiptAudit.verifySignatures([receipt], key: logKey.key)
        guard index == receipt.seq else { throw malformed("the index \(index) is not the receipt's seq \(receipt.seq)") }
        let checkpoint = try Checkpoint.verify(note, trusted: [logKey], origin: receipt.log)
        try Merkle.verifyInclusion(index: receipt.seq, treeSize: checkpoint.size, leafHash: receipt.leafHash.bytes,
                                   proof: proof, root: checkpoint.root)
        return (receipt, checkpoint)
    }

    /// Standard padded base64 (RFC 4648 §4) in its one canonical spelling.
    static func standardBase64(_ s: String) -> [UInt8]? {
        guard !s.isEmpty, let data = Data(base64Encoded: s), data.base64EncodedString().isExactly(s) else { return nil }
        return Array(data)
    }

    static func decimal(_ s: String) -> UInt64? {
        let digits = Array(s.utf8)
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits.count == 1 || digits[0] != 0x30 else { return nil }
        return digits.reduce(UInt64(0)) { $0 * 10 + UInt64($1 - 0x30) }
    }

    // MARK: COSE Receipt

    /// The protected header: `alg` Ed25519 (-19) and `vds` RFC9162_SHA256.
    static var protectedHeader: [UInt8] {
        CBOR.map([(.unsigned(1), .int(coseAlgorithm)), (.unsigned(vdsLabel), .unsigned(rfc9162SHA256))]).encoded
    }

    /// The bytes the log key signs: the COSE Sig_structure of a COSE_Sign1 (RFC 9052 §4.4)
    /// with no external data, and the tree's root as its detached payload.
    static func signatureInput(protected: [UInt8], root: [UInt8]) -> [UInt8] {
        CBOR.array([.text("Signature1"), .bytes(protected), .bytes([]), .bytes(root)]).encoded
    }

    /// The COSE Receipt of the leaf at `index` in the tree of `treeSize` whose root is
    /// `root`, signed by the log key. The caller signs only a root of a checkpoint the log
    /// key signed.
    public static func coseReceipt(index: UInt64, treeSize: UInt64, proof: [[UInt8]], root: [UInt8],
                                   key: Ed25519.PrivateKey) throws(AttestError) -> [UInt8] {
        let protected = protectedHeader
        let signature = try key.signRaw(signatureInput(protected: protected, root: root))
        let inclusion = CBOR.array([.unsigned(treeSize), .unsigned(index), .array(proof.map { .bytes($0) })]).encoded
        let unprotected = CBOR.map([(.unsigned(vdpLabel), .map([(.int(inclusionLabel), .array([.bytes(inclusion)]))]))])
        return CBOR.tagged(coseSign1Tag, .array([.bytes(protected), unprotected, .null, .bytes(signature)])).encoded
    }

    /// Verifies a COSE Receipt of `receipt` with the log key (receipt.md §Exporting one
    /// receipt's proof): its structure, header and algorithm (`RCP_PROOF_MALFORMED`), the
    /// receipt (`RCP_*`, `KEY_INVALID`), its leaf index against the receipt's `seq`
    /// (`RCP_PROOF_MALFORMED`), the root its inclusion proof leads to (`MRK_*`), then the
    /// log key's signature over that root (`RCP_PROOF_SIGNATURE_INVALID`). Returns the
    /// verified receipt and the root the log key signed. The tree size sits in the
    /// unprotected header, and several sizes can lead a path to the same root, so it is not
    /// authenticated and not returned.
    public static func verifyCOSEReceipt(_ bytes: [UInt8], receipt value: JSONValue, logKey keyText: String)
        throws(AttestError) -> (Receipt, [UInt8])
    {
        guard bytes.count <= 1 << 16, case .tagged(coseSign1Tag, let sign1)? = CBOR.decode(bytes),
              let parts = sign1.arrayValue, parts.count == 4 else {
            throw malformed("a COSE Receipt is a tagged COSE_Sign1 in deterministic CBOR")
        }
        guard let protected = parts[0].bytesValue, let header = CBOR.decode(protected), header.mapCount == 2,
              header[CBOR.unsigned(vdsLabel)] == CBOR.unsigned(rfc9162SHA256) else {
            throw malformed("the protected header is exactly alg and vds RFC9162_SHA256 (1)")
        }
        guard header[CBOR.unsigned(1)] == CBOR.int(coseAlgorithm) else {
            throw malformed("the algorithm is Ed25519 (-19); EdDSA (-8) and others are not accepted")
        }
        guard parts[1].mapCount == 1, let vdp = parts[1][.unsigned(vdpLabel)], vdp.mapCount == 1,
              let proofs = vdp[.int(inclusionLabel)]?.arrayValue, proofs.count == 1,
              let encoded = proofs[0].bytesValue, let inclusion = CBOR.decode(encoded)?.arrayValue, inclusion.count == 3,
              let treeSize = inclusion[0].unsignedValue, let index = inclusion[1].unsignedValue,
              let path = inclusion[2].arrayValue, path.count <= maxProofHashes else {
            throw malformed("the unprotected header is exactly vdp with one inclusion proof [tree size, leaf index, path]")
        }
        var proof: [[UInt8]] = []
        for hash in path {
            guard let h = hash.bytesValue, h.count == 32 else { throw malformed("each hash of the path is 32 bytes") }
            proof.append(h)
        }
        guard parts[2] == CBOR.null, let signature = parts[3].bytesValue, signature.count == Ed25519.signatureLength else {
            throw malformed("the payload is detached (null) and the signature is 64 bytes")
        }
        let receipt = try Receipt(json: value)
        let logKey = try NoteVerifier(text: keyText)
        try ReceiptAudit.verifySignatures([receipt], key: logKey.key)
        guard index == receipt.seq else { throw malformed("the leaf index \(index) is not the receipt's seq \(receipt.seq)") }
        let root = try Merkle.inclusionRoot(index: index, treeSize: treeSize, leafHash: receipt.leafHash.bytes, proof: proof)
        guard logKey.key.isValid(signature: signature, message: signatureInput(protected: protected, root: root.bytes)) else {
            throw AttestError(.receiptProofSignatureInvalid, "the COSE Receipt's signature does not verify with the log key over the root its proof leads to")
        }
        return (receipt, root.bytes)
    }
}
