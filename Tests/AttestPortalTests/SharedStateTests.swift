import AttestCore
import Foundation
import TestSupport
import Testing
@testable import AttestPortal

/// The state replicas share (replay store, rate state), through two instances of one
/// store: two SQLite connections to one file here, two PostgreSQL clients of one
/// database in ``PostgresSharedStateTests``.
enum SharedStateChecks {
    static let time: Int64 = 1_800_000_000

    /// The code a shared-state operation threw, or nil when it succeeded.
    static func code(_ body: () async throws(AttestError) -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch { return error.code.rawValue }
    }

    /// A proof accepted through `a` is a replay through `b`; another `jti` of the same
    /// issuer, the same `jti` of another issuer, and the same pair once expired are not.
    static func replayAcrossInstances(_ a: some SharedState, _ b: some SharedState) async {
        let issuer = "https://issuer.example/\(UUID().uuidString)", jti = "proof-1"
        #expect(await code { () async throws(AttestError) in
            try await a.recordProof(issuer: issuer, tokenID: jti, expires: time + 60, now: time) } == nil)
        expectRegistryCode(await code { () async throws(AttestError) in
            try await b.recordProof(issuer: issuer, tokenID: jti, expires: time + 60, now: time + 1) }, "PRF_REPLAY")
        // Positive controls, each differing from the replay by one thing.
        #expect(await code { () async throws(AttestError) in
            try await b.recordProof(issuer: issuer, tokenID: "proof-2", expires: time + 60, now: time + 1) } == nil)
        #expect(await code { () async throws(AttestError) in
            try await b.recordProof(issuer: issuer + "/other", tokenID: jti, expires: time + 60, now: time + 1) } == nil)
        #expect(await code { () async throws(AttestError) in
            try await b.recordProof(issuer: issuer, tokenID: jti, expires: time + 200, now: time + 61) } == nil)
        // Compared by bytes: a canonically equivalent jti (U+00E9 against e + U+0301) is another proof.
        #expect(await code { () async throws(AttestError) in
            try await a.recordProof(issuer: issuer, tokenID: "caf\u{E9}", expires: time + 60, now: time) } == nil)
        #expect(await code { () async throws(AttestError) in
            try await b.recordProof(issuer: issuer, tokenID: "cafe\u{301}", expires: time + 60, now: time) } == nil)
    }

    /// Tasks on every instance hammer `limits` at times `times` (one call per element,
    /// spread round robin over the instances and `tasks` concurrent tasks each); returns
    /// how many calls were counted.
    static func hammer(_ instances: [any SharedState], tasks: Int, callsPerTask: Int,
                       limits: @escaping @Sendable (Int) -> [SharedLimit], time: @escaping @Sendable (Int) -> Int64) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (i, store) in instances.enumerated() {
                for t in 0..<tasks {
                    group.addTask {
                        var allowed = 0
                        for c in 0..<callsPerTask {
                            let n = (i * tasks + t) * callsPerTask + c
                            if try await store.countCall(against: limits(n), time: time(n)) { allowed += 1 }
                        }
                        return allowed
                    }
                }
            }
            var total = 0
            for try await n in group { total += n }
            return total
        }
    }

    /// 2 instances x 25 concurrent tasks on one limit of `max` per window allow exactly
    /// `max`; the positive controls (as many distinct windows, as many distinct limits)
    /// allow max+N, so the refusals come from the shared count and from nothing else.
    static func exactUnderConcurrency(_ a: any SharedState, _ b: any SharedState) async throws {
        let max: Int64 = 20, window: Int64 = 60
        let artifact = "sha256:\(UUID().uuidString)"
        let one = [SharedLimit(artifact: artifact, tool: "echo", max: max, window: window)]
        let allowed = try await hammer([a, b], tasks: 25, callsPerTask: 4, limits: { _ in one }, time: { _ in time })
        #expect(allowed == Int(max), "one limit of \(max) per window allowed \(allowed) of 200 calls")
        // The window slides: at t + window − 1 the calls at t still count; at t + window they have left.
        #expect(try await a.countCall(against: one, time: time + window - 1) == false)
        #expect(try await b.countCall(against: one, time: time + window) == true)

        // Count times never decrease per limit: a call asked for at an earlier time is
        // counted at the limit's latest count time, and not at all once that reaches the
        // deadline (the end of the artifact's validity window).
        #expect(try await a.count(one, earliest: time, deadline: .max, record: false) == .counted(at: time + window))
        #expect(try await b.count(one, earliest: time, deadline: time + window, record: true) == .expired(at: time + window))
        #expect(try await b.count(one, earliest: time + window + 1, deadline: .max, record: false) == .counted(at: time + window + 1))

        // Control 1: the same 200 calls over 10 limits of max 20 (one artifact each).
        let spread = "sha256:\(UUID().uuidString)-"
        let spreadAllowed = try await hammer([a, b], tasks: 25, callsPerTask: 4,
                                             limits: { n in [SharedLimit(artifact: spread + "\(n % 10)", tool: "echo", max: max, window: window)] },
                                             time: { _ in time })
        #expect(spreadAllowed == 200, "10 limits of \(max) allowed \(spreadAllowed) of 200 calls")

        // Control 2: 50 distinct limits (one artifact each) of max 1, one call each, all at t.
        let prefix = "sha256:\(UUID().uuidString)-"
        let distinct = try await hammer([a, b], tasks: 25, callsPerTask: 1,
                                        limits: { n in [SharedLimit(artifact: prefix + "\(n)", tool: "echo", max: 1, window: window)] },
                                        time: { _ in time })
        #expect(distinct == 50, "50 distinct limits of 1 allowed \(distinct)")
    }

    /// A call counts against the limits of its mandate and of every ancestor: the root's
    /// limit caps two sibling mandates together, and a denied call counts against none.
    static func ancestorsShareTheBudget(_ a: any SharedState, _ b: any SharedState) async throws {
        let root = "sha256:\(UUID().uuidString)-root"
        let rootLimit = SharedLimit(artifact: root, tool: nil, max: 30, window: 60)
        func mandate(_ name: String, max: Int64) -> [SharedLimit] {
            [rootLimit, SharedLimit(artifact: "\(root)-\(name)", tool: "echo", max: max, window: 60)]
        }
        let left = mandate("left", max: 20), right = mandate("right", max: 20)
        let allowed = try await hammer([a, b], tasks: 25, callsPerTask: 4, limits: { n in n % 2 == 0 ? left : right },
                                       time: { _ in time })
        #expect(allowed == 30, "two mandates of 20 under a root of 30 allowed \(allowed)")
        // Denials counted nothing: the root's window holds exactly 30 calls.
        #expect(try await a.countCall(against: [rootLimit], time: time) == false)
        #expect(try await a.countCall(against: [SharedLimit(artifact: root, tool: nil, max: 31, window: 60)], time: time) == true)
    }
}

