import AttestCore

/// A sealed policy artifact or a sub-mandate (spec/artifact.md, spec/mandate.md): a
/// JSON object, signed over its JCS form without `sig`, with the `artifact` or
/// `mandate` signature domain. A mandate names its parent by digest and can only
/// narrow it.
public struct Artifact: Sendable {
    public struct ToolPolicy: Sendable, Equatable {
        public let arguments: [String: Constraint]
        public let required: Set<String>
        public let additionalArguments: Bool
        public let rateLimit: RateLimit?
    }

    public struct RateLimit: Sendable, Equatable {
        /// At most `max` allowed calls in any window of `window` seconds: a call at time t
        /// counts the allowed calls with time in (t − window, t].
        public let max: Int
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
    public let tools: [String: ToolPolicy]
    public let rateLimit: RateLimit?
    public let logOrigin: String
    public let parent: String?
    /// SHA-256 of the JCS form of the whole signed object, base64url: the name by which
    /// receipts and mandates refer to it.
    public let digest: String

    public static let typeName = "mcp-attest/artifact/v1"
    public static let mandateTypeName = "mcp-attest/mandate/v1"
    static let members: Set<String> = ["type", "id", "issuer", "subject", "not_before", "not_after", "tools", "rate_limit",
                                       "upstream", "drift", "log", "parent", "sig"]

    public init(json value: JSONValue) throws(AttestError) {
        guard case .object(let o) = value else { throw malformed("an artifact is a JSON object") }
        json = o
        for name in o.names where !Self.members.contains(name) { throw malformed("unknown member \"\(name)\"") }
        switch o["type"]?.stringValue {
        case Self.typeName?: kind = .artifact
        case Self.mandateTypeName?: kind = .mandate
        default: throw malformed("\"type\" is \(Self.typeName) or \(Self.mandateTypeName)")
        }
        id = try string(o, "id")
        issuer = try string(o, "issuer")
        guard let s = o["subject"]?.objectValue else { throw malformed("\"subject\" is an object") }
        subject = try string(s, "sub")
        subjectKey = try string(s, "jkt")
        notBefore = try time(o, "not_before")
        notAfter = try time(o, "not_after")
        guard notBefore < notAfter else { throw malformed("not_before is not before not_after") }
        guard let toolObject = o["tools"]?.objectValue else { throw malformed("\"tools\" is an object") }
        var tools: [String: ToolPolicy] = [:]
        for member in toolObject { tools[member.name] = try Self.toolPolicy(member.value) }
        self.tools = tools
        rateLimit = try o["rate_limit"].map(Self.rateLimit)
        guard let log = o["log"]?.objectValue else { throw malformed("\"log\" is an object") }
        logOrigin = try string(log, "origin")
        if kind == .mandate {
            parent = try string(o, "parent")
        } else {
            guard o["parent"] == nil else { throw malformed("an artifact has no parent; a mandate does") }
            parent = nil
        }
        guard o["sig"]?.objectValue != nil else { throw malformed("\"sig\" is an object") }
        digest = Base64URL.encode(SHA256.hash(JCS.canonicalize(.object(o))))
    }

    static func toolPolicy(_ value: JSONValue) throws(AttestError) -> ToolPolicy {
        guard case .object(let o) = value else { throw malformed("a tool policy is an object") }
        for name in o.names where !["arguments", "required", "additional_arguments", "rate_limit"].contains(name) {
            throw malformed("unknown tool policy member \"\(name)\"")
        }
        var arguments: [String: Constraint] = [:]
        for member in o["arguments"]?.objectValue ?? JSONObject() { arguments[member.name] = try Constraint(json: member.value) }
        var required: Set<String> = []
        for r in o["required"]?.arrayValue ?? [] {
            guard let name = r.stringValue, arguments[name] != nil else { throw malformed("a required argument has no constraint") }
            required.insert(name)
        }
        let additional = o["additional_arguments"]?.boolValue ?? false
        return ToolPolicy(arguments: arguments, required: required, additionalArguments: additional,
                          rateLimit: try o["rate_limit"].map(rateLimit))
    }

    static func rateLimit(_ value: JSONValue) throws(AttestError) -> RateLimit {
        guard let max = value["max"]?.integerValue, max >= 0, let window = value["window"]?.integerValue, window > 0,
              value.objectValue?.count == 2 else {
            throw malformed("a rate limit is {\"max\": integer ≥ 0, \"window\": seconds > 0}")
        }
        return RateLimit(max: Int(max), window: window)
    }

    /// The object without `sig`: what is signed.
    public var unsigned: JSONObject {
        var o = json
        o["sig"] = nil
        return o
    }

    public var domain: SignatureDomain { kind == .artifact ? .artifact : .mandate }

    /// Signs `unsigned` and returns the sealed object.
    public static func seal(_ unsigned: JSONObject, key: any SigningKey) throws(AttestError) -> Artifact {
        var o = unsigned
        o["sig"] = nil
        let domain: SignatureDomain = o["type"]?.stringValue == mandateTypeName ? .mandate : .artifact
        let signature = try key.sign(JCS.canonicalize(.object(o)), domain: domain)
        o["sig"] = [
            "alg": .string(key.algorithm.rawValue),
            "jwk": JWK(key: key.verifyingKey).jsonValue,
            "value": .string(Base64URL.encode(signature)),
        ]
        return try Artifact(json: .object(o))
    }

    /// The key that signed, and checks the signature with this object's domain.
    public func verifySignature() throws(AttestError) -> JWK {
        guard let sig = json["sig"]?.objectValue, let value = sig["value"]?.stringValue, let jwkValue = sig["jwk"],
              let alg = sig["alg"]?.stringValue
        else { throw AttestError(.artifactMalformed, "\"sig\" has alg, jwk and value") }
        let jwk = try JWK(json: jwkValue)
        guard jwk.algorithm.rawValue == alg else { throw AttestError(.artifactMalformed, "sig alg does not match its key") }
        do {
            try jwk.key.verify(signature: try Base64URL.decode(value), payload: JCS.canonicalize(.object(unsigned)), domain: domain)
        } catch {
            throw AttestError(kind == .artifact ? .artifactSignatureInvalid : .mandateSignatureInvalid,
                              "\(kind.rawValue) signature: \(error.message)")
        }
        return jwk
    }
}

private func malformed(_ message: String) -> AttestError { AttestError(.artifactMalformed, message) }

private func string(_ o: JSONObject, _ name: String) throws(AttestError) -> String {
    guard let s = o[name]?.stringValue, !s.isEmpty else { throw malformed("\"\(name)\" is a non-empty string") }
    return s
}

private func time(_ o: JSONObject, _ name: String) throws(AttestError) -> Int64 {
    guard let t = o[name]?.integerValue, t >= 0 else { throw malformed("\"\(name)\" is an integer time in seconds") }
    return t
}
