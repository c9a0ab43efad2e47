import AttestCore

/// A sealed policy artifact or a sub-mandate (spec/artifact.md, spec/mandate.md): a
/// JSON object, signed over its JCS form without `sig`, with the `artifact` or
/// `mandate` signature domain. A mandate names its parent by digest and can only
/// narrow it.
///
/// Names (tools, arguments) are kept as ``ExactString``, so that a name matches only
/// itself, code point for code point.
public struct Artifact: Sendable {
    public struct ToolPolicy: Sendable, Equatable {
        public let arguments: [ExactString: Constraint]
        public let required: Set<ExactString>
        public let additionalArguments: Bool
        public let rateLimit: RateLimit?
    }

    public struct RateLimit: Sendable, Equatable {
        /// At most `max` allowed calls in any window of `window` seconds: a call at time t
        /// counts the allowed calls with time in (t − window, t].
        public let max: Int64
        public let window: Int64
    }

    public enum Kind: String, Sendable { case artifact, mandate }

    public let json: JSONObject
    public let kind: Kind
    public let id: String
    public let issuer: String
    public let subject: String
    public let subjectKey: String
    public let notBefore: Int64
    public let notAfter: Int64
    public let tools: [ExactString: ToolPolicy]
    public let rateLimit: RateLimit?
    /// The pinned upstream and drift rules, as written (their shape is checked).
    public let upstream: JSONValue?
    public let drift: JSONValue?
    /// `drift` read: the action, the pinned tool list and the behavioural rules.
    public let driftRules: DriftRules?
    /// The receipt logs the decisions under this artifact may be written to.
    public let logOrigins: [ExactString]
    public let parent: String?
    /// The key `sig` names. It is not trusted for naming itself: trust comes from the
    /// verifier's inputs (a root) or from the parent's subject key (a mandate).
    public let signer: JWK
    /// The identity of the artifact, by which receipts and mandates name it: the
    /// base64url SHA-256 of the JCS of `{"body": <the artifact without sig>, "signer":
    /// <thumbprint of the signing key>}`. It covers everything the signature covers and
    /// the key that made it, and nothing else, so no re-encoding of `sig` and no second
    /// (randomized) signature of the same body yields another digest.
    public let digest: String

    public static let typeName = "mcp-attest/artifact/v1"
    public static let mandateTypeName = "mcp-attest/mandate/v1"
    /// Limits that keep every loop over an artifact bounded whatever the signer wrote.
    static let maxOrigins = 64

