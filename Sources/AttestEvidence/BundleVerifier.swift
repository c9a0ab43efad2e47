import AttestCore
import Dispatch
import Foundation

/// Offline verification of an evidence bundle (spec/bundle.md §Verification): the
/// verdict depends only on the bundle and the inputs (trusted policy authorities,
/// trusted log keys, the time), never on the keys a bundle names for itself.
///
/// Receipts are streamed in batches: each batch is parsed, canonicalized, hashed and its
/// disclosures checked on all cores, then checked in order (sequence, chain, time,
/// disclosures, artifact chain, re-evaluation of every decision, Merkle roots). A bundle's
/// receipt lines carry no signature: the log key's checkpoints over their Merkle root
/// authenticate them, and a content failure is reported only once the log is authenticated. Memory
/// is bounded by the batch size and the line limits, whatever the size of the bundle,
/// and time is linear in the receipts, whatever the artifacts say.
public struct BundleVerifier: Sendable {
    public struct Trust: Sendable {
        /// RFC 7638 thumbprints of the keys allowed to seal root artifacts.
        public var authorities: Set<ExactString>
        /// Note verifier keys of the logs, by name; a log's origin is its key name.
        public var logKeys: [NoteVerifier]
        /// Verification time, seconds since the epoch.
        public var now: Int64
        /// The optional inputs of bundle.md §Trust policy: a policy (whose log keys are then
        /// `logKeys`), pinned checkpoints by origin, and a freshness bound.
        public var policy: TrustPolicy?
        public var pinned: [(origin: String, note: String)] = []
        public var freshAfter: Int64?
        /// The trusted timestamp authorities' certificates (bundle.md §Timestamp authorities).
        public var tsa: [TimestampToken.Certificate] = []

