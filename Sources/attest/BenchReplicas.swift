import ArgumentParser
import AttestCore
import AttestEvidence
import AttestPortal
import Foundation

/// `attest bench replicas`: governed calls per second and latency of the portal with its
/// own SQLite state, and of 1 and 2 replicas sharing their state on PostgreSQL, in one run.
///
/// Every call is a `tools/call` of a tool with a rate limit (one no call reaches), so each
/// is counted against the shared state: the replay record and the count are two round
/// trips to the database per call, besides the receipts each replica flushes to its own
/// store. The replicas run in this process, on this machine's cores, each with the
/// in-process upstream, so the figures are the portal's and the database's, not the
/// upstream's or the network's.
struct ReplicaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicas", abstract: "Calls per second and latency: SQLite, then 1 and 2 replicas on PostgreSQL.")

    @Option(help: "postgres:// URL of the shared state (scripts/postgres.sh run sets ATTEST_POSTGRES_URL).")
    var postgres: String = ProcessInfo.processInfo.environment["ATTEST_POSTGRES_URL"] ?? ""
    @Option(help: "Concurrent sessions in each run (split evenly between the replicas).") var sessions: Int = 50
    @Option(help: "Calls per session in each run.") var callsPerSession: Int = 1000

    func validate() throws {
        guard postgres.hasPrefix("postgres://") || postgres.hasPrefix("postgresql://") else {
            throw ValidationError("--postgres postgres://USER@HOST:PORT/DB is required (or run under scripts/postgres.sh run)")
        }
        try requireRange(sessions, 2...10_000, "--sessions", "sessions")
        try requireRange(callsPerSession, 1...10_000_000, "--calls-per-session", "calls per session")
    }

    struct Run {
        let label: String
        let rate: Double
        let latencies: [Double]
        let allowed: Int
    }

    func run() async throws {
        #if DEBUG
        print("warning: debug build; use `make bench-replicas` (release) for numbers worth reporting")
        #endif
        let scratch = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".bench-replicas-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let origins = ["portal.bench/replica/a", "portal.bench/replica/b"]
        let world = try PortalBenchWorld(origins: origins, echoLimit: 1_000_000_000)
        let logKeys = try origins.map { try Ed25519.PrivateKey(seed: SHA256.hash(Array("bench replicas: \($0)".utf8))) }

        func portals(_ count: Int, shared: SharedStateLocation?, name: String) async throws -> [Portal] {
            var portals: [Portal] = []
            for i in 0..<count {
                let store = scratch.appendingPathComponent("\(name)-\(i)")
                let portal = try Portal(configuration: try world.configuration(store: store, origin: origins[i], logKey: logKeys[i],
                                                                               sharedState: shared),
                                        upstreamIdentity: nil)
                try await portal.recover()
                portals.append(portal)
            }
            return portals
        }
        let shared = SharedStateLocation.postgres(url: postgres)
        var runs: [Run] = [], solo: [Run] = []
        // Alternating twice, so that a warm-up or a slowing disk does not favour one setting.
        for round in 0..<2 {
            for (label, count, state) in [("SQLite, 1 portal (its own state)", 1, nil), ("PostgreSQL, 1 replica", 1, shared),
                                          ("PostgreSQL, 2 replicas", 2, shared)] as [(String, Int, SharedStateLocation?)] {
                let set = try await portals(count, shared: state, name: "\(round)-\(runs.count)")
                runs.append(try await measure(label, portals: set, world: world, sessions: sessions, callsPerSession: callsPerSession))
                solo.append(try await measure(label, portals: [set[0]], world: world, sessions: 1, callsPerSession: 500))
                for portal in set { await portal.close() }
            }
        }
        let p = PortalBench.percentile
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("| setting | calls/s | ratio to SQLite | p50 | p99 | calls |")
        print("| --- | --- | --- | --- | --- | --- |")
        let grouped = Dictionary(grouping: runs, by: \.label)
        let baseline = (grouped["SQLite, 1 portal (its own state)"] ?? []).map(\.rate).reduce(0, +) / 2
        for label in ["SQLite, 1 portal (its own state)", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"] {
            let these = grouped[label] ?? []
            let rate = these.map(\.rate).reduce(0, +) / Double(max(1, these.count))
            let latencies = these.flatMap(\.latencies)
            print(String(format: "| %@ | %.0f | %.3f | %.0f µs | %.0f µs | %d |", label, rate, rate / baseline,
                         p(latencies, 0.5), p(latencies, 0.99), latencies.count))
        }
        print("")
        print("| setting, 1 session (latency added by the portal: the upstream answers in process) | p50 | p99 | calls |")
        print("| --- | --- | --- | --- |")
        let soloGrouped = Dictionary(grouping: solo, by: \.label)
        for label in ["SQLite, 1 portal (its own state)", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"] {
            let latencies = (soloGrouped[label] ?? []).flatMap(\.latencies)
            print(String(format: "| %@ | %.0f µs | %.0f µs | %d |", label, p(latencies, 0.5), p(latencies, 0.99), latencies.count))
        }
        print("")
        print("\(sessions) sessions x \(callsPerSession) calls per run, each run twice (alternating), averaged; every call counted against a rate limit; \(cores) cores shared by the replicas, the database and the load")
    }

    /// `sessions` concurrent sessions spread over `portals`, each sending its calls one
    /// after another; calls per second and each call's latency through the portal.
    func measure(_ label: String, portals: [Portal], world: PortalBenchWorld, sessions: Int, callsPerSession: Int) async throws -> Run {
        let upstream = BenchUpstream.inProcess()
        let perSession = try (0..<sessions).map { _ in try world.calls(callsPerSession).map(\.bytes) }
        let start = ContinuousClock.now
        let results = await withTaskGroup(of: ([Double], Int).self) { group in
            for s in 0..<sessions {
                let session = upstream.session(portal: portals[s % portals.count], id: "bench-\(s)")
                let calls = perSession[s]
                group.addTask {
                    var latencies: [Double] = [], ok = 0
                    latencies.reserveCapacity(calls.count)
                    for call in calls {
                        let t0 = ContinuousClock.now
                        if await session.send(call)?["result"] != nil { ok += 1 }
                        latencies.append(PortalBench.microseconds(ContinuousClock.now - t0))
                    }
                    return (latencies, ok)
                }
            }
            var all: [Double] = [], ok = 0
            for await (latencies, n) in group {
                all += latencies
                ok += n
            }
            return (all, ok)
        }
        let seconds = PortalBench.seconds(ContinuousClock.now - start)
        guard results.1 == sessions * callsPerSession else {
            throw ValidationError("\(label): \(sessions * callsPerSession - results.1) calls were not answered with a result")
        }
        return Run(label: label, rate: Double(results.1) / seconds, latencies: results.0, allowed: results.1)
    }
}
