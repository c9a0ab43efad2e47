import ArgumentParser
import AttestCore
import AttestEvidence
import AttestMCP
import AttestPortal
import Foundation
import Logging
import NIOSSL
import Prometheus

/// `attest portal`: the policy enforcement point in front of an MCP server (spec/portal.md).
struct PortalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal",
        abstract: "Run the portal in front of an MCP server: every tools/call decided, receipted, then released (spec/portal.md).",
        subcommands: [PortalStdio.self, PortalHTTP.self, PortalCheck.self, PortalProve.self, PortalRevoke.self,
                      PortalClose.self, PortalRotate.self, PortalPrune.self, PortalBackup.self, PortalRestore.self, PortalStatus.self])
}

struct PortalOptions: ParsableArguments {
    @Option(help: "The portal's configuration file (spec/portal.md §Configuration).") var config: String
    @Option(name: .customLong("metrics-listen"), help: "HOST:PORT to serve Prometheus /metrics on (stdio mode).")
    var metricsListen: String?
    @Option(name: .customLong("measure-seconds"),
            help: "Measure a stdio upstream (executable and files) and fetch its tool list again every N seconds (1 to 86400).")
    var measureSeconds: Int = 60
    @Option(help: "The MCP server (a command line, split at spaces) that answers calls in phantom mode; default: the built-in sandbox.")
    var sandbox: String?
    @Flag(help: "Shadow mode: forward the calls the policy denies, each recorded as an ALLOW naming the code in shadow (spec/portal.md §Shadow mode).")
    var shadow = false
    @Argument(parsing: .postTerminator, help: "The upstream MCP server command, after --.") var command: [String] = []

    func validate() throws {
        if let metricsListen { _ = try parseListen(metricsListen, option: "--metrics-listen") }
        guard (1...86_400).contains(measureSeconds) else { throw ValidationError("--measure-seconds is 1 to 86400") }
        if let sandbox, sandbox.split(separator: " ").isEmpty { throw ValidationError("--sandbox names a command") }
    }

    func load() throws -> PortalConfiguration {
        _ = try CLIFiles.read(config, option: "--config")
        var configuration: PortalConfiguration
        do { configuration = try PortalConfiguration.load(URL(fileURLWithPath: config)) } catch {
            throw CLIError.rejected("--config \(config): \(error.description)")
        }
        configuration.measureSeconds = measureSeconds
        configuration.sandboxCommand = sandbox.map { $0.split(separator: " ").map(String.init) }
        configuration.shadow = shadow
        return configuration
    }

    /// Re-reads the configuration's artifacts on SIGHUP and installs them without a restart
    /// (spec/portal.md §Policy reload); a file that does not load changes nothing.
    func reloadOnHangup(_ portal: Portal) {
        let path = config
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do {
                try portal.reload(artifacts: try PortalConfiguration.load(URL(fileURLWithPath: path)).artifacts)
            } catch {
                FileHandle.standardError.write(Data("policy reload refused, the artifacts in force are unchanged: \(error)\n".utf8))
            }
        }
        source.resume()
        SignalSources.keep(source)
    }

    func upstream() throws -> [String] {
        guard !command.isEmpty else { throw ValidationError("give the upstream MCP server's command after --") }
        return command
    }
}

/// Logs go to stderr (stdout is the MCP channel in stdio mode), one line each. A write to
/// a peer that has gone (SIGPIPE) or past a file size limit (SIGXFSZ) fails as an error
/// the portal handles, instead of ending the process.
func bootstrapPortalLogging() {
    signal(SIGPIPE, SIG_IGN)
    signal(SIGXFSZ, SIG_IGN)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = ProcessInfo.processInfo.environment["ATTEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .notice
        return handler
    }
}

/// SIGTERM and SIGINT as a stream, for a graceful drain.
func terminationSignals() -> AsyncStream<Void> {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    for sig in [SIGTERM, SIGINT] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        SignalSources.keep(source)
    }
    return stream
}

private enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}

