import ArgumentParser
import AttestCore
import AttestEvidence
import AttestPortal
import Foundation

/// A signing key given on the command line: a file holding a 32-byte seed in hex.
struct KeyOption: ParsableArguments {
    @Option(name: .customLong("key"), help: "File holding the signing key's 32-byte seed, in hex.")
    var keyFile: String

    func ed25519() throws -> Ed25519.PrivateKey {
        let text = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let seed = Hex.decode(text), seed.count == 32 else {
            throw ValidationError("\(keyFile) does not hold a 32-byte hex seed")
        }
        return try Ed25519.PrivateKey(seed: seed)
    }
}

func readJSON(_ path: String) throws -> JSONValue {
    try StrictJSONParser().parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
}

func writeJSON(_ value: JSONValue, to path: String?) throws {
    let text = value.serialized(pretty: true)
    if let path { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } else { print(text, terminator: "") }
}

struct ArtifactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "artifact", abstract: "Seal and verify policy artifacts.",
                                                    subcommands: [Seal.self, Verify.self])

    struct Seal: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign an unsigned artifact (its JSON without sig).")
        @Option(name: .customLong("in"), help: "Unsigned artifact JSON.") var input: String
        @OptionGroup var key: KeyOption
        @Option(help: "Output file (default: standard output).") var out: String?

        func run() throws {
            guard case .object(let o) = try readJSON(input) else { throw ValidationError("the artifact is a JSON object") }
            let artifact = try Artifact.seal(o, key: try key.ed25519())
            try writeJSON(.object(artifact.json), to: out)
            FileHandle.standardError.write(Data("sealed \(artifact.kind.rawValue) \(artifact.id), digest \(artifact.digest)\n".utf8))
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify an artifact and its mandates (root first).")
        @Argument(help: "Artifact, then each mandate in order.") var files: [String]
        @Option(help: "Thumbprint of a trusted policy authority key (repeatable).") var authority: [String]

        func run() throws {
            let chain = try files.map { try Artifact(json: try readJSON($0)) }
            let effective = try MandateChain.verify(chain, trustedAuthorities: Set(authority.map { ExactString($0) }))
            print("valid: \(effective.kind.rawValue) \(effective.id), digest \(effective.digest), chain of \(chain.count)")
        }
    }
}

