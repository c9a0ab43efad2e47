import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation

/// What a portal is given (spec/portal.md §Configuration): a JSON file naming the sealed
/// artifacts, the trust inputs, the log and its key, and the store. Relative paths are
/// resolved against the file's directory. Secrets are never in the file: the log key is
/// read from a file or an environment variable it names.
///
/// ```json
/// {"audience": "https://tools.example/mcp",
///  "artifacts": ["agent.artifact.json"],
///  "authorities": ["<RFC 7638 thumbprint>"],
///  "issuers": [{"issuer": "https://provider.example", "trust_domains": ["agents.provider.example"],
///               "jwks": "provider.jwks.json"}],
///  "log": {"origin": "portal.example/log/0", "key": "log.seed"},
///  "store": "store",
///  "shared_state": "env:ATTEST_SHARED_STATE",
///  "checkpoint": {"every": 1000, "seconds": 60},
///  "witnesses": [{"url": "https://witness.example", "key": "witness.example/w1+<keyid>+<base64>"}]}
/// ```
///
/// `witnesses` (optional) are the witnesses each checkpoint is submitted to (witness.md
/// §Submitting checkpoints): each the submission prefix URL and the witness's cosigner
/// verifier key, whose cosignatures alone are stored.
///
/// `shared_state` (optional) is where replicas keep the state they share (portal.md
/// §Replicas): a `postgres://` URL, or the path of one SQLite file for replicas on one
/// host, or `env:NAME` naming an environment variable that holds either (a URL may carry
/// a password). Without it the portal keeps that state in its own store.
public struct PortalConfiguration: Sendable {
    public var audience: String
    public var issuers: [TrustedIssuer]
    /// Thumbprints of the policy authorities whose root artifacts the portal enforces.
    public var authorities: Set<ExactString>
    /// The verified root artifacts, one per subject.
    public var artifacts: [Artifact]
    public var origin: String
    public var logKey: Ed25519.PrivateKey
    /// The directory of the portal's SQLite database.
    public var store: URL
    public var checkpointEvery: Int
    public var checkpointSeconds: Int
    public var limits: Limits
    /// How often a stdio upstream is measured again while it runs (`--measure-seconds`),
    /// and its tool list fetched again (portal.md §Upstream identity).
    public var measureSeconds = 60
    /// The MCP server that answers a session's calls in phantom mode (`--sandbox`); nil:
    /// the built-in sandbox (portal.md §Drift).
    public var sandboxCommand: [String]?
    /// Where the replay store, the rate state and the revocations live when replicas share
    /// them (portal.md §Replicas, §Revocation); nil keeps them in the portal's own store.
    public var sharedState: SharedStateLocation?
    /// Shadow mode (portal.md §Shadow mode): a call that enforcement denies in steps 7 and
    /// 8 is forwarded, and its `ALLOW` names the code in `shadow`.
    public var shadow = false
    /// The witnesses each checkpoint is submitted to (spec/witness.md §Submitting checkpoints).
    public var witnesses: [WitnessEndpoint] = []
    /// The audience of the forwarding statements attached to every forwarded `tools/call`
    /// (statement.md, `"statement": {"audience": "…"}`); nil attaches none.
    public var statementAudience: String?

    public struct Limits: Sendable {
        /// The largest JSON-RPC message read from either side; longer lines are refused unread.
        public var maxMessageBytes = 4 << 20
        /// Governed calls forwarded and not yet answered, across all sessions.
        public var maxOpenCalls = 4096
        /// How long a forwarded call may wait for the upstream before it fails with `PTL_UPSTREAM_FAILED`.
        public var upstreamTimeoutSeconds = 300
        public init() {}
    }

    public static let members = ["audience", "policy", "artifacts", "authorities", "issuers", "log", "store", "shared_state", "checkpoint", "limits", "statement", "witnesses"]

    public init(audience: String, issuers: [TrustedIssuer], authorities: Set<ExactString>, artifacts: [Artifact],
                origin: String, logKey: Ed25519.PrivateKey, store: URL, checkpointEvery: Int = 1000,
                checkpointSeconds: Int = 60, limits: Limits = Limits(),
                sharedState: SharedStateLocation? = nil, witnesses: [WitnessEndpoint] = []) throws(PortalConfigurationError) {
        self.audience = audience
        self.issuers = issuers
        self.authorities = authorities
        self.artifacts = artifacts
        self.origin = origin
        self.logKey = logKey
        self.store = store
        self.checkpointEvery = checkpointEvery
        self.checkpointSeconds = checkpointSeconds
        self.limits = limits
        self.sharedState = sharedState
        self.witnesses = witnesses
        try validate()
    }

