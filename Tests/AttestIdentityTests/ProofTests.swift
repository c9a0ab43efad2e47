import AttestCore
import AttestIdentity
import Foundation
import Testing
import TestSupport

@Suite("Proofs and requests")
struct ProofTests {
    @Test("positive control, then replay of the same request")
    func replay() throws {
        let verifier = try Fixture.verifier()
        let store = InMemoryReplayStore(capacity: 8)
        let token = try Fixture.token()
        let request = Fixture.request(token: token, proof: try Fixture.proof(token: token))
        guard case .attested(let verified, let proof) = try verifier.verifyRequest(request, policy: .required, now: Fixture.now, replayStore: store)
        else { Issue.record("not attested"); return }
        #expect(verified.subject.hasPrefix("spiffe://"))
        #expect(proof.replayExpires == Fixture.now + 120)
        expectCode(.proofReplay) { try verifier.verifyRequest(request, policy: .required, now: Fixture.now + 1, replayStore: store) }
    }

    @Test("each request defect yields its own code")
    func negatives() throws {
        let verifier = try Fixture.verifier()
        let token = try Fixture.token()
        let now = Fixture.now
        func check(_ code: ErrorCode, _ request: JSONObject, policy: RequestPolicy = .required, _ what: Comment) {
            expectCode(code, what) { try verifier.verifyRequest(request, policy: policy, now: now, replayStore: InMemoryReplayStore()) }
        }
        check(.proofTokenMissing, Fixture.request(token: nil, proof: nil), "stripped")
        check(.proofMissing, Fixture.request(token: token, proof: nil), "no proof")
        check(.proofKeyMismatch, Fixture.request(token: token, proof: try Fixture.proof(token: token, key: Fixture.attacker)), "wrong key")
        check(.proofStale, Fixture.request(token: token, proof: try Fixture.proof(token: token, issuedAt: now - 121)), "stale")
        check(.proofIssuedInFuture, Fixture.request(token: token, proof: try Fixture.proof(token: token, issuedAt: now + 61)), "future")
        var changed = Fixture.params
        changed["arguments"] = ["location": "Boston"]
        check(.proofParamsHashMismatch, Fixture.request(token: token, proof: try Fixture.proof(token: token), params: changed), "params")
        let other = try Fixture.token(Fixture.claims(tokenID: "tok-2"))
        check(.proofTokenHashMismatch, Fixture.request(token: token, proof: try Fixture.proof(token: other)), "ath")
        let forged = try Fixture.tamper(token) { $0["sub"] = "spiffe://agents.provider.example/admin" }
        check(.tokenSignatureInvalid, Fixture.request(token: forged, proof: try Fixture.proof(token: forged)), policy: .optional, "optional, invalid")
        let unattested = try verifier.verifyRequest(Fixture.request(token: nil, proof: nil), policy: .optional, now: now,
                                                    replayStore: InMemoryReplayStore())
        guard case .unattested = unattested else { Issue.record("expected unattested"); return }
    }
}

@Suite("Replay stores")
struct ReplayStoreTests {
    @Test("in memory: a full store refuses instead of evicting; expired entries make room")
    func inMemoryFull() throws {
        let store = InMemoryReplayStore(capacity: 2)
        try store.insert(issuer: "i", tokenID: "a", expires: 200, now: 100)
        try store.insert(issuer: "i", tokenID: "b", expires: 150, now: 100)
        expectCode(.proofReplayStoreFull) { try store.insert(issuer: "i", tokenID: "c", expires: 200, now: 150) }
        // Both entries are still there: nothing was evicted to make room.
        expectCode(.proofReplay) { try store.insert(issuer: "i", tokenID: "a", expires: 200, now: 150) }
        expectCode(.proofReplay) { try store.insert(issuer: "i", tokenID: "b", expires: 200, now: 150) }
        // At 151 "b" has expired and its slot is reused; "a" is kept.
        try store.insert(issuer: "i", tokenID: "c", expires: 300, now: 151)
        expectCode(.proofReplay) { try store.insert(issuer: "i", tokenID: "a", expires: 300, now: 151) }
        // Keyed on (issuer, jti): the same jti of another issuer is not a replay.
        let other = InMemoryReplayStore(capacity: 4)
        try other.insert(issuer: "i", tokenID: "a", expires: 200, now: 100)
        try other.insert(issuer: "j", tokenID: "a", expires: 200, now: 100)
    }

