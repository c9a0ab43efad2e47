import AttestCore
import AttestEvidence
import Foundation
import GRDB

/// Operating a portal's stores over time (spec/portal.md §Operations): exporting several
/// logs as one bundle, closing a log and starting its successor under a new key, purging
/// payloads, retiring an exported log, and backing a store up.
///
/// A store holds exactly one log (one origin, one key). A log key never changes within a
/// log: rotating it closes the log (a final checkpoint covering every receipt) and starts
/// a new log, with a new origin and key, in a new store.
extension PortalStore {
    /// What an export wrote of one store's log.
    public struct ExportedLog: Sendable {
        public let origin: String
        /// The receipts exported: the size of the newest checkpoint.
        public let receipts: Int
        /// The payloads disclosed.
        public let payloads: Int
        /// The Merkle root of the exported receipts, hex.
        public let root: String
    }

    /// Writes the logs of `stores` as one evidence bundle (bundle.md): for each store, in
    /// order, `logs/N/` with every receipt up to its newest checkpoint (a bundle's log
    /// starts at seq 0 and ends at a checkpoint), every checkpoint, and the payloads
    /// chosen; and every artifact and mandate the stores kept, each digest once, in the
    /// order first kept. Two stores of one origin are refused: a bundle lists an origin
    /// once (BND-008). `out` must not exist: a failed export leaves nothing behind.
    public static func exportBundle(stores: [PortalStore], to out: URL, disclose: Disclose) throws -> [ExportedLog] {
        let fm = FileManager.default
        guard !stores.isEmpty, stores.count <= 1024 else { throw PortalConfigurationError("an export takes 1 to 1024 stores") }
        guard !fm.fileExists(atPath: out.path) else { throw PortalConfigurationError("\(out.path) exists; an export writes a new directory") }
        let staging = out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        defer { try? fm.removeItem(at: staging) }
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        var exported: [ExportedLog] = []
        var entries: [JSONValue] = []
        var seenDigests = Set<[UInt8]>()
        var artifactLines: [UInt8] = []
        for (index, store) in stores.enumerated() {
            let logDir = staging.appendingPathComponent("logs/\(index)")
            try fm.createDirectory(at: logDir, withIntermediateDirectories: true)
            let log = try store.writeLog(into: logDir, disclose: disclose)
            guard !exported.contains(where: { $0.origin.isExactly(log.origin) }) else {
                throw PortalConfigurationError("two stores hold the log \(log.origin); a bundle lists an origin once")
            }
            exported.append(log)
            var entry: JSONObject = ["origin": .string(log.origin), "receipts": .string("logs/\(index)/receipts.jsonl"),
                                     "checkpoints": .string("logs/\(index)/checkpoints.jsonl")]
            if case .none = disclose {
                try? fm.removeItem(at: logDir.appendingPathComponent("payloads.jsonl"))
            } else {
                entry["payloads"] = .string("logs/\(index)/payloads.jsonl")
            }
            entries.append(.object(entry))
            for (digest, json) in try store.keptArtifacts() where seenDigests.insert(Array(digest.utf8)).inserted {
                artifactLines += json + [0x0A]
            }
        }
        try Data(artifactLines).write(to: staging.appendingPathComponent("artifacts.jsonl"))
        let manifest: JSONObject = ["format": "mcp-attest/bundle/v2", "artifacts": "artifacts.jsonl", "logs": .array(entries)]
        try Data((JSONValue.object(manifest).serialized(pretty: true) + "\n").utf8).write(to: staging.appendingPathComponent("manifest.json"))
        try fm.moveItem(at: staging, to: out)
        return exported
    }

