import AttestCore
import Foundation

/// A forwarding statement (spec/statement.md): what a portal attaches to each `tools/call`
/// it forwards, signed by its log key, so that the server can refuse calls no trusted
/// portal allowed.
public enum Statement {
    /// The `_meta` member that carries the statement.
    public static let metaKey = "dev.agent-attestation/statement"
    public static let type = "mcp-attest/statement/v1"
    static let members = ["type", "log", "seq", "decision", "aud", "iat", "params_sha256", "sig"]

    /// The params the statement's hash covers: the statement member removed from `_meta`,
    /// and `_meta` removed when it is then an empty object.
    public static func statementParams(_ params: JSONObject) -> JSONObject {
        var params = params
        guard case .object(var meta)? = params["_meta"] else { return params }
        meta[metaKey] = nil
        params["_meta"] = meta.isEmpty ? nil : .object(meta)
        return params
    }

    /// SHA-256 of the JCS of the statement's params.
    public static func paramsDigest(_ params: JSONObject) -> [UInt8] {
        SHA256.hash(JCS.canonicalize(.object(statementParams(params))))
    }

    /// The statement for a call forwarded with `params`, allowed as `seq` of `log` at `iat`.
    public static func sign(params: JSONObject, log: String, seq: UInt64, iat: Int64, audience: String,
                            key: Ed25519.PrivateKey) throws(AttestError) -> JSONObject {
        var body: JSONObject = [
            "type": .string(type), "log": .string(log), "seq": .number(JSONNumber(Double(seq))), "decision": "ALLOW",
            "aud": .string(audience), "iat": .number(JSONNumber(Double(iat))),
            "params_sha256": .string(Base64URL.encode(paramsDigest(params))),
        ]
        let signature = try key.sign(JCS.canonicalize(.object(body)), domain: .statement)
        body["sig"] = .object(["alg": "Ed25519", "kid": .string(key.publicKey.thumbprint),
                               "value": .string(Base64URL.encode(signature))])
        return body
    }

    /// `params` with the statement set in `_meta` (any statement member already there replaced).
    public static func attach(_ params: JSONObject, log: String, seq: UInt64, iat: Int64, audience: String,
                              key: Ed25519.PrivateKey) throws(AttestError) -> JSONObject {
        var meta = params["_meta"]?.objectValue ?? JSONObject()
        meta[metaKey] = nil
        var base = params
        base["_meta"] = .object(meta)
        let statement = try sign(params: base, log: log, seq: seq, iat: iat, audience: audience, key: key)
        meta[metaKey] = .object(statement)
        base["_meta"] = .object(meta)
        return base
    }
}

/// The (log, seq) pairs of accepted statements, each kept until its expiry; bounded.
public struct StatementReplayCache: Sendable {
    struct Entry: Hashable, Sendable { let log: ExactString; let seq: Int64 }
    public let capacity: Int
    private var entries: [Entry: Int64] = [:]

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public mutating func insert(log: String, seq: Int64, expires: Int64) { entries[Entry(log: ExactString(log), seq: seq)] = expires }

    /// statement.md §Verifying a statement, step 10.
    /// An entry whose expiry is before now counts as dropped; the expired ones are removed
    /// when the cache is full, so that a call costs one lookup until then.
    mutating func checkAndRecord(log: String, seq: Int64, expires: Int64, now: Int64) throws(AttestError) {
        let entry = Entry(log: ExactString(log), seq: seq)
        if let held = entries[entry], held >= now { throw AttestError(.statementReplay, "this statement was accepted before") }
        if entries.count >= capacity { entries = entries.filter { $0.value >= now } }
        guard entries.count < capacity else {
            throw AttestError(.statementReplayCacheFull, "the replay cache is full of unexpired entries")
        }
        entries[entry] = expires
    }
}

/// A server's verifier of forwarding statements (statement.md §Verifying a statement).
/// Thread-safe: the replay cache is behind a lock.
public final class StatementVerifier: @unchecked Sendable {
    public struct Verified: Sendable {
        public let log: String
        public let seq: Int64
        public let replayExpires: Int64
    }

    public let trusted: [String]
    public let audience: String
    public let maxAge: Int64
    public let leeway: Int64
    private var cache: StatementReplayCache
    private let lock = NSLock()

    /// `trusted`: the note verifier keys of the trusted logs, as text (read at each
    /// verification, step 3, so that a bad key is reported as the document orders).
    public init(trusted: [String], audience: String, maxAge: Int64 = 60, leeway: Int64 = 5,
                cache: StatementReplayCache = StatementReplayCache()) {
        self.trusted = trusted
        self.audience = audience
        self.maxAge = maxAge
        self.leeway = leeway
        self.cache = cache
    }

