import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import GRDB

/// The one writer of a portal's receipt log: it decides, links, signs and stores receipts
/// in the order of the log, and makes them durable in batches (group commit).
///
/// Calls from every session queue here; the writer thread takes all queued jobs, runs
/// them one after another inside one SQLite transaction, commits (WAL, `synchronous =
/// FULL`: the commit is flushed to stable storage), and only then resumes the callers.
/// One flush therefore serves every call that arrived while the previous one was in
/// progress. Deciding inside the writer is what makes rate limits exact: the rate state a
/// call is decided against holds every call allowed before it in the log.
///
/// When a commit fails, the batch is undone in memory as in the database, and every call
/// of it fails with `PTL_RECEIPT_WRITE_FAILED`; nothing of it was released.
final class LogWriter: @unchecked Sendable {
    /// What jobs see and change: the head of the log and the rate state.
    struct State {
        var size: UInt64
        var lastLink: [UInt8]
        var lastTime: Int64
        var engine: PolicyEngine
        /// The drift of the log's sessions (artifact.md §Evaluation steps 0 and 7). Sessions
        /// live in one portal process, so a restart starts it empty (portal.md §Deciding a governed request).
        var drift = DriftTracker()
        /// Leaf hashes appended by the batch in progress; added to the tree after the commit.
        var pendingLeaves: [MerkleHash] = []
    }

    typealias Job = (inout State, Database) throws -> Void

    private let queue: DatabaseQueue
    private let lock = NSCondition()
    private var jobs: [(job: Job, done: @Sendable (Result<Void, AttestError>) -> Void)] = []
    private var state: State
    private(set) var tree: MerkleTree
    private var stopped = false
    /// Sessions that ended since the last batch: their drift state is dropped before it.
    private var endedSessions: [String] = []
    private var _flushes = 0
    /// Commits made so far: one per batch.
    var flushes: Int { lock.withLock { _flushes } }
    private let metrics: PortalMetrics
    private let maxBatch = 1024

    init(queue: DatabaseQueue, state: State, tree: MerkleTree, metrics: PortalMetrics) {
        self.queue = queue
        self.state = state
        self.tree = tree
        self.metrics = metrics
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = "attest-portal-log-writer"
        thread.start()
    }

    /// Runs `job` in the next batch; returns once the batch is durable. A job that throws
    /// fails its whole batch: jobs report refusals in their results, never by throwing.
    func submit(_ job: @escaping Job) async throws(AttestError) {
        let result: Result<Void, AttestError> = await withCheckedContinuation { continuation in
            lock.lock()
            if stopped {
                lock.unlock()
                continuation.resume(returning: .failure(AttestError(.portalReceiptWriteFailed, "the portal is stopping")))
                return
            }
            jobs.append((job, { continuation.resume(returning: $0) }))
            lock.signal()
            lock.unlock()
        }
        try result.get()
    }

    /// Notes that a session will have no further request, so that its drift state is dropped.
    func endSession(_ session: String) {
        lock.lock()
        endedSessions.append(session)
        lock.unlock()
    }

    /// The current head, read under the writer's lock (for checkpoints and reports).
    func withTree<T>(_ body: (MerkleTree, State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(tree, state)
    }

    /// Lets queued jobs finish, then stops the thread; later submissions fail.
    func stop() {
        lock.lock()
        stopped = true
        lock.signal()
        lock.unlock()
    }

    private func loop() {
        while true {
            lock.lock()
            while jobs.isEmpty && !stopped { lock.wait() }
            if jobs.isEmpty && stopped {
                lock.unlock()
                return
            }
            let batch = Array(jobs.prefix(maxBatch))
            jobs.removeFirst(batch.count)
            var working = state
            let ended = endedSessions
            endedSessions.removeAll()
            lock.unlock()
            for session in ended { working.drift.end(session: session) }

            working.pendingLeaves.removeAll(keepingCapacity: true)
            let start = ContinuousClock.now
            let outcome: Result<Void, AttestError>
            do {
                try queue.inDatabase { db in
                    try db.inTransaction(.immediate) {
                        for entry in batch { try entry.job(&working, db) }
                        return .commit
                    }
                }
                outcome = .success(())
            } catch let error as AttestError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(AttestError(.portalReceiptWriteFailed, "the receipt log cannot be written: \(error)"))
            }
            metrics.flushed(calls: batch.count, duration: ContinuousClock.now - start)

            lock.lock()
            _flushes += 1
            if case .success = outcome {
                for leaf in working.pendingLeaves { tree.append(leafHash: leaf) }
                working.pendingLeaves.removeAll()
                state = working
            } else {
                // The batch is undone, and with it the sessions it forgot: forget them next time.
                endedSessions.append(contentsOf: ended)
            }
            lock.unlock()
            for entry in batch { entry.done(outcome) }
        }
    }
}
