import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import AttestPortalFraming
import Foundation

/// One client's conversation with the upstream through the portal: each message the
/// client sends is sorted (portal.md §What is governed) and either decided, forwarded
/// untouched, or refused.
final class PortalSession: @unchecked Sendable {
    let portal: Portal
    let relay: Relay
    /// What receipts name as the session (receipt.md `session`).
    let id: String
    private let lock = NSLock()
    private var negotiated = MCPEra.handshake
    /// What this session observed of its upstream, and its drift (portal.md §Drift).
    let upstream: UpstreamObservation

    init(portal: Portal, relay: Relay, id: String, upstream: UpstreamObservation? = nil) {
        self.portal = portal
        self.relay = relay
        self.id = id
        self.upstream = upstream ?? UpstreamObservation(identity: portal.upstreamIdentity, sandbox: portal.sandbox)
        relay.toolsChanged = { [weak self] in
            guard let self else { return }
            Task { await self.refreshTools() }
        }
    }

    /// A session of one stateless request on `shared`'s upstream: it decides against the
    /// identity `shared` observes at the moment of the decision (its latest measurement),
    /// and leaves the relay's tool-list notifications to `shared`.
    init(request id: String, on shared: PortalSession) {
        portal = shared.portal
        relay = shared.relay
        self.id = id
        let observed = shared.upstream
        upstream = UpstreamObservation(identity: nil, sandbox: shared.portal.sandbox, source: { observed.identity })
    }

    /// Takes a new measurement of the upstream, then fetches its tool list again when one
    /// was observed before (portal.md §Upstream identity): a changed list is seen without a
    /// `notifications/tools/list_changed`. A session in drift sends the upstream nothing.
    func remeasured(_ identity: JSONValue?) async {
        upstream.measured(identity)
        await refreshTools()
    }

    /// Fetches the tool list again, if one was observed before and the session is not in drift.
    func refreshTools() async {
        guard upstream.drift == nil, relay.toolsDigest.pinnedList(nil) != nil else { return }
        relay.toolsDigest.invalidate()
        _ = await toolsDigest(fetch: true, era: era)
    }

    var era: MCPEra { lock.withLock { negotiated } }

    /// What a parsed client message is.
    typealias Inbound = ClientMessage

    /// Parses and sorts one message the client sent, as bytes: the strict parser first
    /// (json.md), then the JSON-RPC shape (MCP-010).
    func classify(_ bytes: [UInt8]) -> Inbound {
        let message = ClientMessage.classify(bytes, maxMessageBytes: portal.configuration.limits.maxMessageBytes)
        if case .invalid(let reply) = message {
            portal.metrics.refused(ClientMessage.code(of: reply) ?? ErrorCode.mcpMalformedRequest.rawValue)
        }
        return message
    }

    /// The era a request is processed under: the revision its `_meta` names (the stateless
    /// era carries it in every request), else the one `initialize` negotiated.
    func era(of request: JSONObject, header: String? = nil) -> MCPEra {
        if let header { return MCPEra(header) }
        if let version = request["params"]?["_meta"]?[MCPBinding.protocolVersionKey]?.stringValue { return MCPEra(version) }
        return era
    }

    /// What becomes of one request: an answer the portal gives at once, or a forward to the
    /// upstream whose completion yields the client's response.
    enum Plan: Sendable {
        case reply(JSONObject)
        case forward(@Sendable () async -> JSONObject)
    }

    /// Handles one request and returns the response for the client.
    func handle(request: JSONObject, method: String, era: MCPEra) async -> JSONObject {
        switch await plan(request: request, method: method, era: era) {
        case .reply(let reply): return reply
        case .forward(let run): return await run()
        }
    }

    /// Decides one request (a governed one by portal.md §Deciding) without waiting for the upstream.
    func plan(request: JSONObject, method: String, era: MCPEra) async -> Plan {
        let timeout = Duration.seconds(portal.configuration.limits.upstreamTimeoutSeconds)
        let relay = relay, portal = portal
        switch Portal.kind(of: method) {
        case .governed:
            let tools: @Sendable (Bool) async -> String? = { [self] fetch in await toolsDigest(fetch: fetch, era: era) }
            switch await portal.admit(request, era: era, session: id, tools: tools, upstream: upstream, toolList: relay.toolsDigest) {
            case .reply(let reply):
                return .reply(reply)
            case .forward(let forwarded, let call):
                return .forward {
                    switch await relay.request(forwarded, timeout: timeout) {
                    case .success(let response):
                        if method.isExactly("tools/list") { relay.toolsDigest.observe(request: forwarded, response: response) }
                        return await portal.complete(call, response: response)
                    case .failure(let failure): return await portal.fail(call, id: request["id"], reason: failure.reason)
                    }
                }
            }
        case .forwarded:
            // A server answers `initialize` while it starts: at least 30 s, whatever the call limit.
            let startup = method.isExactly("initialize") || method.isExactly("server/discover") ? max(timeout, .seconds(30)) : timeout
            return .forward { [self] in
                switch await relay.request(request, timeout: startup) {
                case .success(let response):
                    if method.isExactly("initialize") {
                        if let version = response["result"]?["protocolVersion"]?.stringValue {
                            lock.withLock { negotiated = MCPEra(version) }
                        }
                        return portal.advertising(response)
                    }
                    return method.isExactly("server/discover") ? portal.advertising(response) : response
                case .failure(let failure):
                    return ["jsonrpc": "2.0", "id": request["id"] ?? .null,
                            "error": ["code": -32603, "message": .string("the upstream failed: \(failure.reason)")]]
                }
            }
        case .unknown:
            portal.metrics.refused("method_not_found")
            return .reply(["jsonrpc": "2.0", "id": request["id"] ?? .null,
                           "error": ["code": -32601, "message": .string("Method not found: the portal does not forward \(method)")]])
        }
    }

    /// The digest of the upstream's tool list as last observed; with `fetch`, when none has
    /// been observed, the portal asks the upstream itself (every page, at most 64).
    func toolsDigest(fetch: Bool, era: MCPEra) async -> String? {
        if let known = relay.toolsDigest.value { return known }
        guard fetch else { return nil }
        var tools: [JSONValue] = []
        var cursor: JSONValue?
        for page in 0..<64 {
            var params: JSONObject = [:]
            if let cursor { params["cursor"] = cursor }
            if era.isStateless {
                params["_meta"] = [.init(MCPBinding.protocolVersionKey): .string(era.protocolVersion),
                                   .init(MCPBinding.clientCapabilitiesKey): [:]]
            }
            let request: JSONObject = ["jsonrpc": "2.0", "id": .string("portal-tools-list-\(page)"), "method": "tools/list",
                                       "params": .object(params)]
            guard case .success(let response) = await relay.request(request, timeout: .seconds(portal.configuration.limits.upstreamTimeoutSeconds)),
                  case .array(let items)? = response["result"]?["tools"] else { return nil }
            tools += items
            guard let next = response["result"]?["nextCursor"], next != .null else {
                relay.toolsDigest.set(tools)
                return ToolsDigestCache.digest(tools)
            }
            cursor = next
        }
        return nil
    }

    /// Passes a notification or a response to the upstream's request on.
    func forward(_ message: JSONObject) {
        do { try relay.forward(message) } catch {
            portal.logger.warning("a message for the upstream was lost: the upstream is gone")
        }
    }
}

extension JSONValue {
    /// The message as one line of bytes.
    var line: [UInt8] { Array(serialized(pretty: false).utf8) }
}
