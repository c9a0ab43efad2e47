import AttestCore

/// The agent identity a provider attests (the `agent` claim).
public struct AgentIdentity: Sendable, Equatable {
    public var provider: String
    public var modelFamily: String
    public var modelVersion: String
    public var deployment: String
    public var operatorID: String
    public var safetyLevel: String?

    public init(provider: String, modelFamily: String, modelVersion: String, deployment: String,
                operatorID: String, safetyLevel: String? = nil) {
        self.provider = provider
        self.modelFamily = modelFamily
        self.modelVersion = modelVersion
        self.deployment = deployment
        self.operatorID = operatorID
        self.safetyLevel = safetyLevel
    }

    /// Equal when every member is the same code points.
    public static func == (a: AgentIdentity, b: AgentIdentity) -> Bool {
        let sameSafetyLevel = switch (a.safetyLevel, b.safetyLevel) {
        case (nil, nil): true
        case let (x?, y?): x.isExactly(y)
        default: false
        }
        return sameSafetyLevel && a.provider.isExactly(b.provider) && a.modelFamily.isExactly(b.modelFamily)
            && a.modelVersion.isExactly(b.modelVersion) && a.deployment.isExactly(b.deployment)
            && a.operatorID.isExactly(b.operatorID)
    }

    public var jsonValue: JSONValue {
        var object: JSONObject = [
            "provider": .string(provider), "model_family": .string(modelFamily),
            "model_version": .string(modelVersion), "deployment": .string(deployment),
            "operator": .string(operatorID),
        ]
        if let safetyLevel { object["safety_level"] = .string(safetyLevel) }
        return .object(object)
    }
}

/// The claims of an attestation token (spec/token.md, claims table).
public struct TokenClaims: Sendable {
    public var issuer: String
    public var subject: String
    public var audience: String
    public var issuedAt: Int64
    public var notBefore: Int64?
    public var expiresAt: Int64
    public var tokenID: String
    /// RFC 7638 thumbprint of the agent key (`cnf.jkt`).
    public var confirmationKeyThumbprint: String
    public var agent: AgentIdentity

    public init(issuer: String, subject: String, audience: String, issuedAt: Int64, notBefore: Int64? = nil,
                expiresAt: Int64, tokenID: String, confirmationKeyThumbprint: String, agent: AgentIdentity) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.tokenID = tokenID
        self.confirmationKeyThumbprint = confirmationKeyThumbprint
        self.agent = agent
    }

    public var jsonObject: JSONObject {
        var object: JSONObject = [
            "iss": .string(issuer), "sub": .string(subject), "aud": .string(audience),
            "iat": .number(JSONNumber(Double(issuedAt))), "exp": .number(JSONNumber(Double(expiresAt))),
            "jti": .string(tokenID), "cnf": ["jkt": .string(confirmationKeyThumbprint)], "agent": agent.jsonValue,
        ]
        if let notBefore { object["nbf"] = .number(JSONNumber(Double(notBefore))) }
        return object
    }

    /// Reads the claims after the signature has been verified: presence and types, in
    /// the order of the claims table (step 7 of token verification).
    public init(payload: JSONObject) throws(AttestError) {
        let reader = ClaimReader(object: payload, missing: .tokenClaimMissing, invalid: .tokenClaimInvalid)
        issuer = try reader.string("iss")
        subject = try reader.string("sub")
        guard SPIFFEID.isValid(subject) else {
            throw AttestError(.tokenClaimInvalid, "sub \"\(subject)\" is not a SPIFFE ID")
        }
        guard let aud = payload["aud"] else { throw AttestError(.tokenClaimMissing, "the token has no aud") }
        guard case .string(let audience) = aud else {
            throw AttestError(.tokenAudienceNotString, "aud is \(aud.typeName == "array" ? "an array" : aud.typeName); a single string is required")
        }
        // Every string claim is non-empty (token.md, TOK-025): an empty aud is malformed,
        // not merely another audience.
        guard !audience.isEmpty else { throw AttestError(.tokenClaimInvalid, "aud is an empty string") }
        self.audience = audience
        issuedAt = try reader.time("iat")
        notBefore = try reader.optionalTime("nbf")
        expiresAt = try reader.time("exp")
        tokenID = try reader.string("jti", maxLength: 256)
        guard let cnf = payload["cnf"], case .object(let cnfObject) = cnf, cnfObject["jkt"] != nil else {
            throw AttestError(.tokenConfirmationMissing, "the token has no cnf with a jkt: it binds no agent key")
        }
        guard let jkt = cnfObject["jkt"]?.stringValue, Thumbprint.isWellFormed(jkt) else {
            throw AttestError(.tokenClaimInvalid, "cnf.jkt is not the base64url of 32 bytes")
        }
        confirmationKeyThumbprint = jkt
        guard let agentValue = payload["agent"] else { throw AttestError(.tokenClaimMissing, "the token has no agent") }
        guard case .object(let agentObject) = agentValue else {
            throw AttestError(.tokenClaimInvalid, "agent is not an object")
        }
        let agentReader = ClaimReader(object: agentObject, missing: .tokenClaimMissing, invalid: .tokenClaimInvalid, prefix: "agent.")
        agent = AgentIdentity(
            provider: try agentReader.string("provider"), modelFamily: try agentReader.string("model_family"),
            modelVersion: try agentReader.string("model_version"), deployment: try agentReader.string("deployment"),
            operatorID: try agentReader.string("operator"), safetyLevel: try agentReader.optionalString("safety_level"))
    }
}

