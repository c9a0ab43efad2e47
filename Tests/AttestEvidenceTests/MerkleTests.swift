import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

private func b64(_ v: JSONValue?) -> [UInt8] {
    guard let s = v?.stringValue, let d = Data(base64Encoded: s) else { return Array((v?.stringValue ?? "").utf8) }
    return Array(d)
}

@Suite("RFC 9162 Merkle trees")
struct MerkleTests {
    @Test("transparency-dev/merkle inclusion probes: verification fails iff wantErr")
    func inclusionProbes() throws {
        let files = ExternalVectors.files(under: "transparency-dev-merkle/testdata/inclusion")
        var mismatches: [String] = []
        for file in files {
            let probe = try ExternalVectors.json(file)
            let proof = (probe["proof"]?.arrayValue ?? []).map { b64($0) }
            let accepted = (try? Merkle.verifyInclusion(
                index: probe["leafIdx"]!.unsignedValue!, treeSize: probe["treeSize"]!.unsignedValue!,
                leafHash: b64(probe["leafHash"]), proof: proof, root: b64(probe["root"]))) != nil
            if accepted == probe["wantErr"]!.boolValue! { mismatches.append(file) }
        }
        print("transparency-dev inclusion: \(files.count) probes, \(mismatches.count) mismatches")
        #expect(files.count == 98)
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test("transparency-dev/merkle consistency probes: verification fails iff wantErr")
    func consistencyProbes() throws {
        let files = ExternalVectors.files(under: "transparency-dev-merkle/testdata/consistency")
        var mismatches: [String] = []
        for file in files {
            let probe = try ExternalVectors.json(file)
            let proof = (probe["proof"]?.arrayValue ?? []).map { b64($0) }
            let accepted = (try? Merkle.verifyConsistency(
                size1: probe["size1"]!.unsignedValue!, size2: probe["size2"]!.unsignedValue!,
                root1: b64(probe["root1"]), root2: b64(probe["root2"]), proof: proof)) != nil
            if accepted == probe["wantErr"]!.boolValue! { mismatches.append(file) }
        }
        print("transparency-dev consistency: \(files.count) probes, \(mismatches.count) mismatches")
        #expect(files.count == 98)
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test("known hasher answers and the reference tree's roots for sizes 0...8")
    func referenceTree() throws {
        let known = try ExternalVectors.json("transparency-dev-merkle/rfc6962-known-hashes.json")
        for c in known["cases"]!.arrayValue! {
            let want = c["want_hex"]!.stringValue!
            switch c["op"]!.stringValue! {
            case "empty_root": #expect(Merkle.emptyRoot.description == want)
            case "leaf": #expect(Merkle.leafHash(hex(c["leaf_hex"]!.stringValue!)).description == want)
            default: #expect(Hex.encode(SHA256.hash(hex(c["preimage_hex"]!.stringValue!))) == want)
            }
        }
        let tree = try ExternalVectors.json("transparency-dev-merkle/reference-tree.json")
        let leaves = tree["leaf_inputs_hex"]!.arrayValue!.map { hex($0.stringValue!) }
        var log = MerkleTree()
        for root in tree["roots_by_size"]!.arrayValue! {
            let size = Int(root["size"]!.integerValue!)
            let batch = MerkleTree(leafHashes: leaves.prefix(size).map(Merkle.leafHash))
            #expect(batch.root().description == root["root_hex"]!.stringValue!, "size \(size)")
            if size > 0 { log.append(leaves[size - 1]) }
            #expect(log.root().description == root["root_hex"]!.stringValue!, "incremental size \(size)")
        }
    }

    @Test("generated proofs verify for every index and size pair up to 33, and reproduce the probes' happy paths")
    func generatedProofs() throws {
        let tree = MerkleTree(leafHashes: (0..<33).map { Merkle.leafHash([UInt8($0)]) })
        for n in 1...33 {
            let root = tree.root(size: n).bytes
            for i in 0..<n {
                let proof = tree.inclusionProof(index: i, size: n).map(\.bytes)
                try Merkle.verifyInclusion(index: UInt64(i), treeSize: UInt64(n), leafHash: Merkle.leafHash([UInt8(i)]).bytes,
                                           proof: proof, root: root)
            }
            for m in 1...n {
                try Merkle.verifyConsistency(size1: UInt64(m), size2: UInt64(n), root1: tree.root(size: m).bytes, root2: root,
                                             proof: tree.consistencyProof(from: m, to: n).map(\.bytes))
            }
        }
        let reference = try ExternalVectors.json("transparency-dev-merkle/reference-tree.json")
        let leaves = reference["leaf_inputs_hex"]!.arrayValue!.map { hex($0.stringValue!) }
        let eight = MerkleTree(leafHashes: leaves.map(Merkle.leafHash))
        let inclusion = try ExternalVectors.json("transparency-dev-merkle/testdata/inclusion/1/happy-path.json")
        #expect(eight.inclusionProof(index: Int(inclusion["leafIdx"]!.integerValue!)).map(\.bytes)
                == inclusion["proof"]!.arrayValue!.map { b64($0) })
        let consistency = try ExternalVectors.json("transparency-dev-merkle/testdata/consistency/1/happy-path.json")
        #expect(eight.consistencyProof(from: Int(consistency["size1"]!.integerValue!)).map(\.bytes)
                == consistency["proof"]!.arrayValue!.map { b64($0) })
    }

    @Test("each precondition has its code, with a passing control")
    func codes() throws {
        let tree = MerkleTree(leafHashes: (0..<5).map { Merkle.leafHash([UInt8($0)]) })
        let root = tree.root().bytes
        let leaf = Merkle.leafHash([2]).bytes
        let proof = tree.inclusionProof(index: 2).map(\.bytes)
        try Merkle.verifyInclusion(index: 2, treeSize: 5, leafHash: leaf, proof: proof, root: root)
        expectCode(.merkleIndexOutOfRange) { try Merkle.verifyInclusion(index: 5, treeSize: 5, leafHash: leaf, proof: proof, root: root) }
        expectCode(.merkleHashLength) { try Merkle.verifyInclusion(index: 2, treeSize: 5, leafHash: leaf + [0], proof: proof, root: root) }
        expectCode(.merkleInclusionInvalid) { try Merkle.verifyInclusion(index: 3, treeSize: 5, leafHash: leaf, proof: proof, root: root) }
        let r3 = tree.root(size: 3).bytes
        let c = tree.consistencyProof(from: 3).map(\.bytes)
        try Merkle.verifyConsistency(size1: 3, size2: 5, root1: r3, root2: root, proof: c)
        expectCode(.merkleSizeOrder) { try Merkle.verifyConsistency(size1: 5, size2: 3, root1: root, root2: r3, proof: c) }
        expectCode(.merkleSizeOrder) { try Merkle.verifyConsistency(size1: 0, size2: 5, root1: Merkle.emptyRoot.bytes, root2: root, proof: []) }
        expectCode(.merkleConsistencyInvalid) { try Merkle.verifyConsistency(size1: 3, size2: 5, root1: root, root2: root, proof: c) }
        try Merkle.verifyConsistency(size1: 5, size2: 5, root1: root, root2: root, proof: [])
        expectCode(.merkleConsistencyInvalid) { try Merkle.verifyConsistency(size1: 5, size2: 5, root1: root, root2: r3, proof: []) }
    }
}
