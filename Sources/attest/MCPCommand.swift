import ArgumentParser
import AttestCore
import AttestDiscovery
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import MCP

/// `attest mcp`: the MCP binding from the command line (spec/mcp-binding.md), used by the
/// tests against the MCP Python SDK.
struct MCPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp", abstract: "Attach, verify and serve attested MCP requests (spec/mcp-binding.md).",
        subcommands: [MCPAttach.self, MCPVerify.self, MCPServeDemo.self, MCPServeHTTP.self, MCPServeGoverned.self])
}

/// The MCP revisions the binding knows (spec/mcp-binding.md): the handshake revisions,
/// and the first stateless one.
let knownEras = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]

func checkEra(_ era: String) throws {
    guard knownEras.contains(where: { $0.isExactly(era) }) else {
        throw ValidationError("--era is a protocol revision: \(knownEras.joined(separator: ", ")); not \(era)")
    }
}

/// The verifier's trust configuration: one issuer, its trust domains, and its key set,
/// either from a file or discovered over HTTPS (spec/keys.md).
struct MCPTrustOptions: ParsableArguments {
    @Option(help: "This server's identity (the expected aud).") var audience: String
    @Option(help: "The trusted issuer URL.") var issuer: String
    @Option(help: "File holding the issuer's JWK Set (or use --discover).") var jwks: String?
    @Flag(help: "Discover the issuer's key set over HTTPS from its well-known metadata, and keep it fresh.")
    var discover = false
    @Option(name: .customLong("ca-file"), help: "With --discover: trust only the CA certificates in this PEM file.")
    var caFile: String?
    @Option(name: .customLong("trust-domain"), help: "A SPIFFE trust domain bound to the issuer (repeatable).") var trustDomains: [String]
    @Option(help: "required or optional.") var policy: String = "required"
    @Option(name: .customLong("replay-db"), help: "SQLite replay store shared by every run (default: in memory).") var replayDB: String?

    func validate() throws {
        guard RequestPolicy(rawValue: policy)?.rawValue.isExactly(policy) == true else { throw ValidationError("--policy is required or optional") }
        guard !audience.isEmpty else { throw ValidationError("--audience is this server's identity, not empty") }
        guard !issuer.isEmpty else { throw ValidationError("--issuer is the trusted issuer URL, not empty") }
        guard (jwks != nil) != discover else { throw ValidationError("give exactly one of --jwks and --discover") }
        guard caFile == nil || discover else { throw ValidationError("--ca-file goes with --discover") }
    }

    func gate(clock: @escaping MCPClock) throws -> MCPGate {
        guard let requestPolicy = RequestPolicy(rawValue: policy) else { throw ValidationError("--policy is required or optional") }
        let store: any ReplayStore
        do { store = try replayDB.map { try SQLiteReplayStore(path: $0) } ?? InMemoryReplayStore() } catch {
            throw CLIError.io("cannot open --replay-db \(replayDB ?? ""): \(error)")
        }
        guard let jwks else {
            let transport = HTTPSDiscoveryTransport(trustRoots: caFile.map { .pemFile($0) } ?? .system)
            let discovery = try KeyDiscovery(issuers: [.init(issuer: issuer, trustDomains: trustDomains)], transport: transport)
            return MCPGate(verifier: Verifier(configuration: VerifierConfiguration(audience: audience, issuers: [])),
                           policy: requestPolicy, replayStore: store, clock: clock, keySource: discovery)
        }
        let keysValue = try CLIFiles.json(jwks, option: "--jwks")
        let keys: JWKS
        do { keys = try JWKS(json: keysValue) } catch {
            throw CLIError.rejected("--jwks \(jwks): not a JWK Set: \(describeError(error))")
        }
        let configuration = VerifierConfiguration(audience: audience, issuers: [
            TrustedIssuer(issuer: issuer, keys: keys, trustDomains: trustDomains),
        ])
        return MCPGate(verifier: Verifier(configuration: configuration), policy: requestPolicy, replayStore: store, clock: clock)
    }
}

private func line(_ object: JSONObject) { print(JSONValue.object(object).serialized(pretty: false)) }

