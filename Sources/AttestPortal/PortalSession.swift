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

    init(portal: Portal, relay: Relay, id: String) {
        self.portal = portal
        self.relay = relay
        self.id = id
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
            switch await portal.admit(request, era: era, session: id) {
            case .reply(let reply):
                return .reply(reply)
            case .forward(let forwarded, let call):
                return .forward {
                    switch await relay.request(forwarded, timeout: timeout) {
                    case .success(let response): return await portal.complete(call, response: response)
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
