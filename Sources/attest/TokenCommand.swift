import ArgumentParser
import AttestCore
import AttestIdentity
import Foundation

/// `attest token`: issue and verify attestation tokens from the command line (used by
/// the JOSE interoperability tests and by people trying the protocol by hand).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Issue and verify attestation tokens (spec/token.md).",
        subcommands: [TokenIssue.self, TokenVerify.self, TokenVerifyJWS.self])
}

/// Reads a file, or standard input for "-".
private func readInput(_ path: String) throws -> [UInt8] {
    if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
    return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

private func readText(_ value: String) throws -> String {
    String(decoding: try readInput(value), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Prints the verdict as one JSON line; a rejection exits with status 1.
private func report(_ body: () throws(AttestError) -> JSONObject) throws {
    do {
        var out = try body()
        out["result"] = "valid"
        print(JSONValue.object(out).serialized(pretty: false))
    } catch {
        print(JSONValue.object(["result": "invalid", "error": .string(error.code.rawValue), "message": .string(error.message)])
            .serialized(pretty: false))
        throw ExitCode(1)
    }
}

struct TokenIssue: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue", abstract: "Sign a claims object as an attestation token.")

    @Option(help: "The issuer key's 32-byte seed, hex.") var seed: String
    @Option(help: "Ed25519 or ML-DSA-65.") var alg: String = "Ed25519"
    @Option(help: "File holding the claims JSON object, or - for standard input.") var claims: String

    func run() throws {
        guard let algorithm = SignatureAlgorithm(exactly: alg) else { throw ValidationError("unknown alg \(alg)") }
        guard let seedBytes = Hex.decode(seed) else { throw ValidationError("--seed is not hex") }
        guard case .object(let payload) = try StrictJSONParser().parse(try readInput(claims)) else {
            throw ValidationError("the claims are not a JSON object")
        }
        print(try TokenIssuer(key: algorithm.privateKey(seed: seedBytes)).issue(payload: payload))
    }
}

struct TokenVerify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Verify an attestation token against one trusted issuer.")

    @Option(help: "File holding the token, or - for standard input.") var token: String = "-"
    @Option(help: "This verifier's identity (the expected aud).") var audience: String
    @Option(help: "The trusted issuer URL.") var issuer: String
    @Option(help: "File holding the issuer's JWK Set.") var jwks: String
    @Option(name: .customLong("trust-domain"), help: "A SPIFFE trust domain bound to the issuer (repeatable).") var trustDomains: [String]
    @Option(help: "The current time, seconds since the epoch (default: the system clock).") var now: Int64?
    @Option(help: "Clock leeway in seconds.") var leeway: Int64 = 60
    @Option(name: .customLong("max-lifetime"), help: "Largest accepted exp - iat, in seconds.") var maxLifetime: Int64 = 86_400
    @Flag(name: .customLong("accept-eddsa"), help: "Accept the deprecated alg EdDSA with Ed25519 keys (legacy issuers).")
    var acceptEdDSA = false

    func run() throws {
        let keySet = try JWKS(json: try StrictJSONParser().parse(try readInput(jwks)))
        var configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuer, keys: keySet, trustDomains: trustDomains),
        ])
        configuration.leeway = leeway
        configuration.maxLifetime = maxLifetime
        configuration.acceptLegacyEdDSA = acceptEdDSA
        let verifier = Verifier(configuration: configuration)
        let text = try readText(token)
        let time = now ?? Int64(Date().timeIntervalSince1970)
        try report { () throws(AttestError) -> JSONObject in
            let verified = try verifier.verify(Presentation(token: text), now: time)
            return ["iss": .string(verified.issuer), "sub": .string(verified.subject), "alg": .string(verified.algorithm.rawValue),
                    "kid": .string(verified.keyID), "agent": verified.agent.jsonValue,
                    "jkt": .string(verified.claims.confirmationKeyThumbprint)]
        }
    }
}

struct TokenVerifyJWS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-jws", abstract: "Verify any compact JWS with one public JWK (no token rules; for interoperability checks).")

    @Option(help: "File holding the compact JWS, or - for standard input.") var jws: String = "-"
    @Option(help: "File holding the public JWK.") var jwk: String
    @Flag(name: .customLong("accept-eddsa"), help: "Accept the deprecated alg EdDSA with an Ed25519 key.") var acceptEdDSA = false

    func run() throws {
        let key = try JWK(json: try StrictJSONParser().parse(try readInput(jwk)))
        let text = try readText(jws)
        try report { () throws(AttestError) -> JSONObject in
            let (header, payload) = try CompactJWS.verifyGeneric(text, key: key.key, acceptLegacyEdDSA: acceptEdDSA)
            return ["header": .object(header), "payload": .string(Hex.encode(payload))]
        }
    }
}
