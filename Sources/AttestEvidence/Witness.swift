import AttestCore
import Foundation

/// What a witness keeps for one log: the size and root of the latest checkpoint it
/// cosigned (spec/witness.md §State).
public struct WitnessRecord: Sendable, Equatable {
    public let size: UInt64
    public let root: [UInt8]

    public init(size: UInt64, root: [UInt8]) {
        self.size = size
        self.root = root
    }

    /// The record of a log the witness never cosigned: the empty tree.
    public static let empty = WitnessRecord(size: 0, root: Merkle.emptyRoot.bytes)
}

/// An add-checkpoint request body (C2SP tlog-witness): `old <size>\n`, zero to 63
/// consistency proof lines (standard base64 of one 32-byte hash each), an empty line, then
/// the signed checkpoint note.
public struct WitnessRequest: Sendable, Equatable {
    public let oldSize: UInt64
    public let proof: [[UInt8]]
    public let note: String

    public init(oldSize: UInt64, proof: [[UInt8]], note: String) {
        self.oldSize = oldSize
        self.proof = proof
        self.note = note
    }

    /// The largest body a witness reads: a note of checkpoint.md's limit, the old size line
    /// and 63 proof lines.
    public static let maxBytes = (1 << 16) + 4096
    public static let maxProofLines = 63

    /// The body's bytes.
    public var body: [UInt8] {
        var text = "old \(oldSize)\n"
        for hash in proof { text += Data(hash).base64EncodedString() + "\n" }
        return Array((text + "\n" + note).utf8)
    }

    /// Reads a body (spec/witness.md step 1): `WIT_REQUEST_MALFORMED` for anything else.
    public static func parse(_ body: [UInt8]) throws(AttestError) -> WitnessRequest {
        func malformed(_ why: String) -> AttestError { AttestError(.witnessRequestMalformed, why) }
        guard body.count <= maxBytes else { throw malformed("the request body is over \(maxBytes) bytes") }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var noteStart: Int?
        // Lines up to the first empty one; at most the old size line and 63 proof lines.
        while start < body.count {
            guard let end = body[start...].firstIndex(of: 0x0A) else { throw malformed("a line before the note has no line feed") }
            if end == start {
                noteStart = end + 1
                break
            }
            guard lines.count <= maxProofLines else { throw malformed("more than \(maxProofLines) consistency proof lines") }
            lines.append(body[start..<end])
            start = end + 1
        }
        guard let noteStart, let first = lines.first else { throw malformed("no old size line and empty line before the note") }
        let prefix = Array("old ".utf8)
        guard first.starts(with: prefix) else { throw malformed("the first line is not \"old <size>\"") }
        let digits = String(decoding: first.dropFirst(prefix.count), as: UTF8.self)
        guard let oldSize = UInt64(digits), String(oldSize).isExactly(digits) else {
            throw malformed("the old size is not a decimal without sign or leading zero")
        }
        var proof: [[UInt8]] = []
        for line in lines.dropFirst() {
            guard let hash = Checkpoint.strictBase64(line), hash.count == 32 else {
                throw malformed("a consistency proof line is not the base64 of a 32-byte hash")
            }
            proof.append(Array(hash))
        }
        guard let note = String(validating: body[noteStart...], as: UTF8.self) else {
            throw malformed("the note is not UTF-8")
        }
        return WitnessRequest(oldSize: oldSize, proof: proof, note: note)
    }
}

/// A witness's verdict on one add-checkpoint request against its record of the log.
public struct WitnessAcceptance: Sendable, Equatable {
    /// The verified checkpoint, which becomes the log's record.
    public let checkpoint: Checkpoint
    /// The exact signed body, which the cosignature covers (extension lines included).
    public let body: [UInt8]
}

