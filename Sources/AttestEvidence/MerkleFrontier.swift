/// The right edge of an append-only RFC 9162 tree: one hash per set bit of the size,
/// so the root of a log of any length is computed in O(log n) memory.
public struct MerkleFrontier: Sendable {
    private var subtrees: [MerkleHash?] = []
    public private(set) var size: UInt64 = 0

    public init() {}

    public mutating func append(_ leaf: MerkleHash) {
        var hash = leaf
        var level = 0
        while size >> UInt64(level) & 1 == 1 {
            hash = Merkle.nodeHash(subtrees[level]!, hash)  // trap-free: a subtree is held exactly for each set bit of size
            subtrees[level] = nil
            level += 1
        }
        if subtrees.count == level { subtrees.append(nil) }
        subtrees[level] = hash
        size += 1
    }

    public var root: MerkleHash {
        var accumulator: MerkleHash? = nil
        for level in 0..<subtrees.count where size >> UInt64(level) & 1 == 1 {
            accumulator = accumulator.map { Merkle.nodeHash(subtrees[level]!, $0) } ?? subtrees[level]!  // trap-free: a subtree is held exactly for each set bit of size
        }
        return accumulator ?? Merkle.emptyRoot
    }
}
