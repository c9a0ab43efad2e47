import ArgumentParser
import AttestCore
import AttestEvidence
import CSodium
import Dispatch
import Foundation

/// `attest bench evidence`: receipt append rate against raw signing, bundle
/// verification of a large bundle against raw verification on all cores (in a child
/// process, so its peak RSS is its own), and an RFC 9162 tree with inclusion proofs.
struct EvidenceBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evidence", abstract: "Receipts, bundles and Merkle trees.")

    @Option(help: "Receipts in the verified bundle.") var receipts: Int = 1_000_000
    @Option(help: "Where to write the bundle (kept for reuse if it exists with the same size).") var bundle: String = ".build/bench-bundle"
    @Option(help: "Leaves of the Merkle benchmark.") var leaves: Int = 1_000_000
    @Option(help: "Inclusion proofs of the Merkle benchmark.") var proofs: Int = 10_000

    func validate() throws {
        try requireRange(receipts, 1...100_000_000, "--receipts", "receipts in the bundle")
        try requireRange(leaves, 1...100_000_000, "--leaves", "leaves")
        try requireRange(proofs, 1...10_000_000, "--proofs", "proofs")
        guard !bundle.isEmpty else { throw ValidationError("--bundle is a directory, not empty") }
    }

    func run() throws {
        #if DEBUG
        print("warning: debug build; use `make bench` (release) for numbers worth reporting")
        #endif
        _ = sodium_init()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var rows: [String] = []

        // 1. Append: build, sign, link and hash receipts, against raw signing of messages of the same size.
        let demo = DemoHistory()
        let (artifact, _) = try demo.artifacts()
        let fields = { (i: Int) -> ReceiptFields in
            ReceiptFields(log: demo.origin, seq: UInt64(i), time: demo.start + Int64(i), prev: [UInt8](repeating: 0, count: 32),
                          artifact: artifact.digest, session: "bench", agent: (artifact.subject, artifact.subjectKey),
                          method: "tools/call", tool: "search", decision: .allow, code: nil,
                          request: SHA256.hash([UInt8(i & 0xff)]), response: SHA256.hash([UInt8(i >> 8 & 0xff)]))
        }
        let sample = try Receipt(json: try StrictJSONParser().parse(try fields(0).sign(with: demo.logKey).line))
        let n = 20_000
        var frontier = MerkleFrontier()
        var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&pk, &sk, [UInt8](repeating: 0xA4, count: 32))
        let message = SignatureDomain.receipt.signedBytes(sample.canonical)
        var signature = [UInt8](repeating: 0, count: 64)
        // Alternating rounds, median of each side.
        var appendRates: [Double] = [], rawRates: [Double] = []
        var i = 0
        for _ in 0..<5 {
            var t = Date()
            for _ in 0..<(n / 5) { frontier.append(try fields(i).sign(with: demo.logKey).leafHash); i += 1 }
            appendRates.append(Double(n / 5) / Date().timeIntervalSince(t))
            t = Date()
            for _ in 0..<(n / 5) { crypto_sign_detached(&signature, nil, message, UInt64(message.count), sk) }
            rawRates.append(Double(n / 5) / Date().timeIntervalSince(t))
        }
        let appendRate = appendRates.sorted()[2], rawSign = rawRates.sorted()[2]
        rows.append(String(format: "| receipt append (canonical form, sign, link, leaf), 1 core | %.0f /s | raw sign %.0f /s | %.3f |",
                           appendRate, rawSign, appendRate / rawSign))

        // 1b. Durable append: ReceiptLog.append (salted commitments, both lines written,
        // both files fsynced) against the same writes and fsyncs with no receipt work.
        rows.append(try durableAppendRow(demo: demo, artifact: artifact, lineLength: sample.canonical.count + 140))

        // 2. Receipts handed out alone, verified as a set on all cores, against libsodium's
        // verification of the same messages on all cores, in alternating rounds.
        rows.append(try batchVerifyRow(demo: demo, fields: fields, cores: cores))

        // 3. Bundle verification in a child process, at three sizes, each against reading the
        // bundle's receipt and payload files and hashing every line once on all cores.
        let sizes = Array(Set([10_000, 100_000, receipts].filter { $0 <= receipts })).sorted()
        var curve: [String] = []
        var largestPeak = 0.0
        for size in sizes {
            let url = URL(fileURLWithPath: size == receipts ? bundle : "\(bundle)-\(size)")
            try ensureBundle(url, count: size, demo: demo)
            let hashBefore = try readAndHash(url)
            let (seconds, peak) = try verifyInChild(url, demo: demo)
            largestPeak = peak
            let hashSeconds = (hashBefore + (try readAndHash(url))) / 2
            rows.append(String(format: "| bundle verify, %d receipts, all payloads, %d cores (wall %.2f s) | %.0f /s | read + SHA-256 every line, %d cores %.0f /s (%.2f s) | %.3f |",
                               size, cores, seconds, Double(size) / seconds, cores, Double(size) / hashSeconds, hashSeconds, hashSeconds / seconds))
            curve.append(String(format: "%d: %.2f s, %.2f µs/receipt, peak RSS %.0f MB", size, seconds, seconds / Double(size) * 1e6, peak))
        }
        rows.append(String(format: "| bundle verify peak RSS (child process, largest bundle) | %.0f MB | goal < 150 MB | |", largestPeak))

        // 4. RFC 9162 tree: leaf hashes, tree, inclusion proofs (generated and verified).
        let m0 = Date()
        var leafHashes: [MerkleHash] = []
        leafHashes.reserveCapacity(leaves)
        for i in 0..<leaves {
            var data = [UInt8](repeating: 0, count: 8)
            withUnsafeBytes(of: UInt64(i).littleEndian) { data = Array($0) }
            leafHashes.append(Merkle.leafHash(data))
        }
        let tree = MerkleTree(leafHashes: leafHashes)
        let root = tree.root()
        var generated: [(Int, [MerkleHash])] = []
        for k in 0..<proofs {
            let index = (k &* 7_919) % leaves
            generated.append((index, tree.inclusionProof(index: index)))
        }
        let buildAndProve = Date().timeIntervalSince(m0)
        let v0 = Date()
        for (index, proof) in generated {
            try Merkle.verifyInclusion(index: UInt64(index), treeSize: UInt64(leaves), leafHash: leafHashes[index].bytes,
                                       proof: proof.map(\.bytes), root: root.bytes)
        }
        let verifyProofs = Date().timeIntervalSince(v0)
        rows.append(String(format: "| RFC 9162 tree of %d leaves + %d inclusion proofs (hash, build, prove) | %.2f s | | |",
                           leaves, proofs, buildAndProve))
        rows.append(String(format: "| verify those %d inclusion proofs | %.2f s | | |", proofs, verifyProofs))

        print("| benchmark | ours | baseline | ratio |")
        print("| --- | --- | --- | --- |")
        rows.forEach { print($0) }
        print("\n\(cores) cores; append over \(n) receipts")
        print("bundle verify curve: " + curve.joined(separator: "; "))
    }

    /// Writes the demo bundle of `count` receipts at `url` unless it is there already.
    private func ensureBundle(_ url: URL, count: Int, demo: DemoHistory) throws {
        let marker = url.appendingPathComponent(".receipts-\(count)-v2")
        guard !FileManager.default.fileExists(atPath: marker.path) else { return }
        try? FileManager.default.removeItem(at: url)
        let t0 = Date()
        try demo.writeBundle(url, count: count) { FileHandle.standardError.write(Data("bench: written \($0) receipts\n".utf8)) }
        FileManager.default.createFile(atPath: marker.path, contents: nil)
        FileHandle.standardError.write(Data(String(format: "bench: bundle of %d receipts written in %.1f s\n", count, Date().timeIntervalSince(t0)).utf8))
    }

    /// `attest bundle verify` of `url` in a child process: its wall time, and its peak RSS in
    /// MB. The child is started by `/usr/bin/time -f %M` when that exists: a child forked from
    /// this process would otherwise count this process's pages in its high-water mark until it
    /// execs, and getrusage reports the largest child so far.
    private func verifyInChild(_ url: URL, demo: DemoHistory) throws -> (Double, Double) {
        let child = Process()
        let attest = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let timer = "/usr/bin/time"
        let useTimer = FileManager.default.isExecutableFile(atPath: timer)
        child.executableURL = URL(fileURLWithPath: useTimer ? timer : attest)
        child.arguments = (useTimer ? ["-f", "%M", attest] : []) + [
            "bundle", "verify", url.path, "--authority", demo.authority.publicKey.thumbprint,
            "--log-key", NoteVerifier(name: demo.origin, key: demo.logKey.publicKey).text,
            "--now", String(demo.trust.now), "--report", url.path + "-report.json"]
        child.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        child.standardError = errors
        let t0 = Date()
        try child.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        let seconds = Date().timeIntervalSince(t0)
        guard child.terminationStatus == 0 else { throw CLIError.rejected("bundle verification of \(url.path) did not PASS") }
        let lastLine = String(decoding: stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        if useTimer, let kilobytes = Double(lastLine.trimmingCharacters(in: .whitespaces)) { return (seconds, kilobytes / 1024) }
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return (seconds, Double(usage.ru_maxrss) / 1024)
    }

    /// The baseline of bundle verification: the receipt and payload files read in batches
    /// of lines, and every line hashed once with SHA-256, on all cores. Verification must at
    /// least read every byte and hash every receipt (its link) and every disclosed payload
    /// (its commitments), so this is the least work it can do at the same parallelism.
    private func readAndHash(_ url: URL) throws -> Double {
        let t0 = Date()
        var hashed = 0
        for name in ["logs/0/receipts.jsonl", "logs/0/payloads.jsonl"] {
            var reader = try LineReader(url: url.appendingPathComponent(name), maxLineBytes: 1 << 20)
            while case let lines = reader.next(8192), !lines.isEmpty {
                let chunks = (lines.count + 63) / 64
                var firstBytes = [UInt8](repeating: 0, count: chunks)
                firstBytes.withUnsafeMutableBufferPointer { out in
                    nonisolated(unsafe) let out = out
                    DispatchQueue.concurrentPerform(iterations: chunks) { c in
                        for i in (c * 64)..<min(lines.count, (c + 1) * 64) {
                            out[c] ^= lines[i].withUnsafeBytes { SHA256.hash($0) }[0]
                        }
                    }
                }
                hashed += firstBytes.reduce(0) { $0 + Int($1) }  // used, so the hashes are computed
            }
        }
        guard hashed >= 0 else { throw CLIError.rejected("unreachable") }
        return Date().timeIntervalSince(t0)
    }

    /// ``ReceiptBatchVerifier`` on `20,000 × cores` distinct signed receipts against
    /// `crypto_sign_verify_detached` on their signed bytes on all cores, five alternating
    /// rounds, the median of each side.
    private func batchVerifyRow(demo: DemoHistory, fields: (Int) -> ReceiptFields, cores: Int) throws -> String {
        let count = 20_000 * cores
        let receipts = try (0..<count).map { try Receipt(json: try StrictJSONParser().parse(try fields($0).sign(with: demo.logKey).line)) }
        let messages = receipts.map { SignatureDomain.receipt.signedBytes($0.canonical) }
        let key = demo.logKey.publicKey
        let raw = key.rawRepresentation
        var ours: [Double] = [], baseline: [Double] = []
        for _ in 0..<5 {
            var t = Date()
            let results = ReceiptBatchVerifier.verify(receipts, key: key)
            ours.append(Double(count) / Date().timeIntervalSince(t))
            guard results.allSatisfy({ $0 == nil }) else { throw CLIError.rejected("a benchmark receipt did not verify") }
            t = Date()
            let chunks = (count + 127) / 128
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for i in (c * 128)..<min(count, (c + 1) * 128) {
                    precondition(crypto_sign_verify_detached(receipts[i].signature, messages[i], UInt64(messages[i].count), raw) == 0)
                }
            }
            baseline.append(Double(count) / Date().timeIntervalSince(t))
        }
        let (o, b) = (ours.sorted()[2], baseline.sorted()[2])
        return String(format: "| receipts verified alone, as a set (ReceiptBatchVerifier), %d receipts, %d cores | %.0f /s | libsodium verify of the same messages × cores %.0f /s | %.3f |",
                      count, cores, o, b, o / b)
    }

    /// Alternating rounds of durable appends and of the bare writes and fsyncs they need,
    /// in a scratch directory next to the bundle (the same file system).
    private func durableAppendRow(demo: DemoHistory, artifact: Artifact, lineLength: Int) throws -> String {
        let fm = FileManager.default
        let scratch = URL(fileURLWithPath: bundle).deletingLastPathComponent()
            .appendingPathComponent("bench-durable-\(getpid())")
        defer { try? fm.removeItem(at: scratch) }
        let log = try ReceiptLog(directory: scratch.appendingPathComponent("log"), origin: demo.origin, key: demo.logKey)
        try fm.createDirectory(at: scratch.appendingPathComponent("raw"), withIntermediateDirectories: true)
        let rawFiles = try ["a", "b"].map { name -> FileHandle in
            let path = scratch.appendingPathComponent("raw/\(name)").path
            _ = fm.createFile(atPath: path, contents: nil)
            return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        }
        let rawLine = Data(repeating: 0x61, count: lineLength)
        let request: JSONValue = ["name": "search", "arguments": ["query": "quarterly report"]]
        let response: JSONValue = ["content": [["type": "text", "text": "3 results"]]]
        let perRound = 200
        var ours: [Double] = [], raw: [Double] = []
        var time = demo.start
        for _ in 0..<5 {
            var t = Date()
            for _ in 0..<perRound {
                time += 1
                try log.append(time: time, artifact: artifact.digest, session: "bench", agent: (artifact.subject, artifact.subjectKey),
                               method: "tools/call", tool: "search", decision: .allow, code: nil, request: request, response: response,
                               upstream: artifact.upstream)
            }
            ours.append(Double(perRound) / Date().timeIntervalSince(t))
            t = Date()
            for _ in 0..<perRound {
                for file in rawFiles { try file.write(contentsOf: rawLine) }
                for file in rawFiles { try file.synchronize() }
            }
            raw.append(Double(perRound) / Date().timeIntervalSince(t))
        }
        let (oursRate, rawRate) = (ours.sorted()[2], raw.sorted()[2])
        return String(format: "| durable receipt append (ReceiptLog: salts, sign, write and fsync two files), 1 core | %.0f /s | the same two writes and fsyncs %.0f /s | %.3f |",
                      oursRate, rawRate, oursRate / rawRate)
    }
}
