import AttestCore
import Dispatch
import Foundation

/// Offline verification of an evidence bundle (spec/bundle.md §Verification): the
/// verdict depends only on the bundle and the inputs (trusted policy authorities,
/// trusted log keys, the time), never on the keys a bundle names for itself.
///
/// Receipts are streamed in batches: each batch is parsed, canonicalized and its
/// signatures verified on all cores, then checked in order (sequence, chain, time,
/// Merkle roots, re-evaluation of every decision against the sealed artifact). Memory
/// is bounded by the batch size, whatever the size of the bundle.
public struct BundleVerifier: Sendable {
    public struct Trust: Sendable {
        /// RFC 7638 thumbprints of the keys allowed to seal root artifacts.
        public var authorities: Set<String>
        /// Note verifier keys of the logs, by name; a log's origin is its key name.
        public var logKeys: [NoteVerifier]
        /// Verification time, seconds since the epoch.
        public var now: Int64

        public init(authorities: Set<String>, logKeys: [NoteVerifier], now: Int64) {
            self.authorities = authorities
            self.logKeys = logKeys
            self.now = now
        }
    }

    public struct Failure: Error, Sendable {
        public let code: ErrorCode
        public let message: String
        public let log: String?
        public let seq: UInt64?
    }

    public struct Report: Sendable {
        public var checks: [(check: String, result: String, count: Int)] = []
        public var failure: Failure?
        public var receipts = 0
        public var payloadsChecked = 0
        public var seconds = 0.0
        public var passed: Bool { failure == nil }

        public var json: JSONValue {
            var o: JSONObject = [
                "verdict": .string(passed ? "PASS" : "FAIL"),
                "receipts": .number(JSONNumber(receipts)),
                "decisions_rechecked_with_payload": .number(JSONNumber(payloadsChecked)),
                "checks": .array(checks.map { ["check": .string($0.check), "result": .string($0.result),
                                               "count": .number(JSONNumber($0.count))] }),
            ]
            if let f = failure {
                var fo: JSONObject = ["code": .string(f.code.rawValue), "message": .string(f.message)]
                if let log = f.log { fo["log"] = .string(log) }
                if let seq = f.seq { fo["seq"] = .number(JSONNumber(Double(seq))) }
                o["failure"] = .object(fo)
            }
            return .object(o)
        }
    }

    public let trust: Trust
    public var batchSize = 8192
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    public var progress: (@Sendable (String) -> Void)?

    public init(trust: Trust) { self.trust = trust }

    /// Where verification is, so that an error raised deep inside names its log and receipt.
    private final class Position: @unchecked Sendable {
        var log: String?
        var seq: UInt64?
    }

    private let position = Position()

    public func verify(bundle: URL) -> Report {
        var report = Report()
        let start = Date()
        do {
            try run(bundle, &report)
        } catch let f as Failure {
            report.failure = f
        } catch let e as AttestError {
            report.failure = Failure(code: e.code, message: e.message, log: position.log, seq: position.seq)
        } catch {
            report.failure = Failure(code: .bundleMalformed, message: "\(error)", log: nil, seq: nil)
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    private func run(_ bundle: URL, _ report: inout Report) throws {
        let manifest: BundleFormat.Manifest
        do {
            let data = try Data(contentsOf: bundle.appendingPathComponent("manifest.json"))
            manifest = try BundleFormat.Manifest(json: try StrictJSONParser().parse(Array(data)))
        } catch let e as AttestError {
            throw Failure(code: e.code == .bundleMalformed ? e.code : .bundleMalformed, message: "manifest: \(e.message)", log: nil, seq: nil)
        } catch {
            throw Failure(code: .bundleMalformed, message: "manifest.json: \(error.localizedDescription)", log: nil, seq: nil)
        }
        report.checks.append(("manifest", "pass", 1))

        var artifacts: [String: Artifact] = [:]
        var reader = try openLines(bundle, manifest.artifacts)
        while case let lines = reader.next(256), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                let artifact = try Artifact(json: try StrictJSONParser().parse(line))
                artifacts[artifact.digest] = artifact
            }
        }
        report.checks.append(("artifacts parsed", "pass", artifacts.count))

        for log in manifest.logs {
            try verifyLog(bundle, log, artifacts, &report)
        }
    }

