import AttestCore
import GRDB

/// A durable store in an SQLite file, shared by every process on the host that opens the
/// same path. Each insert is one IMMEDIATE transaction, so two processes racing on the
/// same (iss, jti) are serialized by SQLite's write lock and exactly one wins. The
/// number of entries is kept in a one-row table updated in the same transactions, so
/// an insert costs two index look-ups whatever the size of the store (counting the
/// rows on every insert would make it linear in the store). A store that cannot be
/// opened, read or written refuses with `PRF_REPLAY_STORE_UNAVAILABLE`, never accepts.
public final class SQLiteReplayStore: ReplayStore, @unchecked Sendable {
    private let queue: DatabaseQueue
    public let capacity: Int

    public init(path: String, capacity: Int = 1_000_000) throws(AttestError) {
        self.capacity = capacity
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in try Self.createTables(db) }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the replay store at \(path) cannot be opened: \(error)")
        }
    }

    public func insert(issuer: String, tokenID: String, expires: Int64, now: Int64) throws(AttestError) {
        let outcome: ErrorCode?
        do {
            outcome = try queue.writeWithoutTransaction { db in
                try Self.record(db, issuer: issuer, tokenID: tokenID, expires: expires, now: now, capacity: capacity)
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the replay store cannot record the proof: \(error)")
        }
        try refuse(outcome, issuer: issuer, tokenID: tokenID)
    }

    /// The same transaction on GRDB's own serial queue, the task suspended meanwhile: the
    /// file I/O, and the wait of up to the busy timeout for another connection's write lock,
    /// hold no thread of Swift concurrency's cooperative pool.
    public func insertAsync(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        let outcome: ErrorCode?
        let capacity = capacity
        do {
            outcome = try await queue.writeWithoutTransaction { db in
                try Self.record(db, issuer: issuer, tokenID: tokenID, expires: expires, now: now, capacity: capacity)
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the replay store cannot record the proof: \(error)")
        }
        try refuse(outcome, issuer: issuer, tokenID: tokenID)
    }

    private func refuse(_ outcome: ErrorCode?, issuer: String, tokenID: String) throws(AttestError) {
        switch outcome {
        case .proofReplay?: throw AttestError(.proofReplay, "proof jti \(tokenID) of issuer \(issuer) was already accepted")
        case .some(let code): throw AttestError(code, "the replay store holds \(capacity) unexpired entries; the proof is refused")
        case nil: return
        }
    }

    /// The store's tables in `db`, created if missing: a portal keeps them in its own
    /// database, so that a proof is recorded in the transaction of the call's receipt.
    public static func createTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS replay (
                iss TEXT NOT NULL, jti TEXT NOT NULL, expires INTEGER NOT NULL,
                PRIMARY KEY (iss, jti)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS replay_expires ON replay (expires);
            CREATE TABLE IF NOT EXISTS replay_count (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL);
            INSERT OR IGNORE INTO replay_count (id, n) SELECT 0, count(*) FROM replay;
            """)
    }

    /// One insert as one IMMEDIATE transaction; the refusal, if any.
    private static func record(_ db: Database, issuer: String, tokenID: String, expires: Int64, now: Int64,
                               capacity: Int) throws -> ErrorCode? {
        var outcome: ErrorCode?
        try db.inTransaction(.immediate) {
            outcome = try recordInTransaction(db, issuer: issuer, tokenID: tokenID, expires: expires, now: now,
                                              capacity: capacity)
            return outcome == nil ? .commit : .rollback
        }
        return outcome
    }

    /// The insert inside a transaction the caller holds: the refusal (`PRF_REPLAY`,
    /// `PRF_REPLAY_STORE_FULL`), if any, having changed nothing.
    public static func recordInTransaction(_ db: Database, issuer: String, tokenID: String, expires: Int64, now: Int64,
                                           capacity: Int) throws -> ErrorCode? {
        let existing = try Int64.fetchOne(db.cachedStatement(sql: "SELECT expires FROM replay WHERE iss = ? AND jti = ?"),
                                          arguments: [issuer, tokenID])
        if let existing, existing >= now { return .proofReplay }
        if existing != nil {
            // An expired entry for the same pair is reused: the count does not change.
            try db.execute(sql: "UPDATE replay SET expires = ? WHERE iss = ? AND jti = ?",
                           arguments: [expires, issuer, tokenID])
            return nil
        }
        if try count(db) >= capacity {
            try deleteExpired(db, now: now)
            if try count(db) >= capacity { return .proofReplayStoreFull }
        }
        try db.cachedStatement(sql: "INSERT INTO replay (iss, jti, expires) VALUES (?, ?, ?)").execute(arguments: [issuer, tokenID, expires])
        try db.cachedStatement(sql: "UPDATE replay_count SET n = n + 1 WHERE id = 0").execute()
        return nil
    }

    /// Deletes expired entries only (`expires < now`); returns how many were removed.
    @discardableResult
    public func purge(now: Int64) throws(AttestError) -> Int {
        do {
            return try queue.write { db in try Self.deleteExpired(db, now: now) }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the replay store cannot be purged: \(error)")
        }
    }

    public func count() throws(AttestError) -> Int {
        do {
            return try queue.read { db in try Self.count(db) }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the replay store cannot be read: \(error)")
        }
    }

    /// The number of entries, from the one-row count table.
    public static func count(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT n FROM replay_count WHERE id = 0")) ?? 0
    }

    @discardableResult
    private static func deleteExpired(_ db: Database, now: Int64) throws -> Int {
        try db.execute(sql: "DELETE FROM replay WHERE expires < ?", arguments: [now])
        let removed = db.changesCount
        try db.execute(sql: "UPDATE replay_count SET n = n - ? WHERE id = 0", arguments: [removed])
        return removed
    }
}
