import CSodium

/// Ed25519 (RFC 8032) through libsodium.
///
/// Verification policy: libsodium's `crypto_sign_verify_detached`, which is the
/// "strict" policy of the CCTV Ed25519 vectors: it rejects a non-canonical S
/// (S ≥ L), a non-canonical encoding of A or R, a small-order A or R, and accepts a
/// public key or R with a low-order component only when the point itself is not of
/// small order (cofactorless equation). Across the 914 CCTV vectors it accepts exactly
/// those whose flags are a subset of {`low_order_component_A`, `low_order_component_R`}.
/// A signature of any length other than 64 bytes is rejected before libsodium sees it.
public enum Ed25519 {
    public static let publicKeyLength = 32
    public static let signatureLength = 64
    public static let seedLength = 32

    public struct PublicKey: VerifyingKey, Equatable {
        public let rawRepresentation: [UInt8]
        public var algorithm: SignatureAlgorithm { .ed25519 }
        /// The RFC 7638 thumbprint, computed once: receipts name their key by it.
        public let thumbprint: String

        public init(raw: [UInt8]) throws(AttestError) {
            guard raw.count == Ed25519.publicKeyLength else {
                throw AttestError(.keyInvalid, "an Ed25519 public key is 32 bytes, not \(raw.count)")
            }
            guard Self.decodes(raw) else {
                throw AttestError(.keyInvalid, "the Ed25519 public key is not the encoding of a curve point")
            }
            rawRepresentation = raw
            thumbprint = JWK.thumbprint(ofEd25519: raw)
        }

        /// Whether the 32 bytes decode to a point of the curve (signatures.md, SIG-008).
        /// libsodium's point addition decodes both operands and checks them on the curve,
        /// and nothing more: unlike its validity check it accepts small-order points and
        /// points with a low-order component, which verification itself judges (SIG-004,
        /// SIG-005).
        static func decodes(_ raw: [UInt8]) -> Bool {
            Sodium.ensureInitialized()
            var sum = [UInt8](repeating: 0, count: 32)
            return crypto_core_ed25519_add(&sum, raw, basePoint) == 0
        }

        private static let basePoint: [UInt8] = [0x58] + [UInt8](repeating: 0x66, count: 31)

        public func verifyRaw(signature: [UInt8], message: [UInt8]) throws(AttestError) {
            guard signature.count == Ed25519.signatureLength else {
                throw AttestError(.signatureLength, "an Ed25519 signature is 64 bytes, not \(signature.count)")
            }
            guard isValid(signature: signature, message: message) else {
                throw AttestError(.signatureInvalid, "Ed25519 signature does not verify")
            }
        }

        /// The bare check, for hot loops that have already checked the length.
        @inline(__always)
        public func isValid(signature: [UInt8], message: [UInt8]) -> Bool {
            Sodium.ensureInitialized()
            return crypto_sign_verify_detached(signature, message, UInt64(message.count), rawRepresentation) == 0
        }
    }

    public struct PrivateKey: SigningKey {
        private let secretKey: [UInt8]  // libsodium's 64-byte form: seed ‖ public key
        public let publicKey: PublicKey

        public var algorithm: SignatureAlgorithm { .ed25519 }
        public var verifyingKey: any VerifyingKey { publicKey }
        public var seed: [UInt8] { Array(secretKey[0..<32]) }

        public init(seed: [UInt8]) throws(AttestError) {
            guard seed.count == Ed25519.seedLength else {
                throw AttestError(.keyInvalid, "an Ed25519 seed is 32 bytes, not \(seed.count)")
            }
            Sodium.ensureInitialized()
            var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
            var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
            crypto_sign_seed_keypair(&pk, &sk, seed)
            secretKey = sk
            publicKey = try PublicKey(raw: pk)
        }

        /// A fresh random key.
        public static func generate() -> PrivateKey {
            Sodium.ensureInitialized()
            var seed = [UInt8](repeating: 0, count: 32)
            randombytes_buf(&seed, 32)
            return try! PrivateKey(seed: seed)  // trap-free: the seed is 32 bytes, the one length init(seed:) accepts
        }

        public func signRaw(_ message: [UInt8]) throws(AttestError) -> [UInt8] {
            var signature = [UInt8](repeating: 0, count: Ed25519.signatureLength)
            crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
            return signature
        }
    }
}
