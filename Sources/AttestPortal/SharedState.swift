import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import GRDB

/// The state that replicas of one portal deployment share: the replay store, the rate
/// state and the revocations (``RevocationStore``). Everything else (the receipt log, its key, the payloads, the checkpoints) stays
/// with each replica.
///
/// Both operations fail closed: a store that cannot be reached, read or written throws
/// `PRF_REPLAY_STORE_UNAVAILABLE`, and the caller then denies the call; it never accepts
/// a proof or counts a call it could not record.
public protocol SharedState: RevocationStore {
    /// Records (issuer, proof `jti`) until `expires`, or throws `PRF_REPLAY` when the pair
    /// is recorded with an expiry not before `now` (the replay rule of ``ReplayStore``),
    /// `PRF_REPLAY_STORE_FULL` when the store refuses to grow, or
    /// `PRF_REPLAY_STORE_UNAVAILABLE`. Issuer and `jti` are compared by their UTF-8 bytes.
    func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError)

    /// One atomic decision on a call's rate limits (artifact.md §Evaluation, steps 5 and
    /// 6), taken at the call's *count time*: the latest of `earliest` and of every time a
    /// call was counted against any of `limits` before. So the count times of the calls
    /// counted against one limit never decrease in the order the store counted them,
    /// whatever the clocks of the replicas, and a recount of the logs by time (bundle.md
    /// step 10) sees each call's window exactly as the store did (portal.md §Replicas).
    ///
    /// At the count time `c`: when `c` is not before `deadline` (the end of the chain's
    /// validity window) nothing is counted and the result is `.expired`; when some limit
    /// already counts `max` calls in (c − window, c], nothing is counted and the result is
    /// `.limited`; otherwise, with `record`, the call is counted against every limit, and
    /// the result is `.counted` (without `record`, nothing is counted: the caller denies
    /// the call for a later step). Throws `PRF_REPLAY_STORE_UNAVAILABLE` when the decision
    /// cannot be taken.
    func count(_ limits: [SharedLimit], earliest: Int64, deadline: Int64, record: Bool) async throws(AttestError) -> SharedCount
}

/// The outcome of ``SharedState/count(_:earliest:deadline:record:)``, with the count time.
public enum SharedCount: Sendable, Equatable {
    case counted(at: Int64)
    case limited(at: Int64)
    case expired(at: Int64)

    public var time: Int64 {
        switch self { case .counted(let t), .limited(let t), .expired(let t): return t }
    }
}

extension SharedState {
    /// Counts a call at `time` (or later, see ``count(_:earliest:deadline:record:)``) when
    /// every limit allows it; true when it was counted.
    public func countCall(against limits: [SharedLimit], time: Int64) async throws(AttestError) -> Bool {
        if case .counted = try await count(limits, earliest: time, deadline: .max, record: true) { return true }
        return false
    }
}

/// One rate limit a call counts against: a limit of one tool, or the artifact-wide limit,
/// of one artifact of the call's chain (the artifact in force or an ancestor).
public struct SharedLimit: Sendable {
    /// The artifact's digest.
    public let artifact: String
    /// The tool the limit is for; nil for the artifact-wide limit.
    public let tool: String?
    public let max: Int64
    public let window: Int64

    public init(artifact: String, tool: String?, max: Int64, window: Int64) {
        self.artifact = artifact
        self.tool = tool
        self.max = max
        self.window = window
    }

    /// The limits a call of `tool` under `chain` counts against: those of every artifact
    /// of the chain, as ``PolicyEngine`` counts them (mandate.md: deriving a mandate never
    /// multiplies a budget).
    public static func limits(chain: [Artifact], tool: String) -> [SharedLimit] {
        let name = ExactString(tool)
        var limits: [SharedLimit] = []
        for a in chain {
            if let limit = a.tools[name]?.rateLimit {
                limits.append(SharedLimit(artifact: a.digest, tool: tool, max: limit.max, window: limit.window))
            }
            if let limit = a.rateLimit {
                limits.append(SharedLimit(artifact: a.digest, tool: nil, max: limit.max, window: limit.window))
            }
        }
        return limits
    }