struct PortalStdio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stdio",
        abstract: "Serve MCP on stdin/stdout; start the upstream server command (after --) and govern every request to it.")
    @OptionGroup var options: PortalOptions

    func run() async throws {
        let configuration = try options.load()
        let command = try options.upstream()
        bootstrapPortalLogging()
        var metricsTask: Task<Void, Error>?
        if let listen = options.metricsListen {
            let registry = PortalMetricsSystem.bootstrapPrometheus()
            let (host, port) = try parseListen(listen, option: "--metrics-listen")
            let listener = try await HTTPListenerForMetrics.bind(host: host, port: port, registry: registry)
            metricsTask = Task { try await listener.run() }
        }
        let portal = try await StdioPortal.start(configuration: configuration, command: command)
        options.reloadOnHangup(portal.portal)
        await portal.run(stop: terminationSignals())
        metricsTask?.cancel()
    }
}

struct PortalHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Serve MCP over Streamable HTTP (both eras) in front of an upstream: a command (after --, one process per session and one for stateless requests) or --upstream URL.",
        discussion: "Also serves /healthz, /readyz and /metrics. SIGTERM drains: in-flight calls finish, a final checkpoint is written.")
    @OptionGroup var options: PortalOptions
    @Option(help: "HOST:PORT to listen on (port 0: any free port; the URL is printed).") var listen: String = "127.0.0.1:0"
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("allow-origin"), help: "An Origin a browser client may send (repeatable).") var allowOrigin: [String] = []
    @Option(help: "The upstream MCP server's Streamable HTTP endpoint (http or https), instead of a command after --.")
    var upstream: String?
    @Option(name: .customLong("upstream-ca"), help: "With an https --upstream: trust only the CA certificates in this PEM file.")
    var upstreamCA: String?

    func validate() throws {
        _ = try parseListen(listen, option: "--listen")
        if tlsKey != nil && tlsCert == nil { throw ValidationError("--tls-key goes with --tls-cert") }
        if tlsCert != nil && tlsKey == nil { throw ValidationError("--tls-cert needs --tls-key") }
        if upstreamCA != nil && upstream == nil { throw ValidationError("--upstream-ca goes with --upstream") }
        if let upstream {
            guard let url = URL(string: upstream), ["http", "https"].contains(where: { $0.isExactly(url.scheme ?? "") }), url.host != nil else {
                throw ValidationError("--upstream is an http or https URL")
            }
        }
    }

    func run() async throws {
        let configuration = try options.load()
        let source: HTTPPortal.UpstreamSource
        if let upstream {
            guard options.command.isEmpty else { throw ValidationError("give --upstream URL or a command after --, not both") }
            guard let url = URL(string: upstream), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--upstream is an http or https URL")
            }
            source = .url(url, caFile: upstreamCA)
        } else {
            source = .command(try options.upstream())
        }
        bootstrapPortalLogging()
        let registry = PortalMetricsSystem.bootstrapPrometheus()
        let (host, port) = try parseListen(listen, option: "--listen")
        var tls: NIOSSLContext?
        if let tlsCert {
            guard let tlsKey else { throw ValidationError("--tls-cert needs --tls-key") }
            _ = try CLIFiles.read(tlsCert, option: "--tls-cert")
            _ = try CLIFiles.read(tlsKey, option: "--tls-key")
            let chain = try NIOSSLCertificate.fromPEMFile(tlsCert).map { NIOSSLCertificateSource.certificate($0) }
            tls = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem))))
        }
        let portal = try await HTTPPortal(configuration: configuration, upstream: source, allowedOrigins: allowOrigin, registry: registry)
        options.reloadOnHangup(portal.portal)
        let url = try await portal.bind(host: host, port: port, tls: tls)
        FileHandle.standardOutput.write(Data("portal listening on \(url)\n".utf8))
        let server = Task { try await portal.serve() }
        for await _ in terminationSignals() { break }
        await portal.drain()
        server.cancel()
    }
}

struct PortalCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate a portal configuration: files, keys, artifacts and trust; print what it governs.")
    @Option(help: "The portal's configuration file.") var config: String

    func run() throws {
        _ = try CLIFiles.read(config, option: "--config")
        let configuration: PortalConfiguration
        do { configuration = try PortalConfiguration.load(URL(fileURLWithPath: config)) } catch {
            print("INVALID \(config): \(error.description)")
            throw ExitCode(CLIExit.rejected)
        }
        print("OK \(config)")
        print("  audience   \(configuration.audience)")
        print("  log        \(configuration.origin)  key \(NoteVerifier(name: configuration.origin, key: configuration.logKey.publicKey).text)")
        print("  store      \(configuration.store.path)")
        for a in configuration.artifacts {
            print("  artifact   \(a.id) for \(a.subject): \(a.tools.count) tool(s), digest \(a.digest)")
        }
    }
}