        public init(authorities: Set<ExactString>, logKeys: [NoteVerifier], now: Int64) {
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

    /// What one log held, as far as verification read it: the counts are of receipts
    /// that passed every check (on a FAIL, those before the failing one).
    public struct LogSummary: Sendable {
        public var origin: String
        /// RFC 7638 thumbprint of the trusted log key the log was verified with (empty
        /// when none was given for its origin).
        public var logKey: String
        /// The checkpoints, each signed by the log key and consistent with the one before.
        public var checkpoints: [Checkpoint] = []
        public var receipts = 0
        public var allow = 0, deny = 0, phantom = 0, result = 0, revoke = 0
        /// ALLOWs forwarded in shadow mode (receipt.md `shadow`): not enforced decisions,
        /// so neither re-evaluated nor counted towards a rate limit; among `allow`.
        public var shadow = 0
        public var firstTime: Int64?
        public var lastTime: Int64?
        /// Whether the bundle discloses payloads for this log, and for how many receipts.
        public var payloadFile = false
        public var disclosed = 0
        /// ALLOWs of a `tools/call`, each re-evaluated against its artifact chain, and how
        /// many of them with the disclosed arguments (the others without: argument
        /// constraints are not re-checked for them).
        public var allowedCalls = 0
        public var allowedCallsWithArguments = 0
        public var openCalls = 0
        /// bundle.md §Trust policy: the witnesses (policy names) whose cosignatures counted on
        /// the newest checkpoint, and whether the log's end is proven (a pin or a freshness bound).
        public var witnesses: [String] = []
        public var endProven = false
        /// When the end is proven: the pinned checkpoint's size and the freshness bound that proved it.
        public var endPinnedSize: UInt64?
        public var endFreshAfter: Int64?
    }

    /// A check that did not run, and why.
    public struct Skipped: Sendable {
        public var check: String
        public var reason: String
        public var count: Int
    }

    public struct Report: Sendable {
        public var checks: [(check: String, result: String, count: Int)] = []
        public var skipped: [Skipped] = []
        public var failure: Failure?
        public var receipts = 0
        public var payloadsChecked = 0
        /// ALLOWs still open at the end of their log: forwarded, their outcome not in the log.
        public var openCalls = 0
        /// REVOKE entries, over all logs.
        public var revocations = 0
        /// ALLOWs forwarded in shadow mode, over all logs: listed apart, never enforced decisions.
        public var shadowCalls = 0
        public var seconds = 0.0
        public var artifacts = 0
        public var logs: [LogSummary] = []
        /// Each file of the bundle in manifest order (manifest.json, the artifacts, then each
        /// log's checkpoints, receipts and payloads) with the SHA-256 of its bytes, nil when
        /// it cannot be read; and the bundle digest (see ``digestText``).
        public var files: [(path: String, sha256: [UInt8]?)] = []
        public var passed: Bool { failure == nil }

        /// The bundle digest: SHA-256 of the lines `hex(SHA-256(file)) "  " path "\n"` of
        /// every file in manifest order (what `sha256sum` prints for them, run in the bundle
        /// directory); nil when a file named by the manifest cannot be read.
        public var digest: [UInt8]? {
            guard !files.isEmpty, files.allSatisfy({ $0.sha256 != nil }) else { return nil }
            return SHA256.hash(Array(digestText.utf8))
        }

        public var digestText: String {
            files.map { "\($0.sha256.map(Hex.encode) ?? "unreadable")  \($0.path)\n" }.joined()
        }

        public var json: JSONValue {
            var o: JSONObject = [
                "verdict": .string(passed ? "PASS" : "FAIL"),
                "receipts": .number(JSONNumber(receipts)),
                "decisions_rechecked_with_payload": .number(JSONNumber(payloadsChecked)),
                "open_calls": .number(JSONNumber(openCalls)),
                "revocations": .number(JSONNumber(revocations)),
                "shadow_calls": .number(JSONNumber(shadowCalls)),
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

    /// Line limits of the bundle's files (bundle.md §Layout).
    public enum Limits {
        public static let manifestBytes = 1 << 20
        public static let artifactLineBytes = 1 << 20
        public static let artifacts = 65_536
        public static let checkpointLineBytes = 1 << 16
        public static let consistencyHashes = 64
        public static let receiptLineBytes = 1 << 16
        public static let payloadLineBytes = 1 << 20
        /// ALLOWs without a response that no RESULT has completed yet, per log at any point.
        public static let openCalls = 65_536
    }

    public let trust: Trust
    /// Receipts per batch: small enough that a batch and its payloads stay in the caches
    /// and little memory is in flight, large enough to keep every core busy (16 chunks).
    public var batchSize = 1024
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Called after each batch of receipts.
    public var progress: (@Sendable (Progress) -> Void)?

    /// Where verification is: receipts verified of the log's last checkpoint size.
    public struct Progress: Sendable {
        public let log: String
        public let logIndex: Int
        public let logs: Int
        public let receipts: Int
        public let total: Int
        public let seconds: Double
    }

    public init(trust: Trust) { self.trust = trust }

    public func verify(bundle: URL) -> Report {
        var run = Run(verifier: self, directory: BundleDirectory(root: bundle))
        let start = Date()
        do {
            try run.verify()
        } catch let f as Failure {
            run.report.failure = f
        } catch let e as AttestError {
            run.report.failure = Failure(code: e.code, message: e.message, log: run.log, seq: run.seq)
        } catch {
            run.report.failure = Failure(code: .bundleMalformed, message: "\(error)", log: nil, seq: nil)
        }
        run.digestFiles()
        run.report.seconds = Date().timeIntervalSince(start)
        return run.report
    }
}

/// The state of one verification: each call of `verify(bundle:)` has its own, so
/// verifications run concurrently share nothing.
private struct Run {
    let verifier: BundleVerifier
    let directory: BundleDirectory
    var report = BundleVerifier.Report()
    /// Where verification is, so that an error raised deep inside names its log and receipt.
    var log: String?
    var seq: UInt64?
    var artifacts: [ExactString: Artifact] = [:]
    /// Verified chains by the digest of the artifact in force (root first).
    var chains: [ExactString: Result<[Artifact], AttestError>] = [:]
    /// For each root artifact, the logs (manifest index) holding an allowed `tools/call` under it or a mandate of it.
    var logsByRoot: [ExactString: Set<Int>] = [:]
    /// The manifest, once read (for the digest of the files it names).
    var manifest: BundleFormat.Manifest?
    /// The JCS bytes of each artifact's pinned upstream, by digest, so that each ALLOW
    /// compares bytes the parallel stage made against bytes made once per artifact.
    var pinnedUpstreams: [ExactString: [UInt8]] = [:]

    mutating func pinnedUpstream(_ artifact: Artifact, _ upstream: JSONValue) -> [UInt8] {
        let key = ExactString(artifact.digest)
        if let bytes = pinnedUpstreams[key] { return bytes }
        let bytes = JCS.canonicalize(upstream)
        pinnedUpstreams[key] = bytes
        return bytes
    }

    init(verifier: BundleVerifier, directory: BundleDirectory) {
        self.verifier = verifier
        self.directory = directory
    }

    var trust: BundleVerifier.Trust { verifier.trust }
    typealias Limits = BundleVerifier.Limits

    mutating func verify() throws {
        if let why = trust.inputProblem {  // bundle.md §Trust policy: unusable trust inputs
            throw BundleVerifier.Failure(code: .bundlePolicyMalformed, message: why, log: nil, seq: nil)
        }
        let manifest = try readManifest()
        self.manifest = manifest
        report.checks.append(("manifest", "pass", 1))
        // bundle.md §Verification with a trust policy, step 1: every pinned log is in the bundle.
        if let missing = trust.pinned.first(where: { p in !manifest.logs.contains(where: { $0.origin.isExactly(p.origin) }) }) {
            throw BundleVerifier.Failure(code: .bundlePinnedTruncated, message: "the bundle holds no log of the pinned checkpoint",
                                         log: missing.origin, seq: nil)
        }
        try readArtifacts(manifest.artifacts)
        report.artifacts = artifacts.count
        report.checks.append(("artifacts parsed", "pass", artifacts.count))
        for (index, entry) in manifest.logs.enumerated() {
            try verifyLog(entry, index: index, logCount: manifest.logs.count)
        }
        try recountAcrossLogs(manifest)
    }

    /// The SHA-256 of manifest.json and of each file the manifest names, in its order,
    /// read with the same rules as verification (``BundleDirectory``).
    mutating func digestFiles() {
        func digest(_ path: String) -> [UInt8]? {
            guard let file = try? directory.open(path) else { return nil }
            var hasher = SHA256.Hasher()
            var buffer: [UInt8] = []
            while true {
                buffer.removeAll(keepingCapacity: true)
                switch file.read(into: &buffer, upTo: 1 << 20) {
                case .success(0): return hasher.finalize()
                case .success: hasher.update(buffer)
                case .failure: return nil
                }
            }
        }
        var paths = ["manifest.json"]
        if let manifest {
            paths.append(manifest.artifacts)
            for log in manifest.logs { paths += [log.checkpoints, log.receipts] + (log.payloads.map { [$0] } ?? []) }
        }
        report.files = paths.map { ($0, digest($0)) }
    }

    private func readManifest() throws -> BundleFormat.Manifest {
        func fail(_ why: String) -> BundleVerifier.Failure {
            BundleVerifier.Failure(code: .bundleMalformed, message: "manifest.json: \(why)", log: nil, seq: nil)
        }
        let file: ReadableFile
        do { file = try directory.open("manifest.json") } catch { throw fail(error.message) }
        switch file.readAll(limit: Limits.manifestBytes) {
        case .failure: throw fail("unreadable, or larger than \(Limits.manifestBytes) bytes")
        case .success(let bytes):
            do {
                return try BundleFormat.Manifest(json: try StrictJSONParser().parse(bytes))
            } catch {
                throw fail(error.message)
            }
        }
    }

    private mutating func readArtifacts(_ path: String) throws {
        var reader = try directory.lines(path, maxLineBytes: Limits.artifactLineBytes)
        while case let lines = reader.next(256), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                let value: JSONValue
                do {
                    value = try StrictJSONParser(limits: .init(maxBytes: Limits.artifactLineBytes, maxDepth: 32)).parse(line)
                } catch {
                    throw AttestError(.artifactMalformed, "an artifact line is not JSON: \(error.message)")
                }
                let artifact = try Artifact(json: value)
                artifacts[ExactString(artifact.digest)] = artifacts[ExactString(artifact.digest)] ?? artifact
                guard artifacts.count <= Limits.artifacts else {
                    throw AttestError(.bundleMalformed, "more than \(Limits.artifacts) artifacts")
                }
            }
        }
        if let failure = reader.failure { throw AttestError(.artifactMalformed, "\(path): \(failure)") }
    }

    /// The verified chain of the artifact a receipt names (cached, failures too).
    private mutating func chain(_ digest: String) throws(AttestError) -> [Artifact] {
        let key = ExactString(digest)
        if let cached = chains[key] { return try cached.get() }
        let artifacts = self.artifacts
        let authorities = trust.authorities
        let verified = Result { () throws(AttestError) -> [Artifact] in
            let chain = try MandateChain.chain(endingAt: digest, from: artifacts)
            _ = try MandateChain.verify(chain, trustedAuthorities: authorities)
            return chain
        }
        chains[key] = verified
        return try verified.get()
    }

    private func readCheckpoints(_ entry: BundleFormat.LogEntry, key: NoteVerifier, logTrust: inout LogTrust) throws -> [Checkpoint] {
        var checkpoints: [Checkpoint] = []
        var reader = try directory.lines(entry.checkpoints, maxLineBytes: Limits.checkpointLineBytes)
        while case let lines = reader.next(256), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                let o: JSONObject
                do throws(AttestError) {
                    guard let object = try StrictJSONParser().parse(line).objectValue else { throw AttestError(.bundleMalformed, "not an object") }
                    o = object
                } catch {
                    throw AttestError(.bundleMalformed, "a checkpoint line is not a JSON object: \(error.message)")
                }
                guard let note = o["note"]?.stringValue,
                      o.count == 1 + (o["consistency"] == nil ? 0 : 1) + (o["timestamps"] == nil ? 0 : 1) else {
                    throw AttestError(.bundleMalformed, "a checkpoint line is {note, consistency?, timestamps?}")
                }
                var proof: [[UInt8]] = []
                if let c = o["consistency"] {
                    guard let hashes = c.arrayValue, hashes.count <= Limits.consistencyHashes else {
                        throw AttestError(.bundleMalformed, "consistency is an array of at most \(Limits.consistencyHashes) hashes")
                    }
                    for h in hashes {
                        guard let text = h.stringValue, let bytes = try? Base64URL.decode(text), bytes.count == 32 else {
                            throw AttestError(.bundleMalformed, "a consistency hash is the base64url of 32 bytes")
                        }
                        proof.append(bytes)
                    }
                }
                let stamps = try CheckpointTimestamps.parse(o["timestamps"])
                let checkpoint = try Checkpoint.verify(note, trusted: [key], origin: entry.origin, cosigners: trust.policy?.witnessKeys ?? [])
                try logTrust.read(note: note, policy: trust.policy, now: trust.now)
                try logTrust.read(timestamps: try CheckpointTimestamps.verify(stamps, note: note, certificates: trust.tsa))
                if let previous = checkpoints.last {
                    try CheckpointHistory.checkSuccessor(previous, checkpoint, consistency: proof)
                }
                checkpoints.append(checkpoint)
            }
        }
        if let failure = reader.failure { throw AttestError(.bundleMalformed, "\(entry.checkpoints): \(failure)") }
        return checkpoints
    }

