import ArgumentParser
import AttestCore
import AttestEvidence
import Foundation

/// The formats `attest portal prove` and `attest log prove --seq` write one receipt's
/// inclusion proof in (receipt.md §Exporting one receipt's proof).
enum ProofFormat: String, CaseIterable, ExpressibleByArgument {
    /// The receipt.inclusion op's input: receipt, checkpoint, proof (hex).
    case json
    /// c2sp.org/tlog-proof@v1 text.
    case tlogProof = "tlog-proof"
    /// A COSE Receipt (RFC 9942, RFC9162_SHA256), binary CBOR; needs the log key.
    case coseReceipt = "cose-receipt"
}

enum ProofExport {
    /// `proof` is the receipt.inclusion input {receipt, checkpoint, proof}; `seed` the log
    /// key's seed, which only a COSE Receipt needs (it is a signature by the log key over
    /// the checkpoint's root, made only after the checkpoint verifies with that key).
    static func render(_ proof: JSONObject, format: ProofFormat, seed: [UInt8]?) throws -> [UInt8] {
        guard let receiptValue = proof["receipt"], let note = proof["checkpoint"]?.stringValue,
              let hashes = proof["proof"]?.arrayValue else { throw CLIError.rejected("the proof is {receipt, checkpoint, proof}") }
        let path = try hashes.map { h in
            guard let s = h.stringValue, let b = Hex.decode(s) else { throw CLIError.rejected("a proof hash is not hex") }
            return b
        }
        let receipt = try Receipt(json: receiptValue)
        switch format {
        case .json:
            return Array((JSONValue.object(proof).serialized(pretty: true)).utf8)
        case .tlogProof:
            return Array(ReceiptProofFormat.tlogProof(receipt: receiptValue, seq: receipt.seq, proof: path, note: note).utf8)
        case .coseReceipt:
            guard let seed else { throw CLIError.usage("--format cose-receipt needs --key, the log key's seed: the receipt is signed") }
            let key = try Ed25519.PrivateKey(seed: seed)
            let checkpoint = try Checkpoint.verify(note, trusted: [NoteVerifier(name: receipt.log, key: key.publicKey)], origin: receipt.log)
            return try ReceiptProofFormat.coseReceipt(index: receipt.seq, treeSize: checkpoint.size, proof: path,
                                                     root: checkpoint.root, key: key)
        }
    }

    static func write(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }
}

/// `attest receipts verify-proof`: a tlog proof, or a COSE Receipt with its receipt.
struct VerifyProof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Verify one receipt's exported inclusion proof: a c2sp.org/tlog-proof@v1, or a COSE Receipt with the receipt it proves (receipt.md §Exporting one receipt's proof).")
    @Option(help: "tlog-proof or cose-receipt.") var format: ProofFormat
    @Option(help: "The proof file.") var proof: String
    @Option(help: "With cose-receipt: the receipt (JSON) the proof is for.") var receipt: String?
    @Option(name: .customLong("log-key"), help: "The log key as a C2SP note verifier key name+id+key.") var logKey: String

    func validate() throws {
        if format == .json { throw ValidationError("--format is tlog-proof or cose-receipt") }
        if (format == .coseReceipt) != (receipt != nil) { throw ValidationError("--receipt goes with --format cose-receipt, and only with it") }
    }

    func run() throws {
        let bytes = try CLIFiles.read(proof, option: "--proof", limit: 1 << 20)
        switch format {
        case .tlogProof:
            let (r, c) = try ReceiptProofFormat.verifyTlogProof(String(decoding: bytes, as: UTF8.self), logKey: logKey)
            print("VALID: receipt \(r.seq) of log \(r.log) is in its checkpoint of size \(c.size)")
        case .coseReceipt:
            let value = try StrictJSONParser().parse(try CLIFiles.read(receipt ?? "", option: "--receipt", limit: 1 << 20))
            let (r, root) = try ReceiptProofFormat.verifyCOSEReceipt(bytes, receipt: value, logKey: logKey)
            // The COSE Receipt's tree size is not authenticated: only the leaf index and the signed root are.
            print("VALID: receipt \(r.seq) of log \(r.log) is leaf \(r.seq) of a tree whose root \(Base64URL.encode(root)) the log key signed")
        case .json:
            throw CLIError.usage("--format is tlog-proof or cose-receipt")
        }
    }
}
