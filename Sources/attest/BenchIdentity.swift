import ArgumentParser
import AttestCore
import AttestIdentity
import CSodium
import Foundation

/// `attest bench identity`: token and full request verification against raw libsodium
/// verification of the same signature, and verification with the replay store holding
/// 0, 100,000 and 1,000,000 live entries. The comparison with general JWT libraries
/// (jwt-kit, joserfc, PyJWT) is `bench-jose` (`make bench-jose`), apart from `attest`
/// so that the CLI does not link jwt-kit.
struct IdentityBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "identity", abstract: "Tokens, proofs and replay stores.")

    @Option(help: "Operations per measurement.") var count: Int = 20_000
    @Flag(inversion: .prefixedNo, help: "Measure the replay stores at 0, 100,000 and 1,000,000 live entries (skip for profiling).")
    var scaling: Bool = true

    func validate() throws {
        try requireRange(count, 1...100_000_000, "--count", "operations per measurement")
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

        // Replay store at scale: fresh stores, filled with unexpired entries to each size,
        // then fresh requests verified. Each row names the entries the store holds when its
        // measurement starts, read from the store (every entry's expiry is after the fixed
        // `now`, so all of them are live).
        let sqlitePath = NSTemporaryDirectory() + "bench-replay-\(getpid()).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) } }
        let memoryAtScale = InMemoryReplayStore(capacity: 2_000_000)
        var stores: [(String, any ReplayStore, () throws -> Int)] = []
        if scaling {
            let sqlite = try SQLiteReplayStore(path: sqlitePath, capacity: 2_000_000)
            stores = [("in-memory", memoryAtScale, { memoryAtScale.count }), ("SQLite", sqlite, { try sqlite.count() })]
        }
        for (label, store, liveEntries) in stores {
            var fill = 0
            for target in [0, 100_000, 1_000_000] {
                if label == "SQLite" && target > 100_000 { continue }
                for _ in 0..<max(0, target - (try liveEntries())) {
                    try store.insert(issuer: "https://provider.example", tokenID: "fill-\(fill)", expires: now + 10_000, now: now)
                    fill += 1
                }
                let live = try liveEntries()
                let n = label == "SQLite" ? min(count, 2_000) : count
                let r = requestRate(store, try requests(n, prefix: "\(label)-\(target)"))
                rows.append(String(format: "| request verify, %@ store holding %d live entries | %.0f /s | | |", label, live, r))
            }
        }

        print("| benchmark | ours | baseline | ratio |")
        print("| --- | --- | --- | --- |")
        rows.forEach { print($0) }
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
}