    public init(json value: JSONValue) throws(AttestError) {
        guard case .object(let o) = value else { throw malformed("an artifact is a JSON object") }
        json = o
        let type = try string(o, "type")
        if type.isExactly(Self.typeName) {
            kind = .artifact
        } else if type.isExactly(Self.mandateTypeName) {
            kind = .mandate
        } else {
            throw malformed("\"type\" is \(Self.typeName) or \(Self.mandateTypeName)")
        }
        let allowed: [String] = ["type", "id", "issuer", "subject", "not_before", "not_after", "tools", "rate_limit",
                                 "upstream", "drift", "log", "sig"] + (kind == .mandate ? ["parent"] : [])
        try onlyMembers(o, allowed, "an \(kind.rawValue)")
        id = try string(o, "id")
        issuer = try string(o, "issuer")
        let s = try object(o, "subject")
        try onlyMembers(s, ["sub", "jkt"], "\"subject\"")
        subject = try string(s, "sub")
        subjectKey = try digestText(s, "jkt")
        notBefore = try time(o, "not_before")
        notAfter = try time(o, "not_after")
        guard notBefore < notAfter else { throw malformed("not_before is not before not_after") }
        var tools: [ExactString: ToolPolicy] = [:]
        for member in try object(o, "tools") {
            tools[ExactString(member.name)] = try Self.toolPolicy(member.value, tool: member.name)
        }
        self.tools = tools
        rateLimit = try o["rate_limit"].map(Self.rateLimit)
        upstream = try o["upstream"].map(Self.upstream)
        drift = o["drift"]
        driftRules = try o["drift"].map { v throws(AttestError) in try DriftRules(json: v) }
        let log = try object(o, "log")
        try onlyMembers(log, ["origins"], "\"log\"")
        guard let origins = log["origins"]?.arrayValue, !origins.isEmpty, origins.count <= Self.maxOrigins else {
            throw malformed("\"log.origins\" is an array of 1 to \(Self.maxOrigins) origins")
        }
        var names: [ExactString] = []
        for origin in origins {
            guard let name = origin.stringValue, !name.isEmpty else { throw malformed("a log origin is a non-empty string") }
            guard !names.contains(ExactString(name)) else { throw malformed("log origin \(name) is listed twice") }
            names.append(ExactString(name))
        }
        logOrigins = names
        parent = kind == .mandate ? try digestText(o, "parent") : nil

        let sig = try object(o, "sig")
        try onlyMembers(sig, ["alg", "jwk", "value"], "\"sig\"")
        let alg = try string(sig, "alg")
        _ = try string(sig, "value")
        guard let jwkValue = sig["jwk"] else { throw malformed("\"sig\" has no jwk") }
        do {
            signer = try JWK(json: jwkValue)
        } catch {
            throw malformed("sig.jwk: \(error.message)")
        }
        guard alg.isExactly(signer.algorithm.rawValue) else { throw malformed("sig alg does not match its key") }
        var unsigned = o
        unsigned["sig"] = nil
        let identity: JSONValue = ["body": .object(unsigned), "signer": .string(signer.thumbprint)]
        digest = Base64URL.encode(SHA256.hash(JCS.canonicalize(identity)))
    }

    static func toolPolicy(_ value: JSONValue, tool: String) throws(AttestError) -> ToolPolicy {
        guard case .object(let o) = value else { throw malformed("the policy of tool \(tool) is an object") }
        try onlyMembers(o, ["arguments", "required", "additional_arguments", "rate_limit"], "a tool policy")
        var arguments: [ExactString: Constraint] = [:]
        if let a = o["arguments"] {
            guard let members = a.objectValue else { throw malformed("\"arguments\" of tool \(tool) is an object") }
            for member in members { arguments[ExactString(member.name)] = try Constraint(json: member.value) }
        }
        var required: Set<ExactString> = []
        if let r = o["required"] {
            guard let names = r.arrayValue else { throw malformed("\"required\" of tool \(tool) is an array") }
            for item in names {
                guard let name = item.stringValue.map({ ExactString($0) }), arguments[name] != nil else {
                    throw malformed("a required argument of tool \(tool) is a string naming a constrained argument")
                }
                guard required.insert(name).inserted else { throw malformed("tool \(tool) requires \(name) twice") }
            }
        }
        var additional = false
        if let a = o["additional_arguments"] {
            guard let flag = a.boolValue else { throw malformed("\"additional_arguments\" of tool \(tool) is a boolean") }
            additional = flag
        }
        return ToolPolicy(arguments: arguments, required: required, additionalArguments: additional,
                          rateLimit: try o["rate_limit"].map(rateLimit))
    }

    static func rateLimit(_ value: JSONValue) throws(AttestError) -> RateLimit {
        guard let o = value.objectValue, o.count == 2, let max = o["max"]?.integerValue, max >= 0,
              let window = o["window"]?.integerValue, window > 0 else {
            throw malformed("a rate limit is {\"max\": integer ≥ 0, \"window\": seconds > 0}")
        }
        return RateLimit(max: max, window: window)
    }

