import ArgumentParser
import AttestCore
import AttestEvidence
import Foundation

/// `attest key`: the Ed25519 keys an operator handles (log keys, policy authority keys,
/// agent keys), without computing any of their public forms by hand.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Generate an Ed25519 key; print its public JWK, JWKS, thumbprint and note verifier key.",
        subcommands: [Generate.self, Show.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new 32-byte seed, hex, to a file only its owner can read.")
        @Option(help: "The seed file to create (it must not exist).") var out: String

        func validate() throws {
            guard !out.isEmpty else { throw ValidationError("--out is the seed file to create, not empty") }
        }

        func run() throws {
            let seed = SecureRandom.bytes(32)
            let key = try Ed25519.PrivateKey(seed: seed)
            guard !FileManager.default.fileExists(atPath: out) else { throw CLIError.usage("--out \(out) exists; a key is never overwritten") }
            let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CLIError.io("cannot write \(out): \(CLIFiles.reason(errno))") }
            let bytes = Array((Hex.encode(seed) + "\n").utf8)
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard written == bytes.count, synced else {
                unlink(out)
                throw CLIError.io("cannot write \(out): \(CLIFiles.reason(errno))")
            }
            print("wrote \(out); thumbprint \(key.publicKey.thumbprint)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the public forms of the key in a seed file, as one JSON object.")
        @Option(help: "The seed (32 bytes, hex): a file holding it, or env:NAME.") var key: String
        @Option(help: "A log origin: also print the key's C2SP note verifier key for it.") var origin: String?

        func run() throws {
            var option = KeyOption()
            option.keyFile = self.key
            let key = try option.ed25519()
            let jwk = JWK(key: key.publicKey).jsonValue
            var out: JSONObject = ["thumbprint": .string(key.publicKey.thumbprint), "jwk": jwk, "jwks": ["keys": .array([jwk])]]
            if let origin { out["note_verifier"] = .string(NoteVerifier(name: origin, key: key.publicKey).text) }
            print(JSONValue.object(out).serialized(pretty: true))
        }
    }
}
