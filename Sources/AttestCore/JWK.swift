/// Public keys as JWK (RFC 7517) and key sets as JWKS, for both suites.
///
/// - Ed25519: `{"kty":"OKP","crv":"Ed25519","x":…}` (RFC 8037).
/// - ML-DSA-65: `{"kty":"AKP","alg":"ML-DSA-65","pub":…}`, the "Algorithm Key Pair"
///   form of the JOSE ML-DSA draft; its RFC 7638 thumbprint members are `alg`, `kty`
///   and `pub`.
///
/// Parsing is strict: the required members with the right types, optional `kid`,
/// `use` (only `"sig"`), `key_ops` (only `["verify"]`) and `alg` (only the suite's
/// own name); private members (`d`, `priv`) and any other member are rejected. A `kid`,
/// when present, must equal the RFC 7638 thumbprint, so that a key is named the same
/// way everywhere.
public struct JWK: Sendable {
    public let key: any VerifyingKey
    public var algorithm: SignatureAlgorithm { key.algorithm }
    /// The RFC 7638 thumbprint (SHA-256, base64url), which is also the key's `kid`.
    public let thumbprint: String

    public init(key: any VerifyingKey) {
        self.key = key
        self.thumbprint = key.thumbprint
    }

    /// The members that enter the RFC 7638 thumbprint, in JCS order.
    public static func thumbprintMembers(of key: any VerifyingKey) -> JSONValue {
        let encoded = JSONValue.string(Base64URL.encode(key.rawRepresentation))
        switch key.algorithm {
        case .ed25519: return ["crv": "Ed25519", "kty": "OKP", "x": encoded]
        case .mldsa65: return ["alg": "ML-DSA-65", "kty": "AKP", "pub": encoded]
        }
    }

    public static func thumbprint(of key: any VerifyingKey) -> String {
        Base64URL.encode(SHA256.hash(JCS.canonicalize(thumbprintMembers(of: key))))
    }

