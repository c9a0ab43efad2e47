import AttestCore
import Foundation

/// A C2SP tlog-policy file as a trust input of bundle verification (bundle.md §Trust
/// policy): the logs' keys, the witnesses' cosigner keys, and the quorum of witnesses
/// whose cosignatures each log's newest checkpoint must carry.
///
/// Names are compared as bytes. Groups are kept in file order, and a group names only
/// witnesses and groups of earlier lines, so one pass in that order decides every group.
public struct TrustPolicy: Sendable {
    public struct Witness: Sendable {
        /// The witness's name in the policy (not its key name).
        public let name: [UInt8]
        public let key: CosignerVerifier
    }

    public struct Group: Sendable {
        public let name: [UInt8]
        public let threshold: Int
        public let members: [[UInt8]]
    }

    public private(set) var logs: [NoteVerifier] = []
    public private(set) var witnesses: [Witness] = []
    public private(set) var groups: [Group] = []
    /// The quorum's name; `none` is the predefined name met by every set.
    public private(set) var quorum: [UInt8] = []

    public static let maxBytes = 1 << 20
    public static let maxLinesOfAKind = 1024
    static let none = Array("none".utf8)

    public var quorumIsNone: Bool { quorum == Self.none }
    public var witnessKeys: [CosignerVerifier] { witnesses.map(\.key) }

    /// Reads a policy (bundle.md §The policy file, steps 1 to 7): `BND_POLICY_MALFORMED`,
    /// or `KEY_INVALID` for a key text that is not a key of its role.
    public init(text: String) throws(AttestError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maxBytes else { throw Self.malformed(0, "the policy is over 1 MiB") }
        guard !bytes.contains(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A || $0 == 0x7F }) else {
            throw Self.malformed(0, "the policy holds a control character other than tab and line feed")
        }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var names = Set<[UInt8]>()
        var logKeys = Set<[UInt8]>()
        var witnessKeys = Set<[UInt8]>()
        var quorum: [UInt8]?
        for (offset, line) in lines.enumerated() {
            let number = offset + 1
            let items = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { Array($0) }
            guard let kind = items.first, kind.first != UInt8(ascii: "#") else { continue }
            let args = Array(items.dropFirst())
            if kind == Array("log".utf8) {
                guard args.count == 1 || args.count == 2 else { throw Self.malformed(number, "log <vkey> [<url>]") }
                let key = try NoteVerifier(text: String(decoding: args[0], as: UTF8.self))
                guard logKeys.insert(key.key.rawRepresentation).inserted, logs.count < Self.maxLinesOfAKind else {
                    throw Self.malformed(number, "a log key twice, or too many logs")
                }
                logs.append(key)
            } else if kind == Array("witness".utf8) {
                guard args.count == 2 || args.count == 3 else { throw Self.malformed(number, "witness <name> <vkey> [<url>]") }
                guard args[0] != Self.none, !names.contains(args[0]) else {
                    throw Self.malformed(number, "a witness name defined before, or none")
                }
                let key = try CosignerVerifier(text: String(decoding: args[1], as: UTF8.self))
                guard witnessKeys.insert(key.key.rawRepresentation).inserted, witnesses.count < Self.maxLinesOfAKind else {
                    throw Self.malformed(number, "a witness key twice, or too many witnesses")
                }
                names.insert(args[0])
                witnesses.append(Witness(name: args[0], key: key))
            } else if kind == Array("group".utf8) {
                guard args.count >= 3 else { throw Self.malformed(number, "group <name> <k> <member>...") }
                let name = args[0], members = Array(args.dropFirst(2))
                guard name != Self.none, !names.contains(name), groups.count < Self.maxLinesOfAKind else {
                    throw Self.malformed(number, "a group name defined before, or none, or too many groups")
                }
                guard Set(members).count == members.count, members.allSatisfy({ $0 != Self.none && names.contains($0) }) else {
                    throw Self.malformed(number, "a member undefined, named twice, or none")
                }
                let threshold: Int
                let k = args[1]
                if k == Array("all".utf8) {
                    threshold = members.count
                } else if k == Array("any".utf8) {
                    threshold = 1
                } else if (1...6).contains(k.count), k.allSatisfy({ (0x30...0x39).contains($0) }), k.first != 0x30,
                          let value = Int(String(decoding: k, as: UTF8.self)), value <= members.count {
                    threshold = value
                } else {
                    throw Self.malformed(number, "the threshold is all, any, or a count from 1 to the members")
                }
                names.insert(name)
                groups.append(Group(name: name, threshold: threshold, members: members))
            } else if kind == Array("quorum".utf8) {
                guard args.count == 1, quorum == nil, args[0] == Self.none || names.contains(args[0]) else {
                    throw Self.malformed(number, "one quorum line, naming none or an earlier witness or group")
                }
                quorum = args[0]
            } else {
                throw Self.malformed(number, "not a log, witness, group or quorum line")
            }
        }
        guard let quorum else { throw Self.malformed(0, "the policy has no quorum line") }
        self.quorum = quorum
    }

    static func malformed(_ line: Int, _ why: String) -> AttestError {
        AttestError(.bundlePolicyMalformed, line > 0 ? "policy line \(line): \(why)" : why)
    }

    /// Whether a set of witnesses (by policy name) meets the quorum.
    public func meets(_ witnessed: Set<[UInt8]>) -> Bool {
        if quorumIsNone { return true }
        var met = Set(witnesses.map(\.name).filter { witnessed.contains($0) })
        for group in groups where group.members.reduce(0, { $0 + (met.contains($1) ? 1 : 0) }) >= group.threshold {
            met.insert(group.name)
        }
        return met.contains(quorum)
    }

    /// A valid cosignature by a witness of the policy: its policy name and timestamp.
    public struct Counted: Sendable, Equatable {
        public let name: [UInt8]
        public let time: UInt64
    }

    /// The counted cosignatures on a note `Checkpoint.verify` accepted, in line order
    /// (`CKP_COSIGNATURE_INVALID` for a witness's line that does not verify).
    public func counted(note: String) throws(AttestError) -> [Counted] {
        try Checkpoint.cosignatureIndices(on: note, witnesses: witnessKeys).map {
            Counted(name: witnesses[$0.witness].name, time: $0.time)
        }
    }
}