    private func openLines(_ bundle: URL, _ path: String) throws -> LineReader {
        do {
            return try LineReader(url: bundle.appendingPathComponent(path))
        } catch {
            throw Failure(code: .bundleMalformed, message: "cannot read \(path)", log: nil, seq: nil)
        }
    }

    private func verifyLog(_ bundle: URL, _ entry: BundleFormat.LogEntry, _ artifacts: [String: Artifact],
                           _ report: inout Report) throws {
        let origin = entry.origin
        position.log = origin
        position.seq = nil
        func fail(_ code: ErrorCode, _ message: String, _ seq: UInt64? = nil) -> Failure {
            Failure(code: code, message: message, log: origin, seq: seq)
        }
        guard let logKey = trust.logKeys.first(where: { $0.name == origin }) else {
            throw fail(.bundleLogUntrusted, "no trusted key is given for log \(origin)")
        }

        // Checkpoints: each signed by the log key, each consistent with the one before.
        var checkpoints: [Checkpoint] = []
        var reader = try openLines(bundle, entry.checkpoints)
        while case let lines = reader.next(256), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                let value = try StrictJSONParser().parse(line)
                guard let note = value["note"]?.stringValue else { throw fail(.bundleMalformed, "checkpoint line has no note") }
                let checkpoint = try Checkpoint.verify(note, trusted: [logKey], origin: origin)
                if let previous = checkpoints.last {
                    let proof = try (value["consistency"]?.arrayValue ?? []).map { v throws(AttestError) in
                        try Base64URL.decode(v.stringValue ?? "")
                    }
                    try CheckpointHistory.checkSuccessor(previous, checkpoint, consistency: proof)
                }
                checkpoints.append(checkpoint)
            }
        }
        guard let last = checkpoints.last else { throw fail(.bundleNoCheckpoint, "log \(origin) has no checkpoint") }
        report.checks.append(("\(origin): checkpoints signed and consistent", "pass", checkpoints.count))

        let keyID = logKey.key.thumbprint
        var chains: [String: Result<Artifact, AttestError>] = [:]
        var engines: [String: PolicyEngine] = [:]
        var frontier = MerkleFrontier()
        var previousLink = Receipt.genesis
        var previousTime: Int64 = 0
        var expectedSeq: UInt64 = 0
        var checkpointIndex = 0
        let started = Date()

        // A producer thread parses, hashes and verifies the next batch on all cores while
        // this thread checks the current one in order.
        let pipeline = Pipeline()
        let receipts = try openLines(bundle, entry.receipts)
        let payloads = try entry.payloads.map { try openLines(bundle, $0) }
        let producer = Producer(receipts: receipts, payloads: payloads, key: logKey.key, batchSize: batchSize,
                                workers: workers, pipeline: pipeline)
        let thread = Thread { producer.run() }
        thread.stackSize = 1 << 22
        thread.start()
        defer { pipeline.cancel() }

        while let batch = try pipeline.take() {
            for item in batch {
                position.seq = expectedSeq
                guard let r = item.receipt else {
                    throw fail(item.error?.code ?? .receiptMalformed, "receipt after seq \(Int64(expectedSeq) - 1): \(item.error?.message ?? "")", expectedSeq)
                }
                guard r.log == origin else { throw fail(.receiptLogMismatch, "receipt names log \(r.log)", r.seq) }
                if r.seq + 1 == expectedSeq {
                    throw fail(.receiptSequenceDuplicate, "seq \(r.seq) appears twice", r.seq)
                }
                guard r.seq == expectedSeq else {
                    throw fail(.receiptSequenceGap, "expected seq \(expectedSeq), found \(r.seq)", r.seq)
                }
                guard r.keyID == keyID else {
                    throw fail(.receiptKeyUntrusted, "receipt is signed by \(r.keyID), not the log key", r.seq)
                }
                if let error = item.error { throw fail(error.code, error.message, r.seq) }
                guard r.prev == previousLink else {
                    throw fail(.receiptChainBroken, "prev does not name the link of receipt \(Int64(r.seq) - 1)", r.seq)
                }
                guard r.time >= previousTime else {
                    throw fail(.receiptTimeRegression, "time \(r.time) is before the previous receipt's \(previousTime)", r.seq)
                }
                guard r.time <= trust.now else {
                    throw fail(.bundleFutureReceipt, "time \(r.time) is after the verification time \(trust.now)", r.seq)
                }
                previousLink = r.link
                previousTime = r.time
                expectedSeq += 1

                if let error = item.disclosureError { throw fail(error.code, error.message, r.seq) }
                let disclosed = item.payload

                let artifact: Artifact
                if let cached = chains[r.artifact] {
                    switch cached {
                    case .success(let a): artifact = a
                    case .failure(let e): throw fail(e.code, e.message, r.seq)
                    }
                } else {
                    let verified = Result { () throws(AttestError) -> Artifact in
                        try MandateChain.verify(try MandateChain.chain(endingAt: r.artifact, from: artifacts),
                                                trustedAuthorities: trust.authorities)
                    }
                    chains[r.artifact] = verified
                    artifact = try verified.get()
                }
                if r.method == "tools/call" {
                    // The engine is updated in place: a copy taken out of the dictionary
                    // would copy its rate history on every allowed call.
                    if engines[r.artifact] == nil { engines[r.artifact] = PolicyEngine(artifact: artifact) }
                    if r.decision == .allow {
                        if r.agentSubject != artifact.subject || r.agentKey != artifact.subjectKey {
                            throw fail(.portalSubjectMismatch, "ALLOW for an agent other than the artifact's subject", r.seq)
                        }
                        let arguments = disclosed?["request"]?["arguments"]?.objectValue ?? (disclosed == nil ? nil : JSONObject())
                        if arguments != nil { report.payloadsChecked += 1 }
                        if let code = engines[r.artifact]!.evaluate(tool: r.tool ?? "", arguments: arguments, time: r.time) {
                            throw fail(code, "ALLOW for a call the artifact forbids (\(code.rawValue))", r.seq)
                        }
                        engines[r.artifact]!.recordAllowed(tool: r.tool ?? "", time: r.time)
                    }
                }

                frontier.append(r.leafHash)
                while checkpointIndex < checkpoints.count && checkpoints[checkpointIndex].size == frontier.size {
                    guard frontier.root.bytes == checkpoints[checkpointIndex].root else {
                        throw fail(.bundleRootMismatch, "receipts 0..<\(frontier.size) do not hash to the checkpoint root", r.seq)
                    }
                    checkpointIndex += 1
                }
            }
            report.receipts += batch.count
            if let progress, report.receipts % 100_000 < batchSize {
                let rate = Double(report.receipts) / max(Date().timeIntervalSince(started), 1e-9)
                progress("\(origin): \(report.receipts) receipts verified (\(Int(rate))/s)")
            }
        }
        if let empty = checkpoints.first, empty.size == 0, empty.root != Merkle.emptyRoot.bytes {
            throw fail(.bundleRootMismatch, "checkpoint of size 0 does not carry the empty root")
        }
        guard frontier.size == last.size else {
            throw fail(.bundleSizeMismatch, "the log holds \(frontier.size) receipts, its last checkpoint \(last.size)")
        }
        report.checks.append(("\(origin): receipts parsed, signed by the log key, in sequence, hash-linked", "pass", Int(frontier.size)))
        report.checks.append(("\(origin): Merkle roots equal every checkpoint", "pass", checkpoints.count))
        report.checks.append(("\(origin): artifact chains verified", "pass", chains.count))
        report.checks.append(("\(origin): ALLOW decisions re-evaluated against the artifact", "pass", Int(frontier.size)))
    }
}