/// Typed access to claims with the codes of the object being read.
struct ClaimReader {
    let object: JSONObject
    let missing: ErrorCode
    let invalid: ErrorCode
    var prefix = ""

    func string(_ name: String, maxLength: Int = 1024) throws(AttestError) -> String {
        guard let value = object[name] else { throw AttestError(missing, "no \(prefix)\(name)") }
        // A string of at most maxLength UTF-8 bytes has at most maxLength scalars; only a
        // longer one needs its scalars counted.
        guard case .string(let s) = value, !s.isEmpty, s.utf8.count <= maxLength || s.unicodeScalars.count <= maxLength else {
            throw AttestError(invalid, "\(prefix)\(name) is not a non-empty string of at most \(maxLength) characters")
        }
        return s
    }

    func optionalString(_ name: String) throws(AttestError) -> String? {
        object[name] == nil ? nil : try string(name)
    }

    func time(_ name: String) throws(AttestError) -> Int64 {
        guard let value = object[name] else { throw AttestError(missing, "no \(prefix)\(name)") }
        guard let t = value.integerValue, t >= 0 else {
            throw AttestError(invalid, "\(prefix)\(name) is not a non-negative integer NumericDate")
        }
        return t
    }

    func optionalTime(_ name: String) throws(AttestError) -> Int64? {
        object[name] == nil ? nil : try time(name)
    }
}

enum Thumbprint {
    /// 43 characters of strict base64url: the encoding of a SHA-256 digest.
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && Base64URL.isStrictEncoding(text, ofByteCount: 32)
    }

    static func hash(_ bytes: [UInt8]) -> String { Base64URL.encode(SHA256.hash(bytes)) }

    /// base64url SHA-256 of a string's UTF-8 bytes, hashed in place.
    static func hash(utf8 text: String) -> String {
        var text = text
        return text.withUTF8 { Base64URL.encode(SHA256.hash(UnsafeRawBufferPointer($0))) }
    }
}

/// A SPIFFE ID (`spiffe://trust-domain/path`), checked as the SPIFFE ID standard says:
/// lowercase trust domain of `[a-z0-9.-_]`, a non-empty path of segments of
/// `[A-Za-z0-9.-_]`, no empty, `.` or `..` segment, no query or fragment.
public struct SPIFFEID: Sendable, Equatable {
    public let trustDomain: String
    public let path: String

