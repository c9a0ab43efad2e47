import AttestCore
import Foundation

/// What answers a session's governed calls in phantom mode (portal.md §Drift): the calls
/// never reach the real upstream, and the agent receives what the sandbox answers.
protocol Sandbox: Sendable {
    /// The answer to `request` (credentials and extension members already removed): a
    /// JSON-RPC `result` or `error` object. `tools` is the upstream's tool list as last
    /// pinned (the list whose digest the artifact pins, else the first observed), if any.
    func answer(_ request: JSONObject, tools: [JSONValue]?) async -> DriftDecision.PhantomAnswer
}

/// The sandbox built into the portal: answers shaped by the pinned tool list.
///
/// - `tools/list`: the pinned list (`{"tools": [...]}`);
/// - `tools/call` of T: `{"content": [{"type": "text", "text": J}], "isError": false}`, with
///   `structuredContent` a minimal instance of T's `outputSchema` when T has one (J its JCS),
///   else J empty;
/// - the other listing methods: empty lists; `resources/read`, `prompts/get`: JSON-RPC
///   error -32602, as a server answers for a name it does not know.
struct BuiltinSandbox: Sandbox {
    func answer(_ request: JSONObject, tools: [JSONValue]?) async -> DriftDecision.PhantomAnswer {
        let method = request["method"]?.stringValue ?? ""
        func result(_ o: JSONObject) -> DriftDecision.PhantomAnswer { .init(body: .object(o), isError: false) }
        switch method {
        case _ where method.isExactly("tools/list"):
            return result(["tools": .array(tools ?? [])])
        case _ where method.isExactly("tools/call"):
            let name = request["params"]?["name"]?.stringValue ?? ""
            let tool = tools?.first { $0["name"]?.stringValue?.isExactly(name) == true }
            if let schema = tool?["outputSchema"] {
                let instance = Self.minimalInstance(of: schema, depth: 0)
                let text = String(decoding: JCS.canonicalize(instance), as: UTF8.self)
                return result(["content": [["type": "text", "text": .string(text)]], "structuredContent": instance, "isError": false])
            }
            return result(["content": [["type": "text", "text": ""]], "isError": false])
        case _ where method.isExactly("resources/list"): return result(["resources": []])
        case _ where method.isExactly("resources/templates/list"): return result(["resourceTemplates": []])
        case _ where method.isExactly("prompts/list"): return result(["prompts": []])
        case _ where method.isExactly("completion/complete"): return result(["completion": ["values": []]])
        default:
            return .init(body: ["code": -32602, "message": "Invalid params: not found"], isError: true)
        }
    }

    /// The smallest value a JSON Schema's common keywords allow: `const`, else the first of
    /// `enum`, else by `type` (the first when several): an object with each required
    /// property, an array of `minItems` items, a string of `minLength` "a"s, a number at its
    /// `minimum` (0 without one), false, null. The schema is the upstream's, so the value is
    /// bounded: at most 16 levels and 4,096 values in all (past either, null).
    static func minimalInstance(of schema: JSONValue, depth: Int) -> JSONValue {
        var budget = 4096
        return minimalInstance(of: schema, depth: depth, budget: &budget)
    }