struct MCPAttach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach token and a fresh proof to a JSON-RPC request; print it as one line.")

    @Option(help: "File holding the request, or - for standard input.") var request: String = "-"
    @Option(help: "File holding the attestation token.") var token: String
    @Option(name: .customLong("operator"), help: "File holding an operator attestation.") var operatorAttestation: String?
    @Option(help: "The agent key's 32-byte seed, hex: a file holding it, or env:NAME.") var key: String
    @Option(help: "Ed25519 or ML-DSA-65.") var alg: String = "Ed25519"
    @Option(help: "The server the request is for (the token's aud).") var audience: String
    @Option(help: "The protocol revision: 2026-07-28 (stateless) or a handshake revision such as 2025-11-25.") var era: String
    @Option(help: "The proof's iat (default: the system clock).") var now: Int64?
    @Option(help: "The proof's jti (default: 128 random bits).") var jti: String?

    func validate() throws {
        guard SignatureAlgorithm(exactly: alg) != nil else { throw ValidationError("--alg is Ed25519 or ML-DSA-65, not \(alg)") }
        try checkEra(era)
        try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
        guard !audience.isEmpty else { throw ValidationError("--audience is the server's identity, not empty") }
        if let jti, jti.isEmpty || jti.utf8.count > 256 { throw ValidationError("--jti is 1 to 256 bytes") }
        guard !(request == "-" && (token == "-" || operatorAttestation == "-")) else {
            throw ValidationError("only one input can be standard input")
        }
        try CLIFiles.refuseTerminal(request, option: "--request")
    }

    func run() throws {
        let algorithm = try signatureAlgorithm(alg)
        let signer = try signingKey(key, algorithm: algorithm)
        let tokenText = try CLIFiles.text(token, option: "--token")
        // Refuse a token a verifier would reject on its face: not a token, or bound to another key.
        do {
            let jws = try CompactJWS.parse(tokenText, as: .token)
            let claims = try TokenClaims(payload: jws.payload)
            guard claims.confirmationKeyThumbprint.isExactly(signer.verifyingKey.thumbprint) else {
                throw CLIError.rejected("--token \(token): the token is bound (cnf.jkt) to another key than --key")
            }
        } catch let error as AttestError {
            throw CLIError.rejected("--token \(token): not an attestation token: \(describeError(error))")
        }
        let attester = MCPAttester(token: tokenText,
                                   operatorAttestation: try operatorAttestation.map { try CLIFiles.text($0, option: "--operator") },
                                   key: signer, audience: audience)
        let message = try CLIFiles.json(request, option: "--request")
        let attached = try attester.attach(to: message, era: MCPEra(era), issuedAt: now ?? systemClock(),
                                           proofID: jti ?? MCPAttester.randomProofID())
        print(attached.serialized(pretty: false))
    }
}

struct MCPVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a JSON-RPC request; print the verdict as one line (with the error response when rejected, exit 1).")

    @Option(help: "File holding the request bytes, or - for standard input.") var request: String = "-"
    @Option(help: "The protocol revision the request is processed under.") var era: String
    @Option(help: "The current time, seconds since the epoch (default: the system clock).") var now: Int64?
    @OptionGroup var trust: MCPTrustOptions

    func validate() throws {
        guard era.utf8.count == 10, era.utf8.enumerated().allSatisfy({ i, b in i == 4 || i == 7 ? b == UInt8(ascii: "-") : (0x30...0x39).contains(b) }) else {
            throw ValidationError("--era is a protocol revision, YYYY-MM-DD; not \(era)")
        }
        try requireRange(now, epochSeconds, "--now", "seconds since the epoch")
        guard !(request == "-" && trust.jwks == "-") else { throw ValidationError("--request and --jwks cannot both be standard input") }
        try CLIFiles.refuseTerminal(request, option: "--request")
    }

    func run() async throws {
        let time = now
        let gate = try trust.gate(clock: { time ?? systemClock() })
        let bytes = try CLIFiles.read(request, option: "--request")
        do {
            let verdict = try await gate.verify(bytes, era: MCPEra(era))
            switch verdict {
            case .notGoverned: line(["result": "valid", "governed": false])
            case .unattested: line(["result": "valid", "governed": true, "attested": false])
            case .attested(let token, let proof):
                line(["result": "valid", "governed": true, "attested": true, "iss": .string(token.issuer),
                      "sub": .string(token.subject), "agent": token.agent.jsonValue, "proof_jti": .string(proof.tokenID)])
            }
        } catch {
            let id = (try? StrictJSONParser().parse(bytes)).flatMap(MCPBinding.requestID(of:))
            let http = MCPBinding.httpStatus(for: error.code)
            line(["result": "invalid", "error": .string(error.code.rawValue), "message": .string(error.message),
                  "response": .object(MCPBinding.errorResponse(id: id, error: error)),
                  "http_status": .number(JSONNumber(http.status)), "www_authenticate": http.challenge.map(JSONValue.string) ?? .null])
            throw ExitCode(1)
        }
    }
}

