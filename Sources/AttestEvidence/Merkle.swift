import AttestCore

/// RFC 9162 §2.1 Merkle trees over SHA-256: leaf hash H(0x00 ‖ data), node hash
/// H(0x01 ‖ left ‖ right), no duplication of odd nodes, and the inclusion and
/// consistency proofs of §2.1.3 and §2.1.4.
///
/// Hand-written because the verification algorithms must be exact and are small; the
/// preconditions RFC 9162 leaves implicit are fixed as transparency-dev/merkle fixes
/// them (spec/merkle.md): an index must be below the tree size, every hash is 32
/// bytes, a consistency proof from size 0 is an error, and a consistency proof between
/// equal sizes is valid only when it is empty and the two roots are equal.
public enum Merkle {
    public static let emptyRoot = MerkleHash(SHA256.hash([]))

    public static func leafHash(_ data: [UInt8]) -> MerkleHash {
        // A receipt's leaf data is its 32-byte link: hash it from the stack.
        if data.count == 32 {
            return withUnsafeTemporaryAllocation(byteCount: 33, alignment: 8) { input in
                input[0] = 0
                data.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: input[1...]).copyMemory(from: $0) }
                return MerkleHash(hashing: UnsafeRawBufferPointer(input))
            }
        }
        var input: [UInt8] = [0]
        input.append(contentsOf: data)
        return MerkleHash(SHA256.hash(input))
    }

    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 8) { input in
            input[0] = 1
            left.store(to: input.baseAddress! + 1)  // trap-free: a buffer of fixed non-zero size
            right.store(to: input.baseAddress! + 33)  // trap-free: a buffer of fixed non-zero size
            return MerkleHash(hashing: UnsafeRawBufferPointer(input))
        }
    }

    /// The largest power of two strictly less than `n` (n ≥ 2).
    static func splitPoint(_ n: Int) -> Int {
        precondition(n >= 2)
        return 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount - 1)
    }

    // MARK: Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    public static func verifyInclusion(index: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]],
                                       root: [UInt8]) throws(AttestError) {
        guard index < treeSize else {
            throw AttestError(.merkleIndexOutOfRange, "leaf index \(index) is not below the tree size \(treeSize)")
        }
        try checkLengths([leafHash, root] + proof)
        guard try inclusionRoot(index: index, treeSize: treeSize, leafHash: leafHash, proof: proof) == MerkleHash(root) else {
            throw AttestError(.merkleInclusionInvalid, "inclusion proof does not lead to the root")
        }
    }

    /// The root an inclusion proof leads to from `leafHash` at `index` in the tree of
    /// `treeSize` (RFC 9162 §2.1.3.2 without its final comparison): `MRK_INDEX_OUT_OF_RANGE`,
    /// `MRK_HASH_LENGTH`, or `MRK_INCLUSION_INVALID` for a proof of the wrong length.
    public static func inclusionRoot(index: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]])
        throws(AttestError) -> MerkleHash
    {
        guard index < treeSize else {
            throw AttestError(.merkleIndexOutOfRange, "leaf index \(index) is not below the tree size \(treeSize)")
        }
        try checkLengths([leafHash] + proof)
        var fn = index, sn = treeSize - 1
        var r = MerkleHash(leafHash)
        for p in proof.map(MerkleHash.init) {
            guard sn != 0 else { throw AttestError(.merkleInclusionInvalid, "inclusion proof is too long") }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1; sn >>= 1
        }
        guard sn == 0 else { throw AttestError(.merkleInclusionInvalid, "inclusion proof is too short") }
        return r
    }

    public static func verifyConsistency(size1: UInt64, size2: UInt64, root1: [UInt8], root2: [UInt8],
                                         proof: [[UInt8]]) throws(AttestError) {
        guard size1 <= size2 else {
            throw AttestError(.merkleSizeOrder, "first size \(size1) is larger than second size \(size2)")
        }
        guard size1 > 0 else {
            throw AttestError(.merkleSizeOrder, "a consistency proof from the empty tree proves nothing and is refused")
        }
        if size1 == size2 {
            guard proof.isEmpty else {
                throw AttestError(.merkleConsistencyInvalid, "equal sizes need an empty proof")
            }
            guard root1 == root2 else {
                throw AttestError(.merkleConsistencyInvalid, "equal sizes with different roots")
            }
            return
        }
        try checkLengths([root1, root2] + proof)
        guard !proof.isEmpty else { throw AttestError(.merkleConsistencyInvalid, "empty consistency proof") }
        var path = proof.map(MerkleHash.init)
        if size1 & (size1 - 1) == 0 { path.insert(MerkleHash(root1), at: 0) }
        var fn = size1 - 1, sn = size2 - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw AttestError(.merkleConsistencyInvalid, "consistency proof is too long") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1; sn >>= 1
        }
        guard sn == 0 else { throw AttestError(.merkleConsistencyInvalid, "consistency proof is too short") }
        guard fr == MerkleHash(root1) else {
            throw AttestError(.merkleConsistencyInvalid, "consistency proof does not lead to the first root")
        }
        guard sr == MerkleHash(root2) else {
            throw AttestError(.merkleConsistencyInvalid, "consistency proof does not lead to the second root")
        }
    }

    private static func checkLengths(_ hashes: [[UInt8]]) throws(AttestError) {
        for h in hashes where h.count != SHA256.byteCount {
            throw AttestError(.merkleHashLength, "a tree hash is \(h.count) bytes, not 32")
        }
    }
}

