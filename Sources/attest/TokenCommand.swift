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

/// A signature algorithm named exactly as the spec names it.
func signatureAlgorithm(_ name: String) throws -> SignatureAlgorithm {
    guard let algorithm = SignatureAlgorithm(exactly: name) else { throw CLIError.usage("--alg is Ed25519 or ML-DSA-65, not \(name)") }
    return algorithm
}

/// A signing key of `algorithm` from a seed reference (a file, or env:NAME).
func signingKey(_ reference: String, algorithm: SignatureAlgorithm, option: String = "--key") throws -> any SigningKey {
    let seed = try SecretSeed.read(reference, option: option)
    do { return try algorithm.privateKey(seed: seed) } catch { throw CLIError.usage("\(option) \(reference): not a seed of \(algorithm.rawValue)") }
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

    @Option(help: "The issuer key's 32-byte seed, hex: a file holding it, or env:NAME.") var key: String
    @Option(help: "Ed25519 or ML-DSA-65.") var alg: String = "Ed25519"
    @Option(help: "File holding the claims JSON object, or - for standard input.") var claims: String

    func validate() throws {
        guard SignatureAlgorithm(exactly: alg) != nil else { throw ValidationError("--alg is Ed25519 or ML-DSA-65, not \(alg)") }
    }

    func run() throws {
        let algorithm = try signatureAlgorithm(alg)
        let signer = try signingKey(key, algorithm: algorithm)
        guard case .object(let payload) = try CLIFiles.json(claims, option: "--claims") else {
            throw CLIError.rejected("--claims \(claims): the claims are not a JSON object")
        }
        // Refuse claims a verifier would reject as a token (spec/token.md, the claims table).
        do { _ = try TokenClaims(payload: payload) } catch {
            throw CLIError.rejected("--claims \(claims): not the claims of a token: \(describeError(error))")
        }
        print(try TokenIssuer(key: signer).issue(payload: payload))
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

    func validate() throws {
        try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
        try requireRange(leeway, 0...86_400, "--leeway", "seconds")
        try requireRange(maxLifetime, 1...31_536_000, "--max-lifetime", "seconds")
        guard !(token == "-" && jwks == "-") else { throw ValidationError("--token and --jwks cannot both be standard input") }
        try CLIFiles.refuseTerminal(token, option: "--token")
        try CLIFiles.refuseTerminal(jwks, option: "--jwks")
    }

    func run() throws {
        let keySet: JWKS
        let jwksValue = try CLIFiles.json(jwks, option: "--jwks")
        do { keySet = try JWKS(json: jwksValue) } catch {
            throw CLIError.rejected("--jwks \(jwks): not a JWK Set: \(describeError(error))")
        }
        var configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuer, keys: keySet, trustDomains: trustDomains),
        ])
        configuration.leeway = leeway
        configuration.maxLifetime = maxLifetime
        configuration.acceptLegacyEdDSA = acceptEdDSA
        let verifier = Verifier(configuration: configuration)
        let text = try CLIFiles.text(token, option: "--token")
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

    func validate() throws {
        guard !(jws == "-" && jwk == "-") else { throw ValidationError("--jws and --jwk cannot both be standard input") }
        try CLIFiles.refuseTerminal(jws, option: "--jws")
        try CLIFiles.refuseTerminal(jwk, option: "--jwk")
    }

    func run() throws {
        let jwkValue = try CLIFiles.json(jwk, option: "--jwk")
        let key: JWK
        do { key = try JWK(json: jwkValue) } catch {
            throw CLIError.rejected("--jwk \(jwk): not a public JWK: \(describeError(error))")
        }
        let text = try CLIFiles.text(jws, option: "--jws")
        try report { () throws(AttestError) -> JSONObject in
            let (header, payload) = try CompactJWS.verifyGeneric(text, key: key.key, acceptLegacyEdDSA: acceptEdDSA)
            return ["header": .object(header), "payload": .string(Hex.encode(payload))]
        }
    }
}
