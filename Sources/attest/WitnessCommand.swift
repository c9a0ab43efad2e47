import ArgumentParser
import AttestCore
import AttestEvidence
import AttestWitness
import Foundation

/// `attest witness`: a C2SP tlog-witness (spec/witness.md).
struct WitnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness", abstract: "Run a witness that cosigns logs' checkpoints (spec/witness.md).",
        subcommands: [Serve.self, Key.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve POST /add-checkpoint (C2SP tlog-witness) for the configured logs.",
            discussion: "Prints the submission prefix URL once listening; SIGTERM or SIGINT stops it.")
        @Option(help: "HOST:PORT to listen on (port 0: any free port; the URL is printed).") var listen: String = "127.0.0.1:0"
        @Option(help: "The witness's Ed25519 seed (32 bytes, hex): a file holding it, or env:NAME.") var key: String
        @Option(help: "The witness's key name, as its cosignatures carry it.") var name: String
        @Option(help: "The SQLite file that keeps each log's latest cosigned size and root.") var state: String
        @Option(help: "A log's note verifier key (name+keyid+key): the log's origin and key (repeatable).") var log: [String] = []

        func validate() throws {
            _ = try parseListen(listen, option: "--listen")
            guard !name.isEmpty, !name.utf8.contains(0x20), !name.utf8.contains(0x0A), !name.utf8.contains(0x2B) else {
                throw ValidationError("--name is a key name: not empty, without space, line feed or +")
            }
            guard !log.isEmpty else { throw ValidationError("give at least one --log") }
        }

        func run() async throws {
            var option = KeyOption()
            option.keyFile = key
            let cosigner = Cosigner(name: name, key: try option.ed25519())
            var logs: [NoteVerifier] = []
            for text in log {
                do { logs.append(try NoteVerifier(text: text)) } catch { throw CLIError.usage("--log \(text): \(error.message)") }
            }
            let service: WitnessService
            do {
                service = try WitnessService(statePath: state, logs: logs) { body, time throws(AttestError) in
                    try cosigner.signatureLine(body: body, time: time)
                }
            } catch { throw CLIError.io(error.message) }
            let (host, port) = try parseListen(listen, option: "--listen")
            let server = try await WitnessServer.bind(service, host: host, port: port)
            FileHandle.standardOutput.write(Data("witness \(cosigner.verifier.text) listening on \(server.url)\n".utf8))
            let task = Task { try await server.run() }
            for await _ in terminationSignals() { break }
            task.cancel()
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the cosigner verifier key (name+keyid+base64(0x04 || key)) of a witness seed.",
            discussion: "Generate the seed with `attest key generate`.")
        @Option(help: "The witness's Ed25519 seed (32 bytes, hex): a file holding it, or env:NAME.") var key: String
        @Option(help: "The witness's key name.") var name: String

        func run() throws {
            var option = KeyOption()
            option.keyFile = key
            print(Cosigner(name: name, key: try option.ed25519()).verifier.text)
        }
    }
}
