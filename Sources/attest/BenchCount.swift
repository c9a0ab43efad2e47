import ArgumentParser
import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation

/// `attest bench count`: one hot path run `--n` times on a fixed workload, for counting
/// instructions under callgrind (scripts/bench_check.py, `make bench-check`). Keys, tokens,
/// proofs and documents are fixed; nothing is timed. Each path runs a few times first
/// (lazy initialization, caches), then `--n` times inside `benchCountMeasured`, the
/// function the driver's `--toggle-collect` names, so the setup (which for
/// `request-verify` grows with `--n`: one fresh proof per request) is not counted.
/// `bundle-verify` verifies on a producer thread and worker threads, which a toggle on
/// the main thread would not count: the driver counts that path's whole process for two
/// bundle sizes written beforehand with `--write-bundle`, and takes the difference.
struct CountBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count", abstract: "Run one hot path N times on a fixed workload (for instruction counts under callgrind).")

    static let paths = ["token-verify", "request-verify", "receipt-append", "bundle-verify", "jcs", "merkle"]

    @Option(help: "The path: \(CountBench.paths.joined(separator: ", ")).") var path: String
    @Option(help: "Operations to run (receipts in the bundle written by --write-bundle).") var n: Int = 100
    @Option(help: "bundle-verify: the bundle to verify.") var bundle: String?
    @Option(help: "bundle-verify: write a bundle of --n receipts to this directory and exit (not counted).") var writeBundle: String?

    static let warmUp = 5

    func validate() throws {
        guard Self.paths.contains(where: { Array($0.utf8) == Array(path.utf8) }) else {
            throw ValidationError("--path is one of \(Self.paths.joined(separator: ", "))")
        }
        try requireRange(n, 1...10_000_000, "--n", "operations")
    }

    func run() throws {
        switch path {
        case "token-verify": try tokenVerify()
        case "request-verify": try requestVerify()
        case "receipt-append": try receiptAppend()
        case "bundle-verify": try bundleVerify()
        case "jcs": jcs()
        default: merkle()
        }
    }

    /// What one operation is, for the driver: it divides the count per operation by
    /// `units` (the JCS path reports per KB of canonical output).
    func report(units: Double = 1, unit: String = "op") {
        print("path \(path) n \(n) units-per-op \(units) unit \(unit)")
    }

    // The identity fixture of `attest bench identity`.
    static let now: Int64 = 1_780_000_000
    static let audience = "https://tools.example/mcp"

    static func identity() throws -> (token: String, verifier: Verifier, agent: Ed25519.PrivateKey) {
        let provider = try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x9d, count: 32))
        let agent = try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x42, count: 32))
        let claims = TokenClaims(issuer: "https://provider.example", subject: "spiffe://agents.provider.example/bench",
                                 audience: audience, issuedAt: now - 60, expiresAt: now + 3000, tokenID: "bench-token",
                                 confirmationKeyThumbprint: agent.publicKey.thumbprint,
                                 agent: AgentIdentity(provider: "Example", modelFamily: "m", modelVersion: "1", deployment: "d",
                                                      operatorID: "https://operator.example"))
        let token = try TokenIssuer(key: provider).issue(claims)
        var configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: "https://provider.example", keys: try JWKS(keys: [JWK(key: provider.publicKey)]),
                          trustDomains: ["agents.provider.example"]),
        ])
        configuration.proofMaxAge = 60
        return (token, Verifier(configuration: configuration), agent)
    }

    func tokenVerify() throws {
        let (token, verifier, _) = try Self.identity()
        let op = { () throws in _ = try verifier.verify(Presentation(token: token), now: Self.now) }
        for _ in 0..<Self.warmUp { try op() }
        try benchCountMeasured(n, op)
        report()
    }

    /// A full request (token and proof, params hash, token hash), each with its own proof
    /// `jti`, into an in-memory replay store.
    func requestVerify() throws {
        let (token, verifier, agent) = try Self.identity()
        let params: JSONObject = ["name": "get_weather", "arguments": ["location": "Paris"],
                                  "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"]]
        let requests: [JSONObject] = try (0..<(n + Self.warmUp)).map { i in
            let proof = try Proof.issue(method: "tools/call", params: params, audience: Self.audience, token: token,
                                        issuedAt: Self.now, tokenID: "count-\(i)", key: agent)
            var p = params
            var meta = p["_meta"]?.objectValue ?? [:]
            meta[Carrier.token] = .string(token)
            meta[Carrier.proof] = .string(proof)
            p["_meta"] = .object(meta)
            return ["jsonrpc": "2.0", "id": .number(JSONNumber(i)), "method": "tools/call", "params": .object(p)]
        }
        let store = InMemoryReplayStore(capacity: 1_000_000)
        var next = 0
        let op = { () throws in
            _ = try verifier.verifyRequest(requests[next], policy: .required, now: Self.now, replayStore: store)
            next += 1
        }
        for _ in 0..<Self.warmUp { try op() }
        try benchCountMeasured(n, op)
        report()
    }

    /// `ReceiptLog.append` without the flush (`durable: false`): commitments with fresh
    /// salts, canonical form, signature, link and leaf hashes, both lines written.
    func receiptAppend() throws {
        let demo = DemoHistory()
        let (artifact, _) = try demo.artifacts()
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("attest-count-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try ReceiptLog(directory: directory, origin: demo.origin, key: demo.logKey)
        let request: JSONValue = ["name": "search", "arguments": ["query": "q", "limit": 5]]
        let response: JSONValue = ["content": [["type": "text", "text": "result"]], "isError": false]
        var i: Int64 = 0
        let op = { () throws in
            try log.append(time: demo.start + i, artifact: artifact.digest, session: "session-0",
                           agent: (artifact.subject, artifact.subjectKey), method: "tools/call", tool: "search",
                           decision: .allow, code: nil, request: request, response: response, upstream: artifact.upstream,
                           durable: false)
            i += 1
        }
        for _ in 0..<Self.warmUp { try op() }
        try benchCountMeasured(n, op)
        try log.close()
        report()
    }

    /// With `--write-bundle`: writes the demo history's bundle of `--n` receipts. Otherwise
    /// verifies `--bundle` as `attest bundle verify` does (callgrind runs the threads one at
    /// a time and sums their instructions).
    func bundleVerify() throws {
        let demo = DemoHistory()
        if let out = writeBundle {
            try demo.writeBundle(URL(fileURLWithPath: out), count: n)
            return
        }
        guard let bundle else { throw ValidationError("bundle-verify needs --bundle (written by --write-bundle)") }
        let report = BundleVerifier(trust: demo.trust).verify(bundle: URL(fileURLWithPath: bundle))
        guard report.passed, report.receipts == n else {
            throw CLIError.rejected("the bundle did not verify with \(n) receipts: \(report.failure?.message ?? "\(report.receipts) receipts")")
        }
        self.report(units: 1, unit: "receipt")
    }

    /// Canonicalization of a parsed document of about 1 KB (the shape of `attest bench core`'s).
    func jcs() {
        let value = (try? StrictJSONParser().parse(Array(CoreBench.document(approximateBytes: 1_000).utf8))) ?? .null
        let size = JCS.canonicalize(value).count
        let op = { _ = JCS.canonicalize(value) }
        for _ in 0..<Self.warmUp { op() }
        benchCountMeasured(n, op)
        report(units: Double(size) / 1024, unit: "KB")
    }

    /// One leaf: its hash and its append to the tree's frontier (the node hashes it closes).
    func merkle() {
        var frontier = MerkleFrontier()
        var i: UInt64 = 0
        let op = {
            let leaf = withUnsafeBytes(of: i.littleEndian) { Merkle.leafHash(Array($0)) }
            frontier.append(leaf)
            i += 1
        }
        for _ in 0..<Self.warmUp { op() }
        benchCountMeasured(n, op)
        print("root \(Hex.encode(frontier.root.bytes))")
        report()
    }
}

/// The counted section: `n` runs of `body`. scripts/bench_check.py names this function in
/// callgrind's `--toggle-collect`, so it must stay a function of its own.
@inline(never)
func benchCountMeasured(_ n: Int, _ body: () throws -> Void) rethrows {
    for _ in 0..<n { try body() }
}