    /// The kept artifacts and mandates as (digest, JSON line), in the order kept.
    func keptArtifacts() throws -> [(String, [UInt8])] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, json FROM artifacts ORDER BY rowid").map { ($0["digest"], Array($0["json"] as Data)) }
        }
    }

    /// Writes this store's log into `logDir` (receipts, checkpoints, payloads), in one read
    /// transaction.
    private func writeLog(into logDir: URL, disclose: Disclose) throws -> ExportedLog {
        try queue.read { db in
            guard let origin = try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = 'origin'") else {
                throw PortalConfigurationError("the store in \(directory.path) holds no log")
            }
            let size = try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints") ?? 0
            guard size > 0 else {
                throw PortalConfigurationError("the store in \(directory.path) has no checkpoint yet; stop the portal cleanly or wait for one")
            }
            var lines: [UInt8] = []
            for line in try Data.fetchAll(db, sql: "SELECT line FROM checkpoints ORDER BY size") {
                lines += Array(line) + [0x0A]
            }
            try Data(lines).write(to: logDir.appendingPathComponent("checkpoints.jsonl"))
            let receiptsOut = try FileWriter(logDir.appendingPathComponent("receipts.jsonl"))
            let payloadsOut = try FileWriter(logDir.appendingPathComponent("payloads.jsonl"))
            var frontier = MerkleFrontier()
            var count = 0, payloads = 0
            let rows = try Row.fetchCursor(db, sql: """
                SELECT r.seq, r.time, r.leaf, r.line, p.line AS payload FROM receipts r LEFT JOIN payloads p ON p.seq = r.seq
                WHERE r.seq < ? ORDER BY r.seq
                """, arguments: [size])
            while let row = try rows.next() {
                let seq: Int64 = row["seq"], time: Int64 = row["time"]
                try receiptsOut.write(try Receipt.bundleLine(fromLogLine: Array(row["line"] as Data)[...]) + [0x0A])
                frontier.append(MerkleHash(Array(row["leaf"] as Data)))
                count += 1
                let disclosed: Bool
                switch disclose {
                case .none: disclosed = false
                case .all: disclosed = true
                case .seq(let range): disclosed = range.contains(UInt64(clamping: seq))
                case .time(let range): disclosed = range.contains(time)
                }
                if disclosed, let payload = row["payload"] as Data?, case .object(var p) = try StrictJSONParser().parse(Array(payload)) {
                    p["seq"] = .number(JSONNumber(Double(seq)))
                    try payloadsOut.write(Array(JSONValue.object(p).serialized(pretty: false).utf8) + [0x0A])
                    payloads += 1
                }
            }
            try receiptsOut.close()
            try payloadsOut.close()
            return ExportedLog(origin: origin, receipts: count, payloads: payloads, root: frontier.root.description)
        }
    }

    // MARK: The log's lifecycle

    /// What the store's log metadata says.
    public struct LogStatus: Sendable {
        public let origin: String?
        public let keyThumbprint: String?
        /// The size at which the log was closed, nil while it is open.
        public let closedSize: UInt64?
        /// The origin of the closed log this one succeeds, if any.
        public let predecessor: String?
        public let receipts: UInt64
        public let checkpointSize: UInt64
        /// Exports recorded: (size, hex root, bundle path), oldest first.
        public let exports: [(size: UInt64, root: String, bundle: String)]
    }

    public func status() throws -> LogStatus {
        try queue.read { db in
            func meta(_ name: String) throws -> String? {
                try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = ?", arguments: [name])
            }
            let exports: [(size: UInt64, root: String, bundle: String)] = try db.tableExists("exports")
                ? Row.fetchAll(db, sql: "SELECT size, root, bundle FROM exports ORDER BY id").map {
                    (UInt64(clamping: $0["size"] as Int64), $0["root"], $0["bundle"])
                }
                : []
            return LogStatus(origin: try meta("origin"), keyThumbprint: try meta("log_key"),
                             closedSize: try meta("closed").flatMap { UInt64($0) }, predecessor: try meta("predecessor"),
                             receipts: UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT count(*) FROM receipts") ?? 0),
                             checkpointSize: UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints") ?? 0),
                             exports: exports)
        }
    }

    /// The signed note of the newest checkpoint (the final one of a closed log), nil when
    /// there is none: what an operator publishes when it ends a log.
    public func newestCheckpointNote() throws -> String? {
        try queue.read { db in
            guard let line = try Data.fetchOne(db, sql: "SELECT line FROM checkpoints ORDER BY size DESC LIMIT 1") else { return nil }
            return try StrictJSONParser().parse(Array(line))["note"]?.stringValue
        }
    }

    /// Records that the log was exported up to `size` with Merkle root `root` into `bundle`.
    public func recordExport(_ log: ExportedLog, bundle: String, time: Int64) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO exports (time, size, root, bundle) VALUES (?, ?, ?, ?)",
                           arguments: [time, Int64(log.receipts), log.root, bundle])
        }
    }

    /// Marks the log closed once its newest checkpoint covers every receipt (the final
    /// checkpoint). Returns the final size. The portal refuses to write a closed log.
    func markClosed() throws -> UInt64 {
        try queue.write { db in
            guard try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = 'origin'") != nil else {
                throw PortalConfigurationError("the store holds no log")
            }
            let receipts = try Int64.fetchOne(db, sql: "SELECT count(*) FROM receipts") ?? 0
            let checkpoint = try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints") ?? 0
            guard receipts == checkpoint else {
                throw PortalConfigurationError("the newest checkpoint (size \(checkpoint)) does not cover the \(receipts) receipts")
            }
            guard try Int64.fetchOne(db, sql: "SELECT count(*) FROM open_calls") == 0 else {
                throw PortalConfigurationError("the log has calls forwarded without a recorded outcome")
            }
            try db.execute(sql: "INSERT INTO log_meta (name, value) VALUES ('closed', ?)", arguments: [String(receipts)])
            return UInt64(clamping: receipts)
        }
    }

    /// Closes the log of `configuration`'s store: recovers the calls a previous run left
    /// open, signs a final checkpoint over every receipt with the log key, and marks the log
    /// closed. No portal may be running on the store. Returns the final size; a log closed
    /// already is reported as it is.
    public static func closeLog(configuration: PortalConfiguration) async throws -> UInt64 {
        let database = configuration.store.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: database.path) else {
            throw PortalConfigurationError("\(database.path) does not exist: not a portal store")
        }
        let existing = try PortalStore(directory: configuration.store).status()
        if let closed = existing.closedSize { return closed }
        guard let origin = existing.origin, origin.isExactly(configuration.origin) else {
            throw PortalConfigurationError("the store holds the log \(existing.origin ?? "(none)"), not \(configuration.origin)")
        }
        let portal = try Portal(configuration: configuration, upstreamIdentity: nil)
        try await portal.recover()
        await portal.close()
        return try portal.store.markClosed()
    }

    /// Starts the successor of the closed log in `predecessor`: a new store for the log of
    /// `configuration` (a new origin and a new key), carrying over the predecessor's
    /// artifacts, its revocations, its replay store's entries that may still be live, and
    /// its allowed calls within the longest rate window, so that replays, rate limits and
    /// revocations hold across the rotation (the successor writes its own `REVOKE`
    /// entries). Returns the number of calls carried.
    public static func startSuccessor(of predecessor: PortalStore, configuration: PortalConfiguration) throws -> Int {
        let old = try predecessor.status()
        guard let oldOrigin = old.origin, old.closedSize != nil else {
            throw PortalConfigurationError("the log in \(predecessor.directory.path) is not closed; close it first (attest portal close)")
        }
        guard !oldOrigin.isExactly(configuration.origin) else {
            throw PortalConfigurationError("the new log needs an origin of its own, not \(oldOrigin) again")
        }
        guard let oldKey = old.keyThumbprint, !oldKey.isExactly(configuration.logKey.publicKey.thumbprint) else {
            throw PortalConfigurationError("the new log needs a key of its own, not the closed log's")
        }
        let database = configuration.store.appendingPathComponent(fileName)
        guard !FileManager.default.fileExists(atPath: database.path) else {
            throw PortalConfigurationError("\(database.path) exists; a new log starts in a new store")
        }
        let kept = try predecessor.keptArtifacts()
        let artifacts = try kept.map { try Artifact(json: try StrictJSONParser().parse($0.1)) }
        let longest = artifacts.map { a in max(a.rateLimit?.window ?? 0, a.tools.values.map { $0.rateLimit?.window ?? 0 }.max() ?? 0) }.max() ?? 0
        let carried: [(time: Int64, artifact: String, tool: String)] = try predecessor.queue.read { db in
            let last = try Int64.fetchOne(db, sql: "SELECT max(time) FROM receipts") ?? 0
            let since = last - longest
            var calls: [(Int64, String, String)] = []
            if try db.tableExists("carried_calls") {
                calls += try Row.fetchAll(db, sql: "SELECT time, artifact, tool FROM carried_calls WHERE time > ? ORDER BY id", arguments: [since])
                    .map { ($0["time"], $0["artifact"], $0["tool"]) }
            }
            calls += try Row.fetchAll(db, sql: "SELECT time, artifact, tool FROM allowed_calls WHERE time > ? ORDER BY seq", arguments: [since])
                .map { ($0["time"], $0["artifact"], $0["tool"]) }
            return calls
        }
        // The replay store's entries that may still be live: a proof the closed log accepted
        // stays a replay at its successor (portal.md §Deciding step 5).
        let replays: [Row] = try predecessor.queue.read { db in
            let last = try Int64.fetchOne(db, sql: "SELECT max(time) FROM receipts") ?? 0
            return try Row.fetchAll(db, sql: "SELECT iss, jti, expires FROM replay WHERE expires >= ?", arguments: [last])
        }
        let revocations: [(digest: Data, time: Int64)] = try predecessor.queue.read { db in
            guard try db.tableExists("revocations") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT digest, time FROM revocations").map { ($0["digest"], $0["time"]) }
        }
        do {
            let store = try PortalStore(directory: configuration.store)
            try store.bind(origin: configuration.origin, keyThumbprint: configuration.logKey.publicKey.thumbprint)
            try store.queue.write { db in
                for a in artifacts { try Self.keep(a, db) }
                for call in carried {
                    try db.execute(sql: "INSERT INTO carried_calls (time, artifact, tool) VALUES (?, ?, ?)",
                                   arguments: [call.time, call.artifact, call.tool])
                }
                for r in revocations {
                    try db.execute(sql: "INSERT OR IGNORE INTO revocations (digest, time) VALUES (?, ?)", arguments: [r.digest, r.time])
                }
                for row in replays {
                    try db.execute(sql: "INSERT OR IGNORE INTO replay (iss, jti, expires) VALUES (?, ?, ?)",
                                   arguments: [row["iss"] as DatabaseValue, row["jti"] as DatabaseValue, row["expires"] as DatabaseValue])
                }
                try db.execute(sql: "UPDATE replay_count SET n = (SELECT count(*) FROM replay) WHERE id = 0")
                try db.execute(sql: "INSERT INTO log_meta (name, value) VALUES ('predecessor', ?)", arguments: [oldOrigin])
            }
            try store.queue.close()
        } catch {
            // A successor is started whole or not at all: a store without its carried state
            // would let a portal start on it and overspend the limits.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(at: URL(fileURLWithPath: database.path + suffix)) }
            throw error
        }
        return carried.count
    }

    // MARK: Retention

    /// Deletes the payloads (and their salts) of the receipts dated before `before` or with
    /// `seq` up to `throughSeq`. The receipts stay, so the log still verifies; a bundle
    /// exported afterwards checks those receipts by structure only. Returns the number of
    /// payloads deleted.
    public func prunePayloads(before: Int64?, throughSeq: UInt64?) throws -> Int {
        try queue.write { db in
            var deleted = 0
            if let before {
                try db.execute(sql: "DELETE FROM payloads WHERE seq IN (SELECT seq FROM receipts WHERE time < ?)", arguments: [before])
                deleted += db.changesCount
            }
            if let throughSeq {
                try db.execute(sql: "DELETE FROM payloads WHERE seq <= ?", arguments: [Int64(clamping: throughSeq)])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// Deletes the store of a log that is closed and whose whole log an export recorded
    /// (an export of its final size). `origin` names the log, as a confirmation. Returns
    /// the final size and the export that covers it.
    public static func retire(directory: URL, origin: String) throws -> (size: UInt64, root: String, bundle: String) {
        let database = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: database.path) else {
            throw PortalConfigurationError("\(database.path) does not exist: not a portal store")
        }
        let status = try PortalStore(directory: directory, readOnly: true).status()
        guard let held = status.origin, held.isExactly(origin) else {
            throw PortalConfigurationError("the store holds the log \(status.origin ?? "(none)"), not \(origin)")
        }
        guard let closed = status.closedSize else {
            throw PortalConfigurationError("the log \(origin) is not closed; close it (attest portal close) and export it first")
        }
        guard status.receipts == closed else {
            throw PortalConfigurationError("the log \(origin) holds \(status.receipts) receipts, not the \(closed) it was closed with: a portal wrote it after it was closed")
        }
        guard let export = status.exports.last(where: { $0.size == closed }) else {
            throw PortalConfigurationError("no export of the whole closed log \(origin) (size \(closed)) is recorded; export it first (attest bundle export --store)")
        }
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] {
            let file = directory.appendingPathComponent(fileName + suffix)
            if fm.fileExists(atPath: file.path) { try fm.removeItem(at: file) }
        }
        if (try? fm.contentsOfDirectory(atPath: directory.path))?.isEmpty == true { try? fm.removeItem(at: directory) }
        return (closed, export.root, export.bundle)
    }

    // MARK: Backup

    /// Writes a consistent copy of the store to `file` (SQLite's online backup, in one step
    /// inside one read transaction), while a portal may be writing it. `file` must not exist.
    /// Returns the log's size in the copy.
    public func backup(to file: URL) throws -> UInt64 {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: file.path) else { throw PortalConfigurationError("\(file.path) exists; a backup writes a new file") }
        let staging = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        defer { try? fm.removeItem(at: staging) }
        var size: UInt64 = 0
        do {
            let destination = try DatabaseQueue(path: staging.path)
            try queue.backup(to: destination)
            try destination.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                size = UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT count(*) FROM receipts") ?? 0)
            }
            try destination.close()
        }
        try fm.moveItem(at: staging, to: file)
        return size
    }

    /// Restores a backup into `directory` (new, or empty) as a store a portal continues the
    /// log from. Returns the log's origin and size.
    public static func restore(backup file: URL, into directory: URL) throws -> (origin: String, size: UInt64) {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path) {
            guard (try fm.contentsOfDirectory(atPath: directory.path)).isEmpty else {
                throw PortalConfigurationError("\(directory.path) is not empty; a backup is restored into a new store")
            }
        }
        var configuration = Configuration()
        configuration.readonly = true
        let source = try DatabaseQueue(path: file.path, configuration: configuration)
        let (origin, size): (String, UInt64) = try source.read { db in
            guard try db.tableExists("log_meta"), try db.tableExists("receipts"),
                  let origin = try String.fetchOne(db, sql: "SELECT value FROM log_meta WHERE name = 'origin'") else {
                throw PortalConfigurationError("\(file.path) is not a backup of a portal store")
            }
            guard let check = try String.fetchOne(db, sql: "PRAGMA integrity_check"), check.isExactly("ok") else {
                throw PortalConfigurationError("\(file.path) fails SQLite's integrity check")
            }
            return (origin, UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT count(*) FROM receipts") ?? 0))
        }
        try source.close()
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        try fm.copyItem(at: file, to: directory.appendingPathComponent(fileName))
        return (origin, size)
    }
}
