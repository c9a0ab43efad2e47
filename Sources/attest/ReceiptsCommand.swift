import ArgumentParser
import AttestCore
import AttestEvidence
import Foundation

/// What a client does with the receipts a portal returned to it (portal.md §Receipts
/// returned to the client).
struct ReceiptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts", abstract: "Check the receipts a client holds against their log.",
        subcommands: [Audit.self, VerifyProof.self])

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Audit held receipts against a later checkpoint: each is signed by the log key and is in the log at its seq (receipt.md §Auditing held receipts).",
            discussion: """
                With --bundle, the newest checkpoint of the bundle's log and each held receipt's inclusion proof, computed from the bundle's receipt lines. \
                With --checkpoint, one --proof file per held receipt, in the order of --receipts, each a JSON object with a "proof" array of hex hashes \
                (the output of `attest portal prove` or `attest log prove --seq`), proving the receipt in that checkpoint's tree. \
                A log that left a held receipt out, or holds another at its seq, fails with RCP_OMITTED naming its seq.
                """)
        @Option(help: "The held receipts: a file of JSON lines, one signed receipt each, as the portal returned them.") var receipts: String
        @Option(name: .customLong("log-key"), help: "The log key as a C2SP note verifier key name+id+key.") var logKey: String
        @Option(help: "An evidence bundle directory holding the log.") var bundle: String?
        @Option(help: "A signed checkpoint note of the log (with --proof).") var checkpoint: String?
        @Option(name: .customLong("proof"), help: "Per held receipt, in order: a JSON file with its inclusion proof (repeatable).") var proofs: [String] = []

        func validate() throws {
            guard (bundle == nil) != (checkpoint == nil) else { throw ValidationError("give --bundle, or --checkpoint with --proof") }
            if bundle != nil, !proofs.isEmpty { throw ValidationError("--proof goes with --checkpoint, not --bundle") }
        }

        func run() throws {
            let held = try Self.readLines(receipts, option: "--receipts")
            guard !held.isEmpty else { throw CLIError.usage("--receipts \(receipts): the file holds no receipt") }
            guard held.count <= ReceiptAudit.maxHeld else {
                throw CLIError.usage("--receipts: at most \(ReceiptAudit.maxHeld) receipts in one audit")
            }
            let report: ReceiptAudit.Report
            if let bundle {
                let (note, log) = try Self.readBundle(bundle, origin: held[0]["log"]?.stringValue ?? "")
                report = try ReceiptAudit.audit(held: held, checkpoint: note, logKey: logKey) { _, receipt, checkpoint throws(AttestError) in
                    log.proof(index: receipt.seq, size: checkpoint.size)
                }
            } else {
                guard proofs.count == held.count else {
                    throw CLIError.usage("give one --proof per held receipt: \(held.count) receipts, \(proofs.count) proofs")
                }
                let note = String(decoding: try CLIFiles.read(checkpoint ?? "", option: "--checkpoint", limit: 1 << 16), as: UTF8.self)
                let given: [[[UInt8]]] = try proofs.map { path in
                    let value = try StrictJSONParser().parse(try CLIFiles.read(path, option: "--proof", limit: 1 << 20))
                    guard let hashes = value["proof"]?.arrayValue else {
                        throw CLIError.usage("--proof \(path): a JSON object with a \"proof\" array of hex hashes")
                    }
                    return try hashes.map { h in
                        guard let s = h.stringValue, let bytes = Hex.decode(s) else {
                            throw CLIError.usage("--proof \(path): a proof's hashes are hex strings")
                        }
                        return bytes
                    }
                }
                report = try ReceiptAudit.audit(held: held, checkpoint: note, logKey: logKey) { i, _, _ throws(AttestError) in given[i] }
            }
            print("PASS: \(report.audited) held receipt(s) in log \(report.checkpoint.origin) at its checkpoint of size \(report.checkpoint.size)")
        }

        /// The JSON values of a file of JSON lines (blank lines skipped).
        static func readLines(_ path: String, option: String) throws -> [JSONValue] {
            guard !CLIFiles.isDirectory(path) else { throw CLIError.io("cannot read \(path): is a directory") }
            var reader: LineReader
            do { reader = try LineReader(url: URL(fileURLWithPath: path)) } catch {
                throw CLIError.io("\(option) \(path): \(CLIFiles.describe(error))")
            }
            var values: [JSONValue] = []
            while case let lines = reader.next(4096), !lines.isEmpty {
                for line in lines where !line.isEmpty {
                    guard values.count < ReceiptAudit.maxHeld + 1 else { return values }
                    values.append(try StrictJSONParser().parse(line))
                }
            }
            if let failure = reader.failure { throw CLIError.io("cannot read \(path): \(failure)") }
            return values
        }

        /// The newest checkpoint note of the bundle's log `origin` and the leaves of its
        /// receipt lines (bundle.md §Layout).
        static func readBundle(_ path: String, origin: String) throws -> (String, AuditedLog) {
            guard CLIFiles.isDirectory(path) else { throw CLIError.io("cannot read \(path): no such directory") }
            let directory = URL(fileURLWithPath: path)
            let manifest = try BundleFormat.Manifest(json: try StrictJSONParser().parse(
                try CLIFiles.read(directory.appendingPathComponent("manifest.json").path, option: "--bundle")))
            guard let entry = manifest.logs.first(where: { $0.origin.isExactly(origin) }) else {
                throw AttestError(.receiptLogMismatch, "the bundle holds no log \(origin), the log the first held receipt names")
            }
            var note: String?
            var checkpoints = try LineReader(url: directory.appendingPathComponent(entry.checkpoints))
            while case let lines = checkpoints.next(256), !lines.isEmpty {
                for line in lines where !line.isEmpty { note = try StrictJSONParser().parse(line)["note"]?.stringValue }
            }
            if let failure = checkpoints.failure { throw CLIError.io("cannot read \(entry.checkpoints): \(failure)") }
            guard let note else { throw AttestError(.bundleMalformed, "the bundle's log \(origin) has no checkpoint") }
            var log = AuditedLog()
            var reader = try LineReader(url: directory.appendingPathComponent(entry.receipts))
            while case let lines = reader.next(4096), !lines.isEmpty {
                for line in lines where !line.isEmpty { try log.append(line: try StrictJSONParser().parse(line)) }
            }
            if let failure = reader.failure { throw CLIError.io("cannot read \(entry.receipts): \(failure)") }
            return (note, log)
        }
    }
}