struct MandateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mandate", abstract: "Derive and verify sub-mandates.",
                                                    subcommands: [Derive.self, ArtifactCommand.Verify.self])

    struct Derive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Derive a mandate from a parent: sets parent, signs with the parent's subject key, checks it only narrows.")
        @Option(help: "The parent artifact or mandate.") var parent: String
        @Option(name: .customLong("in"), help: "Unsigned mandate JSON.") var input: String
        @OptionGroup var key: KeyOption
        @Option(help: "Output file (default: standard output).") var out: String?

        func run() throws {
            let parentArtifact = try Artifact(json: try readJSON(parent))
            guard case .object(var o) = try readJSON(input) else { throw ValidationError("the mandate is a JSON object") }
            o["type"] = .string(Artifact.mandateTypeName)
            o["parent"] = .string(parentArtifact.digest)
            let mandate = try Artifact.seal(o, key: try key.ed25519())
            try MandateChain.checkDerivation(mandate, of: parentArtifact)
            try writeJSON(.object(mandate.json), to: out)
        }
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Append to a receipt log, checkpoint it, prove inclusion.",
                                                    subcommands: [Append.self, CheckpointCmd.self, Prove.self])

    struct Location: ParsableArguments {
        @Option(help: "Log directory.") var dir: String
        @Option(help: "Log origin (the checkpoint origin line and note key name).") var origin: String
        @OptionGroup var key: KeyOption

        func open() throws -> ReceiptLog {
            try ReceiptLog(directory: URL(fileURLWithPath: dir), origin: origin, key: try key.ed25519())
        }
    }

    struct Append: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append one signed receipt (durably).")
        @OptionGroup var log: Location
        @Option(help: "Artifact file the decision was made under.") var artifact: String
        @Option(help: "Decision time, seconds since the epoch.") var time: Int64
        @Option(help: "Session identifier.") var session: String
        @Option(help: "JSON-RPC method.") var method: String = "tools/call"
        @Option(help: "JSON-RPC params of the request (JSON).") var request: String
        @Option(help: "JSON-RPC result or error (JSON).") var response: String
        @Option(help: "ALLOW, DENY or PHANTOM.") var decision: String
        @Option(help: "Registry code for DENY or PHANTOM.") var code: String?

        func run() throws {
            let a = try Artifact(json: try readJSON(artifact))
            guard let d = Receipt.Decision(rawValue: decision) else { throw ValidationError("decision is ALLOW, DENY or PHANTOM") }
            guard d != .result else { throw ValidationError("a RESULT completes an open call, which log append does not write") }
            let errorCode = try code.map { c -> ErrorCode in
                guard let e = ErrorCode(rawValue: c) else { throw ValidationError("\(c) is not a registry code") }
                return e
            }
            let requestValue = try StrictJSONParser().parse(request)
            let l = try log.open()
            let r = try l.append(time: time, artifact: a.digest, session: session, agent: (a.subject, a.subjectKey), method: method,
                                 tool: requestValue["name"]?.stringValue, decision: d, code: errorCode, request: requestValue,
                                 response: try StrictJSONParser().parse(response), upstream: d == .allow ? a.upstream : nil)
            try l.close()
            print("appended seq \(r.seq), link \(Base64URL.encode(r.link))")
        }
    }

    struct CheckpointCmd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Sign a checkpoint of the current size.")
        @OptionGroup var log: Location

        func run() throws {
            let l = try log.open()
            let c = try l.checkpoint()
            try l.close()
            print(c.signed(by: [l.signer]), terminator: "")
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove one receipt against the latest checkpoint (--seq), or print a consistency proof (--from).",
            discussion: "With --seq the output is the input of the receipt.inclusion op (receipt.md): receipt, checkpoint, proof.")
        @OptionGroup var log: Location
        @Option(help: "Receipt sequence number.") var seq: Int?
        @Option(help: "Earlier tree size for a consistency proof.") var from: Int?
        @Option(help: "Tree size for a consistency proof (default: the current size).") var size: Int?

        func validate() throws {
            if let seq, seq < 0 { throw ValidationError("--seq is a receipt's sequence number, 0 or more") }
            if let from, from < 1 { throw ValidationError("--from is an earlier tree size, 1 or more") }
            if let from, let size, size < from { throw ValidationError("--size is at least --from") }
            if size != nil && from == nil { throw ValidationError("--size goes with --from") }
        }

        func run() throws {
            let l = try log.open()
            defer { try? l.close() }
            let directory = URL(fileURLWithPath: log.dir)
            if let seq {
                var reader = try LineReader(url: directory.appendingPathComponent("checkpoints.jsonl"))
                var latest: String?
                while case let lines = reader.next(256), !lines.isEmpty {
                    for line in lines where !line.isEmpty { latest = try StrictJSONParser().parse(line)["note"]?.stringValue }
                }
                guard let note = latest else { throw ValidationError("the log has no checkpoint yet; run `attest log checkpoint`") }
                let checkpoint = try Checkpoint.verify(note, trusted: [l.signer.verifier], origin: log.origin)
                guard seq < checkpoint.size else { throw ValidationError("receipt \(seq) is not covered by the latest checkpoint (size \(checkpoint.size))") }
                var receipts = try LineReader(url: directory.appendingPathComponent("receipts.jsonl"))
                var receipt: JSONValue?
                var index = 0
                while receipt == nil, case let lines = receipts.next(4096), !lines.isEmpty {
                    if seq < index + lines.count { receipt = try StrictJSONParser().parse(lines[seq - index]) }
                    index += lines.count
                }
                guard let receipt, Int(checkpoint.size) <= Int(l.size) else {
                    throw ValidationError("the log holds fewer receipts than its latest checkpoint covers")
                }
                let proof = l.inclusionProof(seq: seq, size: Int(checkpoint.size))
                try writeJSON(["receipt": receipt, "checkpoint": .string(note),
                               "proof": .array(proof.map { .string($0.description) })], to: nil)
            } else if let from {
                let n = size ?? Int(l.size)
                guard from <= n, n <= Int(l.size) else {
                    throw ValidationError("--from \(from) and size \(n) must satisfy from ≤ size ≤ \(l.size), the log's size")
                }
                try writeJSON([
                    "from": .number(JSONNumber(from)), "tree_size": .number(JSONNumber(n)),
                    "consistency": .array(l.consistencyProof(from: from, to: n).map { .string($0.description) }),
                ], to: nil)
            } else {
                throw ValidationError("give --seq or --from")
            }
        }
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bundle", abstract: "Export and verify evidence bundles.",
                                                    subcommands: [Export.self, VerifyBundle.self, Demo.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle directory: from a portal's store (--store), or from log directories and artifact files.")
        @Option(help: "A portal's store directory: export what the portal recorded.") var store: String?
        @Option(help: "With --store: the portal's configuration, to print the trust inputs a verifier needs.") var config: String?
        @Option(help: "With --store: payloads to disclose: all, none, seq:FIRST-LAST or time:FROM-TO.") var disclose: String = "all"
        @Option(name: .customLong("log"), help: "ORIGIN=DIRECTORY of a receipt log (repeatable).") var logs: [String] = []
        @Option(name: .customLong("artifact"), help: "Artifact or mandate file (repeatable).") var artifacts: [String] = []
        @Flag(help: "Leave out the salted payloads (structure-only disclosure).") var noPayloads = false
        @Option(help: "Bundle directory to write.") var out: String

        func run() throws {
            if let store {
                let portalStore = try PortalStore(directory: URL(fileURLWithPath: store), readOnly: true)
                let count = try portalStore.exportBundle(to: URL(fileURLWithPath: out), disclose: try Self.parseDisclose(disclose))
                print("wrote bundle \(out): \(count) receipts")
                guard let config else { return }
                let configuration: PortalConfiguration
                do { configuration = try PortalConfiguration.load(URL(fileURLWithPath: config)) } catch {
                    throw ValidationError("\(config): \(error.description)")
                }
                print("verify with:")
                print("  attest bundle verify \(out) " + configuration.authorities.map { "--authority=\($0.value) " }.joined()
                      + "--log-key '\(NoteVerifier(name: configuration.origin, key: configuration.logKey.publicKey).text)' --now $(date +%s)")
                return
            }
            let pairs = try logs.map { spec -> (String, URL) in
                let parts = spec.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--log is ORIGIN=DIRECTORY") }
                return (String(parts[0]), URL(fileURLWithPath: String(parts[1])))
            }
            try BundleExporter.export(logs: pairs, artifacts: artifacts.map { URL(fileURLWithPath: $0) },
                                      to: URL(fileURLWithPath: out), includePayloads: !noPayloads)
            print("wrote bundle \(out)")
        }

        static func parseDisclose(_ text: String) throws -> PortalStore.Disclose {
            if text.isExactly("all") { return .all }
            if text.isExactly("none") { return .none }
            func range(_ body: Substring) -> (Int64, Int64)? {
                let parts = body.split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]), a >= 0, a <= b else { return nil }
                return (a, b)
            }
            if text.hasPrefix("seq:"), let (a, b) = range(text.dropFirst(4)) { return .seq(UInt64(a)...UInt64(b)) }
            if text.hasPrefix("time:"), let (a, b) = range(text.dropFirst(5)) { return .time(a...b) }
            throw ValidationError("--disclose is all, none, seq:FIRST-LAST or time:FROM-TO")
        }
    }

    struct VerifyBundle: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify a bundle offline: prints PASS or FAIL, writes a JSON report, exits 0 on PASS.",
            discussion: """
                Exit codes: 0 PASS; 10 malformed input; 11 authenticity (a signature or a trust root); \
                12 log integrity (sequence, chain, Merkle, checkpoints); 13 policy chain (artifact or mandate); \
                14 enforcement (an ALLOW the artifact forbids); 15 disclosure (a payload that does not match its commitment).
                """)
        @Argument(help: "Bundle directory.") var bundle: String
        @Option(help: "Thumbprint of a trusted policy authority key (repeatable).") var authority: [String]
        @Option(name: .customLong("log-key"), help: "Trusted log key as a C2SP note verifier key name+id+key (repeatable).")
        var logKeys: [String]
        @Option(help: "Verification time, seconds since the epoch.") var now: Int64
        @Option(help: "Write the JSON report here.") var report: String?

        func run() throws {
            var verifier = BundleVerifier(trust: .init(authorities: Set(authority.map { ExactString($0) }),
                                                       logKeys: try logKeys.map { try NoteVerifier(text: $0) }, now: now))
            verifier.progress = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            let result = verifier.verify(bundle: URL(fileURLWithPath: bundle))
            if let report { try writeJSON(result.json, to: report) }
            if let f = result.failure {
                print("FAIL \(f.code.rawValue)\(f.log.map { " log \($0)" } ?? "")\(f.seq.map { " seq \($0)" } ?? ""): \(f.message)")
                throw ExitCode(Int32(Self.exitCode(f.code)))
            }
            print(String(format: "PASS: %d receipts in %.2f s (%.0f receipts/s), %d decisions re-checked with payload, %d calls open",
                         result.receipts, result.seconds, Double(result.receipts) / max(result.seconds, 1e-9), result.payloadsChecked,
                         result.openCalls))
        }

        static func exitCode(_ code: ErrorCode) -> Int {
            let name = code.rawValue
            switch code {
            case .jsonNumberInexact, .receiptEffectMismatch: return 14
            case .receiptLogNotInArtifact: return 13
            default: break
            }
            if name.hasSuffix("_MALFORMED") || name.hasPrefix("JSON_") || name.hasPrefix("B64_") { return 10 }
            if name.contains("SIGNATURE") || name.contains("UNTRUSTED") || name == "MAN_SIGNER_NOT_SUBJECT" || name.hasPrefix("SIG_")
                || name.hasPrefix("KEY_") || name.hasPrefix("JWK") { return 11 }
            if name.hasPrefix("ART_") || name.hasPrefix("MAN_") { return 13 }
            if name.hasPrefix("PTL_") { return 14 }
            if name == "RCP_COMMITMENT_MISMATCH" { return 15 }
            return 12
        }
    }

    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle from a simulated portal history (for trying the verifier and for benchmarks).")
        @Option(help: "Number of receipts.") var receipts: Int = 1000
        @Option(help: "Checkpoint every this many receipts.") var checkpointEvery: Int = 100_000
        @Option(help: "Bundle directory to write.") var out: String

        func validate() throws {
            guard (1...100_000_000).contains(receipts) else { throw ValidationError("--receipts is 1 to 100,000,000") }
            guard (1...100_000_000).contains(checkpointEvery) else { throw ValidationError("--checkpoint-every is 1 to 100,000,000") }
        }

        func run() throws {
            let demo = DemoHistory()
            let start = Date()
            try demo.writeBundle(URL(fileURLWithPath: out), count: receipts, checkpointEvery: checkpointEvery) {
                FileHandle.standardError.write(Data("written \($0) receipts\n".utf8))
            }
            print(String(format: "wrote %d receipts in %.1f s to %@", receipts, Date().timeIntervalSince(start), out))
            print("verify with:")
            print("  attest bundle verify \(out) --authority \(demo.authority.publicKey.thumbprint) "
                  + "--log-key '\(NoteVerifier(name: demo.origin, key: demo.logKey.publicKey).text)' --now \(demo.trust.now)")
        }
    }
}