/// The trust-policy state of one log during bundle verification (bundle.md §Verification
/// with a trust policy): the counted cosignatures of its checkpoints, the bound they put on
/// receipt times, and the pinned checkpoint the tree must reach with its root.
struct LogTrust {
    private var counted: [[TrustPolicy.Counted]] = []
    /// Per checkpoint, the genTimes of its timestamps verified under a trusted authority.
    private var stamped: [[UInt64]] = []
    /// Per checkpoint, in order: its size and the earliest counted cosignature on it or on a later one.
    private var bounds: [(size: UInt64, time: UInt64?)] = []
    private var nextBound = 0
    private(set) var pinned: Checkpoint?
    private(set) var witnesses: [String] = []
    private(set) var endProven = false
    /// The bounds that proved the end: the pinned size, the freshness bound.
    private(set) var endPinnedSize: UInt64?
    private(set) var endFreshAfter: Int64?

    /// Step 3, for each checkpoint: its cosignatures by the policy's witnesses; one dated
    /// after the verification time is not counted.
    mutating func read(note: String, policy: TrustPolicy?, now: Int64) throws(AttestError) {
        counted.append(try (policy?.counted(note: note) ?? []).filter { now >= 0 && $0.time <= UInt64(now) })
    }

    /// Step 3, for each checkpoint: its verified timestamps' genTimes (bundle.md §Timestamp authorities).
    mutating func read(timestamps: [Int64]) {
        stamped.append(timestamps.map { UInt64(max($0, 0)) })
    }

