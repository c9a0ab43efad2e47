import AttestCore
import Foundation

/// Remembers the proofs already accepted, keyed on (token issuer, proof `jti`).
///
/// An entry is kept until its `expires` time has passed (`now > expires`); by then its
/// proof is stale and would be rejected anyway, so forgetting it reopens nothing. A
/// store never evicts an unexpired entry to make room: when it is full it refuses.
public protocol ReplayStore: Sendable {
    /// Records the pair, or throws `PRF_REPLAY` if it is already recorded and unexpired,
    /// `PRF_REPLAY_STORE_FULL` if the store is full of unexpired entries, or
    /// `PRF_REPLAY_STORE_UNAVAILABLE` if the store cannot be reached or written.
    func insert(issuer: String, tokenID: String, expires: Int64, now: Int64) throws(AttestError)

    /// The same insert for async code. A store whose insert blocks on I/O implements it
    /// without holding a thread of the cooperative pool; the default calls `insert`.
    func insertAsync(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError)
}

extension ReplayStore {
    public func insertAsync(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        try insert(issuer: issuer, tokenID: tokenID, expires: expires, now: now)
    }
}

/// A bounded store in memory, for one process.
public final class InMemoryReplayStore: ReplayStore, @unchecked Sendable {
    /// Compared by code points, as SQLite compares TEXT: two `jti` that are only
    /// canonically equivalent are two proofs.
    private struct Key: Hashable { let issuer: ExactString; let tokenID: ExactString }

    public let capacity: Int
    private let lock = NSLock()
    private var entries: [Key: Int64] = [:]
    /// The earliest expiry in the store: while `now` has not passed it, a full store has
    /// nothing to purge, and a refusal costs no scan.
    private var earliestExpiry = Int64.max

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public var count: Int { lock.withLock { entries.count } }

    private static func recordUnlessLive(_ slot: inout Int64?, expires: Int64, now: Int64, earliest: inout Int64) -> ErrorCode? {
        if let existing = slot, existing >= now { return .proofReplay }
        slot = expires
        earliest = min(earliest, expires)
        return nil
    }

    public func insert(issuer: String, tokenID: String, expires: Int64, now: Int64) throws(AttestError) {
        let key = Key(issuer: ExactString(issuer), tokenID: ExactString(tokenID))
        let outcome: ErrorCode? = lock.withLock {
            if entries.count < capacity {
                // Not full, so nothing to purge: one hash lookup either finds a live entry
                // (a replay) or records the pair, replacing an expired entry.
                return Self.recordUnlessLive(&entries[key], expires: expires, now: now, earliest: &earliestExpiry)
            }
            if let existing = entries[key], existing >= now { return .proofReplay }
            if entries.count >= capacity && now > earliestExpiry {
                entries = entries.filter { $0.value >= now }
                earliestExpiry = entries.values.min() ?? .max
            }
            if entries.count >= capacity { return .proofReplayStoreFull }
            entries[key] = expires
            earliestExpiry = min(earliestExpiry, expires)
            return nil
        }
        switch outcome {
        case .proofReplay?: throw AttestError(.proofReplay, "proof jti \(tokenID) of issuer \(issuer) was already accepted")
        case .some(let code): throw AttestError(code, "the replay store holds \(capacity) unexpired entries; the proof is refused")
        case nil: return
        }
    }
}