    @Test("SQLite: two connections share the store; exactly one of many concurrent inserts of a pair wins")
    func sqliteConcurrent() async throws {
        let path = Fixture.temporaryPath("replay.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try SQLiteReplayStore(path: path)
        let second = try SQLiteReplayStore(path: path)
        try first.insert(issuer: "i", tokenID: "seen", expires: 500, now: 100)
        expectCode(.proofReplay) { try second.insert(issuer: "i", tokenID: "seen", expires: 500, now: 101) }
        let wins = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<16 {
                let store = n % 2 == 0 ? first : second
                group.addTask { (try? store.insert(issuer: "i", tokenID: "race", expires: 500, now: 100)) != nil }
            }
            var count = 0
            for await won in group where won { count += 1 }
            return count
        }
        #expect(wins == 1)
    }

    @Test("SQLite: another process's insertion is seen (shared by processes on one host)")
    func sqliteOtherProcess() throws {
        let path = Fixture.temporaryPath("replay.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteReplayStore(path: path)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO replay (iss, jti, expires) VALUES ('i', 'from-python', 500)")
            db.execute("COMMIT")
            """, path]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "python3 with sqlite3 is needed for this test")
        expectCode(.proofReplay) { try store.insert(issuer: "i", tokenID: "from-python", expires: 500, now: 100) }
        try store.insert(issuer: "j", tokenID: "from-python", expires: 500, now: 100)
    }

    @Test("SQLite: purge removes only expired entries; a full store refuses")
    func sqlitePurgeAndFull() throws {
        let path = Fixture.temporaryPath("replay.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteReplayStore(path: path, capacity: 3)
        try store.insert(issuer: "i", tokenID: "old", expires: 99, now: 50)
        try store.insert(issuer: "i", tokenID: "edge", expires: 100, now: 50)
        try store.insert(issuer: "i", tokenID: "new", expires: 200, now: 50)
        #expect(try store.purge(now: 100) == 1)
        #expect(try store.count() == 2)
        expectCode(.proofReplay) { try store.insert(issuer: "i", tokenID: "edge", expires: 300, now: 100) }
        try store.insert(issuer: "i", tokenID: "x", expires: 300, now: 100)
        expectCode(.proofReplayStoreFull) { try store.insert(issuer: "i", tokenID: "y", expires: 300, now: 100) }
        // Durable: a new connection after the first is gone still sees the entries.
        let reopened = try SQLiteReplayStore(path: path, capacity: 3)
        expectCode(.proofReplay) { try reopened.insert(issuer: "i", tokenID: "new", expires: 300, now: 100) }
    }

    @Test("SQLite: a store that cannot be opened is unavailable (PRF_REPLAY_STORE_UNAVAILABLE), not full")
    func sqliteUnavailable() throws {
        // Positive control: a writable path opens and records.
        let path = Fixture.temporaryPath("replay.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SQLiteReplayStore(path: path).insert(issuer: "i", tokenID: "a", expires: 200, now: 100)
        // Tests may run as root, whom file permissions do not stop: a path under a regular
        // file, or in a directory that does not exist, cannot be opened by anyone.
        expectCode(.proofReplayStoreUnavailable) { try SQLiteReplayStore(path: "/etc/passwd/replay.sqlite") }
        expectCode(.proofReplayStoreUnavailable) { try SQLiteReplayStore(path: "/nonexistent-directory/replay.sqlite") }
    }
}
