import CCryptoBoringSSL
import CSodium

/// SHA-256, the one hash of the protocol (link hashes, Merkle leaves and nodes,
/// commitments, thumbprints, the params and token hashes), through BoringSSL's C API as
/// swift-crypto builds it (`CCryptoBoringSSL_SHA256`); every entry point below uses it.
///
/// Why this backend: BoringSSL picks the CPU's SHA extensions at run time (SHA-NI on
/// x86_64, the ARMv8 SHA instructions), where libsodium's SHA-256 is portable C.
/// `attest bench core` measures both, and swift-crypto's `SHA256` type, in the same run
/// at the sizes the protocol hashes (Benchmarks/README.md §Core). The C function is
/// called directly rather than through swift-crypto's `SHA256` type, which allocates a
/// context object per call: on the 65-byte Merkle node inputs that costs as much as the
/// hash. `CCryptoBoringSSL` is the module swift-crypto's `Crypto` product builds and
/// links (it is not a product of its own); the package pins swift-crypto exactly.
public enum SHA256 {
    public static let byteCount = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
            _ = CCryptoBoringSSL_SHA256(buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count, out.baseAddress)
            initialized = byteCount
        }
    }

    /// Hashes `input` into the 32 bytes at `output`, without allocating: for hot paths
    /// that keep digests inline (Merkle leaf and node hashes).
    @inline(__always)
    public static func hash(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        _ = CCryptoBoringSSL_SHA256(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                                    output.assumingMemoryBound(to: UInt8.self))
    }

    /// Incremental hashing for streams.
    public struct Hasher: ~Copyable {
        private var state = SHA256_CTX()

        public init() {
            _ = CCryptoBoringSSL_SHA256_Init(&state)
        }

        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { b in
                _ = CCryptoBoringSSL_SHA256_Update(&state, b.baseAddress, b.count)
            }
        }

        public consuming func finalize() -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: SHA256.byteCount) { out, initialized in
                _ = CCryptoBoringSSL_SHA256_Final(out.baseAddress, &state)
                initialized = SHA256.byteCount
            }
        }
    }
}

enum Sodium {
    private static let initialized: Bool = { sodium_init() >= 0 }()

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialize")
    }
}
