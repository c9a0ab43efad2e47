import AttestCore
import Foundation
import GRDB

// What `attest bench portal` needs of the portal's internals, at `package` access (visible
// to the package's own modules, not to library users): an upstream reached through the
// portal's `Relay` over the real stdio path or in process, a session over it, the log
// writer's flush counter, and a flush with the store's own SQLite configuration.

/// An MCP server reached through a `Relay`, the way a portal reaches its upstream.
package final class BenchUpstream: @unchecked Sendable {
    /// What a portal records of this upstream (the executable's hash; nil in process).
    package let identity: JSONValue?
    let relay: Relay
    private let process: UpstreamProcess?

    private init(identity: JSONValue?, relay: Relay, process: UpstreamProcess?) {
        self.identity = identity
        self.relay = relay
        self.process = process
    }

    /// Starts `command` as a child process spoken to over stdio (`UpstreamProcess`).
    package static func process(command: [String], maxMessageBytes: Int) throws -> BenchUpstream {
        let target = RelayTarget()
        let process = try UpstreamProcess(
            command: command, maxMessageBytes: maxMessageBytes,
            onMessage: { line in
                guard case .object(let message)? = try? StrictJSONParser().parse(line) else { return }
                target.relay?.receive(message)
            },
            onTooLong: {},
            onExit: { status in target.relay?.close(reason: "the upstream exited with status \(status)") })
        let relay = Relay(send: { try process.send($0) }, unsolicited: { _ in })
        target.relay = relay
        return BenchUpstream(identity: process.identity, relay: relay, process: process)
    }

    /// An upstream in this process that answers every request at once, as it is sent.
    package static func inProcess() -> BenchUpstream {
        let target = RelayTarget()
        let relay = Relay(send: { bytes in
            guard case .object(let request)? = try? StrictJSONParser().parse(bytes), let id = request["id"] else { return }
            target.relay?.receive(BenchUpstream.answer(id: id))
        }, unsolicited: { _ in })
        target.relay = relay
        return BenchUpstream(identity: nil, relay: relay, process: nil)
    }

    /// The result a benchmark upstream gives every request.
    package static func answer(id: JSONValue) -> JSONObject {
        ["jsonrpc": "2.0", "id": id, "result": ["content": [["type": "text", "text": "ok"]], "isError": false]]
    }

    /// Sends `request` straight to the upstream (no portal); nil when it failed.
    package func request(_ request: JSONObject, timeout: Duration = .seconds(30)) async -> JSONObject? {
        try? await relay.request(request, timeout: timeout).get()
    }

    /// A portal session whose upstream is this one.
    package func session(portal: Portal, id: String) -> BenchSession {
        BenchSession(session: PortalSession(portal: portal, relay: relay, id: id))
    }

    package func stop() { process?.terminate() }
}

/// One client's session through a portal.
package struct BenchSession: Sendable {
    let session: PortalSession

    /// A client message as bytes, sorted and handled as the stdio front does; nil when the
    /// message is not a request.
    package func send(_ bytes: [UInt8]) async -> JSONObject? {
        switch session.classify(bytes) {
        case .request(let request, let method):
            return await session.handle(request: request, method: method, era: session.era(of: request))
        case .invalid(let reply): return reply
        case .oneWay: return nil
        }
    }
}

extension Portal {
    /// Commits the log writer has made so far (one per batch).
    package var logFlushes: Int { writer.flushes }
}

/// Durations of single-row commits to a database configured as `PortalStore` configures
/// its own (WAL, `synchronous = FULL`): what one group commit costs on this disk.
package enum StoreFlushProbe {
    package static func measure(directory: URL, count: Int) throws -> [Duration] {
        let store = try PortalStore(directory: directory)
        try store.queue.write { db in try db.execute(sql: "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, row BLOB NOT NULL)") }
        let row = Data(repeating: 0x61, count: 200)
        var durations: [Duration] = []
        durations.reserveCapacity(count)
        for _ in 0..<count {
            let start = ContinuousClock.now
            try store.queue.inDatabase { db in
                try db.inTransaction(.immediate) {
                    try db.execute(sql: "INSERT INTO probe (row) VALUES (?)", arguments: [row])
                    return .commit
                }
            }
            durations.append(ContinuousClock.now - start)
        }
        return durations
    }
}

/// The relay an upstream's lines go to, set once both exist.
private final class RelayTarget: @unchecked Sendable {
    private let lock = NSLock()
    private var _relay: Relay?
    var relay: Relay? {
        get { lock.withLock { _relay } }
        set { lock.withLock { _relay = newValue } }
    }
}
