import AttestCore

/// The three JWS object types of the protocol. Each has its own `typ`, its own set of
/// header parameters and its own size limit (spec/token.md, spec/proof.md).
public struct JWSType: Sendable, Hashable {
    /// How the header names the signing key: `kid` (a thumbprint looked up in a trusted
    /// key set) or `jwk` (the key itself, bound elsewhere by its thumbprint).
    public enum KeyParameter: String, Sendable {
        case kid
        case jwk
    }

    /// The `typ` value, without the optional `application/` prefix.
    public let typ: String
    public let keyParameter: KeyParameter
    public let maxBytes: Int

    public static let token = JWSType(typ: "agent-attestation+jwt", keyParameter: .kid, maxBytes: 8192)
    public static let proof = JWSType(typ: "agent-proof+jwt", keyParameter: .jwk, maxBytes: 16384)
    public static let operatorAttestation = JWSType(typ: "operator-attestation+jwt", keyParameter: .kid, maxBytes: 8192)
}

/// The `alg` header values a verifier may meet. `EdDSA` is RFC 8037's polymorphic name,
/// deprecated by RFC 9864; it is accepted only when the verifier opts in, and then only
/// with an Ed25519 key.
public enum JWSAlgorithm: String, Sendable {
    case ed25519 = "Ed25519"
    case mldsa65 = "ML-DSA-65"
    case legacyEdDSA = "EdDSA"

    /// The `alg` named exactly `name`: code points, not canonical equivalence.
    public init?(exactly name: String) {
        switch ExactString(name) {
        case "Ed25519": self = .ed25519
        case "ML-DSA-65": self = .mldsa65
        case "EdDSA": self = .legacyEdDSA
        default: return nil
        }
    }

    /// The suite whose key this `alg` requires.
    public var suite: SignatureAlgorithm {
        switch self {
        case .ed25519, .legacyEdDSA: .ed25519
        case .mldsa65: .mldsa65
        }
    }
}

/// A compact JWS (RFC 7515 §7.1) read strictly: three segments of strict base64url,
/// header and payload through ``StrictJSONParser``, and a closed set of header
/// parameters. Parsing checks only the envelope; the caller picks the key and calls
/// ``verifySignature(with:failure:)``.
public struct CompactJWS: Sendable {
    public let type: JWSType
    public let algorithm: JWSAlgorithm
    public let header: JSONObject
    public let payload: JSONObject
    /// The ASCII bytes `header-segment "." payload-segment`, which the signature covers.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    static let forbiddenEveryType = ["jku", "x5u", "x5c", "x5t", "x5t#S256"]

    /// Parses and checks the envelope in the order of spec/token.md (envelope steps).
    public static func parse(_ compact: String, as type: JWSType, acceptLegacyEdDSA: Bool = false) throws(AttestError) -> CompactJWS {
        var compact = compact
        let result = compact.withUTF8 { bytes in
            Result { () throws(AttestError) in try parse(utf8: bytes, as: type, acceptLegacyEdDSA: acceptLegacyEdDSA) }
        }
        return try result.get()
    }