struct PortalProve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Print the inclusion proof of one receipt in the newest checkpoint of a portal's store (the receipt.inclusion op's input).",
        discussion: "An agent checks a receipt it was given in _meta with it and the log key: a log that omits the receipt cannot produce one.")
    @Option(help: "The portal's store directory.") var store: String
    @Option(help: "The receipt's seq.") var seq: UInt64
    @Option(help: "json (the receipt.inclusion op's input), tlog-proof or cose-receipt (receipt.md §Exporting one receipt's proof).") var format: ProofFormat = .json
    @Option(help: "With cose-receipt: the log key's seed, a file or env:NAME.") var key: String?

    func run() throws {
        guard CLIFiles.isDirectory(store) else { throw CLIError.io("cannot read \(store): no such directory") }
        let database = URL(fileURLWithPath: store).appendingPathComponent(PortalStore.fileName).path
        guard FileManager.default.fileExists(atPath: database) else {
            throw CLIError.io("cannot read \(database): no such file (not a portal store)")
        }
        let proof = try PortalStore(directory: URL(fileURLWithPath: store), readOnly: true).inclusionProof(seq: seq)
        ProofExport.write(try ProofExport.render(proof, format: format, seed: try key.map { try SecretSeed.read($0, option: "--key") }))
    }
}

struct PortalRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an artifact or mandate by digest: every portal reading this store or shared state denies calls under it from its next request on.",
        discussion: "Each portal records a REVOKE entry in its own log before it decides another request under a chain holding the digest, then denies such requests with PTL_ARTIFACT_REVOKED (spec/portal.md §Revocation).")
    @Option(parsing: .unconditional, help: "The artifact's or mandate's digest (base64url SHA-256, as a receipt's artifact names it; it may start with -).") var digest: String
    @Option(help: "The store directory of a single portal.") var store: String?
    @Option(name: .customLong("shared-state"), help: "The state replicas share (their configuration's shared_state): a postgres:// URL or an SQLite file.") var sharedState: String?

    func validate() throws {
        guard (store == nil) != (sharedState == nil) else { throw ValidationError("give --store or --shared-state") }
        guard let bytes = try? Base64URL.decode(digest), bytes.count == 32 else {
            throw ValidationError("--digest is the base64url of a 32-byte SHA-256 digest")
        }
    }

    func run() async throws {
        let revocations: any RevocationStore
        if let store {
            guard CLIFiles.isDirectory(store) else { throw CLIError.io("cannot read \(store): no such directory") }
            let database = URL(fileURLWithPath: store).appendingPathComponent(PortalStore.fileName).path
            guard FileManager.default.fileExists(atPath: database) else {
                throw CLIError.io("cannot read \(database): no such file (not a portal store)")
            }
            revocations = try PortalStore(directory: URL(fileURLWithPath: store))
        } else {
            revocations = try await openSharedState(sharedState ?? "")
        }
        let now = Int64(Date().timeIntervalSince1970)
        do { try await revocations.revoke(digest: digest, time: now) } catch {
            throw CLIError.rejected("\(error.code.rawValue): \(error.message)")
        }
        if let postgres = revocations as? PostgresSharedState { await postgres.close() }
        print("REVOKED \(digest) at \(now)")
    }
}

/// The shared state a URL or path names: PostgreSQL for a postgres:// URL, else an SQLite file.
func openSharedState(_ location: String) async throws -> any SharedState {
    if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
        let state = try PostgresSharedState(url: location)
        try await state.prepare()
        return state
    }
    return try SQLiteSharedState(path: location)
}

func parseListen(_ text: String, option: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
          colon > text.startIndex else {
        throw ValidationError("\(option) is HOST:PORT, the port 0 to 65535")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host, port)
}

/// `/metrics` alone, for the stdio portal.
enum HTTPListenerForMetrics {
    static func bind(host: String, port: Int, registry: PrometheusCollectorRegistry) async throws -> HTTPListener {
        try await HTTPListener.bind(host: host, port: port, maxBodyBytes: 1024) { request in
            guard request.path?.isExactly("/metrics") == true else { return .init(status: 404, headers: [:], body: .bytes(nil)) }
            return .init(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4"], body: .bytes(Data(registry.emitToBuffer())))
        }
    }
}
