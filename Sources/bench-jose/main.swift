// `bench-jose` (`make bench-jose`): attestation token verification against general JWT
// libraries, on the same token, in the same run, in alternating rounds: our verifier
// (AttestIdentity), one raw libsodium verification of the token's signature,
// vapor/jwt-kit 5.8.0 (Swift), and joserfc and PyJWT (Python, in a child process that
// runs one round when asked, so that its rounds alternate with the others').
//
// A separate executable rather than a subcommand of `attest`: jwt-kit is a test
// dependency of the package, and `attest` does not link it.
//
// What each side checks (the token is the one `attest bench identity` verifies; every
// side reads the clock):
// - ours: the strict JWS parse (duplicate members, sizes, base64url), the header rules
//   (`typ`, `alg`, `kid` naming a key of the issuer's JWKS), the Ed25519 signature, and
//   every claim rule of spec/token.md (issuer trusted, audience, `iat`/`exp` window and
//   lifetime bound, SPIFFE subject in the issuer's trust domain, `jti`, `cnf.jkt`, agent
//   claims);
// - jwt-kit: the signature (with the key of the header's `kid`), the payload decoded into
//   a Codable type with every claim of the token, then `exp` not passed, `aud` naming the
//   audience and `iss` the issuer;
// - joserfc: the signature, then a claims registry: `iss` and `aud` values, `exp`, `iat`,
//   `sub` and `jti` present, `exp` not passed;
// - PyJWT: the signature, then `exp`, `iat` and `nbf` times, `aud` and `iss` values,
//   `exp`, `iat`, `sub` and `jti` required.
import AttestCore
import AttestIdentity
import CSodium
import Foundation
import JWTKit

struct Options {
    var seconds = 0.5
    var rounds = 5
    var python = "python3"

    init(_ args: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--seconds": seconds = try Double(value()).flatMap { (0.01...60).contains($0) ? $0 : nil } ?? { throw BenchError("--seconds is 0.01 to 60") }()
            case "--rounds": rounds = try Int(value()).flatMap { (1...100).contains($0) ? $0 : nil } ?? { throw BenchError("--rounds is 1 to 100") }()
            case "--python": python = try value()
            default: throw BenchError("usage: bench-jose [--seconds S] [--rounds N] [--python PYTHON (empty: skip joserfc and PyJWT)]")
            }
            i += 1
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The token claims as a jwt-kit payload: every claim decoded; `exp`, `aud` and `iss` checked.
struct AttestationPayload: JWTPayload {
    struct Confirmation: Codable, Sendable { var jkt: String }
    struct Agent: Codable, Sendable {
        var provider: String
        var model_family: String
        var model_version: String
        var deployment: String
        var `operator`: String
    }
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var cnf: Confirmation
    var agent: Agent

    func verify(using _: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
        try aud.verifyIntendedAudience(includes: Fixture.audience)
        guard Array(iss.value.utf8) == Array(Fixture.issuer.utf8) else {
            throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "untrusted issuer")
        }
    }
}

enum Fixture {
    static let issuer = "https://provider.example"
    static let audience = "https://tools.example/mcp"
}

/// The Python child: one round of a library per request line.
final class PythonRounds {
    let process = Process()
    let input = Pipe(), output = Pipe()
    var buffer = Data()

