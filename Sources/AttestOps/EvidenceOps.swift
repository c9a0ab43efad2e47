import AttestCore
import AttestEvidence
import Foundation

/// Ops of the evidence documents: merkle, checkpoint, artifact, mandate, receipt, bundle.
enum EvidenceOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "merkle.root", document: "merkle") { args in
            let leaves = try args.array("leaves").map { try hexValue($0) }
            return ["root": .string(MerkleTree(leafHashes: leaves.map(Merkle.leafHash)).root().description)]
        },
        .init(name: "merkle.inclusion", document: "merkle") { args in
            try Merkle.verifyInclusion(index: try args.unsigned("index"), treeSize: try args.unsigned("tree_size"),
                                       leafHash: try args.hex("leaf_hash"), proof: try args.array("proof").map(hexValue),
                                       root: try args.hex("root"))
            return [:]
        },
        .init(name: "merkle.consistency", document: "merkle") { args in
            try Merkle.verifyConsistency(size1: try args.unsigned("size1"), size2: try args.unsigned("size2"),
                                         root1: try args.hex("root1"), root2: try args.hex("root2"),
                                         proof: try args.array("proof").map(hexValue))
            return [:]
        },
        .init(name: "checkpoint.verify", document: "checkpoint") { args in
            let c = try Checkpoint.verify(try args.string("note"), trusted: try verifiers(args), origin: try args.optionalString("origin"))
            return ["origin": .string(c.origin), "size": .number(JSONNumber(Double(c.size))), "root": .string(Hex.encode(c.root))]
        },
        .init(name: "checkpoint.cosignatures", document: "checkpoint") { args in
            // Every key is read before the note: the log's, then the witnesses'.
            let trusted = try verifiers(args)
            let witnesses = try args.array("witnesses").map { v throws(AttestError) in try CosignerVerifier(text: v.stringValue ?? "") }
            let note = try args.string("note")
            let c = try Checkpoint.verify(note, trusted: trusted, origin: try args.optionalString("origin"), cosigners: witnesses)
            let cosignatures = try Checkpoint.cosignatures(on: note, witnesses: witnesses)
            return ["origin": .string(c.origin), "size": .number(JSONNumber(Double(c.size))), "root": .string(Hex.encode(c.root)),
                    "cosignatures": .array(cosignatures.map {
                        // The time in its exact decimal digits: a timestamp may exceed 2^53.
                        .object(["name": .string($0.name), "time": .number(JSONNumber(source: String($0.time), value: Double($0.time)))])
                    })]
        },
        .init(name: "checkpoint.successor", document: "checkpoint") { args in
            let trusted = try verifiers(args)
            let earlier = try Checkpoint.verify(try args.string("earlier"), trusted: trusted)
            // The later checkpoint is verified for the earlier one's origin (checkpoint.md).
            let later = try Checkpoint.verify(try args.string("later"), trusted: trusted, origin: earlier.origin)
            try CheckpointHistory.checkSuccessor(earlier, later, consistency: try args.array("consistency").map(hexValue))
            return [:]
        },
        .init(name: "artifact.verify", document: "artifact") { args in
            let chain = try args.array("chain").map { v throws(AttestError) in try Artifact(json: v) }
            let authorities = exactStrings(try args.array("authorities"))
            let effective = try MandateChain.verify(chain, trustedAuthorities: authorities)
            return ["digest": .string(effective.digest), "id": .string(effective.id)]
        },
        .init(name: "artifact.evaluate", document: "artifact") { args in
            // The chain: the ancestors given (root first), then the artifact in force.
            var chain: [Artifact] = []
            if args.input["ancestors"] != nil {
                chain = try args.array("ancestors").map { v throws(AttestError) in try Artifact(json: v) }
            }
            chain.append(try Artifact(json: try args.value("artifact")))
            var engine = PolicyEngine()
            var drift = DriftTracker()
            var history: [(tool: String, time: Int64, session: String, code: ErrorCode?)] = []
            for call in try args.array("history") {
                guard let tool = call["tool"]?.stringValue, let time = call["time"]?.integerValue else {
                    throw OpInputError(description: "history entries are {tool, time, session?, code?}")
                }
                let session = try sessionName(call)
                var code: ErrorCode?
                if let c = call["code"] {
                    guard let name = c.stringValue, let known = ErrorCode(rawValue: name) else {
                        throw OpInputError(description: "a history entry's code is a registry code")
                    }
                    code = known
                }
                history.append((tool, time, session, code))
            }
            // The earlier decisions, in order of time, as a log holds them: an allowed call
            // counts, a denial with a drift code begins its session's drift.
            let ordered = history.indices.sorted { (history[$0].time, $0) < (history[$1].time, $1) }
            for i in ordered {
                let h = history[i]
                if h.code == nil { engine.recordAllowed(chain: chain, tool: h.tool, time: h.time) }
                drift.record(chain: chain, session: h.session, tool: h.tool, time: h.time, code: h.code)
            }
            let call = try args.value("call")
            guard let tool = call["tool"]?.stringValue, let time = call["time"]?.integerValue else {
                throw OpInputError(description: "call is {tool, arguments, time, session?}")
            }
            if let code = engine.evaluate(chain: chain, session: try sessionName(call), drift: &drift, tool: tool,
                                          arguments: call["arguments"] ?? .object(JSONObject()), time: time) {
                throw AttestError(code, "the artifact denies this call")
            }
            return ["decision": "ALLOW"]
        },
        .init(name: "receipt.verify", document: "receipt") { args in
            // The receipt's shape, then the log key (receipt.md §Verifying a receipt).
            let receipt = try Receipt(json: try args.value("receipt"))
            let key = try NoteVerifier(text: try args.string("log_key")).key
            guard receipt.keyID == key.thumbprint else { throw AttestError(.receiptKeyUntrusted, "receipt is not signed by the log key") }
            try receipt.verifySignature(key)
            return ["canonical": .string(Hex.encode(receipt.canonical)), "link": .string(Hex.encode(receipt.link)),
                    "leaf_hash": .string(receipt.leafHash.description)]
        },
        .init(name: "receipt.disclosure", document: "receipt") { args in
            let receipt = try Receipt(json: try args.value("receipt"))
            var disclosed = args.input
            disclosed["receipt"] = nil
            try receipt.check(try Disclosure(json: disclosed))
            return [:]
        },
        .init(name: "receipt.inclusion", document: "receipt") { args in
            let receipt = try Receipt(json: try args.value("receipt"))
            let logKey = try NoteVerifier(text: try args.string("log_key"))
            guard receipt.keyID == logKey.key.thumbprint else { throw AttestError(.receiptKeyUntrusted, "receipt is not signed by the log key") }
            try receipt.verifySignature(logKey.key)
            let checkpoint = try Checkpoint.verify(try args.string("checkpoint"), trusted: [logKey], origin: receipt.log)
            try Merkle.verifyInclusion(index: receipt.seq, treeSize: checkpoint.size, leafHash: receipt.leafHash.bytes,
                                       proof: try args.array("proof").map(hexValue), root: checkpoint.root)
            return ["leaf_hash": .string(receipt.leafHash.description), "tree_size": .number(JSONNumber(Double(checkpoint.size)))]
        },
        .init(name: "receipt.audit", document: "receipt") { args in
            // receipt.md §Auditing held receipts: one proof per held receipt, in the same order.
            let held = try args.array("receipts")
            let proofs = try args.array("proofs").map { p throws -> [[UInt8]] in
                guard let hashes = p.arrayValue else { throw OpInputError(description: "each proof is an array of hashes") }
                return try hashes.map(hexValue)
            }
            guard !held.isEmpty, proofs.count == held.count else {
                throw OpInputError(description: "at least one held receipt, and one proof per held receipt")
            }
            let report = try ReceiptAudit.audit(held: held, checkpoint: try args.string("checkpoint"),
                                                logKey: try args.string("log_key")) { i, _, _ throws(AttestError) in proofs[i] }
            return ["audited": .number(JSONNumber(Double(report.audited)))]
        },
        .init(name: "receipt.verify-proof", document: "receipt") { args in
            // receipt.md §Exporting one receipt's proof: a tlog proof (text), or a COSE
            // Receipt (hex) with the receipt it proves.
            let format = try args.string("format")
            if format.isExactly("tlog-proof") {
                let (receipt, checkpoint) = try ReceiptProofFormat.verifyTlogProof(try args.string("proof"), logKey: try args.string("log_key"))
                return ["seq": .number(JSONNumber(Double(receipt.seq))), "tree_size": .number(JSONNumber(Double(checkpoint.size)))]
            }
            guard format.isExactly("cose-receipt") else { throw OpInputError(description: "format is tlog-proof or cose-receipt") }
            let (receipt, root) = try ReceiptProofFormat.verifyCOSEReceipt(try args.hex("proof"), receipt: try args.value("receipt"),
                                                                          logKey: try args.string("log_key"))
            return ["seq": .number(JSONNumber(Double(receipt.seq))), "root": .string(Base64URL.encode(root))]
        },
        .init(name: "bundle.verify", document: "bundle") { args in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-op-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try writeBundle(args, to: directory)
            // bundle.md §Trust policy: with a policy, the log keys are its log lines' (read before the bundle).
            var policy: TrustPolicy?
            if let text = args.context["policy"] {
                guard let text = text.stringValue, args.context["log_keys"] == nil else {
                    throw OpInputError(description: "context \"policy\" is text, given without \"log_keys\"")
                }
                policy = try TrustPolicy(text: text)
            }
            var trust = BundleVerifier.Trust(
                authorities: exactStrings(try args.contextArray("authorities")),
                logKeys: try policy?.logs
                    ?? args.contextArray("log_keys").map { v throws(AttestError) in try NoteVerifier(text: v.stringValue ?? "") },
                now: try args.contextInt64("now"))
            trust.policy = policy
            if let pinned = args.context["pinned"] {
                guard case .object(let o) = pinned, o.allSatisfy({ $0.value.stringValue != nil }) else {
                    throw OpInputError(description: "context \"pinned\" maps origins to notes")
                }
                trust.pinned = o.map { (origin: $0.name, note: $0.value.stringValue ?? "") }
            }
            if args.context["fresh_after"] != nil {
                trust.freshAfter = try args.contextInt64("fresh_after")
                guard let policy, !policy.quorumIsNone else {
                    throw OpInputError(description: "context \"fresh_after\" needs a policy whose quorum is not none")
                }
            }
            if let why = trust.inputProblem { throw OpInputError(description: why) }
            let report = BundleVerifier(trust: trust).verify(bundle: directory)
            if let f = report.failure {
                throw AttestError(f.code, (f.seq.map { "seq \($0): " } ?? "") + f.message)
            }
            var output: JSONObject = [
                "receipts": .number(JSONNumber(report.receipts)), "open_calls": .number(JSONNumber(report.openCalls)),
                "revocations": .number(JSONNumber(report.revocations)), "shadow_calls": .number(JSONNumber(report.shadowCalls))]
            if policy != nil || !trust.pinned.isEmpty || trust.freshAfter != nil {
                output["logs"] = .array(report.logs.map { log in
                    var entry: JSONObject = ["origin": .string(log.origin), "witnesses": .array(log.witnesses.map { .string($0) }),
                                             "end_proven": .bool(log.endProven)]
                    if let bound = log.endBound { entry["end_bound"] = bound }
                    return .object(entry)
                })
            }
            return output
        },
    ]

    static func exactStrings(_ values: [JSONValue]) -> Set<ExactString> {
        var names: Set<ExactString> = []
        for value in values { if let s = value.stringValue { names.insert(ExactString(s)) } }
        return names
    }

    static func hexValue(_ v: JSONValue) throws -> [UInt8] {
        guard let s = v.stringValue, let b = Hex.decode(s) else { throw OpInputError(description: "expected a hex string") }
        return b
    }

    static func verifiers(_ args: OpArguments) throws -> [NoteVerifier] {
        try args.array("trusted").map { v throws(AttestError) in try NoteVerifier(text: v.stringValue ?? "") }
    }

    /// Lays out an in-vector bundle as a directory: `artifacts` and each log's
    /// `receipts`, `checkpoints` and optional `payloads` are the exact bytes of the files
    /// of the layout (bundle.md), in hex; the manifest names them with the logs' origins.
    static func writeBundle(_ args: OpArguments, to directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        func bytes(_ value: JSONValue?, _ name: String) throws -> Data {
            guard let value else { throw OpInputError(description: "input \"\(name)\" is missing") }
            guard let text = value.stringValue, let b = Hex.decode(text) else {
                throw OpInputError(description: "input \"\(name)\" is not the hex of a file's bytes")
            }
            return Data(b)
        }
        try bytes(try args.value("artifacts"), "artifacts").write(to: directory.appendingPathComponent("artifacts.jsonl"))
        var entries: [BundleFormat.LogEntry] = []
        for (i, log) in try args.array("logs").enumerated() {
            let dir = "logs/\(i)"
            try fm.createDirectory(at: directory.appendingPathComponent(dir), withIntermediateDirectories: true)
            try bytes(log["receipts"], "logs[\(i)].receipts").write(to: directory.appendingPathComponent("\(dir)/receipts.jsonl"))
            try bytes(log["checkpoints"], "logs[\(i)].checkpoints").write(to: directory.appendingPathComponent("\(dir)/checkpoints.jsonl"))
            var payloads: String? = nil
            if let p = log["payloads"] {
                let path = "\(dir)/payloads.jsonl"
                payloads = path
                try bytes(p, "logs[\(i)].payloads").write(to: directory.appendingPathComponent(path))
            }
            entries.append(.init(origin: log["origin"]?.stringValue ?? "", receipts: "\(dir)/receipts.jsonl",
                                 checkpoints: "\(dir)/checkpoints.jsonl", payloads: payloads))
        }
        let manifest = BundleFormat.Manifest(artifacts: "artifacts.jsonl", logs: entries)
        try Data(manifest.json.serialized().utf8).write(to: directory.appendingPathComponent("manifest.json"))
    }
}

