import AttestCore
import AttestPortalFraming
import Foundation

/// The framing of MCP's stdio transport, in AttestPortalFraming so that a fuzz target reaches it.
typealias LineFramer = AttestPortalFraming.LineFramer

/// An MCP server the portal started as a child process, spoken to over its stdin and
/// stdout (MCP's stdio transport); its stderr is the portal's.
final class UpstreamProcess: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let writeLock = NSLock()
    /// The identity measured when the server started, in an artifact's `upstream` shape
    /// (artifact.md §Upstream identity and drift).
    let identity: JSONValue
    /// Which files are measured, fixed at start; ``measure()`` measures them again.
    let measurement: StdioMeasurement

    /// Starts `command` (the first element resolved on PATH). `onMessage` gets each line
    /// the server writes; `onExit` runs once, after the last line.
    init(command: [String], maxMessageBytes: Int, onMessage: @escaping @Sendable ([UInt8]) -> Void,
         onTooLong: @escaping @Sendable () -> Void, onExit: @escaping @Sendable (Int32) -> Void) throws {
        guard let first = command.first, let executable = Self.resolve(first) else {
            throw PortalConfigurationError("the upstream command \(command.first ?? "") is not an executable file")
        }
        guard FileManager.default.isReadableFile(atPath: executable) else {
            throw PortalConfigurationError("cannot read the upstream executable \(executable)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(command.dropFirst())
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        let reader = output.fileHandleForReading
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var framer = LineFramer(maxBytes: maxMessageBytes)
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                for frame in framer.feed(chunk) {
                    switch frame {
                    case .line(let line): onMessage(line)
                    case .tooLong: onTooLong()
                    }
                }
            }
            done.signal()
        }
        thread.name = "attest-portal-upstream-reader"
        process.terminationHandler = { process in
            // The reader drains what the server wrote before it exited, then the exit is reported.
            DispatchQueue.global().async {
                done.wait()
                onExit(process.terminationStatus)
            }
        }
        try process.run()
        thread.start()
        // Measured through the running process, not the path (artifact.md §Upstream identity and drift).
        let measured: (StdioMeasurement, JSONValue)
        do {
            let m = try StdioMeasurement(command: command, executable: executable, pid: process.processIdentifier)
            guard let identity = m.measure(pid: process.processIdentifier) else {
                throw PortalConfigurationError("the upstream \(executable) cannot be measured")
            }
            measured = (m, identity)
        } catch {
            process.terminate()
            throw error
        }
        (measurement, identity) = measured
    }

    /// Measures the running server again; nil when it cannot be measured (it exited, or a
    /// file measured at start is gone).
    func measure() -> JSONValue? {
        guard process.isRunning else { return nil }
        return measurement.measure(pid: process.processIdentifier)
    }

    /// Writes one message as one line. Fails once the server has exited.
    func send(_ message: [UInt8]) throws {
        try writeLock.withLock {
            try input.fileHandleForWriting.write(contentsOf: Data(message + [0x0A]))
        }
    }

    var isRunning: Bool { process.isRunning }

    func terminate() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    static func resolve(_ name: String) -> String? {
        let fm = FileManager.default
        if name.contains("/") { return fm.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name).standardizedFileURL.path : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if fm.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path }
        }
        return nil
    }
}

/// JSON-RPC over one upstream connection: requests the portal forwards get ids of the
/// portal's own (so that several clients can share one upstream), and each response is
/// matched back to its request and given the client's id again. Messages the upstream
/// sends on its own (its requests and notifications, and responses the portal does not
/// wait for) go to `unsolicited`.
final class Relay: @unchecked Sendable {
    private let lock = NSLock()
    private struct Waiting {
        let clientID: JSONValue
        let resume: @Sendable (Result<JSONObject, RelayError>) -> Void
        var timer: Task<Void, Never>?
    }
    private var pending: [ExactString: Waiting] = [:]
    /// Client ids of forwarded requests, to translate `notifications/cancelled`.
    private var byClientID: [ExactString: ExactString] = [:]
    private var next: UInt64 = 0
    private var closedReason: String?
    private let send: @Sendable ([UInt8]) throws -> Void
    let unsolicited: @Sendable (JSONObject) -> Void
    private let prefix: String
    /// The digest of this upstream's tool list as last observed (portal.md §Upstream identity).
    let toolsDigest = ToolsDigestCache()
    private var _toolsChanged: (@Sendable () -> Void)?
    /// Runs when the upstream sends `notifications/tools/list_changed` (the session fetches the list again).
    var toolsChanged: (@Sendable () -> Void)? {
        get { lock.withLock { _toolsChanged } }
        set { lock.withLock { _toolsChanged = newValue } }
    }