@Suite struct SQLiteSharedStateTests {
    private func pair() throws -> (SQLiteSharedState, SQLiteSharedState) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shared-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("shared.sqlite").path
        return (try SQLiteSharedState(path: path), try SQLiteSharedState(path: path))
    }

    @Test func replayAcrossInstances() async throws {
        let (a, b) = try pair()
        await SharedStateChecks.replayAcrossInstances(a, b)
    }

    @Test func exactUnderConcurrency() async throws {
        let (a, b) = try pair()
        try await SharedStateChecks.exactUnderConcurrency(a, b)
    }

    @Test func ancestorsShareTheBudget() async throws {
        let (a, b) = try pair()
        try await SharedStateChecks.ancestorsShareTheBudget(a, b)
    }
}

/// The same checks through two clients of one PostgreSQL database, then an outage. They
/// need a server: `make pg-test` starts one (scripts/postgres.sh) and sets
/// ATTEST_POSTGRES_URL (and ATTEST_POSTGRES_DIR, which the outage test stops and restarts).
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["ATTEST_POSTGRES_URL"]
}

@Suite(.serialized, .enabled(if: PostgresTestServer.url != nil,
                             "ATTEST_POSTGRES_URL is not set: no PostgreSQL server to test against (make pg-test starts one)"))
