import AttestCore
import Foundation

/// Signed tree heads in the C2SP tlog-checkpoint format, signed as C2SP signed notes
/// with Ed25519, so existing transparency tooling reads them.
///
/// ```
/// <origin>\n<tree size>\n<base64 root hash>\n
/// \n
/// — <key name> <base64(key ID ‖ signature)>\n
/// ```
///
/// The signed message is the note text (the three body lines, each ending in a line
/// feed). The key ID is the first four bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
public struct Checkpoint: Equatable, Sendable {
    public let origin: String
    public let size: UInt64
    public let root: [UInt8]

    public init(origin: String, size: UInt64, root: [UInt8]) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// Standard padded base64 in its one spelling: the text the bytes encode to, nothing
    /// else (Foundation's decoder alone also takes a stray `=` and other variants).
    static func strictBase64(_ text: some Collection<UInt8>) -> Data? {
        let string = String(decoding: text, as: UTF8.self)
        guard let data = Data(base64Encoded: string), data.base64EncodedString().isExactly(string) else { return nil }
        return data
    }

    public var body: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" }

    /// A key that signs checkpoints: a note key name and an Ed25519 key.
    public struct Signer: Sendable {
        public let name: String
        public let key: Ed25519.PrivateKey
        public init(name: String, key: Ed25519.PrivateKey) {
            self.name = name
            self.key = key
        }
        public var verifier: NoteVerifier { NoteVerifier(name: name, key: key.publicKey) }
    }

    public func signed(by signers: [Signer]) -> String {
        var text = body + "\n"
        for signer in signers {
            let signature = try! signer.key.signRaw(Array(body.utf8))  // trap-free: Ed25519 signing has no failure
            text += "\u{2014} \(signer.name) \(Data(signer.verifier.keyID + signature).base64EncodedString())\n"
        }
        return text
    }

    /// Parses and verifies a signed checkpoint: at least one signature by a trusted
    /// key for this origin must verify; signatures by unknown keys are ignored (C2SP
    /// signed-note rule); a signature by a trusted key that does not verify is an error.
    /// `trusted` are the log's keys, the only ones whose signature makes the note the
    /// log's: a line whose name and key ID are those of one of `cosigners` is a
    /// cosignature (read by `cosignatures(on:witnesses:)`), never the log's signature.
    public static func verify(_ note: String, trusted: [NoteVerifier], origin expectedOrigin: String? = nil,
                              cosigners: [CosignerVerifier] = [])
        throws(AttestError) -> Checkpoint
    {
        // The note is read as bytes, as C2SP defines it: Swift's String operations work on
        // grapheme clusters, which join "\r\n" into one character and a combining mark
        // with the space before it.
        let bytes = Array(note.utf8)
        guard bytes.count <= 1 << 16, !bytes.contains(0) else {
            throw AttestError(.checkpointMalformed, "note is too large or contains a NUL byte")
        }
        guard let blank = bytes.indices.dropLast().first(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            throw AttestError(.checkpointMalformed, "note has no blank line before its signatures")
        }
        let body = Array(bytes[...blank])
        let signatureBlock = bytes[(blank + 2)...]
        let lines = body.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 3, let size = UInt64(lines[1]), String(size).isExactly(lines[1]),
              let root = Data(base64Encoded: lines[2]), root.count == 32,
              Data(root).base64EncodedString().isExactly(lines[2]), !lines[0].isEmpty
        else {
            throw AttestError(.checkpointMalformed, "body is not origin, decimal size and base64 root hash")
        }
        let checkpoint = Checkpoint(origin: lines[0], size: size, root: Array(root))
        if let expectedOrigin, !checkpoint.origin.isExactly(expectedOrigin) {
            throw AttestError(.checkpointOriginMismatch, "origin \"\(checkpoint.origin)\" is not \"\(expectedOrigin)\"")
        }
        guard signatureBlock.last == 0x0A else {
            throw AttestError(.checkpointMalformed, "signature block does not end with a line feed")
        }
        let emDashSpace = Array("\u{2014} ".utf8)
        var verified = false
        for line in signatureBlock.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false) {
            guard line.starts(with: emDashSpace) else {
                throw AttestError(.checkpointMalformed, "signature line does not start with an em dash and a space")
            }
            let parts = line.dropFirst(emDashSpace.count).split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty,
                  let blob = Self.strictBase64(parts[1]), blob.count >= 5 else {
                throw AttestError(.checkpointMalformed, "signature line is not '— name base64'")
            }
            let name = String(decoding: parts[0], as: UTF8.self)
            let keyID = Array(blob.prefix(4))
            if cosigners.contains(where: { $0.matches(name: parts[0], keyID: keyID) }) { continue }
            guard let verifier = trusted.first(where: { $0.name.isExactly(name) && $0.keyID == keyID }) else { continue }
            do {
                try verifier.key.verifyRaw(signature: Array(blob.dropFirst(4)), message: body)
            } catch {
                throw AttestError(.checkpointSignatureInvalid, "signature by trusted key \(name) does not verify")
            }
            verified = true
        }
        guard verified else {
            throw AttestError(.checkpointNoTrustedSignature, "no signature by a trusted key for \(checkpoint.origin)")
        }
        return checkpoint
    }
}