/// The add-checkpoint algorithm of spec/witness.md, without state or signing: the caller
/// reads the log's record, runs `verify` then `check`, and stores the new record in the
/// same transaction as the read.
public enum WitnessAlgorithm {
    /// Steps 1 to 5: the request's form, the log, its signature and the old size's bound.
    /// `logs` are the log keys the witness is configured with (never a cosigner's key).
    public static func verify(_ body: [UInt8], logs: [NoteVerifier]) throws(AttestError)
        -> (request: WitnessRequest, accepted: WitnessAcceptance)
    {
        let request = try WitnessRequest.parse(body)
        // Step 2: the note is a checkpoint (checkpoint.md steps 1 to 3, 5 and 6.1); with no
        // trusted key, a well-formed note ends at step 7.
        do {
            _ = try Checkpoint.verify(request.note, trusted: [])
        } catch let error where error.code == .checkpointNoTrustedSignature {
            _ = error
        } catch {
            throw AttestError(.witnessRequestMalformed, "the note is not a checkpoint: \(error.message)")
        }
        let noteBytes = Array(request.note.utf8)
        guard let originEnd = noteBytes.firstIndex(of: 0x0A),
              let blank = noteBytes.indices.dropLast().first(where: { noteBytes[$0] == 0x0A && noteBytes[$0 + 1] == 0x0A })
        else { throw AttestError(.witnessRequestMalformed, "the note is not a checkpoint") }
        let origin = String(decoding: noteBytes[..<originEnd], as: UTF8.self)
        // Step 3: a configured log, by the bytes of its origin.
        let keys = logs.filter { $0.name.utf8.elementsEqual(origin.utf8) }
        guard !keys.isEmpty else { throw AttestError(.witnessUnknownLog, "no log \(origin) is configured") }
        // Step 4: the log's signature, by its keys only.
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.verify(request.note, trusted: keys, origin: origin)
        } catch {
            throw AttestError(.witnessLogSignatureInvalid, "the checkpoint is not signed by the log: \(error.message)")
        }
        // Step 5: the old size is not above the checkpoint's.
        guard request.oldSize <= checkpoint.size else {
            throw AttestError(.witnessOldSizeInvalid, "old size \(request.oldSize) is above the checkpoint's \(checkpoint.size)")
        }
        return (request, WitnessAcceptance(checkpoint: checkpoint, body: Array(noteBytes[...blank])))
    }

    /// Steps 6 to 10 against the log's record (`WitnessRecord.empty` when there is none).
    public static func check(_ request: WitnessRequest, _ checkpoint: Checkpoint, against record: WitnessRecord)
        throws(AttestError)
    {
        // Step 6: the client knows the size the witness holds.
        guard request.oldSize == record.size else {
            throw AttestError(.witnessOldSizeMismatch, "old size \(request.oldSize) is not the recorded \(record.size)")
        }
        // Step 7: the empty tree has one root.
        if checkpoint.size == 0, checkpoint.root != Merkle.emptyRoot.bytes {
            throw AttestError(.witnessConsistencyInvalid, "a checkpoint of size 0 does not carry the empty tree's root")
        }
        // Step 8: nothing is proven from the empty tree.
        if request.oldSize == 0, !request.proof.isEmpty {
            throw AttestError(.witnessConsistencyInvalid, "growth from size 0 needs an empty consistency proof")
        }
        // Step 9: one root per size.
        if request.oldSize == checkpoint.size {
            guard checkpoint.root == record.root else {
                throw AttestError(.witnessRootConflict, "size \(checkpoint.size) was cosigned with another root")
            }
            return
        }
        // Step 10: growth is proven.
        if request.oldSize == 0 { return }
        do {
            try Merkle.verifyConsistency(size1: record.size, size2: checkpoint.size, root1: record.root,
                                         root2: checkpoint.root, proof: request.proof)
        } catch {
            throw AttestError(.witnessConsistencyInvalid, "the consistency proof does not verify: \(error.message)")
        }
    }

    /// The HTTP status of a refusal (spec/witness.md §Responses).
    public static func httpStatus(for code: ErrorCode) -> Int {
        switch code {
        case .witnessUnknownLog: return 404
        case .witnessLogSignatureInvalid: return 403
        case .witnessOldSizeMismatch: return 409
        case .witnessConsistencyInvalid, .witnessRootConflict: return 422
        case .witnessStateUnavailable: return 503
        case .witnessRequestMalformed, .witnessOldSizeInvalid: return 400
        default: return 500
        }
    }
}

/// Produces a witness's cosignature lines over a checkpoint body at a time: the signing half
/// of a witness, kept apart so that the algorithm does not depend on the key.
public typealias WitnessCosigner = @Sendable (_ body: [UInt8], _ time: UInt64) throws(AttestError) -> String
