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

        // 2. Raw verification on all cores: the ceiling for bundle verification.
        let perCore = 20_000
        let (sig, key) = (signature, pk)
        func rawVerifyOnAllCores() -> Double {
            let verifyStart = Date()
            DispatchQueue.concurrentPerform(iterations: cores) { _ in
                for _ in 0..<perCore { precondition(crypto_sign_verify_detached(sig, message, UInt64(message.count), key) == 0) }
            }
            return Double(perCore * cores) / Date().timeIntervalSince(verifyStart)
        }
        let rawBefore = rawVerifyOnAllCores()

        // 3. Bundle verification in a child process.
        let bundleURL = URL(fileURLWithPath: bundle)
        let marker = bundleURL.appendingPathComponent(".receipts-\(receipts)")
        if !FileManager.default.fileExists(atPath: marker.path) {
            try? FileManager.default.removeItem(at: bundleURL)
            let t0 = Date()
            try demo.writeBundle(bundleURL, count: receipts) { FileHandle.standardError.write(Data("bench: written \($0) receipts\n".utf8)) }
            FileManager.default.createFile(atPath: marker.path, contents: nil)
            FileHandle.standardError.write(Data(String(format: "bench: bundle of %d receipts written in %.1f s\n", receipts, Date().timeIntervalSince(t0)).utf8))
        }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        child.arguments = ["bundle", "verify", bundleURL.path, "--authority", demo.authority.publicKey.thumbprint,
                           "--log-key", NoteVerifier(name: demo.origin, key: demo.logKey.publicKey).text,
                           "--now", String(demo.trust.now), "--report", bundleURL.path + "-report.json"]
        let t0 = Date()
        try child.run()
        child.waitUntilExit()
        let verifySeconds = Date().timeIntervalSince(t0)
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        guard child.terminationStatus == 0 else { throw CLIError.rejected("bundle verification did not PASS") }
        let verifyRate = Double(receipts) / verifySeconds
        // The raw rate before and after the bundle run, averaged.
        let rawVerifyAll = (rawBefore + rawVerifyOnAllCores()) / 2
        rows.append(String(format: "| bundle verify, %d receipts, %d cores (wall %.1f s) | %.0f /s | raw verify × cores %.0f /s | %.3f |",
                           receipts, cores, verifySeconds, verifyRate, rawVerifyAll, verifyRate / rawVerifyAll))
        rows.append(String(format: "| bundle verify peak RSS (child process) | %.0f MB | goal < 200 MB | |", Double(usage.ru_maxrss) / 1024))

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
        print("\n\(cores) cores; append over \(n) receipts; raw verify over \(perCore) per core")
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
