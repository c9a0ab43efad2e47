import Crypto
import Foundation

/// ML-DSA-65 (FIPS 204) through swift-crypto, the second signature suite.
///
/// Signing is randomized (hedged) in the underlying library, so vectors for this suite
/// fix public keys, messages and signatures and check verification; they cannot fix
/// the bytes a signer produces. The FIPS 204 context string is empty: domain
/// separation is done by ``SignatureDomain`` for both suites alike.
public enum MLDSA65Suite {
    public static let publicKeyLength = 1952
    public static let signatureLength = 3309
    public static let seedLength = 32

    public struct PublicKey: VerifyingKey {
        let key: MLDSA65.PublicKey
        public let rawRepresentation: [UInt8]
        public var algorithm: SignatureAlgorithm { .mldsa65 }

        public init(raw: [UInt8]) throws(AttestError) {
            guard raw.count == MLDSA65Suite.publicKeyLength else {
                throw AttestError(.keyInvalid, "an ML-DSA-65 public key is 1952 bytes, not \(raw.count)")
            }
            do {
                key = try MLDSA65.PublicKey(rawRepresentation: Data(raw))
            } catch {
                throw AttestError(.keyInvalid, "ML-DSA-65 public key does not decode")
            }
            rawRepresentation = raw
        }

        public func verifyRaw(signature: [UInt8], message: [UInt8]) throws(AttestError) {
            guard signature.count == MLDSA65Suite.signatureLength else {
                throw AttestError(.signatureLength, "an ML-DSA-65 signature is 3309 bytes, not \(signature.count)")
            }
            guard key.isValidSignature(Data(signature), for: Data(message)) else {
                throw AttestError(.signatureInvalid, "ML-DSA-65 signature does not verify")
            }
        }
    }

    public struct PrivateKey: SigningKey {
        let key: MLDSA65.PrivateKey
        public let publicKey: PublicKey
        public var algorithm: SignatureAlgorithm { .mldsa65 }
        public var verifyingKey: any VerifyingKey { publicKey }

        public init(seed: [UInt8]) throws(AttestError) {
            guard seed.count == MLDSA65Suite.seedLength else {
                throw AttestError(.keyInvalid, "an ML-DSA-65 seed is 32 bytes, not \(seed.count)")
            }
            do {
                key = try MLDSA65.PrivateKey(seedRepresentation: Data(seed), publicKey: nil)
            } catch {
                throw AttestError(.keyInvalid, "ML-DSA-65 key generation from seed failed")
            }
            publicKey = try PublicKey(raw: Array(key.publicKey.rawRepresentation))
        }

        public func signRaw(_ message: [UInt8]) throws(AttestError) -> [UInt8] {
            do {
                return Array(try key.signature(for: Data(message)))
            } catch {
                throw AttestError(.signingFailed, "ML-DSA-65 signing failed: \(error)")
            }
        }
    }
}