    private mutating func verifyLog(_ entry: BundleFormat.LogEntry, index: Int, logCount: Int) throws {
        let origin = entry.origin
        log = origin
        seq = nil
        func fail(_ code: ErrorCode, _ message: String, _ seq: UInt64? = nil) -> BundleVerifier.Failure {
            BundleVerifier.Failure(code: code, message: message, log: origin, seq: seq)
        }
        let trustedKey = trust.logKeys.first(where: { $0.name.isExactly(origin) })
        var summary = BundleVerifier.LogSummary(origin: origin, logKey: trustedKey?.key.thumbprint ?? "")
        summary.payloadFile = entry.payloads != nil
        defer {
            report.logs.append(summary)
            report.receipts += summary.receipts
            report.revocations += summary.revoke
            report.shadowCalls += summary.shadow
        }
        guard let logKey = trustedKey else {
            throw fail(.bundleLogUntrusted, "no trusted key is given for log \(origin)")
        }

        // Checkpoints: each signed by the log key, each consistent with the one before.
        var logTrust = LogTrust()
        let checkpoints = try readCheckpoints(entry, key: logKey, logTrust: &logTrust)
        summary.checkpoints = checkpoints
        guard let last = checkpoints.last else { throw fail(.bundleNoCheckpoint, "log \(origin) has no checkpoint") }
        try logTrust.checkNewest(checkpoints, key: logKey, origin: origin, trust: trust)
        summary.witnesses = logTrust.witnesses
        summary.endProven = logTrust.endProven
        (summary.endPinnedSize, summary.endFreshAfter) = (logTrust.endPinnedSize, logTrust.endFreshAfter)
        report.checks.append(("\(origin): checkpoints signed and consistent", "pass", checkpoints.count))

        var engine = PolicyEngine()
        var drift = DriftTracker()
        var frontier = MerkleFrontier()
        var previousLink = Receipt.genesis
        var previousTime: Int64 = 0
        var expectedSeq: UInt64 = 0
        var checkpointIndex = 0
        var open: [UInt64: OpenCall] = [:]
        /// The first failure of steps 5 to 7, reported once the log is authenticated.
        var content: BundleVerifier.Failure?
        var contentFailed = false
        /// The digests this log's REVOKE entries named so far.
        var revoked = Set<ExactString>()
        let started = Date()
        let chainsBefore = chains.count

        // A producer thread parses, hashes and verifies the next batch on all cores while
        // this thread checks the current one in order.
        let pipeline = Pipeline()
        let receipts = try directory.lines(entry.receipts, maxLineBytes: Limits.receiptLineBytes)
        let payloads = try entry.payloads.map { p throws(AttestError) in try directory.lines(p, maxLineBytes: Limits.payloadLineBytes) }
        let producer = Producer(receipts: receipts, payloads: payloads, batchSize: verifier.batchSize,
                                workers: verifier.workers, pipeline: pipeline)
        let thread = Thread { producer.run() }
        thread.stackSize = 1 << 22
        thread.start()
        defer { pipeline.cancel() }

        while let batch = try pipeline.take() {
            for item in batch {
                seq = expectedSeq
                // Step 4: the receipt itself, and its place in the log.
                guard let r = item.receipt else {
                    throw fail(item.error?.code ?? .receiptMalformed,
                               "receipt after seq \(Int64(expectedSeq) - 1): \(item.error?.message ?? "")", expectedSeq)
                }
                guard r.log.isExactly(origin) else { throw fail(.receiptLogMismatch, "receipt names log \(r.log)", r.seq) }
                if r.seq + 1 == expectedSeq {
                    throw fail(.receiptSequenceDuplicate, "seq \(r.seq) appears twice", r.seq)
                }
                guard r.seq == expectedSeq else {
                    throw fail(.receiptSequenceGap, "expected seq \(expectedSeq), found \(r.seq)", r.seq)
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
                try logTrust.checkReceipt(seq: r.seq, time: r.time)
                previousLink = r.link
                previousTime = r.time
                expectedSeq += 1
                // A forwarded call: its ALLOW opens it, at most one RESULT completes it.
                if r.isOpenCall {
                    guard open.count < Limits.openCalls else {
                        throw fail(.bundleMalformed, "more than \(Limits.openCalls) calls open at once", r.seq)
                    }
                    open[r.seq] = OpenCall(r)
                } else if r.decision == .result, let call = r.call {
                    guard let allow = open.removeValue(forKey: call), Self.sameCall(allow, r) else {
                        throw fail(.receiptResultUnmatched, "RESULT for seq \(call), which is no open call of this agent, session, artifact and tool", r.seq)
                    }
                }

                // Steps 5 to 7 read what the receipt says, and run only while no earlier
                // receipt of the log failed them: their first failure waits until steps 4, 8
                // and 9 have authenticated the whole log (bundle.md §Verification).
                if !contentFailed {
                do {
                // Step 5: the disclosed payload, read in step with the receipts.
                if let error = item.disclosureError { throw fail(error.code, error.message, r.seq) }

                // A REVOKE names a digest, not an artifact in force: no chain, no re-evaluation.
                if r.decision == .revoke { revoked.insert(ExactString(r.artifact)) } else {
                    // Step 6: the artifact chain, and the log is one the artifact names.
                    let chain: [Artifact]
                    do { chain = try self.chain(r.artifact) } catch { throw fail(error.code, error.message, r.seq) }
                    guard let artifact = chain.last, artifact.namesLog(origin) else {
                        throw fail(.receiptLogNotInArtifact, "the artifact of this receipt does not name log \(origin)", r.seq)
                    }

                    // Step 7: every ALLOW re-evaluated.
                    if r.decision == .allow {
                        if !revoked.isEmpty, let hit = chain.first(where: { revoked.contains(ExactString($0.digest)) }) {
                            throw fail(.portalArtifactRevoked, "ALLOW under \(hit.id), which an earlier REVOKE of this log revoked", r.seq)
                        }
                        guard let sub = r.agentSubject, let jkt = r.agentKey, sub.isExactly(artifact.subject),
                              jkt.isExactly(artifact.subjectKey) else {
                            throw fail(.portalSubjectMismatch, "ALLOW for an agent other than the artifact's subject", r.seq)
                        }
                        // An ALLOW forwarded in shadow mode records what enforcement would have
                        // denied: it is not an enforced decision, so it is not re-evaluated, and
                        // it changes neither the rate state nor the drift state.
                        if r.shadow == nil {
                            if let pinned = artifact.upstream {
                                let pinnedBytes = pinnedUpstream(artifact, pinned)
                                guard let observed = item.upstreamCanonical, observed == pinnedBytes else {
                                    throw fail(.portalUpstreamDrift, "ALLOW forwarded to an upstream other than the artifact pins", r.seq)
                                }
                            }
                            if let pinnedTools = artifact.drift?["tools_sha256"]?.stringValue {
                                guard let observed = r.toolsDigest, observed.isExactly(pinnedTools) else {
                                    throw fail(.portalUpstreamDrift, "ALLOW forwarded while the upstream's tool list was not the one the artifact pins", r.seq)
                                }
                            }
                            if let tool = r.tool {
                                if item.requestInexact {
                                    throw fail(.jsonNumberInexact, "ALLOW of a request with a number that is not exact", r.seq)
                                }
                                let arguments = item.arguments
                                if arguments != nil { report.payloadsChecked += 1 }
                                summary.allowedCalls += 1
                                if arguments != nil { summary.allowedCallsWithArguments += 1 }
                                if let code = engine.evaluate(chain: chain, session: r.session, drift: &drift, tool: tool,
                                                              arguments: arguments, time: r.time) {
                                    throw fail(code, "ALLOW for a call the artifact forbids (\(code.rawValue))", r.seq)
                                }
                                engine.recordAllowed(chain: chain, tool: tool, time: r.time)
                                drift.recordAllowed(chain: chain, session: r.session, tool: tool, time: r.time)
                                if let root = chain.first { logsByRoot[ExactString(root.digest), default: []].insert(index) }
                            } else if let began = drift.began(session: r.session) {
                                throw fail(began, "ALLOW in a session whose drift began with \(began.rawValue)", r.seq)
                            } else if !(r.time >= artifact.notBefore && r.time < artifact.notAfter) {
                                throw fail(.portalOutsideValidity, "ALLOW outside the artifact's validity window", r.seq)
                            }
                        }
                    } else if r.decision == .deny || r.decision == .phantom, let code = r.code, DriftRules.beginsDrift(code),
                              let began = ErrorCode(rawValue: code) {
                        // A drift receipt: the session stays in drift for the rest of the log.
                        drift.begin(session: r.session, code: began)
                    }
                }
                } catch let failure as BundleVerifier.Failure {
                    content = failure
                    contentFailed = true
                }
                }

                // Step 8: the Merkle tree against every checkpoint of its size.
                frontier.append(r.leafHash)
                while checkpointIndex < checkpoints.count && checkpoints[checkpointIndex].size == frontier.size {
                    guard frontier.root.bytes == checkpoints[checkpointIndex].root else {
                        throw fail(.bundleRootMismatch, "receipts 0..<\(frontier.size) do not hash to the checkpoint root", r.seq)
                    }
                    checkpointIndex += 1
                }
                try logTrust.checkTree(size: frontier.size, root: frontier.root.bytes)
                guard !contentFailed else { continue }
                summary.receipts += 1
                switch r.decision {
                case .allow:
                    summary.allow += 1
                    if r.shadow != nil { summary.shadow += 1 }
                case .deny: summary.deny += 1
                case .phantom: summary.phantom += 1
                case .result: summary.result += 1
                case .revoke: summary.revoke += 1
                }
                if summary.firstTime == nil { summary.firstTime = r.time }
                summary.lastTime = r.time
                if item.disclosed { summary.disclosed += 1 }
            }
            if let progress = verifier.progress {
                progress(BundleVerifier.Progress(log: origin, logIndex: index, logs: logCount, receipts: summary.receipts,
                                                 total: Int(last.size), seconds: Date().timeIntervalSince(started)))
            }
        }
        seq = nil
        // Step 9.
        if let empty = checkpoints.first, empty.size == 0, empty.root != Merkle.emptyRoot.bytes {
            throw fail(.bundleRootMismatch, "checkpoint of size 0 does not carry the empty root")
        }
        guard frontier.size == last.size else {
            throw fail(.bundleSizeMismatch, "the log holds \(frontier.size) receipts, its last checkpoint \(last.size)")
        }
        if let content { throw content }
        if let leftover = producer.leftoverPayload { throw fail(leftover.code, leftover.message) }
        report.openCalls += open.count
        summary.openCalls = open.count
        report.checks.append(("\(origin): receipts parsed, in sequence, hash-linked", "pass", Int(frontier.size)))
        report.checks.append(("\(origin): Merkle roots equal every checkpoint", "pass", checkpoints.count))
        report.checks.append(("\(origin): artifact chains verified", "pass", chains.count - chainsBefore))
        report.checks.append(("\(origin): ALLOW decisions re-evaluated against the artifact", "pass", summary.allowedCalls))
        if summary.disclosed > 0 {
            report.checks.append(("\(origin): disclosed payloads match their commitments", "pass", summary.disclosed))
            report.checks.append(("\(origin): argument constraints re-checked on disclosed arguments", "pass",
                                  summary.allowedCallsWithArguments))
        }
        let withoutArguments = summary.allowedCalls - summary.allowedCallsWithArguments
        if withoutArguments > 0 {
            report.skipped.append(.init(check: "\(origin): argument constraints", reason: summary.payloadFile
                ? "not re-checked: no payloads disclosed for \(withoutArguments) ALLOW receipts"
                : "not re-checked: the bundle discloses no payloads for this log (\(withoutArguments) ALLOW receipts)",
                count: withoutArguments))
        }
    }

    /// What a RESULT must repeat of the ALLOW it completes.
    struct OpenCall {
        let artifact: String, session: String, agentSubject: String?, agentKey: String?, method: String, tool: String?
        init(_ r: Receipt) {
            (artifact, session, agentSubject, agentKey, method, tool) = (r.artifact, r.session, r.agentSubject, r.agentKey, r.method, r.tool)
        }
    }

    /// A RESULT completes the call its ALLOW recorded: the same artifact, session, agent,
    /// method and tool, compared by bytes.
    private static func sameCall(_ allow: OpenCall, _ result: Receipt) -> Bool {
        func same(_ a: String?, _ b: String?) -> Bool {
            switch (a, b) {
            case (nil, nil): true
            case let (a?, b?): a.isExactly(b)
            default: false
            }
        }
        return allow.artifact.isExactly(result.artifact) && allow.session.isExactly(result.session)
            && same(allow.agentSubject, result.agentSubject) && same(allow.agentKey, result.agentKey)
            && allow.method.isExactly(result.method) && same(allow.tool, result.tool)
    }

    /// Step 10: the rate limits of a root artifact whose calls were allowed in more than
    /// one log hold over all those logs together, the allowed calls taken in order of
    /// time and, at equal times, of the manifest's logs. Each log was checked alone
    /// already; this pass reads the receipts again (their checks all passed) and counts.
    private mutating func recountAcrossLogs(_ manifest: BundleFormat.Manifest) throws {
        let roots = Set(logsByRoot.filter { $0.value.count > 1 }.keys)
        guard !roots.isEmpty else {
            if manifest.logs.count > 1 {
                report.skipped.append(.init(check: "rate limits recounted across logs",
                                            reason: "not needed: no artifact has allowed calls in more than one log", count: 0))
            }
            return
        }
        let indexes = Set(roots.flatMap { logsByRoot[$0] ?? [] }).sorted()
        var cursors: [AllowedCalls] = []
        for index in indexes {
            let entry = manifest.logs[index]
            var cursor = AllowedCalls(index: index, origin: entry.origin,
                                      reader: try directory.lines(entry.receipts, maxLineBytes: Limits.receiptLineBytes))
            try cursor.advance(roots: roots, chains: chains)
            cursors.append(cursor)
        }
        var engine = PolicyEngine()
        var counted = 0
        // The next call in order of time, at equal times from the earliest log of the manifest.
        func earliest() -> (Int, AllowedCalls.Call)? {
            var best: (Int, AllowedCalls.Call)?
            for (i, cursor) in cursors.enumerated() {
                if let call = cursor.next, best.map({ call.time < $0.1.time }) ?? true { best = (i, call) }
            }
            return best
        }
        while let (i, call) = earliest() {
            if engine.rateLimited(chain: call.chain, tool: ExactString(call.tool), time: call.time) {
                throw BundleVerifier.Failure(code: .portalRateLimited, message:
                    "ALLOW beyond a rate limit counted over the \(indexes.count) logs holding calls under artifact \(call.chain[0].id)",
                    log: cursors[i].origin, seq: call.seq)
            }
            engine.recordAllowed(chain: call.chain, tool: call.tool, time: call.time)
            counted += 1
            try cursors[i].advance(roots: roots, chains: chains)
        }
        report.checks.append(("rate limits recounted across \(indexes.count) logs", "pass", counted))
    }
}

/// The allowed `tools/call` receipts of one log under a given set of root artifacts, in log order.
private struct AllowedCalls {
    struct Call {
        let seq: UInt64
        let time: Int64
        let tool: String
        let chain: [Artifact]
    }