/// A C2SP note verifier key: name, key ID and Ed25519 public key. Its text form is
/// `name+hex(key ID)+base64(0x01 ‖ public key)`.
public struct NoteVerifier: Sendable, Equatable {
    public let name: String
    public let key: Ed25519.PublicKey

    public init(name: String, key: Ed25519.PublicKey) {
        self.name = name
        self.key = key
    }

    public var keyID: [UInt8] {
        Array(SHA256.hash(Array(name.utf8) + [0x0A, 0x01] + key.rawRepresentation).prefix(4))
    }

    public var text: String { "\(name)+\(Hex.encode(keyID))+\(Data([0x01] + key.rawRepresentation).base64EncodedString())" }

    public init(text: String) throws(AttestError) {
        // The key is standard base64, which may itself contain "+": split at the first two only.
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let blob = Checkpoint.strictBase64(parts[2].utf8), blob.count == 33, blob.first == 0x01 else {
            throw AttestError(.keyInvalid, "note verifier key is not name+keyid+base64(0x01 ‖ Ed25519 key)")
        }
        self.init(name: String(parts[0]), key: try Ed25519.PublicKey(raw: Array(blob.dropFirst())))
        guard Hex.encode(keyID).isExactly(String(parts[1])) else {
            throw AttestError(.keyInvalid, "note verifier key ID does not match its name and key")
        }
    }
}

/// Rules between checkpoints of one log, seen in order of publication.
public enum CheckpointHistory {
    /// The steps of checkpoint.md §Successive checkpoints, in order: one origin
    /// (`CKP_ORIGIN_MISMATCH`), no shrinking (`CKP_ROLLBACK`), one root per size
    /// (`CKP_EQUIVOCATION`), and growth proven by a consistency proof (`MRK_*`). Between
    /// equal sizes and roots no proof is read; from the empty tree nothing is proven, so
    /// the proof is empty and the earlier root is the empty tree's (RFC 9162: every tree
    /// is consistent with the empty tree).
    public static func checkSuccessor(_ earlier: Checkpoint, _ later: Checkpoint, consistency proof: [[UInt8]])
        throws(AttestError)
    {
        guard later.origin.isExactly(earlier.origin) else {
            throw AttestError(.checkpointOriginMismatch, "checkpoint of \(later.origin) follows one of \(earlier.origin)")
        }
        if later.size < earlier.size {
            throw AttestError(.checkpointRollback, "checkpoint of size \(later.size) follows one of size \(earlier.size)")
        }
        if later.size == earlier.size {
            guard later.root == earlier.root else {
                throw AttestError(.checkpointEquivocation, "two checkpoints of size \(later.size) with different roots")
            }
            return  // one tree: no proof is read
        }
        if earlier.size == 0 {
            guard proof.isEmpty else {
                throw AttestError(.merkleConsistencyInvalid, "growth from the empty tree needs an empty consistency proof")
            }
            guard earlier.root == Merkle.emptyRoot.bytes else {
                throw AttestError(.merkleConsistencyInvalid, "a checkpoint of size 0 does not carry the empty tree's root")
            }
            return
        }
        try Merkle.verifyConsistency(size1: earlier.size, size2: later.size, root1: earlier.root, root2: later.root, proof: proof)
    }
}