    public init?(_ text: String) {
        var text = text
        guard let (domain, path) = text.withUTF8({ b -> (String, String)? in
            guard let slash = Self.slashIndex(b) else { return nil }
            return (String(decoding: UnsafeBufferPointer(rebasing: b[Self.prefixLength..<slash]), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(rebasing: b[slash...]), as: UTF8.self))
        }) else { return nil }
        trustDomain = domain
        self.path = path
    }

    /// Whether `text` is a SPIFFE ID, without building its parts.
    static func isValid(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { slashIndex($0) != nil }
    }

    /// The trust domain of `text`, when it is a SPIFFE ID, without building its path.
    static func trustDomain(of text: String) -> String? {
        var text = text
        return text.withUTF8 { b in
            slashIndex(b).map { String(decoding: UnsafeBufferPointer(rebasing: b[prefixLength..<$0]), as: UTF8.self) }
        }
    }

    private static let prefixLength = 9  // "spiffe://"

    /// The index of the `/` that ends the trust domain, when `b` is a SPIFFE ID.
    ///
    /// Read as bytes. Every character the rules admit is ASCII, so a text with any other
    /// byte is no SPIFFE ID, and on ASCII text characters are bytes: the checks below
    /// give what the character-wise reading of the rules gives.
    private static func slashIndex(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = b.count
        let prefix: StaticString = "spiffe://"
        let p = prefixLength
        guard n >= p, n <= 2048 else { return nil }
        for k in 0..<p where b[k] != prefix.utf8Start[k] { return nil }
        var slash = -1
        for k in p..<n {
            let c = b[k]
            if c >= 0x80 { return nil }
            if slash < 0 && c == UInt8(ascii: "/") { slash = k }
        }
        guard slash > p, slash - p <= 255 else { return nil }
        for k in p..<slash where !isDomainByte(b[k]) { return nil }
        // Segments after the first "/": none empty, ".", "..", each of [A-Za-z0-9.-_].
        var start = slash + 1
        for k in (slash + 1)...n {
            if k < n && b[k] != UInt8(ascii: "/") {
                guard isPathByte(b[k]) else { return nil }
                continue
            }
            let length = k - start
            guard length > 0 else { return nil }
            if b[start] == UInt8(ascii: ".") && (length == 1 || (length == 2 && b[start + 1] == UInt8(ascii: "."))) {
                return nil
            }
            start = k + 1
        }
        return slash
    }

    private static func isDomainByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    private static func isPathByte(_ c: UInt8) -> Bool {
        isDomainByte(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }
}

/// A token that passed every check, with the identity it attests.
public struct VerifiedToken: Sendable {
    /// The token exactly as presented (its ASCII bytes are what `ath` and `tkh` hash).
    public let compact: String
    public let keyID: String
    public let algorithm: JWSAlgorithm
    public let claims: TokenClaims
    /// The operator attestation, when one was presented and verified.
    public internal(set) var operatorAttestation: VerifiedOperatorAttestation?

    public var issuer: String { claims.issuer }
    public var subject: String { claims.subject }
    public var agent: AgentIdentity { claims.agent }
    /// base64url SHA-256 of the token's ASCII bytes.
    public var tokenHash: String { Thumbprint.hash(utf8: compact) }
}

/// Issues attestation tokens (the provider side).
public struct TokenIssuer: Sendable {
    public let key: any SigningKey

    public init(key: any SigningKey) { self.key = key }

    /// The `kid` of issued tokens: the RFC 7638 thumbprint of the issuer key.
    public var keyID: String { key.verifyingKey.thumbprint }

    public func issue(_ claims: TokenClaims) throws(AttestError) -> String {
        try issue(payload: claims.jsonObject)
    }

    /// Signs an arbitrary claims object; used for tests and vectors that need claims the
    /// typed model would not produce.
    public func issue(payload: JSONObject) throws(AttestError) -> String {
        try CompactJWS.sign(payload: payload, type: .token, key: key)
    }
}