    /// `{"transport": "stdio", "executable_sha256": hex, "files_sha256"?: [hex, …]}` or
    /// `{"transport": "http", "url", "spki_sha256": base64url}`.
    static func upstream(_ value: JSONValue) throws(AttestError) -> JSONValue {
        guard let o = value.objectValue else { throw malformed("\"upstream\" is an object") }
        let transport = try string(o, "transport")
        if transport.isExactly("stdio") {
            try onlyMembers(o, ["transport", "executable_sha256", "files_sha256"], "a stdio upstream")
            guard isLowercaseHexDigest(try string(o, "executable_sha256")) else {
                throw malformed("\"executable_sha256\" is 64 lowercase hex digits")
            }
            if let files = o["files_sha256"] {
                guard case .array(let list) = files, (1...16).contains(list.count),
                      list.allSatisfy({ $0.stringValue.map(isLowercaseHexDigest) ?? false }) else {
                    throw malformed("\"files_sha256\" is an array of 1 to 16 digests, each 64 lowercase hex digits")
                }
            }
        } else if transport.isExactly("http") {
            try onlyMembers(o, ["transport", "url", "spki_sha256"], "an http upstream")
            _ = try string(o, "url")
            _ = try digestText(o, "spki_sha256")
        } else {
            throw malformed("upstream \"transport\" is stdio or http")
        }
        return value
    }

    /// 64 lowercase hex digits: a SHA-256 digest as an stdio upstream's pin writes it.
    static func isLowercaseHexDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The object without `sig`: what is signed.
    public var unsigned: JSONObject {
        var o = json
        o["sig"] = nil
        return o
    }

    public var domain: SignatureDomain { kind == .artifact ? .artifact : .mandate }

    /// Whether decisions under this artifact may be written to the log `origin`.
    public func namesLog(_ origin: String) -> Bool { logOrigins.contains(ExactString(origin)) }

    /// Signs `unsigned` and returns the sealed object.
    public static func seal(_ unsigned: JSONObject, key: any SigningKey) throws(AttestError) -> Artifact {
        var o = unsigned
        o["sig"] = nil
        let domain: SignatureDomain = o["type"]?.stringValue.map { $0.isExactly(mandateTypeName) } == true ? .mandate : .artifact
        let signature = try key.sign(JCS.canonicalize(.object(o)), domain: domain)
        o["sig"] = [
            "alg": .string(key.algorithm.rawValue),
            "jwk": JWK(key: key.verifyingKey).jsonValue,
            "value": .string(Base64URL.encode(signature)),
        ]
        return try Artifact(json: .object(o))
    }

    /// Checks the signature with this object's domain and returns the key that made it.
    public func verifySignature() throws(AttestError) -> JWK {
        let code: ErrorCode = kind == .artifact ? .artifactSignatureInvalid : .mandateSignatureInvalid
        do {
            let value = json["sig"]?["value"]?.stringValue ?? ""
            try signer.key.verify(signature: try Base64URL.decode(value), payload: JCS.canonicalize(.object(unsigned)), domain: domain)
        } catch {
            throw AttestError(code, "\(kind.rawValue) signature: \(error.message)")
        }
        return signer
    }
}

private func malformed(_ message: String) -> AttestError { AttestError(.artifactMalformed, message) }

private func onlyMembers(_ o: JSONObject, _ allowed: [String], _ what: String) throws(AttestError) {
    for name in o.names where !allowed.containsExactly(name) { throw malformed("\(what) has unknown member \"\(name)\"") }
}

private func object(_ o: JSONObject, _ name: String) throws(AttestError) -> JSONObject {
    guard let value = o[name]?.objectValue else { throw malformed("\"\(name)\" is an object") }
    return value
}

private func string(_ o: JSONObject, _ name: String) throws(AttestError) -> String {
    guard let s = o[name]?.stringValue, !s.isEmpty else { throw malformed("\"\(name)\" is a non-empty string") }
    return s
}

/// A member that is the base64url of a SHA-256 digest (32 bytes).
private func digestText(_ o: JSONObject, _ name: String) throws(AttestError) -> String {
    let s = try string(o, name)
    guard let bytes = try? Base64URL.decode(s), bytes.count == 32 else { throw malformed("\"\(name)\" is the base64url of 32 bytes") }
    return s
}

private func time(_ o: JSONObject, _ name: String) throws(AttestError) -> Int64 {
    guard let t = o[name]?.integerValue, t >= 0 else { throw malformed("\"\(name)\" is an integer time in seconds") }
    return t
}