/// The demo tool `whoami`: reports the verdict on its call, and how many calls it has run,
/// so that a client can tell that a rejected call never reached it.
private actor DemoTool {
    private var runs = 0

    func call(_ params: CallTool.Parameters, verdict: MCPVerdict?) -> CallTool.Result {
        runs += 1
        let text: String
        switch verdict {
        case .attested(let token, let proof)?:
            text = "attested sub=\(token.subject) iss=\(token.issuer) jti=\(proof.tokenID) tool=\(params.name) runs=\(runs)"
        case .unattested?: text = "unattested tool=\(params.name) runs=\(runs)"
        case .notGoverned?, nil: text = "not governed runs=\(runs)"
        }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false)
    }

    /// An SDK server offering the tool; `verdict` gives the verdict on the call being handled.
    func server(verdict: @escaping @Sendable () async -> MCPVerdict?) async -> Server {
        let server = Server(name: "attest-demo", version: "1.0.0", capabilities: .init(tools: .init()))
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: [Tool(name: "whoami", description: "Reports the verified agent identity of the call.",
                                          inputSchema: ["type": "object", "properties": ["note": ["type": "string"]]])])
        }
        await server.withMethodHandler(CallTool.self) { params in await self.call(params, verdict: await verdict()) }
        return server
    }
}

/// A small MCP server on the Swift SDK over stdio whose one tool reports who called it.
struct MCPServeDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-demo",
        abstract: "Serve an MCP server on stdio (Swift SDK, handshake era) that verifies every tools/call.")

    @OptionGroup var trust: MCPTrustOptions

    func run() async throws {
        let gate = try trust.gate(clock: systemClock)
        let transport = AttestingServerTransport(wrapping: StdioTransport(), gate: gate)
        let server = await DemoTool().server { await transport.attestation(in: Server.currentHandlerContext) }
        try await server.start(transport: transport)
        await server.waitUntilCompleted()
    }
}

/// A server on the Swift SDK over stdio that accepts only governed calls: its one tool,
/// `echo`, runs only when the call's forwarding statement (statement.md) verifies.
struct MCPServeGoverned: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-governed",
        abstract: "Serve an MCP server on stdio (Swift SDK) that runs a tools/call only with a valid forwarding statement.")

    @Option(name: .customLong("trusted-log"), help: "A trusted portal's log key as a note verifier key (repeatable).")
    var trusted: [String]
    @Option(help: "This server's audience, as the portal's configuration names it.") var audience: String
    @Option(name: .customLong("max-age"), help: "The largest age of a statement, in seconds.") var maxAge: Int64 = 60
    @Option(help: "The clock skew tolerated, in seconds.") var leeway: Int64 = 5

    func run() async throws {
        guard maxAge >= 0, maxAge <= 86_400, leeway >= 0, leeway <= 3_600 else {
            throw ValidationError("--max-age is 0 to 86,400 and --leeway 0 to 3,600 seconds")
        }
        guard !trusted.isEmpty, !audience.isEmpty else { throw ValidationError("--trusted-log and a non-empty --audience are required") }
        for key in trusted where (try? NoteVerifier(text: key)) == nil {
            throw ValidationError("--trusted-log: not a note verifier key (name+keyid+base64 key)")
        }
        let verifier = StatementVerifier(trusted: trusted, audience: audience, maxAge: maxAge, leeway: leeway)
        let server = Server(name: "attest-governed", version: "1.0.0", capabilities: .init(tools: .init()))
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: [Tool(name: "echo", description: "Returns its text.",
                                          inputSchema: ["type": "object", "properties": ["text": ["type": "string"]]])])
        }
        await server.withMethodHandler(CallTool.self, handler: governed({ params in
            let text = params.arguments?["text"]?.stringValue ?? ""
            return CallTool.Result(content: [.text(text: "echo: \(text)", annotations: nil, _meta: nil)], isError: false)
        }, verifier: verifier))
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
    }
}

/// The same server on Streamable HTTP (SwiftNIO), one SDK session per `initialize`.
struct MCPServeHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-http",
        abstract: "Serve an MCP server on Streamable HTTP (Swift SDK, handshake era) that verifies every tools/call.",
        discussion: """
            Prints the endpoint's URL as the first line of standard output, as {"url":"http://HOST:PORT/mcp"}. \
            A rejected call is answered with the HTTP status and WWW-Authenticate challenge of spec/mcp-binding.md.
            """)

    @OptionGroup var trust: MCPTrustOptions
    @Option(help: "The address to listen on. Requests must name a loopback host (the SDK's DNS-rebinding protection).")
    var host: String = "127.0.0.1"
    @Option(help: "The port to listen on (0: an ephemeral port).") var port: Int = 0

    func validate() throws {
        try requireRange(port, 0...65_535, "--port", "a TCP port")
        guard !host.isEmpty else { throw ValidationError("--host is an address to listen on, not empty") }
    }

    func run() async throws {
        let gate = try trust.gate(clock: systemClock)
        let tool = DemoTool()
        let app = MCPHTTPApp(gate: gate) { app in
            await tool.server { await app.attestation(in: Server.currentHandlerContext) }
        }
        let server = try await MCPHTTPServer.bind(app, host: host, port: port)
        let announcement = JSONValue.object(["url": .string(server.url)]).serialized(pretty: false)
        FileHandle.standardOutput.write(Data((announcement + "\n").utf8))  // unbuffered: the caller waits for it
        try await server.run()
    }
}