    let index: Int
    let origin: String
    var reader: LineReader
    var pending: [ArraySlice<UInt8>] = []
    var position = 0
    var next: Call?
    private let cache = Receipt.StringCache()

    init(index: Int, origin: String, reader: LineReader) {
        self.index = index
        self.origin = origin
        self.reader = reader
    }

    mutating func advance(roots: Set<ExactString>, chains: [ExactString: Result<[Artifact], AttestError>]) throws {
        next = nil
        while true {
            if position == pending.count {
                pending = reader.next(4096)
                position = 0
                if pending.isEmpty {
                    if reader.failure != nil { throw changed() }
                    return
                }
            }
            let line = pending[position]
            position += 1
            let receipt: Receipt
            do {
                receipt = try Receipt.read(canonicalLine: line, maxBytes: BundleVerifier.Limits.receiptLineBytes, cache: cache, signed: false)
                    ?? Receipt(bundleJSON: try StrictJSONParser(limits: Producer.receiptLimits).parse(line))
            } catch {
                throw changed()
            }
            guard receipt.decision == .allow, receipt.shadow == nil, let tool = receipt.tool else { continue }
            guard case .success(let chain)? = chains[ExactString(receipt.artifact)] else { throw changed() }
            guard let root = chain.first, roots.contains(ExactString(root.digest)) else { continue }
            next = Call(seq: receipt.seq, time: receipt.time, tool: tool, chain: chain)
            return
        }
    }