/// A 32-byte tree hash held inline (no heap allocation), so that a tree of a million
/// leaves is one flat array.
public struct MerkleHash: Hashable, Sendable, CustomStringConvertible {
    var a: UInt64, b: UInt64, c: UInt64, d: UInt64

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32, "a tree hash is 32 bytes")
        (a, b, c, d) = bytes.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }

    /// SHA-256 of `input`, computed straight into the inline words.
    init(hashing input: UnsafeRawBufferPointer) {
        (a, b, c, d) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &self) { SHA256.hash(input, into: $0.baseAddress!) }  // trap-free: a buffer of fixed non-zero size
    }

    @inline(__always)
    func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: a, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: c, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: d, toByteOffset: 24, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        write(into: &out, at: 0)
        return out
    }

    func write(into buffer: inout [UInt8], at offset: Int) {
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: a, toByteOffset: offset, as: UInt64.self)
            raw.storeBytes(of: b, toByteOffset: offset + 8, as: UInt64.self)
            raw.storeBytes(of: c, toByteOffset: offset + 16, as: UInt64.self)
            raw.storeBytes(of: d, toByteOffset: offset + 24, as: UInt64.self)
        }
    }

    public var description: String { Hex.encode(bytes) }
}

/// An append-only tree that keeps every complete subtree hash, so roots and proofs
/// for any size up to the current one cost O(log² n) hash operations.
public struct MerkleTree: Sendable {
    /// levels[k][i] is the hash of the complete subtree of leaves [i·2^k, (i+1)·2^k).
    private var levels: [[MerkleHash]] = [[]]

    public init() {}

    public init(leafHashes: [MerkleHash]) {
        levels = [leafHashes]
        var k = 0
        while levels[k].count >= 2 {
            let below = levels[k]
            var level: [MerkleHash] = []
            level.reserveCapacity(below.count / 2)
            var i = 0
            while i + 1 < below.count {
                level.append(Merkle.nodeHash(below[i], below[i + 1]))
                i += 2
            }
            levels.append(level)
            k += 1
        }
    }

    public var size: Int { levels[0].count }

    public mutating func append(leafHash: MerkleHash) {
        levels[0].append(leafHash)
        var k = 0
        while levels[k].count % 2 == 0 {
            let n = levels[k].count
            let parent = Merkle.nodeHash(levels[k][n - 2], levels[k][n - 1])
            if levels.count == k + 1 { levels.append([]) }
            levels[k + 1].append(parent)
            k += 1
        }
    }

    public mutating func append(_ data: [UInt8]) { append(leafHash: Merkle.leafHash(data)) }

    /// MTH(D[lo:hi]).
    func hash(_ lo: Int, _ hi: Int) -> MerkleHash {
        let n = hi - lo
        if n == 0 { return Merkle.emptyRoot }
        if n & (n - 1) == 0 && lo % n == 0 {
            let k = n.trailingZeroBitCount
            return levels[k][lo >> k]
        }
        let k = Merkle.splitPoint(n)
        return Merkle.nodeHash(hash(lo, lo + k), hash(lo + k, hi))
    }

    public func root(size: Int? = nil) -> MerkleHash { hash(0, size ?? self.size) }

    /// PATH(m, D[n]) of RFC 9162 §2.1.3.1.
    public func inclusionProof(index: Int, size: Int? = nil) -> [MerkleHash] {
        let n = size ?? self.size
        precondition(index < n && n <= self.size)
        var proof: [MerkleHash] = []
        path(index, 0, n, &proof)
        return proof
    }

    private func path(_ m: Int, _ lo: Int, _ hi: Int, _ proof: inout [MerkleHash]) {
        let n = hi - lo
        guard n > 1 else { return }
        let k = Merkle.splitPoint(n)
        if m < k {
            path(m, lo, lo + k, &proof)
            proof.append(hash(lo + k, hi))
        } else {
            path(m - k, lo + k, hi, &proof)
            proof.append(hash(lo, lo + k))
        }
    }

    /// PROOF(m, D[n]) of RFC 9162 §2.1.4.1.
    public func consistencyProof(from m: Int, to size: Int? = nil) -> [MerkleHash] {
        let n = size ?? self.size
        precondition(0 < m && m <= n && n <= self.size)
        var proof: [MerkleHash] = []
        subproof(m, 0, n, true, &proof)
        return proof
    }

    private func subproof(_ m: Int, _ lo: Int, _ hi: Int, _ complete: Bool, _ proof: inout [MerkleHash]) {
        let n = hi - lo
        if m == n {
            if !complete { proof.append(hash(lo, hi)) }
            return
        }
        let k = Merkle.splitPoint(n)
        if m <= k {
            subproof(m, lo, lo + k, complete, &proof)
            proof.append(hash(lo + k, hi))
        } else {
            subproof(m - k, lo + k, hi, false, &proof)
            proof.append(hash(lo, lo + k))
        }
    }
}
