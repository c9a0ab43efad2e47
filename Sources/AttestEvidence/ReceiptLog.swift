import AttestCore
import Foundation

/// A receipt log on disk, as a portal keeps it: `receipts.jsonl` (one signed receipt
/// per line, appended and flushed before the decision is released), `checkpoints.jsonl`
/// and `payloads.jsonl` (the salted payloads, kept by the operator for disclosure).
/// It is also the exporter's source for a bundle's log directory.
public final class ReceiptLog {
    public let directory: URL
    public let origin: String
    private let key: Ed25519.PrivateKey
    private var receipts: FileHandle
    private var payloads: FileHandle
    private var frontier = MerkleFrontier()
    private var lastLink = Receipt.genesis
    private var lastTime: Int64 = 0
    /// Every leaf hash, kept so that checkpoints can carry consistency proofs.
    private var tree = MerkleTree()

    public var size: UInt64 { frontier.size }
    public var signer: Checkpoint.Signer { Checkpoint.Signer(name: origin, key: key) }

    /// Opens (or creates) the log in `directory`, reading back any receipts already there;
    /// a log whose receipts name another origin (`RCP_LOG_MISMATCH`) or are signed by
    /// another key (`RCP_KEY_UNTRUSTED`) is refused, so that one log keeps one origin and key.
    public init(directory: URL, origin: String, key: Ed25519.PrivateKey) throws {
        self.directory = directory
        self.origin = origin
        self.key = key
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["receipts.jsonl", "payloads.jsonl", "checkpoints.jsonl"] where !fm.fileExists(atPath: directory.appendingPathComponent(name).path) {
            guard fm.createFile(atPath: directory.appendingPathComponent(name).path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory.appendingPathComponent(name).path])
            }
        }
        var reader = try LineReader(url: directory.appendingPathComponent("receipts.jsonl"))
        while case let lines = reader.next(4096), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                let r = try Receipt(json: try StrictJSONParser().parse(line))
                guard r.log.isExactly(origin) else {
                    throw AttestError(.receiptLogMismatch, "the log in \(directory.path) is \(r.log), not \(origin)")
                }
                guard r.keyID.isExactly(key.publicKey.thumbprint) else {
                    throw AttestError(.receiptKeyUntrusted, "the log in \(directory.path) is signed by key \(r.keyID), not by this key")
                }
                frontier.append(r.leafHash)
                tree.append(leafHash: r.leafHash)
                lastLink = r.link
                lastTime = r.time
            }
        }
        receipts = try FileHandle(forWritingTo: directory.appendingPathComponent("receipts.jsonl"))
        payloads = try FileHandle(forWritingTo: directory.appendingPathComponent("payloads.jsonl"))
        try receipts.seekToEnd()
        try payloads.seekToEnd()
    }

    /// Appends one decision in one entry: commits to the payloads (the request without
    /// its credential carriers) with fresh salts, links, signs, and writes the receipt
    /// durably (fsync) before returning it. `upstream`, on an `ALLOW`, is the identity
    /// of the server the call was forwarded to. A receipt a verifier would reject is
    /// refused before anything is written: a time before the previous receipt's
    /// (`RCP_TIME_REGRESSION`), members that do not fit the decision (`RCP_MALFORMED`).
    @discardableResult
    public func append(time: Int64, artifact: String, session: String, agent: (sub: String, jkt: String)?, method: String,
                       tool: String?, decision: Receipt.Decision, code: ErrorCode?, request: JSONValue, response: JSONValue,
                       upstream: JSONValue? = nil, durable: Bool = true) throws -> Appended {
        guard time >= lastTime else {
            throw AttestError(.receiptTimeRegression, "time \(time) is before the previous receipt's \(lastTime)")
        }
        if let why = Receipt.formDefect(decision: decision, code: code?.rawValue, call: nil, seq: frontier.size,
                                        hasUpstream: upstream != nil, hasRequest: true, hasResponse: true) {
            throw AttestError(.receiptMalformed, why)
        }
        let request = Disclosure.withoutCarriers(request)
        let requestSalt = Self.salt(), responseSalt = Self.salt()
        let seq = frontier.size
        let fields = ReceiptFields(
            log: origin, seq: seq, time: time, prev: lastLink, artifact: artifact, session: session, agent: agent,
            method: method, tool: tool, decision: decision, code: code,
            request: Receipt.commitment(salt: requestSalt, payload: request),
            response: Receipt.commitment(salt: responseSalt, payload: response), upstream: upstream)
        let signed = try fields.sign(with: key)
        let disclosure: JSONValue = [
            "seq": .number(JSONNumber(Double(seq))), "request": request,
            "request_salt": .string(Base64URL.encode(requestSalt)), "response": response,
            "response_salt": .string(Base64URL.encode(responseSalt)),
        ]
        try payloads.write(contentsOf: Data((disclosure.serialized(pretty: false) + "\n").utf8))
        try receipts.write(contentsOf: Data(signed.line + [0x0A]))
        if durable {
            try payloads.synchronize()
            try receipts.synchronize()
        }
        frontier.append(signed.leafHash)
        tree.append(leafHash: signed.leafHash)
        lastLink = signed.link
        lastTime = time
        return Appended(seq: seq, link: signed.link)
    }

    /// What an append returns: the receipt's position and chain link.
    public struct Appended: Sendable {
        public let seq: UInt64
        public let link: [UInt8]
    }

    /// Signs a checkpoint of the current size and appends it, with the consistency
    /// proof from the previous checkpoint.
    @discardableResult
    public func checkpoint() throws -> Checkpoint {
        let checkpoint = Checkpoint(origin: origin, size: frontier.size, root: frontier.root.bytes)
        var previousSize: UInt64 = 0
        var reader = try LineReader(url: directory.appendingPathComponent("checkpoints.jsonl"))
        while case let lines = reader.next(256), !lines.isEmpty {
            for line in lines where !line.isEmpty {
                if let note = try StrictJSONParser().parse(line)["note"]?.stringValue,
                   let size = note.split(separator: "\n").dropFirst().first.flatMap({ UInt64($0) }) {
                    previousSize = size
                }
            }
        }
        var entry: JSONObject = ["note": .string(checkpoint.signed(by: [signer]))]
        if previousSize > 0 && previousSize < checkpoint.size {
            entry["consistency"] = .array(tree.consistencyProof(from: Int(previousSize), to: Int(checkpoint.size))
                .map { .string(Base64URL.encode($0.bytes)) })
        }
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent("checkpoints.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((JSONValue.object(entry).serialized(pretty: false) + "\n").utf8))
        try handle.synchronize()
        try handle.close()
        return checkpoint
    }

    /// The inclusion proof of receipt `seq` in the tree of `size` receipts.
    public func inclusionProof(seq: Int, size: Int) -> [MerkleHash] { tree.inclusionProof(index: seq, size: size) }
    public func consistencyProof(from: Int, to: Int) -> [MerkleHash] { tree.consistencyProof(from: from, to: to) }
    public func root(size: Int) -> MerkleHash { tree.root(size: size) }

    public func close() throws {
        try receipts.close()
        try payloads.close()
    }

    static func salt() -> [UInt8] { SecureRandom.bytes(32) }
}