    /// The same bytes as the JCS form of ``thumbprintMembers(of:)`` for an Ed25519 key,
    /// written directly: the members are already in JCS order and the base64url text
    /// needs no escaping. Every parsed proof key computes this.
    static func thumbprint(ofEd25519 raw: [UInt8]) -> String {
        var members: [UInt8] = []
        members.reserveCapacity(96)
        members.append(contentsOf: #"{"crv":"Ed25519","kty":"OKP","x":""#.utf8)
        members.append(contentsOf: Base64URL.encode(raw).utf8)
        members.append(contentsOf: #""}"#.utf8)
        return Base64URL.encode(SHA256.hash(members))
    }

    /// The public JWK with its `kid`.
    public var jsonValue: JSONValue {
        guard case .object(var object) = JWK.thumbprintMembers(of: key) else { preconditionFailure() }
        object["kid"] = .string(thumbprint)
        return .object(object)
    }

    public init(json: JSONValue) throws(AttestError) {
        guard case .object(let object) = json else {
            throw AttestError(.jwkInvalidMember, "a JWK is a JSON object, not \(json.typeName)")
        }
        func string(_ name: String) throws(AttestError) -> String {
            guard let value = object[name] else {
                throw AttestError(.jwkMissingMember, "JWK has no \"\(name)\"")
            }
            guard case .string(let s) = value else {
                throw AttestError(.jwkInvalidMember, "JWK member \"\(name)\" is not a string")
            }
            return s
        }
        for name in ["d", "priv", "p", "q", "dp", "dq", "qi", "k"] where object.contains(name) {
            throw AttestError(.jwkPrivateMaterial, "JWK carries private or symmetric key member \"\(name)\"")
        }
        let kty = try string("kty")
        let algorithm: SignatureAlgorithm
        let raw: [UInt8]
        // The members every JWK may carry, then those of its key type.
        let common = ["kty", "kid", "use", "key_ops", "alg"]
        let ofType: [String]
        switch ExactString(kty) {
        case "OKP":
            let crv = try string("crv")
            guard crv.isExactly("Ed25519") else {
                throw AttestError(.jwkUnsupportedKeyType, "OKP curve \"\(crv)\" is not supported")
            }
            algorithm = .ed25519
            raw = try Self.decodeKeyBytes(try string("x"), member: "x")
            ofType = ["crv", "x"]
        case "AKP":
            let alg = try string("alg")
            guard alg.isExactly(SignatureAlgorithm.mldsa65.rawValue) else {
                throw AttestError(.jwkUnsupportedKeyType, "AKP algorithm \"\(alg)\" is not supported")
            }
            algorithm = .mldsa65
            raw = try Self.decodeKeyBytes(try string("pub"), member: "pub")
            ofType = ["pub"]
        default:
            throw AttestError(.jwkUnsupportedKeyType, "key type \"\(kty)\" is not supported")
        }
        for member in object.members where !common.containsExactly(member.name) && !ofType.containsExactly(member.name) {
            let name = member.name
            throw AttestError(.jwkUnknownMember, "JWK member \"\(name)\" is not allowed")
        }
        if object.contains("alg") {
            let alg = try string("alg")
            guard alg.isExactly(algorithm.rawValue) else {
                throw AttestError(.jwkInvalidMember, "JWK \"alg\" is \"\(alg)\", expected \"\(algorithm.rawValue)\"")
            }
        }
        if object.contains("use") {
            guard try string("use").isExactly("sig") else {
                throw AttestError(.jwkInvalidMember, "JWK \"use\" must be \"sig\"")
            }
        }
        if let ops = object["key_ops"] {
            guard ops == ["verify"] else {
                throw AttestError(.jwkInvalidMember, "JWK \"key_ops\" must be [\"verify\"]")
            }
        }
        // Wrong length, or 32 bytes that are no curve point (keys.md, KEY-008): a JWK
        // member with the wrong value, whatever the suite's own code for the bytes.
        let key: any VerifyingKey
        do {
            key = try algorithm.publicKey(raw: raw)
        } catch {
            throw AttestError(.jwkInvalidMember, "JWK key bytes: \(error.message)")
        }
        self.init(key: key)
        if object.contains("kid") {
            let kid = try string("kid")
            guard kid.isExactly(thumbprint) else {
                throw AttestError(.jwkInvalidMember, "JWK \"kid\" is not the key's RFC 7638 thumbprint")
            }
        }
    }

    private static func decodeKeyBytes(_ text: String, member: String) throws(AttestError) -> [UInt8] {
        do {
            return try Base64URL.decode(text)
        } catch {
            throw AttestError(.jwkInvalidMember, "JWK member \"\(member)\": \(error.message)")
        }
    }
}

/// A set of public keys, looked up by `kid` (the RFC 7638 thumbprint).
public struct JWKS: Sendable {
    public static let maxKeys = 64

    public let keys: [JWK]
    private let byKeyID: [ExactString: Int]

    public init(keys: [JWK]) throws(AttestError) {
        guard keys.count <= JWKS.maxKeys else {
            throw AttestError(.jwksTooManyKeys, "a key set holds at most \(JWKS.maxKeys) keys, not \(keys.count)")
        }
        var index: [ExactString: Int] = [:]
        for (i, key) in keys.enumerated() {
            guard index.updateValue(i, forKey: ExactString(key.thumbprint)) == nil else {
                throw AttestError(.jwksDuplicateKeyID, "key set holds two keys with kid \(key.thumbprint)")
            }
        }
        self.keys = keys
        self.byKeyID = index
    }

    public init(json: JSONValue) throws(AttestError) {
        guard case .object(let object) = json, let keysValue = object["keys"] else {
            throw AttestError(.jwkMissingMember, "a JWKS is an object with a \"keys\" member")
        }
        for name in object.names where !name.isExactly("keys") {
            throw AttestError(.jwkUnknownMember, "JWKS member \"\(name)\" is not allowed")
        }
        guard case .array(let elements) = keysValue else {
            throw AttestError(.jwkInvalidMember, "JWKS \"keys\" is not an array")
        }
        guard elements.count <= JWKS.maxKeys else {
            throw AttestError(.jwksTooManyKeys, "a key set holds at most \(JWKS.maxKeys) keys, not \(elements.count)")
        }
        var keys: [JWK] = []
        for element in elements { keys.append(try JWK(json: element)) }
        try self.init(keys: keys)
    }

    /// The key whose thumbprint is exactly `id` (code points, not canonical equivalence:
    /// a `kid` with U+212A KELVIN SIGN for a `K` names no key).
    public func key(id: String) -> JWK? { byKeyID[ExactString(id)].map { keys[$0] } }

    public var jsonValue: JSONValue { ["keys": .array(keys.map(\.jsonValue))] }
}

extension SignatureAlgorithm {
    /// The suite named exactly `name` (a `rawValue` lookup would match a canonically
    /// equivalent spelling too).
    public init?(exactly name: String) {
        guard let suite = SignatureAlgorithm.allCases.first(where: { $0.rawValue.isExactly(name) }) else { return nil }
        self = suite
    }
}