    init(python: String, token: String, x: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "Benchmarks/jose_verify_rate.py", "--serve", token, x, Fixture.audience, Fixture.issuer]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        guard try line() == "ready" else { throw BenchError("Benchmarks/jose_verify_rate.py did not start") }
    }

    func line() throws -> String {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let l = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer = Data(buffer[(nl + 1)...])
                return l
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw BenchError("the Python child ended") }
            buffer.append(chunk)
        }
    }

    func round(_ library: String, seconds: Double) throws -> Double {
        input.fileHandleForWriting.write(Data("\(library) \(seconds)\n".utf8))
        let fields = try line().split(separator: " ")
        guard fields.count == 2, fields[0] == Substring(library), let rate = Double(fields[1]) else {
            throw BenchError("unexpected answer from the Python child")
        }
        return rate
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Operations per second of `body` over one round of `seconds`.
func timedRound(_ seconds: Double, _ body: () throws -> Void) rethrows -> Double {
    var count = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(seconds * 1e9)
    var now = start
    while now < deadline {
        for _ in 0..<16 { try body() }
        count += 16
        now = DispatchTime.now().uptimeNanoseconds
    }
    return Double(count) / (Double(now - start) / 1e9)
}

func asyncRound(_ seconds: Double, _ body: () async throws -> Void) async rethrows -> Double {
    var count = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(seconds * 1e9)
    var now = start
    while now < deadline {
        for _ in 0..<16 { try await body() }
        count += 16
        now = DispatchTime.now().uptimeNanoseconds
    }
    return Double(count) / (Double(now - start) / 1e9)
}

func main() async throws {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    #if DEBUG
    print("warning: debug build; use `make bench-jose` (release) for numbers worth reporting")
    #endif
    _ = sodium_init()
    let now = Int64(Date().timeIntervalSince1970)
    let provider = try AttestCore.Ed25519.PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60") ?? [])
    let agent = try AttestCore.Ed25519.PrivateKey(seed: [UInt8](repeating: 0x42, count: 32))
    let claims = TokenClaims(issuer: Fixture.issuer, subject: "spiffe://agents.provider.example/bench",
                             audience: Fixture.audience, issuedAt: now - 60, expiresAt: now + 3000, tokenID: "bench-token",
                             confirmationKeyThumbprint: agent.publicKey.thumbprint,
                             agent: AgentIdentity(provider: "Example", modelFamily: "m", modelVersion: "1", deployment: "d",
                                                  operatorID: "https://operator.example"))
    let token = try TokenIssuer(key: provider).issue(claims)
    let verifier = Verifier(configuration: VerifierConfiguration(audience: Fixture.audience, issuers: [
        TrustedIssuer(issuer: Fixture.issuer, keys: try AttestCore.JWKS(keys: [AttestCore.JWK(key: provider.publicKey)]),
                      trustDomains: ["agents.provider.example"]),
    ]))
    let x = Base64URL.encode(provider.publicKey.rawRepresentation)
    let keys = await JWTKeyCollection().add(eddsa: try EdDSA.PublicKey(x: x, curve: .ed25519),
                                            kid: JWKIdentifier(string: provider.publicKey.thumbprint))

    // Raw: libsodium over the token's own signing input and signature.
    let parts = token.split(separator: ".").map(String.init)
    let signingInput = Array((parts[0] + "." + parts[1]).utf8)
    let signature = try Base64URL.decode(parts[2])
    let pk = provider.publicKey.rawRepresentation

    // Every side accepts the token before it is timed.
    _ = try verifier.verify(Presentation(token: token), now: now)
    _ = try await keys.verify(token, as: AttestationPayload.self)
    guard crypto_sign_verify_detached(signature, signingInput, UInt64(signingInput.count), pk) == 0 else {
        throw BenchError("raw verification failed")
    }
    let python = options.python.isEmpty ? nil : try PythonRounds(python: options.python, token: token, x: x)

    var names = ["ours (AttestIdentity)", "raw libsodium verify", "jwt-kit 5.8.0"]
    if python != nil { names += ["joserfc", "PyJWT"] }
    var rates = [[Double]](repeating: [], count: names.count)
    for _ in 0..<options.rounds {
        rates[0].append(try timedRound(options.seconds) { _ = try verifier.verify(Presentation(token: token), now: now) })
        rates[1].append(timedRound(options.seconds) {
            precondition(crypto_sign_verify_detached(signature, signingInput, UInt64(signingInput.count), pk) == 0)
        })
        rates[2].append(try await asyncRound(options.seconds) { _ = try await keys.verify(token, as: AttestationPayload.self) })
        if let python {
            rates[3].append(try python.round("joserfc", seconds: options.seconds))
            rates[4].append(try python.round("PyJWT", seconds: options.seconds))
        }
    }
    python?.close()
    let medians = rates.map { $0.sorted()[$0.count / 2] }
    print("| token verification | verifications/s | ours / this |")
    print("| --- | --- | --- |")
    for (name, rate) in zip(names, medians) {
        print(String(format: "| %@ | %.0f | %.2f |", name, rate, medians[0] / rate))
    }
    print("\n\(options.rounds) alternating rounds of \(options.seconds) s each, median; the same token; \(ProcessInfo.processInfo.activeProcessorCount) cores")
}

do {
    try await main()
} catch {
    FileHandle.standardError.write(Data("bench-jose: \(error)\n".utf8))
    exit(1)
}