    /// The envelope steps over the ASCII text, read in place: the segments are ranges of
    /// `bytes`, decoded straight from it.
    static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>, as type: JWSType, acceptLegacyEdDSA: Bool) throws(AttestError) -> CompactJWS {
        guard bytes.count <= type.maxBytes else {
            throw AttestError(.jwsTooLarge, "\(type.typ) is \(bytes.count) bytes; the limit is \(type.maxBytes)")
        }
        var dots = 0, firstDot = 0, secondDot = 0
        var i = 0
        while i < bytes.count {
            // Eight bytes at a time while none is a ".".
            if i + 8 <= bytes.count {
                let word = UnsafeRawPointer(bytes.baseAddress! + i).loadUnaligned(as: UInt64.self) ^ 0x2E2E_2E2E_2E2E_2E2E  // trap-free: i + 8 <= count, so bytes is not empty
                if (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
            }
            if bytes[i] == UInt8(ascii: ".") {
                if dots == 0 { firstDot = i } else if dots == 1 { secondDot = i }
                dots += 1
            }
            i += 1
        }
        guard dots == 2 else {
            throw AttestError(.jwsMalformed, "a compact JWS has 3 segments, not \(dots + 1)")
        }
        let headerBytes = try Base64URL.decode(buffer: UnsafeBufferPointer(rebasing: bytes[0..<firstDot]))
        let payloadBytes = try Base64URL.decode(buffer: UnsafeBufferPointer(rebasing: bytes[(firstDot + 1)..<secondDot]))
        let signature = try Base64URL.decode(buffer: UnsafeBufferPointer(rebasing: bytes[(secondDot + 1)...]))
        let parser = StrictJSONParser(limits: .init(maxBytes: type.maxBytes, maxDepth: 16))
        guard case .object(let header) = try headerBytes.withUnsafeBufferPointer({ (b) throws(AttestError) in try parser.parse(buffer: b) }) else {
            throw AttestError(.jwsMalformed, "the JWS header is not a JSON object")
        }
        guard case .object(let payload) = try payloadBytes.withUnsafeBufferPointer({ (b) throws(AttestError) in try parser.parse(buffer: b) }) else {
            throw AttestError(.jwsMalformed, "the JWS payload is not a JSON object")
        }

        guard let algName = header["alg"]?.stringValue, let algorithm = JWSAlgorithm(exactly: algName) else {
            throw AttestError(.jwsAlgorithmNotAllowed, "alg \(header["alg"].map(describe) ?? "missing") is not Ed25519 or ML-DSA-65")
        }
        if algorithm == .legacyEdDSA && !acceptLegacyEdDSA {
            throw AttestError(.jwsAlgorithmDeprecated, "alg EdDSA is deprecated (RFC 9864); issuers emit Ed25519")
        }
        guard let typValue = header["typ"] else {
            throw AttestError(.jwsTypeMissing, "the header has no typ")
        }
        guard let typ = typValue.stringValue, Self.typeMatches(typ, type.typ) else {
            throw AttestError(.jwsTypeInvalid, "typ \(describe(typValue)) is not \(type.typ)")
        }
        if header.contains("crit") {
            throw AttestError(.jwsCritUnsupported, "the header carries crit; no extension is understood")
        }
        let keyParameter = type.keyParameter.rawValue
        for member in header.members
        where !(member.name.isExactly("alg") || member.name.isExactly("typ") || member.name.isExactly(keyParameter)) {
            let name = member.name
            let why = Self.forbiddenEveryType.containsExactly(name) || ["jwk", "kid"].containsExactly(name)
                ? "names a key outside the verifier's trust configuration" : "is not defined for \(type.typ)"
            throw AttestError(.jwsHeaderUnsupported, "header parameter \(name) \(why)")
        }
        switch (type.keyParameter, header[keyParameter]) {
        case (.kid, .string?), (.jwk, .object?): break
        default: throw AttestError(.jwsKeyMissing, "the header has no \(keyParameter) naming the signing key")
        }

        let signingInput = Array(UnsafeBufferPointer(rebasing: bytes[0..<secondDot]))
        return CompactJWS(type: type, algorithm: algorithm, header: header, payload: payload,
                          signingInput: signingInput, signature: signature)
    }

    /// Verifies any compact JWS with `key`, whatever its `typ` and payload: the envelope
    /// rules that do not depend on a type (size, segments, strict base64url, strict JSON
    /// header, `alg`, no `crit`), then the signature. For interoperability checks against
    /// third-party JWS such as RFC 8037 A.4; protocol objects use ``parse(_:as:acceptLegacyEdDSA:)``.
    public static func verifyGeneric(_ compact: String, key: any VerifyingKey, acceptLegacyEdDSA: Bool = false,
                                     maxBytes: Int = 16384) throws(AttestError) -> (header: JSONObject, payload: [UInt8]) {
        let bytes = Array(compact.utf8)
        guard bytes.count <= maxBytes else { throw AttestError(.jwsTooLarge, "the JWS is \(bytes.count) bytes; the limit is \(maxBytes)") }
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else { throw AttestError(.jwsMalformed, "a compact JWS has 3 segments, not \(segments.count)") }
        let headerBytes = try Base64URL.decode(utf8: segments[0])
        let payload = try Base64URL.decode(utf8: segments[1])
        let signature = try Base64URL.decode(utf8: segments[2])
        guard case .object(let header) = try StrictJSONParser(limits: .init(maxBytes: maxBytes, maxDepth: 16)).parse(headerBytes) else {
            throw AttestError(.jwsMalformed, "the JWS header is not a JSON object")
        }
        guard let algName = header["alg"]?.stringValue, let algorithm = JWSAlgorithm(exactly: algName) else {
            throw AttestError(.jwsAlgorithmNotAllowed, "alg \(header["alg"].map(describe) ?? "missing") is not Ed25519 or ML-DSA-65")
        }
        if algorithm == .legacyEdDSA && !acceptLegacyEdDSA {
            throw AttestError(.jwsAlgorithmDeprecated, "alg EdDSA is deprecated (RFC 9864)")
        }
        if header.contains("crit") { throw AttestError(.jwsCritUnsupported, "the header carries crit") }
        var signingInput = Array(segments[0])
        signingInput.append(UInt8(ascii: "."))
        signingInput.append(contentsOf: segments[1])
        let jws = CompactJWS(type: JWSType(typ: "", keyParameter: .kid, maxBytes: maxBytes), algorithm: algorithm, header: header,
                             payload: [:], signingInput: signingInput, signature: signature)
        try jws.verifySignature(with: key, failure: .signatureInvalid)
        return (header, payload)
    }

    /// RFC 7515 §4.1.9: media types compare case-insensitively and `application/` may be
    /// omitted. Case is folded in ASCII only: Unicode lowercasing maps U+212A KELVIN SIGN
    /// to `k` and would let a spelling that no media-type parser accepts pass.
    static func typeMatches(_ value: String, _ expected: String) -> Bool {
        // The form issuers emit: the expected (lowercase, unprefixed) text itself.
        if sameCodeUnits(value, expected) { return true }
        var v = Substring(value).utf8
        let prefix = "application/".utf8
        if v.count >= prefix.count, ASCII.equalIgnoringCase(v.prefix(prefix.count), prefix) {
            v = v.dropFirst(prefix.count)
        }
        return ASCII.equalIgnoringCase(v, expected.utf8)
    }

    public var keyID: String? { header["kid"]?.stringValue }

    /// Checks that `alg` names the key's suite, then the signature over the signing input.
    public func verifySignature(with key: any VerifyingKey, failure: ErrorCode) throws(AttestError) {
        guard algorithm.suite == key.algorithm else {
            throw AttestError(.jwsAlgorithmKeyMismatch, "alg \(algorithm.rawValue) cannot be used with a \(key.algorithm.rawValue) key")
        }
        do {
            try key.verifyRaw(signature: signature, message: signingInput)
        } catch {
            throw AttestError(failure, "the \(type.typ) signature does not verify: \(error.message)")
        }
    }

    /// Signs a JWS of `type`. Header and payload are serialized as JCS (RFC 8785), so the
    /// same inputs give the same bytes (Ed25519 signatures are deterministic too).
    public static func sign(payload: JSONObject, type: JWSType, key: any SigningKey) throws(AttestError) -> String {
        var header: JSONObject = ["alg": .string(key.algorithm.rawValue), "typ": .string(type.typ)]
        switch type.keyParameter {
        case .kid: header["kid"] = .string(key.verifyingKey.thumbprint)
        case .jwk: header["jwk"] = JWK(key: key.verifyingKey).jsonValue.withoutKeyID
        }
        let signingInput = Base64URL.encode(JCS.canonicalize(.object(header))) + "." + Base64URL.encode(JCS.canonicalize(.object(payload)))
        let signature = try key.signRaw(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }
}

extension JSONValue {
    /// A public JWK without `kid`: the form a proof header carries (the thumbprint is
    /// computed by the verifier, not read).
    var withoutKeyID: JSONValue {
        guard case .object(var object) = self else { return self }
        object["kid"] = nil
        return .object(object)
    }
}

func describe(_ value: JSONValue) -> String {
    switch value {
    case .string(let s): "\"\(s)\""
    default: "of type \(value.typeName)"
    }
}

/// ASCII case folding for the few protocol names that compare case-insensitively (media
/// types, HTTP header and Cache-Control directive names): only `A`-`Z` fold, so no
/// non-ASCII text ever equals an ASCII name.
public enum ASCII {
    public static func equalIgnoringCase(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    public static func equalIgnoringCase(_ a: String, _ b: String) -> Bool { equalIgnoringCase(a.utf8, b.utf8) }

    /// `text` with `A`-`Z` lowered and every other code point kept.
    public static func lowercased(_ text: String) -> String { String(decoding: text.utf8.map(lower), as: UTF8.self) }

    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
}