    private func changed() -> BundleVerifier.Failure {
        BundleVerifier.Failure(code: .bundleMalformed, message: "the receipts of \(origin) changed while they were verified",
                               log: origin, seq: nil)
    }
}

/// One receipt line after the parallel stage: parsed, canonicalized and hashed (`error`
/// holds why it is not a receipt), and its disclosed payload, if
/// any, with the result of checking it (`disclosureError` also holds a defect of the
/// payload lines read at this receipt). Failures are only reported when the in-order
/// stage reaches the receipt, so the verdict is the same as a sequential verifier's.
private struct Prepared: @unchecked Sendable {
    var receipt: Receipt?
    var error: AttestError?
    /// The disclosure attached to the receipt until the parallel stage has checked it;
    /// then dropped, and only what the in-order stage reads is kept.
    var disclosure: Disclosure?
    var disclosureError: AttestError?
    /// Whether a payload line disclosed this receipt.
    var disclosed = false
    /// The `arguments` of the disclosed request of an `ALLOW` of a tool (an empty object
    /// when the request has none); nil without a disclosed request.
    var arguments: JSONValue?
    /// An allowed `tools/call` whose disclosed request holds a number that is not exact.
    var requestInexact = false
    /// The JCS bytes of the receipt's `upstream`, made in the parallel stage.
    var upstreamCanonical: [UInt8]?
}

/// A bounded hand-off of batches between the producer thread and the in-order stage.
private final class Pipeline: @unchecked Sendable {
    private let condition = NSCondition()
    private var batches: [[Prepared]] = []
    private var finished = false
    private var failure: Error?
    private var isCancelled = false

