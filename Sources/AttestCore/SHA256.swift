import CSodium

/// SHA-256 through libsodium (`crypto_hash_sha256`), the one hash of the protocol.
public enum SHA256 {
    public static let byteCount = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: byteCount)
        _ = bytes.withUnsafeBufferPointer { input in
            crypto_hash_sha256(&out, input.baseAddress, UInt64(input.count))
        }
        return out
    }

    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: byteCount)
        crypto_hash_sha256(&out, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(buffer.count))
        return out
    }

    /// Hashes `input` into the 32 bytes at `output`, without allocating: for hot paths
    /// that keep digests inline (Merkle leaf and node hashes).
    @inline(__always)
    public static func hash(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        Sodium.ensureInitialized()
        crypto_hash_sha256(output.assumingMemoryBound(to: UInt8.self), input.baseAddress?.assumingMemoryBound(to: UInt8.self),
                           UInt64(input.count))
    }

    /// Incremental hashing for streams.
    public struct Hasher: ~Copyable {
        private var state = crypto_hash_sha256_state()

        public init() {
            Sodium.ensureInitialized()
            crypto_hash_sha256_init(&state)
        }

        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { b in
                _ = crypto_hash_sha256_update(&state, b.baseAddress, UInt64(b.count))
            }
        }

        public consuming func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: SHA256.byteCount)
            crypto_hash_sha256_final(&state, &out)
            return out
        }
    }
}

enum Sodium {
    private static let initialized: Bool = { sodium_init() >= 0 }()

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialize")
    }
}