/// One receipt line after the parallel stage: parsed, canonicalized, hashed, its
/// signature checked (`error` holds the first failure), and its disclosed payload, if
/// any, checked against the commitments (`disclosureError`). Failures are only
/// reported when the in-order stage reaches the receipt, so the verdict is the same
/// as a sequential verifier's.
private struct Prepared: @unchecked Sendable {
    var receipt: Receipt?
    var error: AttestError?
    var payload: JSONValue?
    var disclosureError: AttestError?
}

/// A bounded hand-off of batches between the producer thread and the in-order stage.
private final class Pipeline: @unchecked Sendable {
    private let condition = NSCondition()
    private var batches: [[Prepared]] = []
    private var finished = false
    private var failure: Error?
    private(set) var cancelled = false

    func put(_ batch: [Prepared]) {
        condition.lock()
        while batches.count >= 2 && !cancelled { condition.wait() }
        batches.append(batch)
        condition.broadcast()
        condition.unlock()
    }

    func finish(_ error: Error? = nil) {
        condition.lock()
        finished = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    func take() throws -> [Prepared]? {
        condition.lock()
        defer { condition.unlock() }
        while batches.isEmpty && !finished { condition.wait() }
        if !batches.isEmpty {
            condition.broadcast()
            return batches.removeFirst()
        }
        if let failure { throw failure }
        return nil
    }
}

/// Reads receipt lines and payload lines, and prepares each batch on all cores.
private final class Producer: @unchecked Sendable {
    var receipts: LineReader
    var payloads: LineReader?
    let key: Ed25519.PublicKey
    let keyID: String
    let batchSize: Int
    let workers: Int
    let pipeline: Pipeline
    /// Payload lines read and parsed ahead, in file order; `payloadHead` is the next one.
    private var parsedPayloads: [Result<(seq: UInt64, value: JSONValue), AttestError>] = []
    private var payloadHead = 0