extension OpArguments {
    func array(_ name: String) throws -> [JSONValue] {
        guard let a = try value(name).arrayValue else { throw OpInputError(description: "input \"\(name)\" is not an array") }
        return a
    }

    func unsigned(_ name: String) throws -> UInt64 {
        // Exactly from its text up to 2^64 − 1, or else an integer by value (json.md §Integers: 7.0 is 7).
        let v = try value(name)
        if let n = v.unsignedValue { return n }
        guard let n = v.integerValue, n >= 0 else { throw OpInputError(description: "input \"\(name)\" is not an unsigned integer") }
        return UInt64(n)
    }

    func contextArray(_ name: String) throws -> [JSONValue] {
        guard let a = context[name]?.arrayValue else { throw OpInputError(description: "context \"\(name)\" is not an array") }
        return a
    }

    func contextInt64(_ name: String) throws -> Int64 {
        guard let n = context[name]?.integerValue else { throw OpInputError(description: "context \"\(name)\" is not an integer") }
        return n
    }
}

/// The session of an `artifact.evaluate` history entry or call: its `session`, or the one
/// session of entries that name none.
private func sessionName(_ entry: JSONValue) throws(OpInputError) -> String {
    guard let s = entry["session"] else { return "" }
    guard let name = s.stringValue, !name.isEmpty else { throw OpInputError(description: "session is a non-empty string") }
    return name
}