    /// Verifies the statement of a `tools/call` whose params the server received.
    public func verify(params: JSONObject, now: Int64) throws(AttestError) -> Verified {
        // 1. The statement.
        guard case .object(let meta)? = params["_meta"], let value = meta[Statement.metaKey] else {
            throw AttestError(.statementMissing, "the tools/call carries no forwarding statement")
        }
        // 2. Structure.
        let s = try Self.parse(value)
        // 3. The trusted keys.
        var keys: [NoteVerifier] = []
        for text in trusted { keys.append(try NoteVerifier(text: text)) }
        // 4. Trust.
        guard let key = keys.first(where: { $0.name.isExactly(s.log) && $0.key.thumbprint.isExactly(s.kid) }) else {
            throw AttestError(.statementKeyUntrusted, "no trusted log key for this log and kid")
        }
        // 5. Signature.
        do {
            try key.key.verify(signature: s.signature, payload: JCS.canonicalize(.object(s.body)), domain: .statement)
        } catch {
            throw AttestError(.statementSignatureInvalid, "the statement's signature does not verify")
        }
        // 6. Audience.
        guard s.aud.isExactly(audience) else {
            throw AttestError(.statementAudienceMismatch, "the statement is for another server")
        }
        // 7, 8. Time (the operands are at most 2^53, so no sum overflows).
        if s.iat > now &+ leeway { throw AttestError(.statementIssuedInFuture, "the statement is dated in the future") }
        if now &- s.iat > maxAge &+ leeway { throw AttestError(.statementStale, "the statement is older than the largest age") }
        // 9. The call.
        guard Base64URL.encode(Statement.paramsDigest(params)).isExactly(s.paramsSHA256) else {
            throw AttestError(.statementParamsMismatch, "the statement is for other params")
        }
        // 10. Replay.
        let expires = s.iat &+ maxAge &+ leeway
        lock.lock()
        defer { lock.unlock() }
        try cache.checkAndRecord(log: s.log, seq: s.seq, expires: expires, now: now)
        return Verified(log: s.log, seq: s.seq, replayExpires: expires)
    }

    struct Parsed {
        let body: JSONObject
        let log: String, aud: String, kid: String, paramsSHA256: String
        let seq: Int64, iat: Int64
        let signature: [UInt8]
    }

    /// Step 2: exactly the members of statement.md §The statement, of their types and forms.
    static func parse(_ value: JSONValue) throws(AttestError) -> Parsed {
        func malformed(_ why: String) -> AttestError { AttestError(.statementMalformed, why) }
        guard case .object(let o) = value else { throw malformed("the statement is not an object") }
        guard o.count == Statement.members.count, o.names.allSatisfy({ Statement.members.containsExactly($0) }) else {
            throw malformed("the statement's members are not exactly those of statement.md")
        }
        guard let type = o["type"]?.stringValue, let log = o["log"]?.stringValue, let decision = o["decision"]?.stringValue,
              let aud = o["aud"]?.stringValue, let hash = o["params_sha256"]?.stringValue else {
            throw malformed("a member is not a string")
        }
        guard type.isExactly(Statement.type) else { throw malformed("type") }
        guard decision.isExactly("ALLOW") else { throw malformed("decision is not ALLOW") }
        guard !log.isEmpty, !aud.isEmpty else { throw malformed("log or aud is empty") }
        guard let seq = o["seq"]?.integerValue, seq >= 0, let iat = o["iat"]?.integerValue, iat >= 0 else {
            throw malformed("seq or iat is not an integer from 0 to 2^53")
        }
        guard Base64URL.isStrictEncoding(hash, ofByteCount: 32) else { throw malformed("params_sha256 is not the base64url of 32 bytes") }
        guard case .object(let sig)? = o["sig"], sig.count == 3, sig.names.allSatisfy({ ["alg", "kid", "value"].containsExactly($0) }),
              let alg = sig["alg"]?.stringValue, let kid = sig["kid"]?.stringValue, let text = sig["value"]?.stringValue else {
            throw malformed("sig is not {alg, kid, value} strings")
        }
        guard alg.isExactly("Ed25519"), let signature = try? Base64URL.decode(text) else {
            throw malformed("sig.alg is not Ed25519, or sig.value is not base64url")
        }
        var body = o
        body["sig"] = nil
        return Parsed(body: body, log: log, aud: aud, kid: kid, paramsSHA256: hash, seq: seq, iat: iat, signature: signature)
    }
}