    /// Receipts (and payload lines) per unit of parallel work: small enough that the
    /// cores finish a batch together although the in-order stage shares them.
    private static let chunk = 64
    private static let receiptLimits = StrictJSONParser.Limits(maxBytes: 1 << 16, maxDepth: 16)
    private static let payloadLimits = StrictJSONParser.Limits(maxBytes: 1 << 20, maxDepth: 64)

    init(receipts: LineReader, payloads: LineReader?, key: Ed25519.PublicKey, batchSize: Int, workers: Int, pipeline: Pipeline) {
        self.receipts = receipts
        self.payloads = payloads
        self.key = key
        self.keyID = key.thumbprint
        self.batchSize = batchSize
        self.workers = workers
        self.pipeline = pipeline
    }

    func run() {
        do {
            while !pipeline.cancelled {
                let lines = receipts.next(batchSize)
                if lines.isEmpty { break }
                // Payload lines are parsed ahead in the same parallel pass; their errors are
                // only raised when the in-order reading below reaches them.
                let payloadLines = payloads != nil && parsedPayloads.count - payloadHead < 2 * batchSize
                    ? payloads!.next(batchSize) : []
                var prepared = [Prepared](repeating: Prepared(), count: lines.count)
                var parsed = [Result<(seq: UInt64, value: JSONValue), AttestError>](
                    repeating: .failure(AttestError(.bundleMalformed, "")), count: payloadLines.count)
                let receiptChunks = (lines.count + Self.chunk - 1) / Self.chunk
                let payloadChunks = (payloadLines.count + Self.chunk - 1) / Self.chunk
                prepared.withUnsafeMutableBufferPointer { items in
                    parsed.withUnsafeMutableBufferPointer { results in
                        nonisolated(unsafe) let items = items.baseAddress!, results = results.baseAddress
                        DispatchQueue.concurrentPerform(iterations: receiptChunks + payloadChunks) { c in
                            if c < receiptChunks {
                                let cache = Receipt.StringCache()
                                for i in (c * Self.chunk)..<min(lines.count, (c + 1) * Self.chunk) {
                                    self.prepare(lines[i], into: &items[i], cache: cache)
                                }
                            } else {
                                let p = c - receiptChunks
                                for i in (p * Self.chunk)..<min(payloadLines.count, (p + 1) * Self.chunk) {
                                    results![i] = Self.parsePayload(payloadLines[i])
                                }
                            }
                        }
                    }
                }
                if payloadHead > 0 {
                    parsedPayloads.removeFirst(payloadHead)
                    payloadHead = 0
                }
                parsedPayloads.append(contentsOf: parsed)
                let seqs = prepared.compactMap { $0.receipt?.seq }
                if let low = seqs.min(), let high = seqs.max() {
                    let bySeq = try payloadsUpTo(min(high, low + UInt64(2 * batchSize)))
                    if !bySeq.isEmpty {
                        let chunks = (prepared.count + Self.chunk - 1) / Self.chunk
                        let count = prepared.count
                        prepared.withUnsafeMutableBufferPointer { items in
                            nonisolated(unsafe) let items = items.baseAddress!
                            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                                for i in (c * Self.chunk)..<min(count, (c + 1) * Self.chunk) {
                                    guard let r = items[i].receipt, let disclosed = bySeq[r.seq] else { continue }
                                    items[i].payload = disclosed
                                    items[i].disclosureError = Self.checkDisclosure(r, disclosed)
                                }
                            }
                        }
                    }
                }
                pipeline.put(prepared)
            }
            pipeline.finish()
        } catch {
            pipeline.finish(error)
        }
    }

