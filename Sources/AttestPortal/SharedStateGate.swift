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
/// operation through as a probe while it fails the others at once; the probe's success
/// opens the gate again. During an outage each call is therefore refused promptly instead
/// of waiting out the store's deadline, and service resumes within `coolOff` (and one
/// round trip) of the store's return. A blocking wait never outlasts `deadline`.
final class SharedStateGate: Sendable {
    let state: any SharedState
    private struct Health {
        var failedAt: ContinuousClock.Instant?
        var probing = false
    }
    private let health = Locked(Health())
    private let coolOff: Duration
    private let deadline: Duration

    init(_ state: any SharedState, coolOff: Duration = .milliseconds(500), deadline: Duration = .seconds(6)) {
        self.state = state
        self.coolOff = coolOff
        self.deadline = deadline
    }

    /// Opens the configured store (and creates its tables).
    static func open(_ location: SharedStateLocation) async throws(AttestError) -> SharedStateGate {
        switch location {
        case .sqlite(let url):
            return SharedStateGate(try SQLiteSharedState(path: url.path))
        case .postgres(let url):
            let store = try PostgresSharedState(url: url)
            do {
                try await store.prepare()
            } catch {
                await store.close()
                throw error
            }
            return SharedStateGate(store)
        }
    }

    func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
        try admit()
        do {
            try await state.recordProof(issuer: issuer, tokenID: tokenID, expires: expires, now: now)
            settle(failed: false)
        } catch {
            settle(failed: error.code == .proofReplayStoreUnavailable)
            throw error
        }
    }

    /// ``RevocationStore/revoked(among:)``, failing fast during an outage like the other operations.
    func revoked(among digests: [String]) async throws(AttestError) -> [String] {
        try admit()
        do {
            let revoked = try await state.revoked(among: digests)
            settle(failed: false)
            return revoked
        } catch {
            settle(failed: error.code == .proofReplayStoreUnavailable)
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
        let waited = done.wait(timeout: .now() + .milliseconds(Int(self.deadline.components.seconds * 1000)))
        guard waited == .success, let result = outcome.value else {
            settle(failed: true)
            throw AttestError(.proofReplayStoreUnavailable, "the shared state gave no answer in time")
        }
        if case .failure = result { settle(failed: true) } else { settle(failed: false) }
        return try result.get()
    }

    func close() async {
        if let postgres = state as? PostgresSharedState { await postgres.close() }
    }

    /// Throws at once while the gate is closed; after the cool-off lets one caller through
    /// as the probe.
    private func admit() throws(AttestError) {
        let coolOff = coolOff
        let refused: Bool = health.update { h in
            guard let failed = h.failedAt else { return false }
            if ContinuousClock.now - failed < coolOff || h.probing { return true }
            h.probing = true
            return false
        }
        if refused {
            throw AttestError(.proofReplayStoreUnavailable, "the shared state was unreachable moments ago; the call is refused")
        }
    }

    private func settle(failed: Bool) {
        health.update { h in
            if failed { h.failedAt = ContinuousClock.now } else { h.failedAt = nil }
            h.probing = false
        }
    }
}
