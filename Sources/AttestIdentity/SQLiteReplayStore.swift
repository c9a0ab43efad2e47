import AttestCore
import GRDB

/// A durable store in an SQLite file, shared by every process on the host that opens the
/// same path. Each insert is one IMMEDIATE transaction, so two processes racing on the
/// same (iss, jti) are serialized by SQLite's write lock and exactly one wins.
public final class SQLiteReplayStore: ReplayStore, @unchecked Sendable {
    private let queue: DatabaseQueue
    public let capacity: Int

    public init(path: String, capacity: Int = 1_000_000) throws(AttestError) {
        self.capacity = capacity
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS replay (
                        iss TEXT NOT NULL, jti TEXT NOT NULL, expires INTEGER NOT NULL,
                        PRIMARY KEY (iss, jti)) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS replay_expires ON replay (expires);
                    """)
            }
        } catch {
            throw AttestError(.proofReplayStoreFull, "the replay store at \(path) cannot be opened: \(error)")
        }
    }

    public func insert(issuer: String, tokenID: String, expires: Int64, now: Int64) throws(AttestError) {
        var outcome: ErrorCode?
        do {
            try queue.inTransaction(.immediate) { db in
                if let existing = try Int64.fetchOne(db, sql: "SELECT expires FROM replay WHERE iss = ? AND jti = ?",
                                                     arguments: [issuer, tokenID]), existing >= now {
                    outcome = .proofReplay
                    return .rollback
                }
                var count = try Int.fetchOne(db, sql: "SELECT count(*) FROM replay") ?? 0
                if count >= capacity {
                    try db.execute(sql: "DELETE FROM replay WHERE expires < ?", arguments: [now])
                    count = try Int.fetchOne(db, sql: "SELECT count(*) FROM replay") ?? 0
                }
                if count >= capacity {
                    outcome = .proofReplayStoreFull
                    return .rollback
                }
                try db.execute(sql: "INSERT OR REPLACE INTO replay (iss, jti, expires) VALUES (?, ?, ?)",
                               arguments: [issuer, tokenID, expires])
                return .commit
            }
        } catch {
            throw AttestError(.proofReplayStoreFull, "the replay store cannot record the proof: \(error)")
        }
        switch outcome {
        case .proofReplay?: throw AttestError(.proofReplay, "proof jti \(tokenID) of issuer \(issuer) was already accepted")
        case .some(let code): throw AttestError(code, "the replay store holds \(capacity) unexpired entries; the proof is refused")
        case nil: return
        }
    }

    /// Deletes expired entries only (`expires < now`); returns how many were removed.
    @discardableResult
    public func purge(now: Int64) throws(AttestError) -> Int {
        do {
            return try queue.write { db in
                try db.execute(sql: "DELETE FROM replay WHERE expires < ?", arguments: [now])
                return db.changesCount
            }
        } catch {
            throw AttestError(.proofReplayStoreFull, "the replay store cannot be purged: \(error)")
        }
    }

    public func count() throws(AttestError) -> Int {
        do {
            return try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM replay") ?? 0 }
        } catch {
            throw AttestError(.proofReplayStoreFull, "the replay store cannot be read: \(error)")
        }
    }
}