    var cancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isCancelled
    }

    func put(_ batch: [Prepared]) {
        condition.lock()
        while batches.count >= 2 && !isCancelled { condition.wait() }
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
        isCancelled = true
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

/// A payload line: its seq, and the disclosure it holds or why it is malformed; or, for
/// a line without a readable seq, why.
private typealias PayloadLine = Result<(seq: UInt64, disclosure: Result<Disclosure, AttestError>), AttestError>

/// Reads receipt lines and payload lines, and prepares each batch on all cores.
private final class Producer: @unchecked Sendable {
    var receipts: LineReader
    var payloads: LineReader?
    let batchSize: Int
    let workers: Int
    let pipeline: Pipeline
    /// Payload lines parsed ahead, in file order, from `payloadHead` on.
    private var payloadQueue: [PayloadLine] = []
    private var payloadHead = 0
    private var payloadsEnded = false
    private var lastPayloadSeq: UInt64?
    private var payloadFailed = false
    /// A payload line left after the last receipt: read by the in-order stage after `take` returned nil.
    private(set) var leftoverPayload: AttestError?

    /// Receipts (and payload lines) per unit of parallel work: small enough that the
    /// cores finish a batch together although the in-order stage shares them.
    private static let chunk = 64
    static let receiptLimits = StrictJSONParser.Limits(maxBytes: BundleVerifier.Limits.receiptLineBytes, maxDepth: 16)
    private static let payloadLimits = StrictJSONParser.Limits(maxBytes: BundleVerifier.Limits.payloadLineBytes, maxDepth: 64)

    init(receipts: LineReader, payloads: LineReader?, batchSize: Int, workers: Int, pipeline: Pipeline) {
        self.receipts = receipts
        self.payloads = payloads
        self.batchSize = batchSize
        self.workers = workers
        self.pipeline = pipeline
    }

    func run() {
        while !pipeline.cancelled {
            let lines = receipts.next(batchSize)
            if lines.isEmpty {
                if let failure = receipts.failure {
                    pipeline.put([Prepared(error: AttestError(.receiptMalformed, "receipt line: \(failure)"))])
                }
                break
            }
            var prepared = [Prepared](repeating: Prepared(), count: lines.count)
            let ahead = readAheadPayloads()
            var parsed = [PayloadLine](repeating: .failure(AttestError(.bundleMalformed, "")), count: ahead.count)
            let receiptChunks = (lines.count + Self.chunk - 1) / Self.chunk
            let payloadChunks = (ahead.count + Self.chunk - 1) / Self.chunk
            prepared.withUnsafeMutableBufferPointer { items in
                parsed.withUnsafeMutableBufferPointer { results in
                    nonisolated(unsafe) let items = items, results = results
                    DispatchQueue.concurrentPerform(iterations: receiptChunks + payloadChunks) { c in
                        if c < receiptChunks {
                            let cache = Receipt.StringCache()
                            for i in (c * Self.chunk)..<min(lines.count, (c + 1) * Self.chunk) {
                                self.prepare(lines[i], into: &items[i], cache: cache)
                            }
                        } else {
                            let p = c - receiptChunks
                            for i in (p * Self.chunk)..<min(ahead.count, (p + 1) * Self.chunk) {
                                results[i] = Self.parsePayload(ahead[i])
                            }
                        }
                    }
                }
            }
            compactPayloadQueue()
            payloadQueue.append(contentsOf: parsed)
            if payloads != nil && attribute(&prepared) {
                let chunks = (prepared.count + Self.chunk - 1) / Self.chunk
                let count = prepared.count
                prepared.withUnsafeMutableBufferPointer { items in
                    nonisolated(unsafe) let items = items
                    DispatchQueue.concurrentPerform(iterations: chunks) { c in
                        for i in (c * Self.chunk)..<min(count, (c + 1) * Self.chunk) {
                            guard let disclosure = items[i].disclosure else { continue }
                            items[i].disclosure = nil
                            items[i].disclosed = true
                            guard let r = items[i].receipt, items[i].disclosureError == nil else { continue }
                            Self.checkDisclosure(r, disclosure, into: &items[i])
                            if r.decision == .allow && r.tool != nil {
                                items[i].arguments = disclosure.request.map { $0["arguments"] ?? .object(JSONObject()) }
                            }
                        }
                    }
                }
            }
            pipeline.put(prepared)
        }
        if payloads != nil && !payloadFailed, let line = nextPayload() {
            switch line {
            case .failure(let error): leftoverPayload = error
            case .success(let entry): leftoverPayload = AttestError(.bundleMalformed, "payload line for seq \(entry.seq) names no receipt of the log")
            }
        }
        pipeline.finish()
    }

    /// Up to a batch of raw payload lines to parse in parallel, when few are parsed ahead.
    private func readAheadPayloads() -> [ArraySlice<UInt8>] {
        guard !payloadsEnded, payloads != nil, payloadQueue.count - payloadHead < batchSize else { return [] }
        let lines = payloads?.next(batchSize) ?? []
        if lines.isEmpty { endPayloads() }
        return lines
    }

    private func endPayloads() {
        payloadsEnded = true
        if let failure = payloads?.failure {
            payloadQueue.append(.failure(AttestError(.bundleMalformed, "payload line: \(failure)")))
        }
    }

    private func compactPayloadQueue() {
        if payloadHead > 0 {
            payloadQueue.removeFirst(payloadHead)
            payloadHead = 0
        }
    }

    /// The next payload line, parsed ahead or read now; nil at the end of the file.
    private func nextPayload() -> PayloadLine? {
        if payloadHead == payloadQueue.count {
            guard !payloadsEnded, payloads != nil else { return nil }
            if let line = payloads?.next(1).first {
                payloadQueue.append(Self.parsePayload(line))
            } else {
                endPayloads()
                if payloadHead == payloadQueue.count { return nil }
            }
        }
        return payloadQueue[payloadHead]
    }

    /// Pairs payload lines with receipts, in order (bundle.md step 5): before receipt s is
    /// checked, lines are read until one with a seq above s; the line with seq s is its
    /// disclosure, and a line that does not parse, or whose seq does not exceed the seq of
    /// the line before it, is a defect of receipt s. Returns whether any disclosure was attached.
    private func attribute(_ prepared: inout [Prepared]) -> Bool {
        var attached = false
        for i in prepared.indices {
            // The in-order stage stops at a receipt that failed, or after a payload defect.
            guard !payloadFailed, let r = prepared[i].receipt, prepared[i].error == nil else { break }
            while let line = nextPayload() {
                guard case .success(let entry) = line else {
                    if case .failure(let error) = line { prepared[i].disclosureError = error }
                    payloadFailed = true
                    break
                }
                if let last = lastPayloadSeq, entry.seq <= last {
                    prepared[i].disclosureError = AttestError(.bundleMalformed,
                        "payload line for seq \(entry.seq) follows the one for seq \(last): lines are in ascending seq")
                    payloadFailed = true
                    break
                }
                if entry.seq > r.seq { break }  // a later receipt's
                payloadHead += 1
                lastPayloadSeq = entry.seq
                guard entry.seq == r.seq else {
                    prepared[i].disclosureError = AttestError(.bundleMalformed,
                        "payload line for seq \(entry.seq) is read at receipt \(r.seq)")
                    payloadFailed = true
                    break
                }
                switch entry.disclosure {
                case .success(let d):
                    prepared[i].disclosure = d
                    attached = true
                case .failure(let error):
                    prepared[i].disclosureError = error
                    payloadFailed = true
                }
                if payloadFailed { break }
            }
        }
        return attached
    }

    /// Parses one receipt line of the bundle form, without `sig` (the canonical layout
    /// directly, anything else through the strict parser).
    private func prepare(_ line: ArraySlice<UInt8>, into item: inout Prepared, cache: Receipt.StringCache) {
        do {
            let receipt: Receipt
            if let fast = Receipt.read(canonicalLine: line, maxBytes: Self.receiptLimits.maxBytes, cache: cache, signed: false) {
                receipt = fast
            } else {
                let value: JSONValue
                do {
                    value = try StrictJSONParser(limits: Self.receiptLimits).parse(line)
                } catch {
                    throw AttestError(.receiptMalformed, "the receipt line is not JSON: \(error.message)")
                }
                receipt = try Receipt(bundleJSON: value)
            }
            item.receipt = receipt
            if let upstream = receipt.upstream { item.upstreamCanonical = JCS.canonicalize(upstream) }
        } catch {
            item.error = error as? AttestError ?? AttestError(.receiptMalformed, "\(error)")
        }
    }

    private static func parsePayload(_ line: ArraySlice<UInt8>) -> PayloadLine {
        Result { () throws(AttestError) in
            let object: JSONObject
            do throws(AttestError) {
                guard let o = try StrictJSONParser(limits: payloadLimits).parse(line).objectValue else {
                    throw AttestError(.bundleMalformed, "not an object")
                }
                object = o
            } catch {
                throw AttestError(.bundleMalformed, "a payload line is not a JSON object: \(error.message)")
            }
            // An integer by value (json.md §Integers): 3, 3.0 and 3e0 are one seq.
            guard let seq = object["seq"]?.integerValue, seq >= 0 else {
                throw AttestError(.bundleMalformed, "a payload line has no seq that is a non-negative integer")
            }
            return (UInt64(seq), Result { () throws(AttestError) in try Disclosure(json: object, extra: ["seq"]) })
        }
    }

    static func checkDisclosure(_ r: Receipt, _ disclosure: Disclosure, into item: inout Prepared) {
        do {
            try r.check(disclosure)
            if r.decision == .allow && r.isToolCall { item.requestInexact = disclosure.request?.firstInexactNumber != nil }
        } catch {
            item.disclosureError = error
        }
    }
}
