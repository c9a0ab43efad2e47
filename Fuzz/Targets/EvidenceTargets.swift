import AttestCore
#if DEBUG
@testable import AttestEvidence
#else
import AttestEvidence
#endif
import Foundation

/// The keys and trust of the spec's evidence vectors (scripts/author_evidence_vectors.py).
enum EvidenceFixture {
    static let origin = "portal.example/log/vectors"
    static let logKey = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xB1, count: 32))
    static let logVerifier = NoteVerifier(name: origin, key: logKey.publicKey)
    static let otherKey = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 0xB2, count: 32))
    /// The policy authority, the agent (subject of the root artifact) and the sub-agent.
    static let keys = [0xC1, 0xC2, 0xC3].map { try! Ed25519.PrivateKey(seed: [UInt8](repeating: $0, count: 32)) }
    static var authority: String { keys[0].publicKey.thumbprint }
    static let now: Int64 = 1_760_100_000
}

extension FuzzTargets {
    /// Signed checkpoint notes with the vectors' log key. Whatever verifies re-signs and
    /// verifies to the same checkpoint. After a leading 0x01 byte the input is a note
    /// body, which the target signs as bytes: a body without a blank line must then
    /// never fail on its signature (the parser must sign-check the bytes it was given).
    @Sendable public static func checkpoint(_ data: [UInt8]) throws(OracleFailure) {
        let trusted = [EvidenceFixture.logVerifier, NoteVerifier(name: "witness.example", key: EvidenceFixture.otherKey.publicKey)]
        var note = text(data)
        if data.first == 0x01 {
            var body = Array(data.dropFirst())
            if body.last != 0x0A { body.append(0x0A) }
            guard String(validating: body, as: UTF8.self) != nil, !body.contains(0),
                  !zip(body, body.dropFirst()).contains(where: { $0 == 0x0A && $1 == 0x0A }) else { return }
            let signature = (try? EvidenceFixture.logKey.signRaw(body)) ?? []
            let line = "\u{2014} \(EvidenceFixture.origin) \(Data(EvidenceFixture.logVerifier.keyID + signature).base64EncodedString())\n"
            note = text(body) + "\n" + line
            do {
                _ = try Checkpoint.verify(note, trusted: trusted)
            } catch {
                try check(error.code == .checkpointMalformed, "a note signed over its body bytes fails with \(error.code)")
            }
        }
        for origin in [nil, EvidenceFixture.origin] {
            guard let checkpoint = try? Checkpoint.verify(note, trusted: trusted, origin: origin) else { continue }
            try check(checkpoint.root.count == 32, "root of \(checkpoint.root.count) bytes")
            try check(origin == nil || checkpoint.origin == origin, "origin not enforced")
            let resigned = Checkpoint(origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root)
                .signed(by: [Checkpoint.Signer(name: EvidenceFixture.origin, key: EvidenceFixture.logKey)])
            guard let again = try? Checkpoint.verify(resigned, trusted: trusted, origin: origin) else {
                throw OracleFailure("a verified checkpoint does not verify once re-signed:\n\(resigned)")
            }
            try check(again == checkpoint, "a re-signed checkpoint verifies to another checkpoint")
        }
        // Cosignatures (checkpoint.md §Cosignatures): on a note that verifies, reading them
        // fails only with CKP_COSIGNATURE_INVALID; any text read as a trust policy gets a
        // verdict (bundle.md §The policy file).
        let witness = CosignerVerifier(name: "witness.example", key: EvidenceFixture.otherKey.publicKey)
        if (try? Checkpoint.verify(note, trusted: trusted, cosigners: [witness])) != nil {
            do {
                _ = try Checkpoint.cosignatures(on: note, witnesses: [witness])
            } catch {
                try check(error.code == .checkpointCosignatureInvalid, "a verified note's cosignatures fail with \(error.code)")
            }
        }
        do { _ = try TrustPolicy(text: note) } catch {
            try check(error.code == .bundlePolicyMalformed || error.code == .keyInvalid, "a policy fails with \(error.code)")
        }
    }