    /// Parses one receipt line (the canonical layout directly, anything else through the
    /// strict parser) and checks its signature when it names the log key.
    private func prepare(_ line: ArraySlice<UInt8>, into item: inout Prepared, cache: Receipt.StringCache) {
        do {
            let receipt = try Receipt.read(canonicalLine: line, maxBytes: Self.receiptLimits.maxBytes, cache: cache)
                ?? Receipt(json: try StrictJSONParser(limits: Self.receiptLimits).parse(line))
            item.receipt = receipt
            if receipt.keyID == keyID { try receipt.verifySignature(key) }
        } catch {
            item.error = error as? AttestError ?? AttestError(.receiptMalformed, "\(error)")
        }
    }

    private static func parsePayload(_ line: ArraySlice<UInt8>) -> Result<(seq: UInt64, value: JSONValue), AttestError> {
        Result { () throws(AttestError) in
            let value = try StrictJSONParser(limits: payloadLimits).parse(line)
            guard let seq = value["seq"]?.unsignedValue else {
                throw AttestError(.bundleMalformed, "a payload line has no seq")
            }
            return (seq, value)
        }
    }

    /// The payload lines with seq up to `high`, keyed by seq; lines are in ascending seq.
    /// Lines come from those parsed ahead, then one at a time; a line's parse error is
    /// raised when the reading reaches it, as a line-by-line reader would.
    private func payloadsUpTo(_ high: UInt64) throws -> [UInt64: JSONValue] {
        var bySeq: [UInt64: JSONValue] = [:]
        while true {
            if payloadHead == parsedPayloads.count {
                guard let line = payloads?.next(1).first else { return bySeq }
                parsedPayloads = [Self.parsePayload(line)]
                payloadHead = 0
            }
            let pending = try parsedPayloads[payloadHead].get()
            guard pending.seq <= high else { return bySeq }
            bySeq[pending.seq] = pending.value
            payloadHead += 1
        }
    }

    static func checkDisclosure(_ r: Receipt, _ disclosed: JSONValue) -> AttestError? {
        do {
            let request = disclosed["request"], response = disclosed["response"]
            try r.checkDisclosure(
                request: request, requestSalt: try disclosed["request_salt"]?.stringValue.map(Base64URL.decode),
                response: response, responseSalt: try disclosed["response_salt"]?.stringValue.map(Base64URL.decode))
            if let name = request?["name"]?.stringValue, name != r.tool {
                return AttestError(.receiptCommitmentMismatch, "disclosed request calls \(name), the receipt says \(r.tool ?? "-")")
            }
            return nil
        } catch {
            return error
        }
    }
}
