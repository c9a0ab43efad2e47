import AttestCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The shared state in a PostgreSQL database, for replicas on several hosts.
///
/// Replay: one statement, `INSERT … ON CONFLICT (iss, jti) DO UPDATE … WHERE expires <
/// now RETURNING`, atomic on its own: of two replicas racing on one pair, the second
/// waits for the first's row lock and then finds the pair live.
///
/// Rate state: one READ COMMITTED transaction per decision (one call of a server-side
/// function, one round trip) that takes a row lock on each
/// limit's row (`SELECT … FOR UPDATE`, in ascending key order; the row keeps the limit's
/// last count time, from which the count time follows), then counts the calls in
/// each window, then inserts one row per limit or rolls back. The row lock serializes the
/// decisions on one limit across every connection of every replica, and under READ
/// COMMITTED each count, a statement run after the lock is granted, sees every decision
/// committed before it: the count is exact, so no limit ever allows more than `max` in a
/// window. Row locks rather than SERIALIZABLE: contenders on a hot limit wait in a queue
/// instead of failing with serialization errors and retrying (under 50 concurrent
/// sessions on one limit almost every SERIALIZABLE attempt would conflict, with no bound
/// on retries); the fixed lock order excludes deadlocks.
///
/// Issuers, `jti`s and limit keys are stored as `bytea`, compared by bytes, whatever the
/// database's collation. Every failure to reach, read or write the database is thrown as
/// `PRF_REPLAY_STORE_UNAVAILABLE`; the connection it happened on is dropped, and the next
/// operation opens a new one, so service resumes when the database returns.
public final class PostgresSharedState: SharedState, Sendable {
    private let pool: PostgresConnectionPool
    private let logger: Logger

    private let timeout: Duration

    /// `url` is `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (no TLS: loopback or a
    /// private network). `connections` bounds the connections this instance opens.
    /// `timeout` (seconds, 1 to 3600) bounds each operation, waiting for a connection and for row
    /// locks included: past it the operation fails as unavailable, and the server ends
    /// the statement (`statement_timeout`) and any transaction left idle
    /// (`idle_in_transaction_session_timeout`), so a replica that stops mid-decision holds
    /// no lock for longer.
    public init(url: String, connections: Int = 8, connectTimeout: Int64 = 2, timeout: Int64 = 5,
                logger: Logger = Logger(label: "attest.portal.shared-state")) throws(AttestError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
              scheme.isExactly("postgres") || scheme.isExactly("postgresql"),
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state URL is not postgres://USER@HOST[:PORT]/DATABASE")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        var configuration = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.connectTimeout = .seconds(min(max(1, connectTimeout), 3600))
        let timeout = min(max(1, timeout), 3600)
        let milliseconds = String(timeout * 1000)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", milliseconds), ("idle_in_transaction_session_timeout", milliseconds)]
        self.timeout = .seconds(timeout)
        pool = PostgresConnectionPool(configuration: configuration, size: max(1, connections), logger: logger)
        self.logger = logger
    }