    /// Differential: the canonical receipt-line reader against the generic path
    /// (StrictJSONParser, then Receipt(json:)). Whenever the reader returns a receipt,
    /// the generic path accepts the line with exactly the same fields and signed bytes.
    /// The line is read twice with one string cache, so cached strings are compared too;
    /// then as a bundle's line, without `sig` (``bundleReceiptLine(_:)``).
    @Sendable public static func receiptLine(_ data: [UInt8]) throws(OracleFailure) {
        #if DEBUG
        let cache = Receipt.StringCache()
        let maxBytes = StrictJSONParser.Limits.default.maxBytes
        let first = Receipt.read(canonicalLine: data[...], maxBytes: maxBytes, cache: cache)
        let second = Receipt.read(canonicalLine: data[...], maxBytes: maxBytes, cache: cache)
        try check((first == nil) == (second == nil), "the reader's answer depends on its cache")
        try bundleReceiptLine(data)
        guard let fast = first, let cached = second else { return }
        let generic: Receipt
        do { generic = try Receipt(json: try StrictJSONParser().parse(data)) } catch {
            throw OracleFailure("the canonical reader accepts a line the generic path rejects with \(error)")
        }
        for r in [fast, cached] {
            try check(r.log == generic.log && r.seq == generic.seq && r.time == generic.time && r.prev == generic.prev
                      && r.artifact == generic.artifact && r.tool == generic.tool && r.method == generic.method
                      && r.agentSubject == generic.agentSubject && r.agentKey == generic.agentKey
                      && r.decision == generic.decision && r.code == generic.code
                      && r.requestCommitment == generic.requestCommitment && r.responseCommitment == generic.responseCommitment
                      && r.signature == generic.signature && r.keyID == generic.keyID,
                      "the canonical reader and the generic path read different fields")
            try check(r.canonical == generic.canonical && r.signedMessage == generic.signedMessage,
                      "the canonical reader and the generic path sign-check different bytes")
            try check(r.link == generic.link && r.leafHash == generic.leafHash, "different link or leaf hash")
            try check(r.json == generic.json, "the rebuilt JSON object differs from the parsed one")
        }
        #endif
    }

    /// Differential for a bundle's receipt lines, which carry no `sig`: whenever the
    /// canonical reader returns a receipt, `Receipt(bundleJSON:)` accepts the line with the
    /// same canonical form, link and fields, and the line is its own canonical form.
    static func bundleReceiptLine(_ data: [UInt8]) throws(OracleFailure) {
        #if DEBUG
        let maxBytes = StrictJSONParser.Limits.default.maxBytes
        guard let fast = Receipt.read(canonicalLine: data[...], maxBytes: maxBytes, cache: Receipt.StringCache(), signed: false) else { return }
        let generic: Receipt
        do { generic = try Receipt(bundleJSON: try StrictJSONParser().parse(data)) } catch {
            throw OracleFailure("the canonical reader accepts a bundle line the generic path rejects with \(error)")
        }
        try check(fast.canonical == data && generic.canonical == data, "a canonical bundle line is not its own canonical form")
        try check(fast.link == generic.link && fast.leafHash == generic.leafHash && !fast.isSigned && !generic.isSigned,
                  "different link, leaf or signing state")
        try check(fast.log == generic.log && fast.seq == generic.seq && fast.time == generic.time && fast.prev == generic.prev
                  && fast.artifact == generic.artifact && fast.decision == generic.decision && fast.code == generic.code
                  && fast.tool == generic.tool && fast.method == generic.method, "the two readers read different fields")
        #endif
    }

