import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import GRDB

/// The portal's durable state in one SQLite database (WAL): the receipt log, the payloads
/// and their salts (a table of their own, so that the log can be handed out without
/// them), the calls forwarded and not yet answered, the checkpoints, the mandates agents
/// presented, the replay store, and the allowed calls from which the rate state is
/// rebuilt at start (spec/portal.md §Storage).
public final class PortalStore: @unchecked Sendable {
    let queue: DatabaseQueue
    public let directory: URL
    public static let fileName = "portal.sqlite"

    /// Opens (or creates) the store in `directory`.
    public init(directory: URL, readOnly: Bool = false) throws(AttestError) {
        self.directory = directory
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.readonly = readOnly
        configuration.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                // The writer never checkpoints the WAL itself (a checkpoint copies pages and
                // flushes the database file, a stall on the write path); `checkpointWAL` does.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            }
            // Every commit is flushed to stable storage before it returns.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            if !readOnly { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            queue = try DatabaseQueue(path: directory.appendingPathComponent(Self.fileName).path, configuration: configuration)
            if !readOnly { try queue.write { db in try Self.createTables(db) } }
        } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store in \(directory.path) cannot be opened: \(error)")
        }
    }

    /// Copies the WAL into the database from a connection of its own, without blocking the
    /// writer (PASSIVE); the portal calls it every second.
    func checkpointWAL() {
        let path = directory.appendingPathComponent(Self.fileName).path
        do {
            if checkpointer.value == nil {
                var configuration = Configuration()
                configuration.busyMode = .timeout(1)
                checkpointer.value = try DatabaseQueue(path: path, configuration: configuration)
            }
            try checkpointer.value?.writeWithoutTransaction { db in _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") }
        } catch {
            // A checkpoint that cannot run now runs at the next tick; the WAL keeps every commit meanwhile.
        }
    }

    private let checkpointer = Locked<DatabaseQueue?>(nil)

    static func createTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS receipts (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, leaf BLOB NOT NULL, line BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS payloads (seq INTEGER PRIMARY KEY, line BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS open_calls (seq INTEGER PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS allowed_calls (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, artifact TEXT NOT NULL, tool TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS allowed_calls_time ON allowed_calls (time);
            CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, time INTEGER NOT NULL, line BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, json BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS revocations (digest BLOB PRIMARY KEY, time INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS logged_revocations (digest BLOB PRIMARY KEY, seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS exports (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL, bundle TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS carried_calls (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, artifact TEXT NOT NULL, tool TEXT NOT NULL);
            """)
        try SQLiteReplayStore.createTables(db)
    }

    /// Binds the store to one log: a store is never written by another origin or key.
    func bind(origin: String, keyThumbprint: String) throws(AttestError) {
        do {
            try queue.write { db in
                if let closed = try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = 'closed'") {
                    throw AttestError(.portalReceiptWriteFailed,
                                      "the store's log was closed at size \(closed): a closed log is never written again; start a new log (attest portal rotate)")
                }
                for (name, value) in [("origin", origin), ("log_key", keyThumbprint)] {
                    if let existing = try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = ?", arguments: [name]) {
                        guard existing.isExactly(value) else {
                            throw AttestError(.portalReceiptWriteFailed,
                                              "the store holds the log of \(name) \(existing), not \(value)")
                        }
                    } else {
                        try db.execute(sql: "INSERT INTO log_meta (name, value) VALUES (?, ?)", arguments: [name, value])
                    }
                }
            }
        } catch let error as AttestError { throw error } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)")
        }
    }

    /// The head of the log and its tree, read back from the receipts.
    func loadHead() throws(AttestError) -> (size: UInt64, lastLink: [UInt8], lastTime: Int64, tree: MerkleTree) {
        do {
            return try queue.read { db in
                var tree = MerkleTree()
                let rows = try Row.fetchCursor(db, sql: "SELECT seq, leaf FROM receipts ORDER BY seq")
                var expected: Int64 = 0
                while let row = try rows.next() {
                    let seq: Int64 = row["seq"]
                    guard seq == expected else { throw AttestError(.portalReceiptWriteFailed, "the store's log has a gap at \(expected)") }
                    let leaf: [UInt8] = Array(row["leaf"] as Data)
                    tree.append(leafHash: MerkleHash(leaf))
                    expected += 1
                }
                var lastLink = Receipt.genesis
                var lastTime: Int64 = 0
                if let line = try Data.fetchOne(db, sql: "SELECT line FROM receipts ORDER BY seq DESC LIMIT 1") {
                    let receipt = try Receipt(json: try StrictJSONParser().parse(Array(line)))
                    lastLink = receipt.link
                    lastTime = receipt.time
                }
                return (UInt64(expected), lastLink, lastTime, tree)
            }
        } catch let error as AttestError { throw error } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)")
        }
    }

    /// The allowed `tools/call`s since `since`, to rebuild the rate state: those a closed
    /// predecessor log carried over (all earlier), then this log's, in log order.
    func allowedCalls(since: Int64) throws(AttestError) -> [(time: Int64, artifact: String, tool: String)] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT time, artifact, tool FROM carried_calls WHERE time > ? ORDER BY id", arguments: [since])
                    .map { ($0["time"], $0["artifact"], $0["tool"]) }
                    + Row.fetchAll(db, sql: "SELECT time, artifact, tool FROM allowed_calls WHERE time > ? ORDER BY seq", arguments: [since])
                    .map { ($0["time"], $0["artifact"], $0["tool"]) }
            }
        } catch { throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)") }
    }

    /// The ALLOW receipts whose call has no RESULT yet.
    func openCalls() throws(AttestError) -> [Receipt] {
        do {
            return try queue.read { db in
                try Data.fetchAll(db, sql: "SELECT r.line FROM open_calls o JOIN receipts r ON r.seq = o.seq ORDER BY o.seq")
                    .map { try Receipt(json: try StrictJSONParser().parse(Array($0))) }
            }
        } catch let error as AttestError { throw error } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)")
        }
    }

    /// Every artifact and mandate the log's receipts may name: the root artifacts of every
    /// configuration the store was opened with, and the mandates agents presented.
    func artifacts() throws(AttestError) -> [Artifact] {
        do {
            return try queue.read { db in
                try Data.fetchAll(db, sql: "SELECT json FROM artifacts ORDER BY rowid").map { try Artifact(json: try StrictJSONParser().parse(Array($0))) }
            }
        } catch let error as AttestError { throw error } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)")
        }
    }

    /// The size and time of the newest checkpoint (0, 0 when there is none).
    func lastCheckpoint() throws(AttestError) -> (size: UInt64, time: Int64) {
        do {
            return try queue.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT size, time FROM checkpoints ORDER BY size DESC LIMIT 1") else {
                    return (0, 0)
                }
                return (UInt64(row["size"] as Int64), row["time"])
            }
        } catch { throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)") }
    }

    /// The inclusion proof of receipt `seq` in the newest checkpoint: the input of the
    /// `receipt.inclusion` op (receipt.md §Proving one receipt), which an agent holding the
    /// receipt checks with the log key alone.
    public func inclusionProof(seq: UInt64) throws -> JSONObject {
        try queue.read { db in
            guard let line = try Data.fetchOne(db, sql: "SELECT line FROM checkpoints ORDER BY size DESC LIMIT 1"),
                  let note = try StrictJSONParser().parse(Array(line))["note"]?.stringValue,
                  let size = try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints") else {
                throw PortalConfigurationError("the store has no checkpoint yet")
            }
            guard Int64(seq) < size, let receipt = try Data.fetchOne(db, sql: "SELECT line FROM receipts WHERE seq = ?", arguments: [Int64(seq)]) else {
                throw PortalConfigurationError("receipt \(seq) is not covered by the newest checkpoint (size \(size))")
            }
            var tree = MerkleTree()
            let leaves = try Row.fetchCursor(db, sql: "SELECT leaf FROM receipts WHERE seq < ? ORDER BY seq", arguments: [size])
            while let row = try leaves.next() { tree.append(leafHash: MerkleHash(Array(row["leaf"] as Data))) }
            return ["receipt": try StrictJSONParser().parse(Array(receipt)), "checkpoint": .string(note),
                    "proof": .array(tree.inclusionProof(index: Int(seq), size: Int(size)).map { .string($0.description) })]
        }
    }

    // MARK: Writing, inside the writer's transaction

    /// Keeps an artifact for export (once per digest).
    static func keep(_ artifact: Artifact, _ db: Database) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO artifacts (digest, json) VALUES (?, ?)",
                       arguments: [artifact.digest, Data(JSONValue.object(artifact.json).serialized(pretty: false).utf8)])
    }

    func keep(_ artifacts: [Artifact]) throws(AttestError) {
        do { try queue.write { db in for a in artifacts { try Self.keep(a, db) } } } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be written: \(error)")
        }
    }

    static func insert(_ receipt: Receipt, line: [UInt8], payload: JSONValue?, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO receipts (seq, time, leaf, line) VALUES (?, ?, ?, ?)")
            .execute(arguments: [Int64(receipt.seq), receipt.time, Data(receipt.leafHash.bytes), Data(line)])
        if let payload {
            try db.cachedStatement(sql: "INSERT INTO payloads (seq, line) VALUES (?, ?)")
                .execute(arguments: [Int64(receipt.seq), Data(payload.serialized(pretty: false).utf8)])
        }
    }

    // MARK: Export

    /// What of the payloads an export discloses.
    public enum Disclose: Sendable {
        case none, all
        case seq(ClosedRange<UInt64>)
        case time(ClosedRange<Int64>)
    }

    /// Writes the log as an evidence bundle (bundle.md); see ``exportBundle(stores:to:disclose:)``.
    /// Returns the number of receipts exported.
    public func exportBundle(to out: URL, disclose: Disclose) throws -> Int {
        try PortalStore.exportBundle(stores: [self], to: out, disclose: disclose).reduce(0) { $0 + $1.receipts }
    }
}

/// Buffered appends to a new file.
final class FileWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(_ url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw PortalConfigurationError("cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func write(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: Value
    init(_ value: Value) { _value = value }
    var value: Value {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
}

extension Locked {
    /// Runs `body` on the value under the lock.
    func update<T>(_ body: (inout Value) -> T) -> T {
        lock.withLock { body(&_value) }
    }

    /// The value, leaving nil in its place: of several callers, one receives it.
    func take<Wrapped>() -> Value where Value == Wrapped? {
        lock.withLock {
            let value = _value
            _value = nil
            return value
        }
    }
}
