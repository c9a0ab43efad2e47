import ArgumentParser
import AttestCore
import AttestIdentity
import CSodium
import Foundation

/// `attest bench identity`: token and full request verification against raw libsodium
/// verification of the same signature, the same tokens through joserfc and PyJWT
/// (a Python child process, same machine, same run), and verification with the replay
/// store holding 0, 100,000 and 1,000,000 live entries.
struct IdentityBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "identity", abstract: "Tokens, proofs and replay stores.")

    @Option(help: "Operations per measurement.") var count: Int = 20_000
    @Option(help: "Python interpreter for the JOSE library comparison (empty to skip).") var python: String = "python3"
    @Flag(inversion: .prefixedNo, help: "Measure the replay stores at 0, 100,000 and 1,000,000 live entries (skip for profiling).")
    var scaling: Bool = true

    func validate() throws {
        try requireRange(count, 1...100_000_000, "--count", "operations per measurement")
        guard python.isEmpty || Self.executable(python) else {
            throw ValidationError("--python \(python) is not an executable (a path, or a name on PATH); empty skips the comparison")
        }
    }

    /// Whether `name` is an executable file, as a path or a name on PATH.
    static func executable(_ name: String) -> Bool {
        if name.contains("/") { return access(name, X_OK) == 0 && !CLIFiles.isDirectory(name) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").contains { dir in
            let candidate = "\(dir)/\(name)"
            return access(candidate, X_OK) == 0 && !CLIFiles.isDirectory(candidate)
        }
    }

    func run() throws {
        #if DEBUG
        print("warning: debug build; use `make bench` (release) for numbers worth reporting")
        #endif
        _ = sodium_init()
        let now: Int64 = 1_780_000_000
        let provider = try Ed25519.PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
        let agent = try Ed25519.PrivateKey(seed: [UInt8](repeating: 0x42, count: 32))
        let audience = "https://tools.example/mcp"
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
        let verifier = Verifier(configuration: configuration)

        // Raw: libsodium over the token's own signing input and signature.
        let parts = token.split(separator: ".").map(String.init)
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        let signature = try Base64URL.decode(parts[2])
        let pk = provider.publicKey.rawRepresentation
        let rawVerify = { precondition(crypto_sign_verify_detached(signature, signingInput, UInt64(signingInput.count), pk) == 0) }
        let (tokenRate, raw) = paired(count, { _ = try! verifier.verify(Presentation(token: token), now: now) }, rawVerify)

        let params: JSONObject = ["name": "get_weather", "arguments": ["location": "Paris"],
                                  "_meta": ["io.modelcontextprotocol/protocolVersion": "2026-07-28"]]
        func requests(_ n: Int, prefix: String) throws -> [JSONObject] {
            try (0..<n).map { i in
                let proof = try Proof.issue(method: "tools/call", params: params, audience: audience, token: token,
                                            issuedAt: now, tokenID: "\(prefix)-\(i)", key: agent)
                var p = params
                var meta = p["_meta"]!.objectValue!
                meta[Carrier.token] = .string(token)
                meta[Carrier.proof] = .string(proof)
                p["_meta"] = .object(meta)
                return ["jsonrpc": "2.0", "id": .number(JSONNumber(i)), "method": "tools/call", "params": .object(p)]
            }
        }
        func requestRate(_ store: some ReplayStore, _ batch: [JSONObject]) -> Double {
            var i = 0
            return rate(batch.count) {
                _ = try! verifier.verifyRequest(batch[i], policy: .required, now: now, replayStore: store)
                i += 1
            }
        }
        var rows: [String] = []
        rows.append(String(format: "| token verify | %.0f /s | raw libsodium verify %.0f /s | %.3f |", tokenRate, raw, tokenRate / raw))
        let memory = InMemoryReplayStore(capacity: 2_000_000)
        let batch = try requests(count, prefix: "a")
        var next = 0
        let (fullRate, raw2) = paired(count, {
            _ = try! verifier.verifyRequest(batch[next], policy: .required, now: now, replayStore: memory)
            next += 1
        }, rawVerify)
        rows.append(String(format: "| token + proof (request verify, in-memory replay store) | %.0f /s | raw libsodium verify %.0f /s | %.3f |",
                           fullRate, raw2, fullRate / raw2))

        // Replay store at scale: prefill with live entries, then verify fresh requests.
        for (label, store) in !scaling ? [] : [("in-memory", memory as any ReplayStore),
                               ("SQLite", try SQLiteReplayStore(path: NSTemporaryDirectory() + "bench-replay-\(getpid()).sqlite",
                                                                capacity: 2_000_000) as any ReplayStore)] {
            var filled = label == "in-memory" ? count : 0
            for target in [0, 100_000, 1_000_000] {
                if label == "SQLite" && target > 100_000 { continue }
                while filled < target {
                    try store.insert(issuer: "https://provider.example", tokenID: "fill-\(filled)", expires: now + 10_000, now: now)
                    filled += 1
                }
                let n = label == "SQLite" ? min(count, 2_000) : count
                let r = requestRate(store, try requests(n, prefix: "\(label)-\(target)"))
                filled += n
                rows.append(String(format: "| request verify, %@ store with %d live entries | %.0f /s | | |", label, target, r))
            }
        }

        print("| benchmark | ours | baseline | ratio |")
        print("| --- | --- | --- | --- |")
        rows.forEach { print($0) }
        if !python.isEmpty { try compareWithPython(token: token, publicKey: pk, ours: tokenRate) }
    }

    /// `a` and `b` in five alternating rounds of n/5 runs each; the median rate of each,
    /// so that a change in machine speed during the run hits both sides alike.
    func paired(_ n: Int, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
        var ra: [Double] = [], rb: [Double] = []
        for _ in 0..<5 {
            ra.append(rate(n / 5, a))
            rb.append(rate(n / 5, b))
        }
        return (ra.sorted()[2], rb.sorted()[2])
    }

    /// Operations per second of `body` over `n` runs.
    func rate(_ n: Int, _ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n { body() }
        return Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    func compareWithPython(token: String, publicKey: [UInt8], ours: Double) throws {
        let script = URL(fileURLWithPath: "Benchmarks/jose_verify_rate.py")
        guard FileManager.default.fileExists(atPath: script.path) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path, token, Base64URL.encode(publicKey), String(min(count, 20_000))]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let theirs = Double(fields[1]) else { continue }
            print(String(format: "| token verify vs %@ (same token, same machine) | %.0f /s | %.0f /s | %.2f |", String(fields[0]), ours, theirs, ours / theirs))
        }
    }
}
