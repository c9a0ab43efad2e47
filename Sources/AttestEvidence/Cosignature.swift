import AttestCore
import Foundation

/// Witness cosignatures on checkpoints, in the C2SP tlog-cosignature format with Ed25519
/// (signature type 0x04).
///
/// A cosignature is a signature line on a checkpoint note:
///
/// ```
/// — <cosigner name> base64(key ID ‖ timestamp ‖ signature)
/// ```
///
/// The key ID is the first four bytes of SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key), the
/// timestamp eight bytes, big-endian, of POSIX seconds at most 2^63 − 1, and the signature
/// an Ed25519 signature of `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint
/// body (checkpoint.md §Cosignatures).
public struct Cosignature: Equatable, Sendable {
    /// The cosigner's key name.
    public let name: String
    /// The POSIX time the cosigner states it saw the checkpoint at.
    public let time: UInt64

    public init(name: String, time: UInt64) {
        self.name = name
        self.time = time
    }

    /// The signed-note signature type of an Ed25519 cosignature.
    public static let signatureType: UInt8 = 0x04
    /// The largest timestamp a cosignature may carry.
    public static let maxTime: UInt64 = UInt64(Int64.max)

    /// The bytes a cosigner signs: the header line, the time line, then the body.
    public static func signedMessage(body: [UInt8], time: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n".utf8) + body
    }
}

/// A witness key that cosigns checkpoints: a key name and an Ed25519 private key.
public struct Cosigner: Sendable {
    public let name: String
    public let key: Ed25519.PrivateKey

    public init(name: String, key: Ed25519.PrivateKey) {
        self.name = name
        self.key = key
    }

    public var verifier: CosignerVerifier { CosignerVerifier(name: name, key: key.publicKey) }

    /// The signature line of this cosigner over a checkpoint body (the note text up to and
    /// including the line feed before the blank line) at `time`, which the caller gives.
    public func signatureLine(body: [UInt8], time: UInt64) throws(AttestError) -> String {
        guard time <= Cosignature.maxTime else {
            throw AttestError(.checkpointCosignatureInvalid, "a cosignature timestamp is at most 2^63 - 1")
        }
        let signature = try key.signRaw(Cosignature.signedMessage(body: body, time: time))
        let blob = verifier.keyID + Self.bigEndian(time) + signature
        return "\u{2014} \(name) \(Data(blob).base64EncodedString())\n"
    }

    /// Adds this cosigner's signature line to a signed note (whose body it reads: the text
    /// up to the first blank line).
    public func cosign(note: String, time: UInt64) throws(AttestError) -> String {
        guard let parts = CheckpointNote(note) else {
            throw AttestError(.checkpointMalformed, "note has no body followed by a blank line")
        }
        return note + (try signatureLine(body: parts.body, time: time))
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
    }
}

/// A C2SP cosigner verifier key: name, key ID and Ed25519 public key. Its text form is
/// `name+hex(key ID)+base64(0x04 ‖ public key)`.
public struct CosignerVerifier: Sendable, Equatable {
    public let name: String
    public let key: Ed25519.PublicKey

    public init(name: String, key: Ed25519.PublicKey) {
        self.name = name
        self.key = key
    }

    public var keyID: [UInt8] {
        Array(SHA256.hash(Array(name.utf8) + [0x0A, Cosignature.signatureType] + key.rawRepresentation).prefix(4))
    }

    public var text: String {
        "\(name)+\(Hex.encode(keyID))+\(Data([Cosignature.signatureType] + key.rawRepresentation).base64EncodedString())"
    }

    /// Reads a cosigner key text. A text of another signature type (a log's 0x01 key, an
    /// ML-DSA-44 cosigner's 0x06 key) is not a cosigner key this verifier can use:
    /// `KEY_INVALID`, as is any text not of the form above.
    public init(text: String) throws(AttestError) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, let blob = Checkpoint.strictBase64(parts[2].utf8), blob.count == 33,
              blob.first == Cosignature.signatureType
        else {
            throw AttestError(.keyInvalid, "cosigner key is not name+keyid+base64(0x04 ‖ Ed25519 key)")
        }
        self.init(name: String(parts[0]), key: try Ed25519.PublicKey(raw: Array(blob.dropFirst())))
        guard Hex.encode(keyID).isExactly(String(parts[1])) else {
            throw AttestError(.keyInvalid, "cosigner key ID does not match its name and key")
        }
    }

    func matches(name: some Sequence<UInt8>, keyID id: some Sequence<UInt8>) -> Bool {
        self.name.utf8.elementsEqual(name) && keyID.elementsEqual(id)
    }
}

