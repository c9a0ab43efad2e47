import ArgumentParser
import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import AttestPortal
import Foundation

/// `attest bench portal`: what the portal adds to a governed `tools/call`, in one run.
///
/// - Latency, 1 session: the same calls sent straight to the upstream and through the
///   portal, in alternating pairs, both over the real stdio path (`UpstreamProcess` and
///   `Relay`) to `attest bench portal-upstream`, so the difference is the portal's work:
///   parsing, verification, evaluation, two receipts signed, hashed and flushed.
/// - One flush: a single-row commit with the store's configuration, on the same disk.
/// - Throughput with 1 and 50 sessions, receipts durable, and log flushes per call.
/// - The CPU bound: the same verify, evaluate, sign and hash work per call in a tight
///   loop without I/O, on one core and on all cores.
struct PortalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal", abstract: "Latency, throughput and the CPU bound of the portal (store on this directory's disk).")

    @Option(help: "Call pairs (direct, through the portal) for the latency figures.") var pairs: Int = 2000
    @Option(help: "Calls per session in the 50-session throughput runs.") var callsPerSession: Int = 100
    @Option(help: "Calls per core in each CPU-bound measurement.") var cpuCalls: Int = 4000

    func validate() throws {
        try requireRange(pairs, 1...10_000_000, "--pairs", "call pairs")
        try requireRange(callsPerSession, 1...10_000_000, "--calls-per-session", "calls per session")
        try requireRange(cpuCalls, 1...10_000_000, "--cpu-calls", "calls per core")
    }

    func run() async throws {
        #if DEBUG
        print("warning: debug build; use `make bench-portal` (release) for numbers worth reporting")
        #endif
        let scratch = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".bench-portal-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let world = try PortalBenchWorld()
        let cores = ProcessInfo.processInfo.activeProcessorCount

        // The upstream: this executable's hidden `bench portal-upstream`, over stdio.
        guard let executable = Bundle.main.executablePath else { throw ValidationError("cannot locate this executable") }
        let upstream = try BenchUpstream.process(command: [executable, "bench", "portal-upstream"], maxMessageBytes: 4 << 20)
        defer { upstream.stop() }
        let portal = try Portal(configuration: try world.configuration(store: scratch.appendingPathComponent("store")),
                                upstreamIdentity: upstream.identity)
        try await portal.recover()

        // 1. Added latency, 1 session: pairs of the same call, direct then through the portal.
        let session = upstream.session(portal: portal, id: "bench-latency")
        var direct: [Double] = [], through: [Double] = [], added: [Double] = []
        let warmup = 200
        for (index, call) in try world.calls(warmup + pairs).enumerated() {
            let t0 = ContinuousClock.now
            guard await upstream.request(call.object) != nil else { throw ValidationError("the upstream did not answer") }
            let t1 = ContinuousClock.now
            let reply = await session.send(call.bytes)
            guard reply?["result"] != nil else {
                throw ValidationError("the portal refused a benchmark call: \(reply.map { JSONValue.object($0).serialized(pretty: false) } ?? "no reply")")
            }
            let t2 = ContinuousClock.now
            guard index >= warmup else { continue }
            direct.append(Self.microseconds(t1 - t0))
            through.append(Self.microseconds(t2 - t1))
            added.append(Self.microseconds((t2 - t1) - (t1 - t0)))
        }

        // 2. One flush on the same disk.
        let flushes = try StoreFlushProbe.measure(directory: scratch.appendingPathComponent("probe"), count: 500).map(Self.microseconds)

        // 3 and 4, alternating: the CPU bound before and after the throughput runs, averaged.
        let cpuBefore = try cpuBound(world: world, cores: cores)
        let stdio1 = try await throughput(portal: portal, upstream: upstream, sessions: 1, callsPerSession: callsPerSession * 10, world: world)
        let stdio50 = try await throughput(portal: portal, upstream: upstream, sessions: 50, callsPerSession: callsPerSession, world: world)
        let inProcessUpstream = BenchUpstream.inProcess()
        let memory1 = try await throughput(portal: portal, upstream: inProcessUpstream, sessions: 1, callsPerSession: callsPerSession * 10, world: world)
        let memory50 = try await throughput(portal: portal, upstream: inProcessUpstream, sessions: 50, callsPerSession: callsPerSession, world: world)
        let cpuAfter = try cpuBound(world: world, cores: cores)
        await portal.close()
        let cpuOne = (cpuBefore.one + cpuAfter.one) / 2, cpuAll = (cpuBefore.all + cpuAfter.all) / 2

        let p = Self.percentile
        print("| measurement | p50 | p99 | max | note |")
        print("| --- | --- | --- | --- | --- |")
        print(String(format: "| tools/call direct (client → upstream), 1 session | %.0f µs | %.0f µs | %.0f µs | %d calls, stdio upstream process |", p(direct, 0.5), p(direct, 0.99), p(direct, 1), direct.count))
        print(String(format: "| tools/call through the portal, 1 session | %.0f µs | %.0f µs | %.0f µs | ALLOW and RESULT flushed; %d of %d over 1 ms |", p(through, 0.5), p(through, 0.99), p(through, 1), through.filter { $0 > 1000 }.count, through.count))
        print(String(format: "| added by the portal (per pair: portal − direct) | %.0f µs | %.0f µs | %.0f µs | p99 portal − p99 direct: %.0f µs |", p(added, 0.5), p(added, 0.99), p(added, 1), p(through, 0.99) - p(direct, 0.99)))
        print(String(format: "| one flush (single-row WAL commit, synchronous=FULL) | %.0f µs | %.0f µs | %.0f µs | %d commits, same disk |", p(flushes, 0.5), p(flushes, 0.99), p(flushes, 1), flushes.count))
        print("")
        print("| throughput | calls/s | flushes per call | ratio to CPU bound (all cores) |")
        print("| --- | --- | --- | --- |")
        for (label, r) in [("1 session, stdio upstream", stdio1), ("50 sessions, stdio upstream", stdio50),
                           ("1 session, in-process upstream", memory1), ("50 sessions, in-process upstream", memory50)] {
            print(String(format: "| %@ | %.0f | %.3f | %.3f |", label, r.rate, r.flushesPerCall, r.rate / cpuAll))
        }
        print(String(format: "| CPU bound (verify, evaluate, 2 receipts signed and hashed), 1 core | %.0f | - | - |", cpuOne))
        print(String(format: "| CPU bound, %d cores | %.0f | - | 1.000 |", cores, cpuAll))
        print("")
        let addedP99 = p(added, 0.99)
        print(String(format: "goal p99 added latency ≤ 1 ms (1 session): %.0f µs, %@", addedP99, addedP99 <= 1000 ? "met" : "not met"))
        print(String(format: "goal 50-session throughput ≥ 0.5 × CPU bound: %.3f (stdio upstream), %.3f (in-process upstream), %@",
                     stdio50.rate / cpuAll, memory50.rate / cpuAll, stdio50.rate / cpuAll >= 0.5 ? "met" : "not met with the stdio upstream"))
        print(String(format: "goal well under one flush per call (50 sessions): %.3f (stdio), %.3f (in-process), %@",
                     stdio50.flushesPerCall, memory50.flushesPerCall, max(stdio50.flushesPerCall, memory50.flushesPerCall) < 0.5 ? "met" : "not met"))
        print("store: \(scratch.path) (removed after the run); \(cores) cores; CPU bound measured before and after the throughput runs, averaged")
    }

    /// Governed calls per second with `sessions` concurrent sessions, each sending its
    /// calls one after another, and the log flushes made per call.
    func throughput(portal: Portal, upstream: BenchUpstream, sessions: Int, callsPerSession: Int,
                    world: PortalBenchWorld) async throws -> (rate: Double, flushesPerCall: Double) {
        let calls = try world.calls(sessions * callsPerSession).map(\.bytes)
        let flushesBefore = portal.logFlushes
        let start = ContinuousClock.now
        let answered = await withTaskGroup(of: Int.self) { group in
            for s in 0..<sessions {
                let session = upstream.session(portal: portal, id: "bench-\(sessions)-\(s)")
                let mine = Array(calls[(s * callsPerSession)..<((s + 1) * callsPerSession)])
                group.addTask {
                    var ok = 0
                    for call in mine {
                        if await session.send(call)?["result"] != nil { ok += 1 }
                    }
                    return ok
                }
            }
            return await group.reduce(0, +)
        }
        let seconds = Self.seconds(ContinuousClock.now - start)
        guard answered == calls.count else { throw ValidationError("\(calls.count - answered) of \(calls.count) calls were not answered with a result") }
        return (Double(calls.count) / seconds, Double(portal.logFlushes - flushesBefore) / Double(calls.count))
    }

    /// Calls per second of the portal's CPU work per call on one core, and on every core at once.
    func cpuBound(world: PortalBenchWorld, cores: Int) throws -> (one: Double, all: Double) {
        let one = try world.cpuLoop(calls: cpuCalls).run()
        let loops = try (0..<cores).map { _ in try world.cpuLoop(calls: cpuCalls) }
        let completed = LockedCounter()
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: cores) { i in completed.add(loops[i].run().completed) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard one.completed == cpuCalls, completed.value == cores * cpuCalls else {
            throw ValidationError("the CPU-bound loop refused calls it should have allowed")
        }
        return (one.rate, Double(completed.value) / seconds)
    }

    static func microseconds(_ d: Duration) -> Double { seconds(d) * 1e6 }
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))]
    }
}

/// `attest bench portal-upstream` (hidden): a minimal MCP server on stdio for the portal
/// benchmark. It answers every request at once with a fixed result and ignores the rest.
struct PortalBenchUpstream: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-upstream", shouldDisplay: false)

    func run() throws {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
            var out: [UInt8] = []
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[..<newline]
                if case .object(let message)? = try? StrictJSONParser().parse(line), message["method"] != nil, let id = message["id"] {
                    out += JSONValue.object(BenchUpstream.answer(id: id)).line
                    out.append(0x0A)
                }
                buffer.removeSubrange(...newline)
            }
            var written = 0
            while written < out.count {
                let w = out.withUnsafeBytes { write(1, $0.baseAddress! + written, out.count - written) }  // trap-free: out is non-empty inside the loop
                if w <= 0 { return }
                written += w
            }
        }
    }
}

/// A total added to from several threads.
private final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    var value: Int { lock.withLock { total } }
    func add(_ n: Int) { lock.withLock { total += n } }
}

extension JSONValue {
    fileprivate var line: [UInt8] { Array(serialized(pretty: false).utf8) }
}