    /// The limit's identity as bytes, injective over (artifact, tool): 0x00 then the
    /// digest for an artifact-wide limit; 0x01, the digest's length in 4 bytes (big
    /// endian), the digest, then the tool's UTF-8 bytes for a tool's limit. Stores compare
    /// keys as bytes, so two tool names that differ in any code point are two limits.
    public var key: [UInt8] {
        let digest = Array(artifact.utf8)
        guard let tool else { return [0x00] + digest }
        let n = UInt32(truncatingIfNeeded: digest.count)
        return [0x01, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + digest + Array(tool.utf8)
    }

    /// The limits with equal keys merged (the smallest `max`, the longest window), in
    /// ascending byte order of key: the order in which a store locks them, so that two
    /// decisions over overlapping limits never wait on each other in a cycle.
    static func normalized(_ limits: [SharedLimit]) -> [(key: [UInt8], max: Int64, window: Int64)] {
        var merged: [[UInt8]: (max: Int64, window: Int64)] = [:]
        for limit in limits {
            let key = limit.key
            if let existing = merged[key] {
                merged[key] = (Swift.min(existing.max, limit.max), Swift.max(existing.window, limit.window))
            } else {
                merged[key] = (limit.max, limit.window)
            }
        }
        return merged.map { (key: $0.key, max: $0.value.max, window: $0.value.window) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }
}

/// The shared state in one SQLite database, for replicas on one host (the embedded
/// default). The replay table is the one ``SQLiteReplayStore`` keeps; the rate state is
/// one row per counted call. Each operation is one IMMEDIATE transaction, so SQLite's
/// write lock serializes the decisions of every connection to the file, and a decision
/// sees every decision committed before it.
public final class SQLiteSharedState: SharedState, @unchecked Sendable {
    private let queue: DatabaseQueue
    public let capacity: Int

    public init(path: String, capacity: Int = 1_000_000) throws(AttestError) {
        self.capacity = capacity
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in try Self.createTables(db) }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state at \(path) cannot be opened: \(error)")
        }
    }

    /// The shared state's tables in `db`, created if missing.
    public static func createTables(_ db: Database) throws {
        try SQLiteReplayStore.createTables(db)
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS rate_calls (key BLOB NOT NULL, time INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS revocations (digest BLOB PRIMARY KEY, time INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS rate_calls_key_time ON rate_calls (key, time);
            """)
    }

    public func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        let capacity = capacity
        let outcome: ErrorCode?
        do {
            outcome = try await queue.writeWithoutTransaction { db in
                var outcome: ErrorCode?
                try db.inTransaction(.immediate) {
                    outcome = try SQLiteReplayStore.recordInTransaction(db, issuer: issuer, tokenID: tokenID, expires: expires,
                                                                        now: now, capacity: capacity)
                    return outcome == nil ? .commit : .rollback
                }
                return outcome
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state cannot record the proof: \(error)")
        }
        switch outcome {
        case .proofReplay?: throw AttestError(.proofReplay, "proof jti \(tokenID) of issuer \(issuer) was already accepted")
        case .some(let code): throw AttestError(code, "the replay store holds \(capacity) unexpired entries; the proof is refused")
        case nil: return
        }
    }

    public func count(_ limits: [SharedLimit], earliest: Int64, deadline: Int64, record: Bool) async throws(AttestError) -> SharedCount {
        let limits = SharedLimit.normalized(limits)
        do {
            return try await queue.writeWithoutTransaction { db in
                var outcome = SharedCount.expired(at: earliest)
                try db.inTransaction(.immediate) {
                    var time = earliest
                    for limit in limits {
                        let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(time) FROM rate_calls WHERE key = ?"),
                                                      arguments: [Data(limit.key)]) ?? time
                        time = max(time, last)
                    }
                    guard time < deadline else {
                        outcome = .expired(at: time)
                        return .rollback
                    }
                    for limit in limits {
                        let n = try Int64.fetchOne(db.cachedStatement(sql: """
                            SELECT count(*) FROM (SELECT 1 FROM rate_calls WHERE key = ? AND time > ? AND time <= ? LIMIT ?)
                            """), arguments: [Data(limit.key), time - limit.window, time, limit.max]) ?? 0
                        if n >= limit.max {
                            outcome = .limited(at: time)
                            return .rollback
                        }
                    }
                    outcome = .counted(at: time)
                    guard record else { return .rollback }
                    for limit in limits {
                        try db.cachedStatement(sql: "INSERT INTO rate_calls (key, time) VALUES (?, ?)").execute(arguments: [Data(limit.key), time])
                        try db.cachedStatement(sql: "DELETE FROM rate_calls WHERE key = ? AND time <= ?")
                            .execute(arguments: [Data(limit.key), time - limit.window - SharedStateDefaults.pruneMargin])
                    }
                    return .commit
                }
                return outcome
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the shared rate state cannot be updated: \(error)")
        }
    }
}

extension SQLiteSharedState {
    public func revoke(digest: String, time: Int64) async throws(AttestError) {
        do {
            try await queue.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO revocations (digest, time) VALUES (?, ?)", arguments: [Data(digest.utf8), time])
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state cannot record the revocation: \(error)")
        }
    }

    public func revoked(among digests: [String]) async throws(AttestError) -> [String] {
        guard !digests.isEmpty else { return [] }
        do {
            return try await queue.read { db in
                try digests.filter { digest in
                    try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM revocations WHERE digest = ?"),
                                      arguments: [Data(digest.utf8)]) ?? false
                }
            }
        } catch {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state cannot be read for revocations: \(error)")
        }
    }
}

enum SharedStateDefaults {
    /// Counted calls are kept this many seconds past their window. Count times never
    /// decrease per limit, so a call older than its window can no longer count; the
    /// margin only keeps rows that a slow reader may still be looking at.
    static let pruneMargin: Int64 = 300
}
