import ArgumentParser
import AttestCore
import AttestDiscovery
import Foundation

/// `attest keys`: an issuer's key set as a verifier discovers it (spec/keys.md).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Discover an issuer's key set over HTTPS (spec/keys.md).",
        subcommands: [KeysDiscover.self])
}

struct KeysDiscover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discover",
        abstract: "Fetch an issuer's metadata and key set with the verifier's rules; print the outcome as one JSON line (exit 1 on failure).")

    @Option(help: "The issuer URL (https).") var issuer: String
    @Option(name: .customLong("ca-file"), help: "Trust only the CA certificates in this PEM file (default: the system's).")
    var caFile: String?
    @Option(help: "Also report whether the set holds this kid.") var kid: String?
    @Option(help: "Write the discovered JWK Set to this file.") var out: String?
    @Option(help: "The current time, seconds since the epoch (default: the system clock).") var now: Int64?

    func validate() throws {
        try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
        guard let url = URL(string: issuer), url.scheme?.isExactly("https") == true, url.host != nil else {
            throw ValidationError("--issuer is an https URL, not \(issuer)")
        }
        if let out, out.isEmpty { throw ValidationError("--out is a file, not empty") }
    }

    func run() async throws {
        if let caFile { _ = try CLIFiles.read(caFile, option: "--ca-file") }
        let transport = HTTPSDiscoveryTransport(trustRoots: caFile.map { .pemFile($0) } ?? .system)
        let discovery: KeyDiscovery
        do {
            discovery = try KeyDiscovery(issuers: [.init(issuer: issuer, trustDomains: [])], transport: transport)
        } catch {
            try? await transport.shutdown()
            throw ValidationError("\(error)")
        }
        let now = self.now ?? Int64(Date().timeIntervalSince1970)
        let lookup = await discovery.lookup(issuer: issuer, kid: kid ?? "", now: now)
        try? await transport.shutdown()
        let keys = await discovery.trustedIssuers(now: now).first { $0.issuer.isExactly(issuer) }?.keys
        var report: JSONObject = [
            "issuer": .string(issuer),
            "fetched": .array(lookup.fetched.map(JSONValue.string)),
            "kids": .array((keys?.keys ?? []).map { .string($0.thumbprint) }),
            "expires": await discovery.keySetExpiry(issuer: issuer).map { .number(JSONNumber(Double($0))) } ?? .null,
        ]
        let failed = kid == nil ? (lookup.error.map { $0.code != .tokenKeyIDUnknown } ?? false) : !lookup.found
        if let kid { report["kid"] = .string(kid); report["found"] = .bool(lookup.found) }
        report["error"] = failed ? lookup.error.map { .string($0.code.rawValue) } ?? .null : .null
        report["message"] = failed ? lookup.error.map { .string($0.message) } ?? .null : .null
        if let out, let keys, !failed {
            try CLIFiles.writeAtomically(Array(keys.jsonValue.serialized(pretty: true).utf8), to: out)
        }
        print(JSONValue.object(report).serialized(pretty: false))
        if failed { throw ExitCode(1) }
    }
}