    struct RelayError: Error { let reason: String }

    init(prefix: String = "attest-portal-", send: @escaping @Sendable ([UInt8]) throws -> Void,
         unsolicited: @escaping @Sendable (JSONObject) -> Void) {
        self.prefix = prefix
        self.send = send
        self.unsolicited = unsolicited
    }

    /// Sends a request and waits for its response, at most `timeout`.
    func request(_ message: JSONObject, timeout: Duration) async -> Result<JSONObject, RelayError> {
        let clientID = message["id"] ?? .null
        let (key, ownID): (ExactString, String) = lock.withLock {
            next += 1
            let own = "\(prefix)\(next)"
            return (ExactString(own), own)
        }
        var outgoing = message
        outgoing["id"] = .string(ownID)
        let clientKey = Self.key(clientID)
        let result: Result<JSONObject, RelayError> = await withCheckedContinuation { continuation in
            let failure: String? = lock.withLock {
                if let closedReason { return closedReason }
                pending[key] = Waiting(clientID: clientID, resume: { continuation.resume(returning: $0) })
                byClientID[clientKey] = key
                return nil
            }
            if let failure {
                continuation.resume(returning: .failure(RelayError(reason: failure)))
                return
            }
            do {
                try send(Array(JSONValue.object(outgoing).serialized(pretty: false).utf8))
            } catch {
                resolve(key, .failure(RelayError(reason: "the upstream cannot be written to: \(error)")))
                return
            }
            let timer = Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self?.resolve(key, .failure(RelayError(reason: "the upstream did not answer within \(timeout)")))
            }
            let stillWaiting = lock.withLock { () -> Bool in
                guard pending[key] != nil else { return false }
                pending[key]?.timer = timer
                return true
            }
            if !stillWaiting { timer.cancel() }
        }
        lock.withLock { if byClientID[clientKey] == key { byClientID[clientKey] = nil } }
        return result
    }

    /// Sends a message that expects no answer the portal waits for: a notification, or a
    /// response to the upstream's own request. A cancellation names the portal's id.
    func forward(_ message: JSONObject) throws {
        var message = message
        if message["method"]?.stringValue?.isExactly("notifications/cancelled") == true,
           case .object(var params)? = message["params"], let requestID = params["requestId"],
           let own = lock.withLock({ byClientID[Self.key(requestID)] }) {
            params["requestId"] = .string(own.value)
            message["params"] = .object(params)
        }
        try send(Array(JSONValue.object(message).serialized(pretty: false).utf8))
    }

    /// A message from the upstream.
    func receive(_ message: JSONObject) {
        if message["id"] == nil, message["method"]?.stringValue?.isExactly("notifications/tools/list_changed") == true {
            toolsDigest.invalidate()
            toolsChanged?()
        }
        if message["method"] == nil, let id = message["id"]?.stringValue, message["result"] != nil || message["error"] != nil {
            let key = ExactString(id)
            let clientID: JSONValue? = lock.withLock { pending[key]?.clientID }
            if let clientID {
                var response = message
                response["id"] = clientID
                resolve(key, .success(response))
                return
            }
        }
        unsolicited(message)
    }

    /// The request sent with the portal's id `ownID` failed before an answer came.
    func fail(ownID: JSONValue, reason: String) {
        guard let id = ownID.stringValue else { return }
        resolve(ExactString(id), .failure(RelayError(reason: reason)))
    }

    /// The upstream is gone: every waiting request fails, and so does every later one.
    func close(reason: String) {
        let waiting = lock.withLock { () -> [@Sendable (Result<JSONObject, RelayError>) -> Void] in
            closedReason = reason
            defer { pending.removeAll() }
            for entry in pending.values { entry.timer?.cancel() }
            return pending.values.map(\.resume)
        }
        for resume in waiting { resume(.failure(RelayError(reason: reason))) }
    }

    private func resolve(_ key: ExactString, _ result: Result<JSONObject, RelayError>) {
        let entry = lock.withLock { pending.removeValue(forKey: key) }
        entry?.timer?.cancel()
        entry?.resume(result)
    }

    static func key(_ id: JSONValue) -> ExactString { ExactString(id.serialized(pretty: false)) }
}

