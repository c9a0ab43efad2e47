import AttestCore
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    /// FIPS 180-4 examples, and the million-`a` message of its test suite.
    @Test("known digests")
    func knownDigests() {
        #expect(Hex.encode(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Hex.encode(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every entry point gives the same digest at every length around the block and
    /// padding boundaries (55, 56, 64 bytes), split anywhere for the incremental hasher.
    @Test("entry points agree")
    func entryPointsAgree() {
        for length in 0...200 {
            let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            let oneShot = SHA256.hash(input)
            #expect(oneShot.count == SHA256.byteCount)
            #expect(input.withUnsafeBytes { SHA256.hash($0) } == oneShot, "buffer, \(length) bytes")
            var into = [UInt8](repeating: 0, count: 32)
            input.withUnsafeBytes { i in into.withUnsafeMutableBytes { SHA256.hash(i, into: $0.baseAddress!) } }
            #expect(into == oneShot, "into, \(length) bytes")
            for split in Set([0, length / 3, length / 2, length]) {
                var hasher = SHA256.Hasher()
                hasher.update(Array(input[..<split]))
                hasher.update([])
                hasher.update(Array(input[split...]))
                let digest = hasher.finalize()
                #expect(digest == oneShot, "incremental, \(length) bytes split at \(split)")
            }
        }
    }
}