    /// Step 3, after the last checkpoint line: the quorum, freshness and the pinned checkpoint.
    mutating func checkNewest(_ checkpoints: [Checkpoint], key: NoteVerifier, origin: String,
                              trust: BundleVerifier.Trust) throws(AttestError) {
        guard let newest = checkpoints.last, let onNewest = counted.last else { return }
        if let policy = trust.policy {
            let seen = Set(onNewest.map(\.name))
            // In the policy's order.
            witnesses = policy.witnesses.filter { seen.contains($0.name) }.map { String(decoding: $0.name, as: UTF8.self) }
            guard policy.meets(seen) else {
                throw AttestError(.bundleQuorumNotMet, "the newest checkpoint's cosignatures do not meet the quorum")
            }
            if let fresh = trust.freshAfter {
                let recent = Set(onNewest.filter { fresh <= 0 || $0.time >= UInt64(fresh) }.map(\.name))
                guard policy.meets(recent) else {
                    throw AttestError(.bundleNotFresh, "no quorum of cosignatures on the newest checkpoint at or after \(fresh)")
                }
            }
        }
        if let note = trust.pinned.first(where: { $0.origin.isExactly(origin) })?.note {
            let p = try Checkpoint.verify(note, trusted: [key], origin: origin)
            guard p.size <= newest.size else {
                throw AttestError(.bundlePinnedTruncated, "the log ends at size \(newest.size), before the pinned size \(p.size)")
            }
            guard p.size > 0 || p.root == Merkle.emptyRoot.bytes else {
                throw AttestError(.bundlePinnedForked, "a pinned checkpoint of size 0 without the empty tree's root")
            }
            pinned = p
        }
        endProven = pinned != nil || trust.freshAfter != nil
        endPinnedSize = pinned?.size
        endFreshAfter = trust.freshAfter
        var earliest: UInt64?
        for ((checkpoint, cosignatures), stamps) in zip(zip(checkpoints, counted), stamped).reversed() {
            for c in cosignatures { earliest = min(earliest ?? c.time, c.time) }
            for t in stamps { earliest = min(earliest ?? t, t) }
            bounds.append((checkpoint.size, earliest))
        }
        bounds.reverse()
    }

    /// Step 4, after the future-receipt check: not later than a witness or a trusted
    /// timestamp authority saw it.
    mutating func checkReceipt(seq: UInt64, time: Int64) throws(AttestError) {
        while nextBound < bounds.count && bounds[nextBound].size <= seq { nextBound += 1 }
        if nextBound < bounds.count, let bound = bounds[nextBound].time, time > 0, UInt64(time) > bound {
            throw AttestError(.bundleReceiptAfterCosignature,
                              "time \(time) is after a witness or a timestamp authority saw a tree holding the receipt at \(bound)")
        }
    }

    /// Step 8: the tree at the pinned size has the pinned root.
    /// `root` is computed only at the pinned size: a root costs O(log n) hashes, and this
    /// runs after every receipt.
    func checkTree(size: UInt64, root: @autoclosure () -> [UInt8]) throws(AttestError) {
        if let pinned, pinned.size == size, pinned.root != root() {
            throw AttestError(.bundlePinnedForked, "the tree of size \(size) has another root than the pinned checkpoint")
        }
    }
}

extension BundleVerifier.Trust {
    /// What makes the trust inputs unusable (bundle.md §Trust policy), or nil: two pinned
    /// checkpoints for one origin (origins compared as bytes), or a freshness bound after
    /// the verification time.
    public var inputProblem: String? {
        for (i, p) in pinned.enumerated() where pinned[..<i].contains(where: { $0.origin.isExactly(p.origin) }) {
            return "two pinned checkpoints for the origin \(p.origin)"
        }
        if let freshAfter, freshAfter > now {
            return "the freshness bound \(freshAfter) is after the verification time \(now)"
        }
        return nil
    }
}

extension BundleVerifier.LogSummary {
    /// The report's `end_bound` (bundle.md §Verification with a trust policy): the bounds
    /// that proved the log's end, `pinned_size` and `fresh_after`; nil when it is not proven.
    public var endBound: JSONValue? {
        guard endProven else { return nil }
        var o = JSONObject()
        if let endPinnedSize { o["pinned_size"] = .number(JSONNumber(source: String(endPinnedSize), value: Double(endPinnedSize))) }
        if let endFreshAfter { o["fresh_after"] = .number(JSONNumber(source: String(endFreshAfter), value: Double(endFreshAfter))) }
        return .object(o)
    }
}