/// Hands an upstream's lines to its relay, once the relay exists (the process starts
/// first, so that its identity is measured before the portal or the session opens).
final class UpstreamInbox: @unchecked Sendable {
    private let lock = NSLock()
    private var _relay: Relay?
    private var portal: Portal?
    private var early: [[UInt8]] = []

    var relay: Relay? { lock.withLock { _relay } }

    func set(relay: Relay, portal: Portal) {
        let queued: [[UInt8]] = lock.withLock {
            _relay = relay
            self.portal = portal
            defer { early = [] }
            return early
        }
        for line in queued { deliver(line, relay, portal) }
    }

    func receive(_ line: [UInt8]) {
        let target: (Relay, Portal)? = lock.withLock {
            guard let _relay, let portal else {
                if early.count < 1024 { early.append(line) }
                return nil
            }
            return (_relay, portal)
        }
        if let (relay, portal) = target { deliver(line, relay, portal) }
    }

    func tooLong() { lock.withLock { portal }?.metrics.refused("upstream_message_too_long") }

    private func deliver(_ line: [UInt8], _ relay: Relay, _ portal: Portal) {
        let limits = StrictJSONParser.Limits(maxBytes: portal.configuration.limits.maxMessageBytes)
        guard case .object(let message)? = try? StrictJSONParser(limits: limits).parse(line) else {
            portal.metrics.refused("upstream_message_invalid")
            portal.logger.warning("the upstream sent a message that is not a JSON object; it was dropped")
            return
        }
        relay.receive(message)
    }
}

/// The tool list an upstream last showed: `tools_sha256` in an `ALLOW`, and what
/// `drift.tools_sha256` is compared with (artifact.md §Upstream identity and drift). The
/// lists themselves are kept too (the first and the last few), for the built-in sandbox.
final class ToolsDigestCache: @unchecked Sendable {
    private let lock = NSLock()
    private var digest: String?
    private var lists: [(digest: String, tools: [JSONValue])] = []
    var value: String? { lock.withLock { digest } }

    /// The base64url SHA-256 of the JCS of a complete `tools` array (every page's, in order).
    static func digest(_ tools: [JSONValue]) -> String { Base64URL.encode(SHA256.hash(JCS.canonicalize(.array(tools)))) }

    /// Records the list of a `tools/list` result that was complete in one page.
    func observe(request: JSONObject, response: JSONObject) {
        guard request["params"]?["cursor"] == nil, case .object(let result)? = response["result"],
              case .array(let tools)? = result["tools"], result["nextCursor"] == nil || result["nextCursor"] == .null else { return }
        set(tools)
    }

    /// Records a complete list.
    func set(_ tools: [JSONValue]) {
        let d = Self.digest(tools)
        lock.withLock {
            digest = d
            if !lists.contains(where: { $0.digest.isExactly(d) }) {
                // The first list observed stays; of the later ones, the last seven.
                if lists.count >= 8 { lists.remove(at: 1) }
                lists.append((d, tools))
            }
        }
    }

    /// Forgets the current digest (the upstream said its list changed): the next decision
    /// that needs it asks the upstream again.
    func invalidate() { lock.withLock { digest = nil } }

    /// The list whose digest is `pinned`, else the first observed.
    func pinnedList(_ pinned: String?) -> [JSONValue]? {
        lock.withLock {
            if let pinned, let hit = lists.first(where: { $0.digest.isExactly(pinned) }) { return hit.tools }
            return lists.first?.tools
        }
    }
}
