import ArgumentParser
import AttestCore
import AttestEvidence
import Foundation

/// `attest checkpoint`: RFC 3161 timestamp tokens over checkpoint notes
/// (checkpoint.md §Timestamp tokens).
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Timestamp checkpoint notes with an RFC 3161 timestamp authority.",
        subcommands: [TimestampRequest.self, TimestampVerify.self])

    struct TimestampRequest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "timestamp-request",
            abstract: "Write a DER TimeStampReq over SHA-256(salt || note) with a fresh 32-byte salt.",
            discussion: "The salt is written to --salt-out and kept by the operator: the authority sees only the salted hash. Send the request to the authority (for example openssl ts -reply -queryfile) and keep its reply with the salt.")
        @Option(help: "The signed checkpoint note.") var note: String
        @Option(name: .customLong("salt-out"), help: "File to write the 32-byte salt to.") var saltOut: String
        @Option(help: "File to write the DER request to.") var out: String

        func run() throws {
            let note = try CLIFiles.read(self.note, option: "--note")
            let salt = SecureRandom.bytes(TimestampToken.saltLength)
            let request = TimestampToken.request(imprint: TimestampToken.imprint(note: note, salt: salt), nonce: SecureRandom.bytes(8))
            try CLIFiles.writeAtomically(salt, to: saltOut)
            try CLIFiles.writeAtomically(request, to: out)
        }
    }

    struct TimestampVerify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "timestamp-verify",
            abstract: "Verify an RFC 3161 reply over a checkpoint note under a trusted TSA certificate; print its genTime.")
        @Option(help: "The signed checkpoint note.") var note: String
        @Option(help: "The 32-byte salt the request was made with.") var salt: String
        @Option(help: "The authority's DER TimeStampResp.") var token: String
        @Option(name: .customLong("tsa-cert"), help: "The trusted authority's certificate, DER or PEM.") var tsaCert: String

        func run() throws {
            let certificate = try readTSACertificate(tsaCert, option: "--tsa-cert")
            do {
                let genTime = try TimestampToken.verify(response: try CLIFiles.read(token, option: "--token"),
                                                        note: try CLIFiles.read(note, option: "--note"),
                                                        salt: try CLIFiles.read(salt, option: "--salt"), certificate: certificate)
                print("PASS: genTime \(genTime)")
            } catch let error as AttestError {
                throw CLIError.rejected("FAIL \(error.code.rawValue): \(error.message)")
            }
        }
    }
}

/// A trusted TSA certificate from a file holding its DER or one PEM CERTIFICATE block.
func readTSACertificate(_ path: String, option: String) throws -> TimestampToken.Certificate {
    var bytes = try CLIFiles.read(path, option: option, limit: TimestampToken.maxBytes)
    let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
    if bytes.starts(with: begin) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let from = text.range(of: "-----BEGIN CERTIFICATE-----"), let to = text.range(of: "-----END CERTIFICATE-----"),
              from.upperBound <= to.lowerBound,
              let der = Data(base64Encoded: String(text[from.upperBound..<to.lowerBound]).filter { !$0.isWhitespace })
        else { throw CLIError.rejected("\(option) \(path): KEY_INVALID: not a PEM certificate") }
        bytes = Array(der)
    }
    do { return try TimestampToken.Certificate(der: bytes) } catch {
        throw CLIError.rejected("\(option) \(path): \(error.code.rawValue): \(error.message)")
    }
}