struct PostgresSharedStateTests {
    static let url = PostgresTestServer.url

    private func pair() async throws -> (PostgresSharedState, PostgresSharedState) {
        let url = try #require(Self.url)
        let a = try PostgresSharedState(url: url, connections: 8), b = try PostgresSharedState(url: url, connections: 8)
        try await a.prepare()
        try await b.prepare()
        return (a, b)
    }

    @Test func replayAcrossInstances() async throws {
        let (a, b) = try await pair()
        await SharedStateChecks.replayAcrossInstances(a, b)
        await a.close()
        await b.close()
    }

    @Test func exactUnderConcurrency() async throws {
        let (a, b) = try await pair()
        try await SharedStateChecks.exactUnderConcurrency(a, b)
        await a.close()
        await b.close()
    }

    @Test func ancestorsShareTheBudget() async throws {
        let (a, b) = try await pair()
        try await SharedStateChecks.ancestorsShareTheBudget(a, b)
        await a.close()
        await b.close()
    }

    /// The server stops under a running store: operations report it unavailable (never
    /// accept), and succeed again once it is back, without a new store instance.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ATTEST_POSTGRES_DIR"] != nil,
                   "ATTEST_POSTGRES_DIR is not set: the outage test stops and restarts the server of scripts/postgres.sh"))
    func outageAndRecovery() async throws {
        let (a, b) = try await pair()
        let issuer = "https://issuer.example/\(UUID().uuidString)", t = SharedStateChecks.time
        let limit = [SharedLimit(artifact: "sha256:\(UUID().uuidString)", tool: "echo", max: 100, window: 60)]
        #expect(try await a.countCall(against: limit, time: t))
        try Self.server("pause")
        var paused = true
        defer { if paused { try? Self.server("resume") } }
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            try await a.recordProof(issuer: issuer, tokenID: "during", expires: t + 60, now: t) }, "PRF_REPLAY_STORE_UNAVAILABLE")
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            _ = try await b.countCall(against: limit, time: t) }, "PRF_REPLAY_STORE_UNAVAILABLE")
        try Self.server("resume")
        paused = false
        // Back: the first operations may meet a connection the outage closed; within a few
        // seconds both instances serve again, and the proof refused during the outage was
        // not recorded (it is accepted now, then a replay at the other instance).
        var recovered = false
        for _ in 0..<50 where !recovered {
            if (try? await a.countCall(against: limit, time: t)) == true { recovered = true } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(recovered)
        #expect(await SharedStateChecks.code { () async throws(AttestError) in
            try await a.recordProof(issuer: issuer, tokenID: "during", expires: t + 60, now: t) } == nil)
        var second: String? = "not run"
        for _ in 0..<50 {
            second = await SharedStateChecks.code { () async throws(AttestError) in
                try await b.recordProof(issuer: issuer, tokenID: "during", expires: t + 60, now: t) }
            if second != "PRF_REPLAY_STORE_UNAVAILABLE" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        expectRegistryCode(second, "PRF_REPLAY")
        await a.close()
        await b.close()
    }

    /// Decisions per second through 2 instances x 25 tasks: a measurement, run only when
    /// ATTEST_SHARED_STATE_BENCH is set (to the number of decisions).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ATTEST_SHARED_STATE_BENCH"] != nil, "a measurement, not a check"))
    func throughput() async throws {
        let total = Int(ProcessInfo.processInfo.environment["ATTEST_SHARED_STATE_BENCH"] ?? "") ?? 5000
        let (a, b) = try await pair()
        let perTask = max(1, total / 50)
        let artifact = "sha256:\(UUID().uuidString)"
        let one: @Sendable (Int) -> [SharedLimit] = { _ in [SharedLimit(artifact: artifact, tool: "echo", max: Int64.max, window: 60)] }
        let perTaskLimit: @Sendable (Int) -> [SharedLimit] = { n in
            [SharedLimit(artifact: artifact, tool: "t\(n / perTask)", max: Int64.max, window: 60)]
        }
        for (label, limits) in [("one shared limit", one), ("a limit per task", perTaskLimit)] {
            let started = ContinuousClock.now
            let allowed = try await SharedStateChecks.hammer([a, b], tasks: 25, callsPerTask: perTask, limits: limits,
                                                             time: { _ in SharedStateChecks.time })
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            print("shared state on PostgreSQL, \(label): \(allowed) decisions in \(seconds) s, \(Int(Double(allowed) / seconds))/s")
        }
        let started = ContinuousClock.now
        for i in 0..<(perTask * 50) {
            try await a.recordProof(issuer: "https://issuer.example/\(artifact)", tokenID: "p\(i)", expires: SharedStateChecks.time + 60,
                                    now: SharedStateChecks.time)
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print("shared state on PostgreSQL, replay inserts one at a time: \(Int(Double(perTask * 50) / seconds))/s")
        await a.close()
        await b.close()
    }

    /// scripts/postgres.sh pause|resume on the test server.
    static func server(_ verb: String) throws {
        let dir = try #require(ProcessInfo.processInfo.environment["ATTEST_POSTGRES_DIR"])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/postgres.sh")
        let process = Process()
        process.executableURL = script
        process.arguments = [verb, dir]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "scripts/postgres.sh \(verb) failed")
    }
}

