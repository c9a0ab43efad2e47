import ArgumentParser
import AttestCore
import CSodium
import Foundation

/// `attest bench`: throughput of the core against raw libsodium, measured in the same
/// run. Each pair runs in alternating rounds and reports the median rate of each side,
/// so drift in machine speed hits both sides alike.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the benchmarks (build with -c release for real numbers).",
        subcommands: [CoreBench.self, IdentityBench.self, EvidenceBench.self, PortalBench.self, ReplicaBench.self, PortalBenchUpstream.self], defaultSubcommand: CoreBench.self)
}

struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "core", abstract: "AttestCore against raw libsodium.")

    @Option(help: "Seconds per round.") var seconds: Double = 0.5
    @Option(help: "Rounds per measurement (the median is reported).") var rounds: Int = 5

    func validate() throws {
        try requireRange(seconds, 0.001...3600, "--seconds", "seconds per round")
        try requireRange(rounds, 1...1000, "--rounds", "rounds per measurement")
    }

    func run() throws {
        #if DEBUG
        print("warning: debug build; use `make bench` (release) for numbers worth reporting")
        #endif
        _ = sodium_init()
        var rows: [(String, String, String, String)] = []
        func add(_ name: String, _ ours: Double, _ baseline: Double?, unit: String) {
            rows.append((name, format(ours, unit), baseline.map { format($0, unit) } ?? "-",
                         baseline.map { String(format: "%.3f", ours / $0) } ?? "-"))
        }

        let seed = [UInt8](repeating: 7, count: 32)
        let key = try Ed25519.PrivateKey(seed: seed)
        let message = [UInt8](repeating: 0x61, count: 256)
        var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&pk, &sk, seed)
        let signature = try key.signRaw(message)

        let (signOurs, signRaw) = pair(
            { _ = try? key.signRaw(message) },
            {
                var sig = [UInt8](repeating: 0, count: 64)
                crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk)
            })
        add("Ed25519 sign (256 B message), ops/s", signOurs, signRaw, unit: "ops")
        let (verifyOurs, verifyRaw) = pair(
            { try! key.publicKey.verifyRaw(signature: signature, message: message) },
            { precondition(crypto_sign_verify_detached(signature, message, UInt64(message.count), pk) == 0) })
        add("Ed25519 verify (256 B message), ops/s", verifyOurs, verifyRaw, unit: "ops")

        let megabyte = [UInt8](repeating: 0x5a, count: 1 << 20)
        let (hashOurs, hashRaw) = pair(
            { _ = SHA256.hash(megabyte) },
            {
                var out = [UInt8](repeating: 0, count: 32)
                crypto_hash_sha256(&out, megabyte, UInt64(megabyte.count))
            })
        add("SHA-256 (1 MiB), MB/s", hashOurs, hashRaw, unit: "MB")

        for size in [2_000, 200_000] {
            let document = Array(Self.document(approximateBytes: size).utf8)
            let value = try StrictJSONParser().parse(document)
            let mb = Double(document.count) / 1_000_000
            let parse = measure { _ = try! StrictJSONParser().parse(document) } * mb
            let canonical = JCS.canonicalize(value)
            let jcs = measure { _ = JCS.canonicalize(value) } * Double(canonical.count) / 1_000_000
            add("JSON parse (\(document.count / 1000) KB), MB/s", parse, nil, unit: "MB")
            add("JCS serialize (\(canonical.count / 1000) KB), MB/s", jcs, nil, unit: "MB")
        }

        let header = ("benchmark", "AttestCore", "raw libsodium", "ratio")
        let widths = [44, 14, 14, 7]
        func line(_ r: (String, String, String, String)) -> String {
            "| " + [r.0, r.1, r.2, r.3].enumerated().map { $1.padding(toLength: max(widths[$0], $1.count), withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        print(line(header))
        print("| " + widths.map { String(repeating: "-", count: $0) }.joined(separator: " | ") + " |")
        rows.forEach { print(line($0)) }
        print("\n\(rounds) rounds of \(seconds) s each, median; \(ProcessInfo.processInfo.activeProcessorCount) cores")
    }

    func format(_ v: Double, _ unit: String) -> String {
        unit == "ops" ? String(format: "%.0f", v) : String(format: "%.1f", v)
    }

    /// Operations per second, median of the rounds.
    func measure(_ body: () -> Void) -> Double {
        var rates: [Double] = []
        for _ in 0..<rounds { rates.append(round(body)) }
        return rates.sorted()[rates.count / 2]
    }

    /// Two bodies in alternating rounds; the median rate of each.
    func pair(_ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
        var ra: [Double] = [], rb: [Double] = []
        for _ in 0..<rounds {
            ra.append(round(a))
            rb.append(round(b))
        }
        return (ra.sorted()[rounds / 2], rb.sorted()[rounds / 2])
    }

    func round(_ body: () -> Void) -> Double {
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(seconds * 1e9)
        var now = start
        while now < deadline {
            for _ in 0..<16 { body() }
            count += 16
            now = DispatchTime.now().uptimeNanoseconds
        }
        return Double(count) / (Double(now - start) / 1e9)
    }

    /// A deterministic document shaped like protocol objects: nested objects, strings
    /// with escapes and non-ASCII text, integers and decimals.
    static func document(approximateBytes: Int) -> String {
        var entries: [String] = []
        var size = 2
        var i = 0
        while size < approximateBytes {
            let entry = #"{"seq":\#(i),"time":\#(1_760_000_000 + i),"tool":"search_\#(i % 17)","decision":"\#(i % 3 == 0 ? "DENY" : "ALLOW")","args":{"query":"caf\u00e9 \"\#(i)\" \u2603","limit":\#(i % 50),"ratio":\#(Double(i) / 7)},"hash":"\#(String(repeating: "ab", count: 16))"}"#
            entries.append(entry)
            size += entry.utf8.count + 1
            i += 1
        }
        return #"{"receipts":["# + entries.joined(separator: ",") + "]}"
    }
}