    /// Creates the tables if missing (under an advisory lock, so that replicas starting
    /// together do not race on the catalog).
    public func prepare() async throws(AttestError) {
        // Once, at start-up, off every decision path: a busy server gets longer than an
        // operation's bound before the portal gives up starting.
        try await run("the shared state's tables cannot be created", within: max(timeout, .seconds(60))) { connection, logger in
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(7316458)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS attest_replay (
                    iss bytea NOT NULL, jti bytea NOT NULL, expires bigint NOT NULL, PRIMARY KEY (iss, jti))
                """, logger: logger)
            try await connection.query("CREATE INDEX IF NOT EXISTS attest_replay_expires ON attest_replay (expires)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS attest_rate_limits (key bytea PRIMARY KEY, last bigint NOT NULL DEFAULT 0)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS attest_rate_calls (key bytea NOT NULL, time bigint NOT NULL)", logger: logger)
            try await connection.query("CREATE INDEX IF NOT EXISTS attest_rate_calls_key_time ON attest_rate_calls (key, time)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS attest_revocations (digest bytea PRIMARY KEY, time bigint NOT NULL)", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: Self.countFunction), logger: logger)
            try await connection.query("COMMIT", logger: logger)
        }
    }

    public func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        let iss = ByteBuffer(bytes: Array(issuer.utf8)), jti = ByteBuffer(bytes: Array(tokenID.utf8))
        let recorded = try await run("the shared state cannot record the proof") { connection, logger in
            let rows = try await connection.query("""
                INSERT INTO attest_replay (iss, jti, expires) VALUES (\(iss), \(jti), \(expires))
                ON CONFLICT (iss, jti) DO UPDATE SET expires = EXCLUDED.expires WHERE attest_replay.expires < \(now)
                RETURNING 1
                """, logger: logger)
            var any = false
            for try await _ in rows { any = true }
            return any
        }
        guard recorded else {
            throw AttestError(.proofReplay, "proof jti \(tokenID) of issuer \(issuer) was already accepted")
        }
        // Expired entries are removed now and then, by whichever replica draws the lot.
        if UInt8.random(in: 0...255) == 0 {
            _ = try? await run("the replay store cannot be purged") { connection, logger in
                try await connection.query("DELETE FROM attest_replay WHERE expires < \(now)", logger: logger)
            }
        }
    }

    public func count(_ limits: [SharedLimit], earliest: Int64, deadline: Int64, record: Bool) async throws(AttestError) -> SharedCount {
        let limits = SharedLimit.normalized(limits)
        guard !limits.isEmpty else { return earliest < deadline ? .counted(at: earliest) : .expired(at: earliest) }
        let keys = limits.map { ByteBuffer(bytes: $0.key) }, maxes = limits.map(\.max), windows = limits.map(\.window)
        let margin = SharedStateDefaults.pruneMargin
        let (outcome, time) = try await run("the shared rate state cannot be updated") { connection, logger in
            // One statement, one transaction: the function below, one round trip.
            let rows = try await connection.query("""
                SELECT outcome, at FROM attest_count(\(keys), \(maxes), \(windows), \(earliest), \(deadline), \(record), \(margin))
                """, logger: logger)
            var result: (Int32, Int64) = (-1, earliest)
            for try await row in rows.decode((Int32, Int64).self) { result = row }
            return result
        }
        switch outcome {
        case 0: return .counted(at: time)
        case 1: return .limited(at: time)
        case 2: return .expired(at: time)
        default: throw AttestError(.proofReplayStoreUnavailable, "the shared rate state gave no decision")
        }
    }

    public func revoke(digest: String, time: Int64) async throws(AttestError) {
        let key = ByteBuffer(bytes: Array(digest.utf8))
        try await run("the shared state cannot record the revocation") { connection, logger in
            try await connection.query("INSERT INTO attest_revocations (digest, time) VALUES (\(key), \(time)) ON CONFLICT DO NOTHING",
                                       logger: logger)
        }
    }

    /// One statement per digest, on one connection (a chain has at most 16).
    public func revoked(among digests: [String]) async throws(AttestError) -> [String] {
        guard !digests.isEmpty else { return [] }
        return try await run("the shared state cannot be read for revocations") { connection, logger in
            var revoked: [String] = []
            for digest in digests {
                let key = ByteBuffer(bytes: Array(digest.utf8))
                var any = false
                for try await _ in try await connection.query("SELECT 1 FROM attest_revocations WHERE digest = \(key)", logger: logger) {
                    any = true
                }
                if any { revoked.append(digest) }
            }
            return revoked
        }
    }

    /// The rate decision of ``count(_:earliest:deadline:record:)`` as one server-side
    /// function, so that a decision is one round trip: row locks on every limit in the
    /// order given (ascending key), the count time, the deadline, each window counted (at
    /// most `max` rows read), then the call counted against every limit, or nothing. The
    /// function runs in the statement's own transaction; returning early changes nothing
    /// but the limit rows it created.
    static let countFunction = """
        CREATE OR REPLACE FUNCTION attest_count(keys bytea[], maxes bigint[], windows bigint[], earliest bigint,
                                                deadline bigint, record boolean, margin bigint,
                                                OUT outcome integer, OUT at bigint) AS $$
        DECLARE
            i integer;
            n bigint;
            last_time bigint;
            size integer := coalesce(array_length(keys, 1), 0);
        BEGIN
            at := earliest;
            FOR i IN 1 .. size LOOP
                INSERT INTO attest_rate_limits (key) VALUES (keys[i]) ON CONFLICT DO NOTHING;
                SELECT last INTO last_time FROM attest_rate_limits WHERE key = keys[i] FOR UPDATE;
                at := greatest(at, last_time);
            END LOOP;
            IF at >= deadline THEN
                outcome := 2;
                RETURN;
            END IF;
            FOR i IN 1 .. size LOOP
                SELECT count(*) INTO n FROM (SELECT 1 FROM attest_rate_calls
                    WHERE key = keys[i] AND time > at - windows[i] AND time <= at LIMIT maxes[i]) AS w;
                IF n >= maxes[i] THEN
                    outcome := 1;
                    RETURN;
                END IF;
            END LOOP;
            outcome := 0;
            IF NOT record THEN
                RETURN;
            END IF;
            FOR i IN 1 .. size LOOP
                INSERT INTO attest_rate_calls (key, time) VALUES (keys[i], at);
                UPDATE attest_rate_limits SET last = at WHERE key = keys[i];
                DELETE FROM attest_rate_calls WHERE key = keys[i] AND time <= at - windows[i] - margin;
            END LOOP;
        END
        $$ LANGUAGE plpgsql
        """

    /// Closes every connection.
    public func close() async { await pool.close() }

    /// Runs `body` on a pooled connection. Any error is an outage: the connection is
    /// closed rather than returned (it may be mid-transaction), and the error is thrown
    /// as `PRF_REPLAY_STORE_UNAVAILABLE`.
    private func run<T: Sendable>(_ what: String, within bound: Duration? = nil,
                                  _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T) async throws(AttestError) -> T {
        let pool = pool, logger = logger, timeout = bound ?? timeout
        do {
            return try await Self.withDeadline(timeout) {
                let connection = try await pool.acquire()
                do {
                    let value = try await body(connection, logger)
                    await pool.release(connection, healthy: true)
                    return value
                } catch {
                    await pool.release(connection, healthy: false)
                    throw error
                }
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "\(what): \(String(reflecting: error))")
        }
    }

    /// The value of `work`, or `TimedOut` once `timeout` has passed. The work is not
    /// awaited past the deadline (a query on a silent network may not end before the
    /// server's own timeouts): it finishes in the background, and a connection it fails
    /// on is dropped then.
    static func withDeadline<T: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Locked<CheckedContinuation<T, any Error>?>(nil)
        let timer = Locked<Task<Void, Never>?>(nil)
        @Sendable func finish(_ result: Result<T, any Error>) {
            let continuation = outcome.take()
            continuation?.resume(with: result)
            timer.take()?.cancel()
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.value = continuation
            timer.value = Task {
                if (try? await Task.sleep(for: timeout)) != nil { finish(.failure(TimedOut())) }
            }
            Task {
                do { finish(.success(try await work())) } catch { finish(.failure(error)) }
            }
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "no answer from the database in time" }
    }
}

/// At most `size` connections to one database, opened on demand; a caller waits for a
/// free one. A closed connection is dropped, never handed out.
actor PostgresConnectionPool {
    private let configuration: PostgresConnection.Configuration
    private let size: Int
    private let logger: Logger
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var nextID = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false

    init(configuration: PostgresConnection.Configuration, size: Int, logger: Logger) {
        self.configuration = configuration
        self.size = size
        self.logger = logger
    }

    struct Closed: Error {}

    func acquire() async throws -> PostgresConnection {
        while true {
            if closed { throw Closed() }
            if let connection = idle.popLast() {
                if connection.isClosed {
                    open -= 1
                    continue
                }
                return connection
            }
            if open < size {
                open += 1
                nextID += 1
                do {
                    return try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ connection: PostgresConnection, healthy: Bool) {
        if healthy, !connection.isClosed, !closed {
            idle.append(connection)
        } else {
            open -= 1
            Task { try? await connection.close() }
        }
        wakeOne()
    }

    func close() async {
        closed = true
        let connections = idle
        idle = []
        open -= connections.count
        for connection in connections { try? await connection.close() }
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume() }
    }

    /// Connections still idle when the pool goes away (its owner dropped it without
    /// ``close()``, as after a failed start) are closed, not merely released: the driver
    /// requires every connection to be closed before it is deinitialized.
    deinit {
        let connections = idle
        if !connections.isEmpty {
            Task { for connection in connections { try? await connection.close() } }
        }
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
