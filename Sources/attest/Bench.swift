import ArgumentParser
import AttestCore
import CSodium
import Crypto
import Foundation

/// `attest bench`: throughput of the core against raw libsodium, measured in the same
/// run. Each pair runs in alternating rounds and reports the median rate of each side,
/// so drift in machine speed hits both sides alike.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the benchmarks (build with -c release for real numbers).",
        subcommands: [CoreBench.self, IdentityBench.self, EvidenceBench.self, PortalBench.self, ReplicaBench.self, PortalBenchUpstream.self, CountBench.self], defaultSubcommand: CoreBench.self)
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
        print()
        try backends(seed: seed, message: message, signature: signature, publicKey: pk)
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
        withoutActuallyEscaping(a) { a in
            withoutActuallyEscaping(b) { b in
                let r = alternate([a, b])
                return (r[0], r[1])
            }
        }
    }

    /// Bodies in alternating rounds (one round of each in turn); the median rate of each.
    func alternate(_ bodies: [() -> Void]) -> [Double] {
        var rates = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<rounds {
            for (i, body) in bodies.enumerated() { rates[i].append(round(body)) }
        }
        return rates.map { $0.sorted()[rounds / 2] }
    }

    /// The backends behind `SHA256` and `Ed25519`, measured against each other in the same
    /// run: SHA-256 through AttestCore (BoringSSL's C API), raw libsodium and swift-crypto's
    /// `SHA256` type (BoringSSL behind a per-call context) at the input sizes the protocol
    /// hashes (32-64 B: keys and digests; 65 B: a Merkle node; 256-600 B: receipts and
    /// tokens; 1 MiB: streams); Ed25519 verification through libsodium and swift-crypto.
    func backends(seed: [UInt8], message: [UInt8], signature: [UInt8], publicKey: [UInt8]) throws {
        var rows: [[String]] = []
        for size in [32, 64, 65, 128, 256, 600, 1 << 20] {
            let input = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var out = [UInt8](repeating: 0, count: 32)
            let expected = AttestCore.SHA256.hash(input)
            var check = [UInt8](repeating: 0, count: 32)
            crypto_hash_sha256(&check, input, UInt64(size))
            guard check == expected, Array(Crypto.SHA256.hash(data: input)) == expected else {
                throw CLIError.rejected("SHA-256 backends disagree on \(size) bytes")
            }
            let r = input.withUnsafeBytes { buffer in
                out.withUnsafeMutableBytes { o in
                    alternate([
                        { AttestCore.SHA256.hash(buffer, into: o.baseAddress!) },
                        { crypto_hash_sha256(o.baseAddress!.assumingMemoryBound(to: UInt8.self), input, UInt64(size)) },
                        { Crypto.SHA256.hash(data: buffer).withUnsafeBytes { o.copyMemory(from: $0) } },
                    ])
                }
            }
            let mb = Double(size) / 1_000_000
            let label = size >= 1 << 20 ? "SHA-256 (1 MiB), MB/s" : "SHA-256 (\(size) B), MB/s (ns per hash)"
            func cell(_ rate: Double) -> String {
                size >= 1 << 20 ? String(format: "%.1f", rate * mb) : String(format: "%.1f (%.0f)", rate * mb, 1e9 / rate)
            }
            rows.append([label, cell(r[0]), cell(r[1]), cell(r[2]), String(format: "%.2f", r[0] / r[1]), String(format: "%.2f", r[2] / r[1])])
        }
        let cryptoKey = try Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        let ours = try Ed25519.PublicKey(raw: publicKey)
        guard cryptoKey.isValidSignature(signature, for: message) else { throw CLIError.rejected("swift-crypto rejects the signature") }
        let v = alternate([
            { try! ours.verifyRaw(signature: signature, message: message) },
            { precondition(crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0) },
            { precondition(cryptoKey.isValidSignature(signature, for: message)) },
        ])
        rows.append(["Ed25519 verify (256 B message), ops/s", String(format: "%.0f", v[0]), String(format: "%.0f", v[1]),
                     String(format: "%.0f", v[2]), String(format: "%.2f", v[0] / v[1]), String(format: "%.2f", v[2] / v[1])])
        let header = ["backend", "AttestCore", "libsodium", "swift-crypto", "ours/sodium", "crypto/sodium"]
        let widths = [40, 14, 14, 14, 11, 13]
        func line(_ r: [String]) -> String {
            "| " + r.enumerated().map { $1.padding(toLength: max(widths[$0], $1.count), withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        print(line(header))
        print("| " + widths.map { String(repeating: "-", count: $0) }.joined(separator: " | ") + " |")
        rows.forEach { print(line($0)) }
        print("\nAttestCore: SHA256 (BoringSSL's C API) and Ed25519 (libsodium); swift-crypto: its SHA256 type and")
        print("Curve25519.Signing.PublicKey; the three alternate, \(rounds) rounds of \(seconds) s each, median")
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
