import AttestCore
import AttestIdentity
import AttestMCP
import Foundation
import GRDB
import Testing

/// The gate records proofs in an SQLite store without blocking the thread its task runs
/// on. The verifications run on an executor of one thread that the test owns, the way they
/// would run on Swift concurrency's cooperative pool (one thread per core) without
/// depending on what the other tests are doing with that pool.
@Suite struct GateReplayStoreTests {
    final class OneThreadExecutor: TaskExecutor {
        private let queue = DispatchQueue(label: "gate-replay-test")
        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }

    @available(macOS 15.0, *)
    @Test func verificationsWaitingForTheSQLiteWriteLockLeaveTheirThreadFree() async throws {
        let path = NSTemporaryDirectory() + "gate-replay-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gate = try MCPFixture.gate(replayStore: SQLiteReplayStore(path: path))
        // Another connection holds the write lock until `release`; the store waits for it
        // up to its busy timeout (5 s).
        let holder = try DatabaseQueue(path: path)
        let release = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (locked: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                try? holder.inTransaction(.immediate) { _ in
                    locked.resume()
                    release.wait()
                    return .rollback
                }
            }
        }
        let attester = try MCPFixture.attester()
        let call = try StrictJSONParser().parse(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#)
        let requests = try (0..<2).map { i in
            try attester.attach(to: call, era: .handshake, issuedAt: systemClock(), proofID: "waiting-\(i)")
        }
        let (slept, attested) = try await withTaskExecutorPreference(OneThreadExecutor()) {
            async let attested = withTaskGroup(of: Bool.self) { group in
                for request in requests {
                    group.addTask {
                        if case .attested? = try? await gate.verify(request, era: .handshake) { return true }
                        return false
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            // Resumes on the executor's one thread, so only if no verification holds it.
            let start = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(200))
            let slept = ContinuousClock.now - start
            release.signal()
            return (slept, await attested)
        }
        #expect(slept < .seconds(3), "a 200 ms sleep took \(slept): a verification held the thread while it waited for the store")
        #expect(attested == requests.count)
    }
}
