import AttestCore
import Dispatch
import Foundation

/// The portal's access to the state its replicas share (portal.md §Replicas).
///
/// Rate decisions are taken on the log writer's thread, inside the batch that writes the
/// receipt, so that a call's count time is the time its receipt records and receipts
/// stay in time order; ``count(_:earliest:deadline:record:)`` therefore blocks that
/// thread (a dedicated thread, never one of the concurrency pool's) until the store
/// answers or its deadline passes.
///
/// After a failure the gate fails every operation at once for `coolOff`, then lets one
/// through again: during an outage each call is refused promptly instead of waiting out
/// the store's deadline, and service resumes within `coolOff` of the store's return.
final class SharedStateGate: Sendable {
    let state: any SharedState
    private let failedAt = Locked<ContinuousClock.Instant?>(nil)
    private let coolOff: Duration

    init(_ state: any SharedState, coolOff: Duration = .milliseconds(500)) {
        self.state = state
        self.coolOff = coolOff
    }

    /// Opens the configured store (and creates its tables).
    static func open(_ location: SharedStateLocation) async throws(AttestError) -> SharedStateGate {
        switch location {
        case .sqlite(let url):
            return SharedStateGate(try SQLiteSharedState(path: url.path))
        case .postgres(let url):
            let store = try PostgresSharedState(url: url)
            try await store.prepare()
            return SharedStateGate(store)
        }
    }

    func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        try admit()
        do {
            try await state.recordProof(issuer: issuer, tokenID: tokenID, expires: expires, now: now)
        } catch {
            if error.code == .proofReplayStoreUnavailable { failedAt.value = ContinuousClock.now }
            throw error
        }
    }

    /// ``RevocationStore/revoked(among:)``, failing fast during an outage like the other operations.
    func revoked(among digests: [String]) async throws(AttestError) -> [String] {
        try admit()
        do {
            return try await state.revoked(among: digests)
        } catch {
            if error.code == .proofReplayStoreUnavailable { failedAt.value = ContinuousClock.now }
            throw error
        }
    }

    /// ``SharedState/count(_:earliest:deadline:record:)``, waited for on the calling thread.
    func count(_ limits: [SharedLimit], earliest: Int64, deadline: Int64, record: Bool) throws(AttestError) -> SharedCount {
        try admit()
        let outcome = Locked<Result<SharedCount, AttestError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let state = state
        Task.detached {
            do throws(AttestError) {
                outcome.value = .success(try await state.count(limits, earliest: earliest, deadline: deadline, record: record))
            } catch {
                outcome.value = .failure(error)
            }
            done.signal()
        }
        done.wait()
        guard let result = outcome.value else {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state gave no answer")
        }
        if case .failure = result { failedAt.value = ContinuousClock.now }
        return try result.get()
    }

    func close() async {
        if let postgres = state as? PostgresSharedState { await postgres.close() }
    }

    private func admit() throws(AttestError) {
        if let failed = failedAt.value, ContinuousClock.now - failed < coolOff {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state was unreachable moments ago; the call is refused")
        }
    }
}