/// No PostgreSQL server is needed to check that a missing one is reported.
@Suite struct UnreachableSharedStateTests {
    /// No server at the address: both operations report the store unavailable, at once.
    @Test func unreachableIsUnavailable() async throws {
        let store = try PostgresSharedState(url: "postgres://attest@127.0.0.1:\(try Self.closedPort())/attest", connections: 2)
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            try await store.recordProof(issuer: "https://issuer.example", tokenID: "p", expires: SharedStateChecks.time + 60,
                                        now: SharedStateChecks.time) }, "PRF_REPLAY_STORE_UNAVAILABLE")
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            _ = try await store.countCall(against: [SharedLimit(artifact: "sha256:x", tool: nil, max: 1, window: 1)],
                                          time: SharedStateDefaults.pruneMargin) }, "PRF_REPLAY_STORE_UNAVAILABLE")
        await store.close()
    }

    /// A server that accepts the connection and never answers: the operation fails as
    /// unavailable once its deadline has passed, never waits for ever.
    @Test func silentServerIsUnavailableInTime() async throws {
        let (fd, port) = try Self.listeningSocket()
        defer { close(fd) }
        let store = try PostgresSharedState(url: "postgres://attest@127.0.0.1:\(port)/attest", connections: 1, timeout: 1)
        let started = ContinuousClock.now
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            _ = try await store.countCall(against: [SharedLimit(artifact: "sha256:x", tool: nil, max: 1, window: 1)],
                                          time: SharedStateChecks.time) }, "PRF_REPLAY_STORE_UNAVAILABLE")
        // At least the deadline (it waited rather than failing at once), and an answer, not a
        // hang; the upper bound is loose because the deadline's timer needs a thread of the
        // concurrency pool, which the tests starting in parallel on 2 cores can hold for tens
        // of seconds.
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(300), "answered after \(elapsed)")
    }

    /// A TCP socket bound to a free loopback port, and the port; nil when it cannot be.
    static func boundLoopbackSocket() -> (Int32, Int)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            return nil
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A loopback socket that listens and never accepts: connections complete in its backlog.
    static func listeningSocket() throws -> (Int32, Int) {
        guard let (fd, port) = boundLoopbackSocket() else { throw AttestError(.proofReplayStoreUnavailable, "cannot bind on loopback") }
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw AttestError(.proofReplayStoreUnavailable, "cannot listen on loopback")
        }
        return (fd, port)
    }

    /// A loopback port nothing listens on (bound, then released).
    static func closedPort() throws -> Int {
        let (fd, port) = try #require(boundLoopbackSocket())
        close(fd)
        return port
    }
}