/// A note split into its body and its signature lines, each line as the bytes of its key
/// name and its decoded blob. Nil when the note has no blank line.
struct CheckpointNote {
    let body: [UInt8]
    let block: ArraySlice<UInt8>

    init?(_ note: String) {
        let bytes = Array(note.utf8)
        guard let blank = bytes.indices.dropLast().first(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            return nil
        }
        body = Array(bytes[...blank])
        block = bytes[(blank + 2)...]
    }

    /// The signature lines as (key name, blob), or `CKP_MALFORMED` (checkpoint.md step 6.1).
    func signatureLines() throws(AttestError) -> [(name: ArraySlice<UInt8>, blob: [UInt8])] {
        guard block.last == 0x0A else {
            throw AttestError(.checkpointMalformed, "signature block does not end with a line feed")
        }
        let emDashSpace = Array("\u{2014} ".utf8)
        var lines: [(name: ArraySlice<UInt8>, blob: [UInt8])] = []
        for line in block.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false) {
            guard line.starts(with: emDashSpace) else {
                throw AttestError(.checkpointMalformed, "signature line does not start with an em dash and a space")
            }
            let parts = line.dropFirst(emDashSpace.count).split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let blob = Checkpoint.strictBase64(parts[1]), blob.count >= 5 else {
                throw AttestError(.checkpointMalformed, "signature line is not '— name base64'")
            }
            lines.append((name: ArraySlice(parts[0]), blob: Array(blob)))
        }
        return lines
    }
}

extension Checkpoint {
    /// The valid cosignatures on a note that `Checkpoint.verify` accepted, in the order of
    /// its signature lines (checkpoint.md §Cosignatures, step 8). A line whose key name and
    /// key ID are those of a trusted witness key must hold an 8-byte timestamp of at most
    /// 2^63 − 1 and a 64-byte Ed25519 signature by that key of the cosigned message
    /// (`CKP_COSIGNATURE_INVALID`); every other line (the log's, an unknown key's, another
    /// signature type's) is ignored.
    public static func cosignatures(on note: String, witnesses: [CosignerVerifier]) throws(AttestError) -> [Cosignature] {
        try cosignatureIndices(on: note, witnesses: witnesses).map { Cosignature(name: witnesses[$0.witness].name, time: $0.time) }
    }

    /// The valid cosignatures as the index of the witness key in `witnesses` and the timestamp.
    static func cosignatureIndices(on note: String, witnesses: [CosignerVerifier])
        throws(AttestError) -> [(witness: Int, time: UInt64)]
    {
        guard let parts = CheckpointNote(note) else {
            throw AttestError(.checkpointMalformed, "note has no blank line before its signatures")
        }
        var found: [(witness: Int, time: UInt64)] = []
        for line in try parts.signatureLines() {
            let id = line.blob.prefix(4)
            guard let index = witnesses.firstIndex(where: { $0.matches(name: line.name, keyID: id) }) else { continue }
            let witness = witnesses[index]
            let rest = Array(line.blob.dropFirst(4))
            guard rest.count == 8 + Ed25519.signatureLength else {
                throw AttestError(.checkpointCosignatureInvalid, "cosignature by \(witness.name) is not a timestamp and a 64-byte signature")
            }
            let time = rest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard time <= Cosignature.maxTime else {
                throw AttestError(.checkpointCosignatureInvalid, "cosignature by \(witness.name) has a timestamp beyond 2^63 - 1")
            }
            guard witness.key.isValid(signature: Array(rest.dropFirst(8)), message: Cosignature.signedMessage(body: parts.body, time: time)) else {
                throw AttestError(.checkpointCosignatureInvalid, "cosignature by \(witness.name) does not verify")
            }
            found.append((witness: index, time: time))
        }
        return found
    }
}
