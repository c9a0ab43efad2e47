import ArgumentParser
import AttestCore
import AttestEvidence
import AttestPortal
import Foundation

/// A signing key: a file holding its 32-byte seed in hex, or env:NAME (never the seed itself).
struct KeyOption: ParsableArguments {
    @Option(name: .customLong("key"), help: "The signing key's 32-byte seed, hex: a file holding it, or env:NAME.")
    var keyFile: String

    func ed25519() throws -> Ed25519.PrivateKey {
        let seed = try SecretSeed.read(keyFile, option: "--key")
        do { return try Ed25519.PrivateKey(seed: seed) } catch { throw CLIError.usage("--key \(keyFile): not an Ed25519 seed") }
    }
}

func writeJSON(_ value: JSONValue, to path: String?) throws {
    let text = value.serialized(pretty: true)
    if let path { try CLIFiles.writeAtomically(Array(text.utf8), to: path) } else { print(text, terminator: "") }
}

/// An artifact or mandate file, parsed (its defects are refusals naming the file).
func readArtifact(_ path: String, option: String) throws -> Artifact {
    let value = try CLIFiles.json(path, option: option)
    do { return try Artifact(json: value) } catch {
        throw CLIError.rejected("\(option) \(path): \(describeError(error))")
    }
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
            guard case .object(let o) = try CLIFiles.json(input, option: "--in") else {
                throw CLIError.rejected("--in \(input): the artifact is a JSON object")
            }
            let artifact = try Artifact.seal(o, key: try key.ed25519())
            try writeJSON(.object(artifact.json), to: out)
            FileHandle.standardError.write(Data("sealed \(artifact.kind.rawValue) \(artifact.id), digest \(artifact.digest)\n".utf8))
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify an artifact and its mandates (root first) at a given time.",
            discussion: "Valid means: every signature verifies, the root is sealed by a trusted authority, each mandate only narrows its parent, and the verification time is inside every validity window (PTL_OUTSIDE_VALIDITY otherwise).")
        @Argument(help: "Artifact, then each mandate in order.") var files: [String] = []
        @Option(help: "Thumbprint of a trusted policy authority key (repeatable).") var authority: [String]
        @Option(help: "Verification time, seconds since the epoch.") var now: Int64

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("give the artifact file, then each mandate in order") }
            try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
            guard authority.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--authority is a key thumbprint, not empty") }
        }

        func run() throws {
            let chain = try files.map { try readArtifact($0, option: "artifact") }
            let effective = try MandateChain.verify(chain, trustedAuthorities: Set(authority.map { ExactString($0) }))
            for a in chain where !(now >= a.notBefore && now < a.notAfter) {
                throw AttestError(.portalOutsideValidity, "\(a.kind.rawValue) \(a.id) is valid from \(a.notBefore) until before \(a.notAfter), not at \(now)")
            }
            print("valid at \(now): \(effective.kind.rawValue) \(effective.id), digest \(effective.digest), chain of \(chain.count)")
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
            let parentArtifact = try readArtifact(parent, option: "--parent")
            guard case .object(var o) = try CLIFiles.json(input, option: "--in") else {
                throw CLIError.rejected("--in \(input): the mandate is a JSON object")
            }
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

        func validate() throws {
            guard !dir.isEmpty else { throw ValidationError("--dir is the log directory, not empty") }
            guard !origin.isEmpty, !origin.contains("\n") else { throw ValidationError("--origin is one non-empty line") }
        }

        /// Opens the log; `create` allows a new one (only `log append` starts a log).
        func open(create: Bool) throws -> ReceiptLog {
            let receipts = URL(fileURLWithPath: dir).appendingPathComponent("receipts.jsonl").path
            if !create {
                guard CLIFiles.isDirectory(dir) else { throw CLIError.io("cannot read \(dir): no such directory") }
                guard FileManager.default.fileExists(atPath: receipts) else {
                    throw CLIError.rejected("--dir \(dir) holds no log (no receipts.jsonl); `attest log append` starts one")
                }
            } else if FileManager.default.fileExists(atPath: dir) && !CLIFiles.isDirectory(dir) {
                throw CLIError.io("cannot write \(dir): not a directory")
            }
            return try ReceiptLog(directory: URL(fileURLWithPath: dir), origin: origin, key: try key.ed25519())
        }
    }

    /// The log's directory and origin, without a key: what reading a log needs.
    struct ReadLocation: ParsableArguments {
        @Option(help: "Log directory.") var dir: String
        @Option(help: "Log origin (the checkpoint origin line and note key name).") var origin: String

        func validate() throws {
            guard !dir.isEmpty else { throw ValidationError("--dir is the log directory, not empty") }
            guard !origin.isEmpty, !origin.contains("\n") else { throw ValidationError("--origin is one non-empty line") }
        }
    }

    struct Append: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append one signed receipt (durably); refuses a receipt a verifier would reject.")
        @OptionGroup var log: Location
        @Option(help: "Artifact file the decision was made under.") var artifact: String
        @Option(help: "Decision time, seconds since the epoch (not before the previous receipt's).") var time: Int64
        @Option(help: "Session identifier.") var session: String
        @Option(help: "JSON-RPC method.") var method: String = "tools/call"
        @Option(help: "JSON-RPC params of the request (JSON).") var request: String
        @Option(help: "JSON-RPC result or error (JSON); for a DENY, the denial carrying --code.") var response: String
        @Option(help: "ALLOW, DENY or PHANTOM.") var decision: String
        @Option(help: "Registry code: required for DENY and PHANTOM, refused for ALLOW.") var code: String?

        func validate() throws {
            try requireRange(time, epochSeconds, "--time", "seconds since the epoch")
            guard let d = Receipt.Decision(exactly: decision) else { throw ValidationError("--decision is ALLOW, DENY or PHANTOM") }
            guard d != .result else { throw ValidationError("--decision RESULT completes an open call, which log append does not write") }
            if d == .allow, code != nil { throw ValidationError("--code goes with DENY or PHANTOM; an ALLOW carries no code") }
            if d != .allow, code == nil { throw ValidationError("--code is required: a \(decision) names its registry code") }
            if let code, ErrorCode(exactly: code) == nil { throw ValidationError("--code \(code) is not a registry code") }
            guard !session.isEmpty else { throw ValidationError("--session is not empty") }
            guard !method.isEmpty else { throw ValidationError("--method is a JSON-RPC method, not empty") }
        }

        func run() throws {
            let a = try readArtifact(artifact, option: "--artifact")
            guard let d = Receipt.Decision(exactly: decision) else { throw CLIError.usage("--decision is ALLOW, DENY or PHANTOM") }
            let errorCode = code.flatMap { ErrorCode(exactly: $0) }
            let requestValue = try CLIFiles.inlineJSON(request, option: "--request")
            let responseValue = try CLIFiles.inlineJSON(response, option: "--response")
            if d == .deny, let errorCode {
                guard responseValue["code"]?.integerValue == Disclosure.denialCode,
                      responseValue["data"]?["code"]?.stringValue?.isExactly(errorCode.rawValue) == true else {
                    throw CLIError.usage("--response: a DENY's response is the denial carrying \(errorCode.rawValue) (code \(Disclosure.denialCode), data.code \(errorCode.rawValue))")
                }
            }
            // What the bundle verifier checks of every receipt and every ALLOW (bundle.md
            // steps 6 and 7; rate limits need the log's history and are left to it).
            guard a.namesLog(log.origin) else {
                throw AttestError(.receiptLogNotInArtifact, "the artifact \(a.id) does not name log \(log.origin)")
            }
            if d == .allow {
                if method.isExactly("tools/call") {
                    guard let tool = requestValue["name"]?.stringValue else {
                        throw CLIError.usage("--request: a tools/call request names its tool in \"name\"")
                    }
                    var engine = PolicyEngine()
                    if let refusal = engine.evaluate(chain: [a], tool: tool, arguments: requestValue["arguments"] ?? .object(JSONObject()),
                                                     time: time) {
                        throw AttestError(refusal, "an ALLOW of a call the artifact \(a.id) forbids")
                    }
                } else if !(time >= a.notBefore && time < a.notAfter) {
                    throw AttestError(.portalOutsideValidity, "an ALLOW outside the validity window of the artifact \(a.id)")
                }
            }
            let l = try log.open(create: true)
            defer { try? l.close() }
            let r = try l.append(time: time, artifact: a.digest, session: session, agent: (a.subject, a.subjectKey), method: method,
                                 tool: requestValue["name"]?.stringValue, decision: d, code: errorCode, request: requestValue,
                                 response: responseValue, upstream: d == .allow ? a.upstream : nil)
            print("appended seq \(r.seq), link \(Base64URL.encode(r.link))")
        }
    }

    struct CheckpointCmd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Sign a checkpoint of the current size.")
        @OptionGroup var log: Location

        func run() throws {
            let l = try log.open(create: false)
            defer { try? l.close() }
            let c = try l.checkpoint()
            print(c.signed(by: [l.signer]), terminator: "")
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove one receipt against the latest checkpoint (--seq), or print a consistency proof (--from).",
            discussion: "With --seq the output is the input of the receipt.inclusion op (receipt.md): receipt, checkpoint, proof. Needs no private key: the checkpoint is the log's own, as signed.")
        @OptionGroup var log: ReadLocation
        @Option(help: "Receipt sequence number.") var seq: Int?
        @Option(help: "Earlier tree size for a consistency proof.") var from: Int?
        @Option(help: "Tree size for a consistency proof (default: the current size).") var size: Int?
        @Option(help: "With --seq: json (the receipt.inclusion op's input), tlog-proof or cose-receipt (receipt.md §Exporting one receipt's proof).") var format: ProofFormat = .json
        @Option(help: "With --format cose-receipt: the log key's seed, a file or env:NAME.") var key: String?

        func validate() throws {
            if let seq, seq < 0 { throw ValidationError("--seq is a receipt's sequence number, 0 or more") }
            if let from, from < 1 { throw ValidationError("--from is an earlier tree size, 1 or more") }
            if let size, size < 1 { throw ValidationError("--size is a tree size, 1 or more") }
            if let from, let size, size < from { throw ValidationError("--size is at least --from") }
            if size != nil && from == nil { throw ValidationError("--size goes with --from") }
            if seq != nil && from != nil { throw ValidationError("give --seq or --from, not both") }
            if seq == nil && from == nil { throw ValidationError("give --seq (inclusion) or --from (consistency)") }
            if format != .json && seq == nil { throw ValidationError("--format goes with --seq") }
        }

        func run() throws {
            guard CLIFiles.isDirectory(log.dir) else { throw CLIError.io("cannot read \(log.dir): no such directory") }
            let directory = URL(fileURLWithPath: log.dir)
            guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("receipts.jsonl").path) else {
                throw CLIError.rejected("--dir \(log.dir) holds no log (no receipts.jsonl)")
            }
            let tree = try LogTree(directory: directory, origin: log.origin)
            if let seq {
                var reader = try LineReader(url: directory.appendingPathComponent("checkpoints.jsonl"))
                var latest: String?
                while case let lines = reader.next(256), !lines.isEmpty {
                    for line in lines where !line.isEmpty { latest = try StrictJSONParser().parse(line)["note"]?.stringValue }
                }
                guard let note = latest, let size = checkpointSize(note) else {
                    throw CLIError.rejected("the log has no checkpoint yet; run `attest log checkpoint`")
                }
                guard seq < size else { throw CLIError.usage("--seq \(seq): receipt \(seq) is not covered by the latest checkpoint (size \(size))") }
                guard size <= tree.size else { throw CLIError.rejected("the log holds fewer receipts than its latest checkpoint covers") }
                let proof = tree.tree.inclusionProof(index: seq, size: size)
                let object: JSONObject = ["receipt": tree.receipts[seq], "checkpoint": .string(note),
                                          "proof": .array(proof.map { .string($0.description) })]
                if format == .json {
                    try writeJSON(.object(object), to: nil)
                } else {
                    ProofExport.write(try ProofExport.render(object, format: format, seed: try key.map { try SecretSeed.read($0, option: "--key") }))
                }
            } else if let from {
                let n = size ?? tree.size
                guard from <= n, n <= tree.size else {
                    throw CLIError.usage("--from \(from) and --size \(n) must satisfy from ≤ size ≤ \(tree.size), the log's size")
                }
                try writeJSON([
                    "from": .number(JSONNumber(from)), "tree_size": .number(JSONNumber(n)),
                    "consistency": .array(tree.tree.consistencyProof(from: from, to: n).map { .string($0.description) }),
                ], to: nil)
            }
        }
    }

    /// A log read back without its key: its receipts (which must all name `origin`) and
    /// its Merkle tree.
    struct LogTree {
        var receipts: [JSONValue] = []
        var tree = MerkleTree()
        var size: Int { receipts.count }

        init(directory: URL, origin: String) throws {
            var reader = try LineReader(url: directory.appendingPathComponent("receipts.jsonl"))
            while case let lines = reader.next(4096), !lines.isEmpty {
                for line in lines where !line.isEmpty {
                    let value = try StrictJSONParser().parse(line)
                    let r = try Receipt(json: value)
                    guard r.log.isExactly(origin) else {
                        throw CLIError.usage("--origin \(origin): the log in this directory is \(r.log)")
                    }
                    tree.append(leafHash: r.leafHash)
                    receipts.append(value)
                }
            }
            if let failure = reader.failure { throw CLIError.io("cannot read receipts.jsonl: \(failure)") }
        }
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bundle", abstract: "Export and verify evidence bundles.",
                                                    subcommands: [Export.self, VerifyBundle.self, Demo.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle directory: from portal stores (--store), or from log directories and artifact files.",
            discussion: """
                The bundle is written whole or not at all: into a staging directory beside --out, renamed at the end. --out must not exist. \
                With several --store, the bundle holds one log per store, in the order given, and each artifact once. \
                Each store records the export (its size and Merkle root), which attest portal prune --log requires.
                """)
        @Option(name: .customLong("store"),
                help: "A portal's store directory: export what the portal recorded (repeatable: one log per store, e.g. each replica's, or a log and its successor).")
        var stores: [String] = []
        @Option(name: .customLong("config"),
                help: "With --store: a portal's configuration, to print the trust inputs a verifier needs (repeatable).")
        var configs: [String] = []
        @Option(help: "With --store: payloads to disclose: all, none, seq:FIRST-LAST or time:FROM-TO.") var disclose: String = "all"
        @Option(name: .customLong("log"), help: "ORIGIN=DIRECTORY of a receipt log (repeatable).") var logs: [String] = []
        @Option(name: .customLong("artifact"), help: "Artifact or mandate file (repeatable).") var artifacts: [String] = []
        @Flag(help: "Leave out the salted payloads (structure-only disclosure).") var noPayloads = false
        @Option(help: "Bundle directory to write.") var out: String

        func validate() throws {
            guard !out.isEmpty else { throw ValidationError("--out is the bundle directory to write, not empty") }
            if !stores.isEmpty {
                guard stores.count <= 1024 else { throw ValidationError("--store: at most 1024 stores (a bundle holds at most 1024 logs)") }
                guard logs.isEmpty, artifacts.isEmpty, !noPayloads else {
                    throw ValidationError("--store exports a portal's store; --log, --artifact and --no-payloads go without it")
                }
                _ = try Self.parseDisclose(disclose)
            } else {
                guard configs.isEmpty else { throw ValidationError("--config goes with --store") }
                guard !logs.isEmpty else { throw ValidationError("give --store, or at least one --log ORIGIN=DIRECTORY") }
                guard !artifacts.isEmpty else { throw ValidationError("give at least one --artifact with --log") }
                for spec in logs { _ = try Self.parseLog(spec) }
            }
        }

        static func parseLog(_ spec: String) throws -> (String, URL) {
            let parts = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--log is ORIGIN=DIRECTORY, not \(spec)") }
            return (String(parts[0]), URL(fileURLWithPath: String(parts[1])))
        }

        func run() throws {
            if FileManager.default.fileExists(atPath: out) {
                throw CLIError.usage("--out \(out) exists; an export writes a new directory")
            }
            if !stores.isEmpty {
                var configurations: [PortalConfiguration] = []
                for config in configs {
                    _ = try CLIFiles.read(config, option: "--config")
                    do { configurations.append(try PortalConfiguration.load(URL(fileURLWithPath: config))) } catch {
                        throw CLIError.rejected("--config \(config): \(error.description)")
                    }
                }
                // Each store records the export when it can be written; a store on read-only
                // media is exported all the same, without the record.
                let opened = try stores.map { path in
                    try (try? PortalStoreCLI.open(path, option: "--store")) ?? PortalStoreCLI.open(path, option: "--store", readOnly: true)
                }
                let exported = try PortalStoreCLI.guarded("--store") {
                    try PortalStore.exportBundle(stores: opened, to: URL(fileURLWithPath: out), disclose: try Self.parseDisclose(disclose))
                }
                let now = Int64(Date().timeIntervalSince1970)
                for (store, log) in zip(opened, exported) {
                    do { try store.recordExport(log, bundle: URL(fileURLWithPath: out).standardizedFileURL.path, time: now) } catch {
                        FileHandle.standardError.write(Data("warning: --store \(store.directory.path): the export was not recorded in the store (\(error)); attest portal prune --log will not count it\n".utf8))
                    }
                }
                print("wrote bundle \(out): \(exported.reduce(0) { $0 + $1.receipts }) receipts")
                for log in exported {
                    print("  log \(log.origin): \(log.receipts) receipts, \(log.payloads) payloads, root \(log.root)")
                }
                guard !configurations.isEmpty else { return }
                var authorities: [String] = [], keys: [String] = []
                for configuration in configurations {
                    for a in configuration.authorities where !authorities.contains(where: { $0.isExactly(a.value) }) { authorities.append(a.value) }
                    let key = NoteVerifier(name: configuration.origin, key: configuration.logKey.publicKey).text
                    if !keys.contains(where: { $0.isExactly(key) }) { keys.append(key) }
                }
                print("verify with:")
                print("  attest bundle verify \(out) " + authorities.map { "--authority=\($0) " }.joined()
                      + keys.map { "--log-key '\($0)' " }.joined() + "--now $(date +%s)")
                return
            }
            let pairs = try logs.map(Self.parseLog)
            for (origin, directory) in pairs {
                guard CLIFiles.isDirectory(directory.path) else { throw CLIError.io("cannot read \(directory.path): no such directory") }
                for name in ["receipts.jsonl", "checkpoints.jsonl"] + (noPayloads ? [] : ["payloads.jsonl"]) {
                    _ = try CLIFiles.read(directory.appendingPathComponent(name).path, option: "--log \(origin)", limit: Int.max)
                        .count
                }
                _ = try LogCommand.LogTree(directory: directory, origin: origin)
            }
            for path in artifacts { _ = try readArtifact(path, option: "--artifact") }
            try CLIFiles.writeDirectory(out, option: "--out") { staging in
                try BundleExporter.export(logs: pairs, artifacts: artifacts.map { URL(fileURLWithPath: $0) },
                                          to: staging, includePayloads: !noPayloads)
            }
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
        /// bundle.md §Trust policy: the policy file (its log lines become the log keys), the
        /// pinned notes and the freshness bound. A trust input that cannot be read is a usage error.
        func readTrustPolicyInputs(into trust: inout BundleVerifier.Trust, keyTexts: inout [String]) throws {
            if let path = policy {
                guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                    throw ValidationError("--policy \(path): cannot read it as UTF-8 text")
                }
                do {
                    let parsed = try TrustPolicy(text: text)
                    trust.policy = parsed
                    trust.logKeys = parsed.logs
                    keyTexts = parsed.logs.map(\.text)
                } catch {
                    throw ValidationError("--policy \(path): \(error.code.rawValue): \(error.message)")
                }
                if freshAfter != nil, trust.policy?.quorumIsNone == true { throw ValidationError("--fresh-after needs a policy whose quorum is not none") }
            }
            trust.freshAfter = freshAfter
            for p in pinned {
                guard let eq = p.firstIndex(of: "=") else { throw ValidationError("--pinned is ORIGIN=FILE") }
                let origin = String(p[..<eq]), path = String(p[p.index(after: eq)...])
                guard let data = FileManager.default.contents(atPath: path), let note = String(data: data, encoding: .utf8) else {
                    throw ValidationError("--pinned \(origin): cannot read \(path) as UTF-8 text")
                }
                trust.pinned.append((origin: origin, note: note))
            }
            if let why = trust.inputProblem { throw ValidationError(why) }
        }

        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify a bundle offline: prints PASS or FAIL and what was verified, exits 0 on PASS.",
            discussion: """
                The report states the logs and their verified checkpoints, the time range, the decisions counted, \
                the checks that ran and those skipped (and why), the trust inputs, the tool and specification versions, \
                and the bundle digest (SHA-256 of the sha256sum listing of manifest.json and each file it names, in manifest \
                order), so that it can be reproduced. --json writes the same report as JSON to standard output.
                Exit codes: 0 PASS; 10 malformed input; 11 authenticity (a signature or a trust root); \
                12 log integrity (sequence, chain, Merkle, checkpoints); 13 policy chain (artifact or mandate); \
                14 enforcement (an ALLOW the artifact forbids); 15 disclosure (a payload that does not match its commitment); \
                64 usage; 74 the bundle directory cannot be read.
                """)
        @Argument(help: "Bundle directory.") var bundle: String
        @Option(help: "Thumbprint of a trusted policy authority key (repeatable).") var authority: [String]
        @Option(name: .customLong("log-key"), help: "Trusted log key as a C2SP note verifier key name+id+key (repeatable).")
        var logKeys: [String] = []
        @Option(help: "Verification time, seconds since the epoch.") var now: Int64
        @Option(help: "A C2SP tlog-policy file: the logs' keys (instead of --log-key), the witnesses and their quorum.")
        var policy: String?
        @Option(help: "ORIGIN=FILE: a signed checkpoint of that log, held by the auditor, that the bundle must extend (repeatable).")
        var pinned: [String] = []
        @Option(name: .customLong("fresh-after"), help: "Seconds since the epoch: each log's newest checkpoint needs a quorum of cosignatures made then or later.")
        var freshAfter: Int64?
        @Option(help: "Write the JSON report here (- for standard output).") var report: String?
        @Flag(help: "Write the JSON report to standard output (the verdict line goes to standard error).") var json = false

        func validate() throws {
            try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
            guard authority.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--authority is a key thumbprint, not empty") }
            for text in logKeys {
                do { _ = try NoteVerifier(text: text) } catch {
                    throw ValidationError("--log-key \(text) is not a note verifier key (name+id+key): \(error.message)")
                }
            }
            guard !bundle.isEmpty else { throw ValidationError("the bundle directory is not empty") }
            if policy != nil, !logKeys.isEmpty { throw ValidationError("--policy names the log keys; --log-key goes without it") }
            if policy == nil, logKeys.isEmpty { throw ValidationError("give the log keys with --log-key or --policy") }
            if freshAfter != nil, policy == nil { throw ValidationError("--fresh-after needs --policy") }
            if let freshAfter { try requireRange(freshAfter, epochSeconds, "--fresh-after", "seconds since the epoch") }
            if let freshAfter, freshAfter > now { throw ValidationError("--fresh-after \(freshAfter) is after --now \(now)") }
            for p in pinned where !p.contains("=") { throw ValidationError("--pinned is ORIGIN=FILE") }
            if json, let report, report != "-" { throw ValidationError("--json writes the report to standard output; --report goes without it") }
        }

        func run() throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: bundle, isDirectory: &isDirectory) else {
                throw CLIError.io("cannot read \(bundle): no such file or directory")
            }
            guard isDirectory.boolValue else { throw CLIError.io("cannot read \(bundle): not a directory (a bundle is a directory)") }
            var trust = BundleVerifier.Trust(authorities: Set(authority.map { ExactString($0) }),
                                             logKeys: try logKeys.map { try NoteVerifier(text: $0) }, now: now)
            var keyTexts = logKeys
            try readTrustPolicyInputs(into: &trust, keyTexts: &keyTexts)
            var verifier = BundleVerifier(trust: trust)
            let toStdout = json || report == "-"
            let progress = ProgressLine.onTerminal(enabled: !toStdout)
            if let progress {
                verifier.progress = { p in
                    progress.update(String(format: "%@ (log %d of %d): %@ of %@ receipts, %@/s", p.log, p.logIndex + 1, p.logs,
                                           ProgressLine.grouped(p.receipts), ProgressLine.grouped(p.total),
                                           ProgressLine.grouped(Int(Double(p.receipts) / max(p.seconds, 1e-9))))
                                    + ProgressLine.timeLeft(done: p.receipts, total: p.total, seconds: p.seconds))
                }
            }
            let result = verifier.verify(bundle: URL(fileURLWithPath: bundle))
            progress?.clear()
            let document = BundleReport(bundle: bundle, trust: trust, logKeyTexts: keyTexts, result: result)
            let verdict = document.verdictLine
            if toStdout {
                FileHandle.standardError.write(Data((verdict + "\n").utf8))
                print(document.json.serialized(pretty: true), terminator: "")
            } else {
                print(verdict)
                print(document.text, terminator: "")
                if let report { try writeJSON(document.json, to: report) }
            }
            if let f = result.failure { throw ExitCode(Int32(Self.exitCode(f.code))) }
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
        @Option(help: "Bundle directory to write (must not exist).") var out: String

        func validate() throws {
            guard (1...100_000_000).contains(receipts) else { throw ValidationError("--receipts is 1 to 100,000,000") }
            guard (1...100_000_000).contains(checkpointEvery) else { throw ValidationError("--checkpoint-every is 1 to 100,000,000") }
            guard !out.isEmpty else { throw ValidationError("--out is the bundle directory to write, not empty") }
        }

        func run() throws {
            let demo = DemoHistory()
            let start = Date()
            let progress = ProgressLine.onTerminal(enabled: true)
            try CLIFiles.writeDirectory(out, option: "--out") { staging in
                try demo.writeBundle(staging, count: receipts, checkpointEvery: checkpointEvery) { done in
                    let seconds = Date().timeIntervalSince(start)
                    progress?.update("written \(ProgressLine.grouped(done)) of \(ProgressLine.grouped(receipts)) receipts"
                                     + ProgressLine.timeLeft(done: done, total: receipts, seconds: seconds))
                }
            }
            progress?.clear()
            print(String(format: "wrote %d receipts in %.1f s to %@", receipts, Date().timeIntervalSince(start), out))
            print("verify with:")
            print("  attest bundle verify \(out) --authority \(demo.authority.publicKey.thumbprint) "
                  + "--log-key '\(NoteVerifier(name: demo.origin, key: demo.logKey.publicKey).text)' --now \(demo.trust.now)")
        }
    }
}