    /// A small bundle from the input, verified with the vectors' trust. Input: manifest,
    /// artifacts.jsonl, logs/0/receipts.jsonl, logs/0/checkpoints.jsonl and
    /// logs/0/payloads.jsonl, separated by 0xFF (a byte no UTF-8 text contains). Must
    /// never trap or hang; a PASS must have read every receipt line.
    @Sendable public static func bundle(_ data: [UInt8]) throws(OracleFailure) {
        let files = ["manifest.json", "artifacts.jsonl", "logs/0/receipts.jsonl", "logs/0/checkpoints.jsonl", "logs/0/payloads.jsonl"]
        let contents = parts(data, separator: 0xFF, limit: files.count)
        let fm = FileManager.default
        let directory = fm.temporaryDirectory.appendingPathComponent("attest-fuzz-bundle-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: directory) }
        do {
            try fm.createDirectory(at: directory.appendingPathComponent("logs/0"), withIntermediateDirectories: true)
            for (name, bytes) in zip(files, contents) {
                try Data(bytes).write(to: directory.appendingPathComponent(name))
            }
        } catch {
            return
        }
        var verifier = BundleVerifier(trust: .init(authorities: [ExactString(EvidenceFixture.authority)],
                                                   logKeys: [EvidenceFixture.logVerifier], now: EvidenceFixture.now))
        verifier.batchSize = 4
        verifier.workers = 1
        let report = verifier.verify(bundle: directory)
        if report.passed, contents.count > 2 {
            let lines = contents[2].split(separator: 0x0A).filter { !$0.isEmpty }.count
            try check(report.receipts == lines, "PASS after reading \(report.receipts) of \(lines) receipt lines")
        }
    }

    /// Artifacts and mandate chains with the vectors' policy authority. Input: a JSON
    /// artifact or an array of them (root first); or, after a leading 0x01 byte, an
    /// array of unsigned ones, which the target seals: the root with the authority key,
    /// each mandate with whichever fixture key its parent names as subject (a `parent`
    /// of `$parent` becomes the parent's digest). A chain that verifies must only
    /// narrow: no call its effective artifact allows may be denied by an ancestor.
    @Sendable public static func artifact(_ data: [UInt8]) throws(OracleFailure) {
        let sealing = data.first == 0x01
        guard let value = try? StrictJSONParser().parse(sealing ? Array(data.dropFirst()) : data) else { return }
        let elements = value.arrayValue ?? [value]
        var chain: [Artifact] = []
        for element in elements.prefix(6) {
            if sealing {
                guard case .object(var o) = element else { return }
                if let parent = chain.last {
                    if o["parent"] == "$parent" { o["parent"] = .string(parent.digest) }
                }
                let key = chain.last.flatMap { parent in
                    EvidenceFixture.keys.first { $0.publicKey.thumbprint == parent.subjectKey }
                } ?? EvidenceFixture.keys[chain.isEmpty ? 0 : 1]
                guard let sealed = try? Artifact.seal(o, key: key) else { return }
                chain.append(sealed)
            } else {
                guard let a = try? Artifact(json: element) else { return }
                chain.append(a)
            }
        }
        guard !chain.isEmpty else { return }
        let byDigest = Dictionary(chain.map { (ExactString($0.digest), $0) }, uniquingKeysWith: { a, _ in a })
        if let last = chain.last { _ = try? MandateChain.chain(endingAt: last.digest, from: byDigest) }
        guard (try? MandateChain.verify(chain, trustedAuthorities: [ExactString(EvidenceFixture.authority)])) != nil else { return }
        let values = elements.flatMap { allValues($0) }
        for (parent, child) in zip(chain, chain.dropFirst()) {
            try checkNarrows(child, parent, candidates: values)
        }
    }

    /// Every call `child` allows at its start, with arguments built from `candidates`,
    /// `parent` allows too.
    static func checkNarrows(_ child: Artifact, _ parent: Artifact, candidates: [JSONValue]) throws(OracleFailure) {
        let time = child.notBefore
        for (tool, policy) in child.tools.sorted(by: { $0.key < $1.key }) {
            let parentNames = parent.tools[tool].map { Array($0.arguments.keys) } ?? []
            let names = Array(Set(policy.arguments.keys).union(parentNames)).sorted()
            var calls: [JSONObject] = [[:]]
            for (k, v) in candidates.prefix(16).enumerated() {
                var call = JSONObject()
                for (i, name) in names.enumerated() { call[name.value] = candidates[(k + i) % candidates.count] }
                calls.append(call)
                if let name = names.first { calls.append([name.value: v]) }
            }
            for call in calls {
                var childEngine = PolicyEngine(), parentEngine = PolicyEngine()
                let childVerdict = childEngine.evaluate(chain: [child], tool: tool.value, arguments: .object(call), time: time)
                let parentVerdict = parentEngine.evaluate(chain: [parent], tool: tool.value, arguments: .object(call), time: time)
                try check(childVerdict != nil || parentVerdict == nil,
                          "mandate \(child.id) allows \(tool) \(JSONValue.object(call).serialized(pretty: false)); its parent denies it with \(parentVerdict?.rawValue ?? "")")
            }
        }
    }

    /// Constraints: the input is a JSON array; its elements that are constraints are
    /// compared pairwise, with candidate values taken from the whole input and derived
    /// from every constraint's bounds. Narrowing must be sound: if a is narrower than b
    /// and a accepts v, b accepts v.
    @Sendable public static func constraint(_ data: [UInt8]) throws(OracleFailure) {
        guard let value = try? StrictJSONParser().parse(data) else { return }
        let elements = value.arrayValue ?? [value]
        let constraints = elements.prefix(8).compactMap { try? Constraint(json: $0) }
        guard !constraints.isEmpty else { return }
        let candidates = allValues(value) + constraints.flatMap(boundaryValues)
        for c in constraints {
            for v in candidates { _ = c.accepts(v) }
        }
        for a in constraints {
            for b in constraints where a.isNarrower(than: b) {
                for v in candidates where a.accepts(v) && !b.accepts(v) {
                    throw OracleFailure("narrowing is unsound: \(a) is narrower than \(b) and accepts \(v.serialized(pretty: false)), which the wider one refuses")
                }
            }
        }
    }

    /// Values at and around a constraint's bounds, where acceptance changes.
    static func boundaryValues(_ c: Constraint) -> [JSONValue] {
        var out: [JSONValue] = [.bool(true), .bool(false), .null, .array([]), .string("")]
        out += [c.const].compactMap { $0 } + (c.enum ?? [])
        for bound in [c.minimum, c.maximum].compactMap({ $0 }) {
            for x in [bound, bound.nextUp, bound.nextDown, bound.rounded(.down), bound.rounded(.up), bound - 1, bound + 1] where x.isFinite {
                out.append(.number(JSONNumber(x)))
            }
        }
        let prefix = c.prefix ?? ""
        for length in [c.minLength, c.maxLength].compactMap({ $0 }) {
            for n in [length - 1, length, length + 1] where n >= 0 && n < 4096 {
                let pad = max(0, n - prefix.unicodeScalars.count)
                out.append(.string(prefix + String(repeating: "a", count: pad)))
                out.append(.string(String(repeating: "\u{E9}", count: n)))
            }
        }
        out += [.string(prefix), .string(prefix + "x"), .string(String(prefix.unicodeScalars.dropLast().map(Character.init)))]
        for count in [c.minItems, c.maxItems].compactMap({ $0 }) {
            for n in [count - 1, count, count + 1] where n >= 0 && n < 4096 {
                out.append(.array(Array(repeating: .null, count: n)))
            }
        }
        return out
    }
}