    private static func minimalInstance(of schema: JSONValue, depth: Int, budget: inout Int) -> JSONValue {
        budget -= 1
        guard budget >= 0, depth < 16, case .object(let s) = schema else { return .null }
        if let value = s["const"] { return value }
        if case .array(let options)? = s["enum"], let first = options.first { return first }
        let type: String
        switch s["type"] {
        case .string(let t)?: type = t
        case .array(let list)?: type = list.first?.stringValue ?? "object"
        default: type = s["properties"] != nil ? "object" : "null"
        }
        if type.isExactly("object") {
            var o: JSONObject = [:]
            let properties = s["properties"]?.objectValue ?? [:]
            for case .string(let name) in (s["required"]?.arrayValue ?? []).prefix(256) where budget > 0 {
                o[name] = minimalInstance(of: properties[name] ?? .object([:]), depth: depth + 1, budget: &budget)
            }
            return .object(o)
        }
        if type.isExactly("array") {
            let count = min(max(Int(s["minItems"]?.integerValue ?? 0), 0), 64)
            var items: [JSONValue] = []
            for _ in 0..<count where budget > 0 {
                items.append(minimalInstance(of: s["items"] ?? .object([:]), depth: depth + 1, budget: &budget))
            }
            return .array(items)
        }
        if type.isExactly("string") {
            return .string(String(repeating: "a", count: min(max(Int(s["minLength"]?.integerValue ?? 0), 0), 1024)))
        }
        if type.isExactly("integer") || type.isExactly("number") {
            if let minimum = s["minimum"], case .number = minimum { return minimum }
            return .number(JSONNumber(0))
        }
        return type.isExactly("boolean") ? .bool(false) : .null
    }
}

/// A sandbox that is an MCP server the portal starts over stdio (`--sandbox CMD`), once,
/// on first use; the portal initializes it and then relays each phantom call to it.
final class CommandSandbox: Sandbox, @unchecked Sendable {
    private let command: [String]
    private let maxMessageBytes: Int
    private let timeout: Duration
    private let lock = NSLock()
    private var started: (process: UpstreamProcess, relay: Relay)?

    init(command: [String], maxMessageBytes: Int, timeout: Duration) {
        self.command = command
        self.maxMessageBytes = maxMessageBytes
        self.timeout = timeout
    }

    func answer(_ request: JSONObject, tools: [JSONValue]?) async -> DriftDecision.PhantomAnswer {
        guard let relay = await start() else {
            return .init(body: ["code": -32603, "message": "Internal error"], isError: true)
        }
        switch await relay.request(request, timeout: timeout) {
        case .success(let response):
            if let error = response["error"] { return .init(body: error, isError: true) }
            return .init(body: response["result"] ?? .object([:]), isError: false)
        case .failure:
            return .init(body: ["code": -32603, "message": "Internal error"], isError: true)
        }
    }

    private func start() async -> Relay? {
        if let relay = lock.withLock({ started?.relay }) { return relay }
        let inbox = SandboxInbox()
        guard let process = try? UpstreamProcess(command: command, maxMessageBytes: maxMessageBytes,
                                                 onMessage: { inbox.receive($0, limit: self.maxMessageBytes) },
                                                 onTooLong: {}, onExit: { _ in inbox.relay?.close(reason: "the sandbox exited") })
        else { return nil }
        let relay = Relay(prefix: "attest-sandbox-", send: { try process.send($0) }, unsolicited: { _ in })
        inbox.relay = relay
        let winner: Relay = lock.withLock {
            if let started { return started.relay }
            started = (process, relay)
            return relay
        }
        guard winner === relay else {
            process.terminate()
            return winner
        }
        let initialize: JSONObject = ["jsonrpc": "2.0", "id": "sandbox-initialize", "method": "initialize",
                                      "params": ["protocolVersion": "2025-11-25", "capabilities": [:],
                                                 "clientInfo": ["name": "attest-portal", "version": "1"]]]
        _ = await relay.request(initialize, timeout: max(timeout, .seconds(30)))
        try? relay.forward(["jsonrpc": "2.0", "method": "notifications/initialized"])
        return relay
    }

    func stop() { lock.withLock { started?.process }?.terminate() }
}

/// Hands the sandbox's lines to its relay.
private final class SandboxInbox: @unchecked Sendable {
    private let lock = NSLock()
    private var _relay: Relay?
    var relay: Relay? {
        get { lock.withLock { _relay } }
        set { lock.withLock { _relay = newValue } }
    }

    func receive(_ line: [UInt8], limit: Int) {
        guard case .object(let message)? = try? StrictJSONParser(limits: .init(maxBytes: limit)).parse(line) else { return }
        relay?.receive(message)
    }
}
