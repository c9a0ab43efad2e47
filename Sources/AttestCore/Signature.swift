/// The signature suites of the protocol and the one rule that binds every signature
/// to the type of object it signs.
///
/// A suite is a pair of key types behind ``SigningKey`` and ``VerifyingKey``; the
/// algorithm names are those of RFC 9864 (`Ed25519`) and of the JOSE ML-DSA draft
/// (`ML-DSA-65`).
public enum SignatureAlgorithm: String, CaseIterable, Sendable, Codable {
    case ed25519 = "Ed25519"
    case mldsa65 = "ML-DSA-65"

    public var signatureLength: Int {
        switch self {
        case .ed25519: Ed25519.signatureLength
        case .mldsa65: MLDSA65Suite.signatureLength
        }
    }

    public var publicKeyLength: Int {
        switch self {
        case .ed25519: Ed25519.publicKeyLength
        case .mldsa65: MLDSA65Suite.publicKeyLength
        }
    }

    /// Builds a verifying key from its raw encoding (32 bytes for Ed25519, 1952 for ML-DSA-65).
    public func publicKey(raw: [UInt8]) throws(AttestError) -> any VerifyingKey {
        switch self {
        case .ed25519: try Ed25519.PublicKey(raw: raw)
        case .mldsa65: try MLDSA65Suite.PublicKey(raw: raw)
        }
    }

    /// Builds a signing key from a 32-byte seed (RFC 8032 secret key; FIPS 204 ξ).
    public func privateKey(seed: [UInt8]) throws(AttestError) -> any SigningKey {
        switch self {
        case .ed25519: try Ed25519.PrivateKey(seed: seed)
        case .mldsa65: try MLDSA65Suite.PrivateKey(seed: seed)
        }
    }
}

public protocol VerifyingKey: Sendable {
    var algorithm: SignatureAlgorithm { get }
    var rawRepresentation: [UInt8] { get }
    /// RFC 7638 thumbprint of the key's JWK form, base64url-encoded.
    var thumbprint: String { get }
    /// Verifies a signature over exactly `message`, with no domain prefix.
    func verifyRaw(signature: [UInt8], message: [UInt8]) throws(AttestError)
}

public protocol SigningKey: Sendable {
    var algorithm: SignatureAlgorithm { get }
    var verifyingKey: any VerifyingKey { get }
    /// Signs exactly `message`, with no domain prefix.
    func signRaw(_ message: [UInt8]) throws(AttestError) -> [UInt8]
}

/// The type of object a signature is made for. The signed bytes of every non-JOSE
/// object are `"MCP-ATTEST-v1:" ‖ label ‖ 0x00 ‖ payload`, so a signature made for one
/// type never verifies as another. JOSE objects (tokens, proofs) are separated by their
/// `typ` header instead, which is inside the JWS signing input; C2SP signed notes are
/// separated by their text format, which can contain no 0x00 byte.
public struct SignatureDomain: RawRepresentable, Hashable, Sendable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let artifact = SignatureDomain(rawValue: "artifact")
    public static let mandate = SignatureDomain(rawValue: "mandate")
    public static let receipt = SignatureDomain(rawValue: "receipt")
    public static let statement = SignatureDomain(rawValue: "statement")
    public static let bundle = SignatureDomain(rawValue: "bundle")
    public static let operatorAttestation = SignatureDomain(rawValue: "operator-attestation")
    /// Used only by test vectors, so no production object can be signed by a vector key.
    public static let test = SignatureDomain(rawValue: "test")

    public static let prefix = Array("MCP-ATTEST-v1:".utf8)

    public func signedBytes(_ payload: [UInt8]) -> [UInt8] {
        var out = SignatureDomain.prefix
        out.append(contentsOf: rawValue.utf8)
        out.append(0)
        out.append(contentsOf: payload)
        return out
    }
}

extension SigningKey {
    public func sign(_ payload: [UInt8], domain: SignatureDomain) throws(AttestError) -> [UInt8] {
        try signRaw(domain.signedBytes(payload))
    }
}

extension VerifyingKey {
    public func verify(signature: [UInt8], payload: [UInt8], domain: SignatureDomain) throws(AttestError) {
        try verifyRaw(signature: signature, message: domain.signedBytes(payload))
    }

    public var thumbprint: String { JWK.thumbprint(of: self) }
}