    /// Reads and checks a configuration file; `environment` supplies `env:` secrets.
    public static func load(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(PortalConfigurationError) -> PortalConfiguration {
        let base = url.deletingLastPathComponent()
        func path(_ p: String) -> URL { p.hasPrefix("/") ? URL(fileURLWithPath: p) : base.appendingPathComponent(p) }
        func read(_ u: URL, _ what: String) throws(PortalConfigurationError) -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: u.path) else {
                throw PortalConfigurationError("cannot read \(what) \(u.path)")
            }
            return Array(data)
        }
        func json(_ u: URL, _ what: String) throws(PortalConfigurationError) -> JSONValue {
            do { return try StrictJSONParser().parse(try read(u, what)) } catch let e as AttestError {
                throw PortalConfigurationError("\(what) \(u.path): \(e.code.rawValue): \(e.message)")
            } catch { throw PortalConfigurationError("\(what) \(u.path): \(error)") }
        }
        guard case .object(let o) = try json(url, "configuration") else {
            throw PortalConfigurationError("the configuration is not a JSON object")
        }
        for name in o.names where !members.containsExactly(name) {
            throw PortalConfigurationError("unknown member \"\(name)\"")
        }
        guard let audience = o["audience"]?.stringValue, !audience.isEmpty else {
            throw PortalConfigurationError("\"audience\" is the portal's URL, the tokens' and proofs' aud")
        }
        if let policy = o["policy"], policy != .string("required") {
            throw PortalConfigurationError("\"policy\" can only be \"required\": an artifact binds every call to its subject, so a portal forwards no unattested request (portal.md)")
        }
        guard let artifactPaths = o["artifacts"]?.arrayValue, !artifactPaths.isEmpty else {
            throw PortalConfigurationError("\"artifacts\" lists at least one signed artifact file")
        }
        var artifacts: [Artifact] = []
        for p in artifactPaths {
            guard let p = p.stringValue else { throw PortalConfigurationError("\"artifacts\" holds file names") }
            do { artifacts.append(try Artifact(json: try json(path(p), "artifact"))) } catch let e as AttestError {
                throw PortalConfigurationError("artifact \(p): \(e.code.rawValue): \(e.message)")
            } catch let e as PortalConfigurationError { throw e } catch { throw PortalConfigurationError("\(error)") }
        }
        guard let authorityList = o["authorities"]?.arrayValue, !authorityList.isEmpty,
              authorityList.allSatisfy({ $0.stringValue != nil }) else {
            throw PortalConfigurationError("\"authorities\" lists the policy authorities' key thumbprints")
        }
        guard let issuerList = o["issuers"]?.arrayValue, !issuerList.isEmpty else {
            throw PortalConfigurationError("\"issuers\" lists at least one trusted token issuer")
        }
        var issuers: [TrustedIssuer] = []
        for entry in issuerList {
            guard let issuer = entry["issuer"]?.stringValue, let domains = entry["trust_domains"]?.arrayValue,
                  let jwksPath = entry["jwks"]?.stringValue, entry.objectValue?.count == 3 else {
                throw PortalConfigurationError("an issuer is exactly {\"issuer\", \"trust_domains\", \"jwks\"}")
            }
            let keys: JWKS
            do { keys = try JWKS(json: try json(path(jwksPath), "key set")) } catch let e as AttestError {
                throw PortalConfigurationError("key set \(jwksPath): \(e.code.rawValue): \(e.message)")
            } catch let e as PortalConfigurationError { throw e } catch { throw PortalConfigurationError("\(error)") }
            issuers.append(TrustedIssuer(issuer: issuer, keys: keys, trustDomains: domains.compactMap(\.stringValue)))
        }
        guard case .object(let log)? = o["log"], let origin = log["origin"]?.stringValue, let keyRef = log["key"]?.stringValue,
              log.count == 2 else {
            throw PortalConfigurationError("\"log\" is exactly {\"origin\", \"key\"}; key is a seed file or env:NAME")
        }
        let seedText: String
        if keyRef.hasPrefix("env:") {
            guard let value = environment[String(keyRef.dropFirst(4))] else {
                throw PortalConfigurationError("the environment has no \(keyRef.dropFirst(4)) for the log key")
            }
            seedText = value
        } else {
            seedText = String(decoding: try read(path(keyRef), "log key"), as: UTF8.self)
        }
        guard let seed = Hex.decode(seedText.trimmingCharacters(in: .whitespacesAndNewlines)), seed.count == 32,
              let logKey = try? Ed25519.PrivateKey(seed: seed) else {
            throw PortalConfigurationError("the log key is not a 32-byte seed in hex")
        }
        guard let storePath = o["store"]?.stringValue, !storePath.isEmpty else {
            throw PortalConfigurationError("\"store\" names the directory of the portal's database")
        }
        var shared: SharedStateLocation?
        if let value = o["shared_state"] {
            guard var text = value.stringValue, !text.isEmpty else {
                throw PortalConfigurationError("\"shared_state\" is a postgres:// URL, a SQLite file, or env:NAME")
            }
            if text.hasPrefix("env:") {
                guard let fromEnvironment = environment[String(text.dropFirst(4))], !fromEnvironment.isEmpty else {
                    throw PortalConfigurationError("the environment has no \(text.dropFirst(4)) for the shared state")
                }
                text = fromEnvironment
            }
            shared = text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") ? .postgres(url: text) : .sqlite(path(text))
        }
        var every = 1000, seconds = 60
        if let c = o["checkpoint"] {
            guard case .object(let c) = c, c.names.allSatisfy({ ["every", "seconds"].containsExactly($0) }) else {
                throw PortalConfigurationError("\"checkpoint\" is {\"every\": receipts, \"seconds\": seconds}")
            }
            if let v = c["every"] { guard let n = v.integerValue, n > 0, n <= 1_000_000 else { throw PortalConfigurationError("checkpoint.every is 1 to 1,000,000") }; every = Int(n) }
            if let v = c["seconds"] { guard let n = v.integerValue, n > 0, n <= 86_400 else { throw PortalConfigurationError("checkpoint.seconds is 1 to 86,400") }; seconds = Int(n) }
        }
        var limits = Limits()
        if let l = o["limits"] {
            guard case .object(let l) = l,
                  l.names.allSatisfy({ ["max_message_bytes", "max_open_calls", "upstream_timeout_seconds"].containsExactly($0) }) else {
                throw PortalConfigurationError("\"limits\" has only max_message_bytes, max_open_calls, upstream_timeout_seconds")
            }
            if let v = l["max_message_bytes"] { guard let n = v.integerValue, n >= 1024, n <= 64 << 20 else { throw PortalConfigurationError("limits.max_message_bytes is 1 KiB to 64 MiB") }; limits.maxMessageBytes = Int(n) }
            if let v = l["max_open_calls"] { guard let n = v.integerValue, n >= 1, n <= 65_536 else { throw PortalConfigurationError("limits.max_open_calls is 1 to 65,536") }; limits.maxOpenCalls = Int(n) }
            if let v = l["upstream_timeout_seconds"] { guard let n = v.integerValue, n >= 1, n <= 86_400 else { throw PortalConfigurationError("limits.upstream_timeout_seconds is 1 to 86,400") }; limits.upstreamTimeoutSeconds = Int(n) }
        }
        let witnesses = try WitnessEndpoint.configured(o["witnesses"])
        let authorities: Set<ExactString> = Set(authorityList.compactMap { value -> ExactString? in
            value.stringValue.map { ExactString($0) }
        })
        var statementAudience: String?
        if let st = o["statement"] {
            guard case .object(let st) = st, st.count == 1, let aud = st["audience"]?.stringValue, !aud.isEmpty else {
                throw PortalConfigurationError("\"statement\" is exactly {\"audience\": the upstream's audience, a non-empty string}")
            }
            statementAudience = aud
        }
        var configuration = try PortalConfiguration(
            audience: audience, issuers: issuers, authorities: authorities,
            artifacts: artifacts, origin: origin, logKey: logKey, store: path(storePath),
            checkpointEvery: every, checkpointSeconds: seconds, limits: limits, sharedState: shared, witnesses: witnesses)
        configuration.statementAudience = statementAudience
        return configuration
    }

    /// The checks `attest portal check` reports: every artifact is a root artifact signed by
    /// a trusted authority, names this portal's log, and no two share a subject.
    public func validate() throws(PortalConfigurationError) {
        guard !origin.isEmpty else { throw PortalConfigurationError("the log origin is empty") }
        var subjects = Set<ExactString>()
        for a in artifacts {
            guard a.kind == .artifact else { throw PortalConfigurationError("artifact \(a.id) is a mandate; a portal is configured with root artifacts") }
            do { _ = try MandateChain.verify([a], trustedAuthorities: authorities) } catch {
                throw PortalConfigurationError("artifact \(a.id): \(error.code.rawValue): \(error.message)")
            }
            guard a.namesLog(origin) else {
                throw PortalConfigurationError("artifact \(a.id) does not name this portal's log \(origin) in log.origins")
            }
            guard subjects.insert(ExactString(a.subject + "\n" + a.subjectKey)).inserted else {
                throw PortalConfigurationError("two artifacts have the subject \(a.subject): the portal could not tell which decides")
            }
        }
    }

    /// The root artifact whose subject is the verified agent, by SPIFFE ID and key thumbprint.
    func artifact(forSubject sub: String, key jkt: String) -> Artifact? {
        artifacts.first { $0.subject.isExactly(sub) && $0.subjectKey.isExactly(jkt) }
    }

    func artifact(digest: String) -> Artifact? { artifacts.first { $0.digest.isExactly(digest) } }

    var verifierConfiguration: VerifierConfiguration { VerifierConfiguration(audience: audience, issuers: issuers) }
}

/// Where replicas keep the state they share.
public enum SharedStateLocation: Sendable {
    case postgres(url: String)
    case sqlite(URL)
}

public struct PortalConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
