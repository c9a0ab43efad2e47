import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
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
    enum Inbound {
        case request(JSONObject, method: String)
        /// A notification, or a response to the upstream's own request.
        case oneWay(JSONObject)
        case invalid(JSONObject)
    }

    /// Parses and sorts one message the client sent, as bytes: the strict parser first
    /// (json.md), then the JSON-RPC shape (MCP-010).
    func classify(_ bytes: [UInt8]) -> Inbound {
        let limits = StrictJSONParser.Limits(maxBytes: portal.configuration.limits.maxMessageBytes)
        let message: JSONValue
        do { message = try StrictJSONParser(limits: limits).parse(bytes) } catch {
            portal.metrics.refused(error.code.rawValue)
            return .invalid(MCPBinding.errorResponse(id: nil, error: error))
        }
        guard case .object(let object) = message, object["jsonrpc"]?.stringValue?.isExactly("2.0") == true else {
            portal.metrics.refused(ErrorCode.mcpMalformedRequest.rawValue)
            return .invalid(MCPBinding.errorResponse(id: MCPBinding.requestID(of: message),
                                                     error: AttestError(.mcpMalformedRequest, "the message is not a JSON-RPC 2.0 object")))
        }
        if let method = object["method"]?.stringValue {
            guard let id = object["id"] else { return .oneWay(object) }
            guard MCPBinding.requestID(of: message) != nil else {
                portal.metrics.refused(ErrorCode.mcpMalformedRequest.rawValue)
                return .invalid(MCPBinding.errorResponse(id: nil, error: AttestError(.mcpMalformedRequest,
                    "the request id \(id.serialized(pretty: false)) is neither a string nor an integer")))
            }
            return .request(object, method: method)
        }
        if object["id"] != nil, object["result"] != nil || object["error"] != nil, object.count == 3 { return .oneWay(object) }
        portal.metrics.refused(ErrorCode.mcpMalformedRequest.rawValue)
        return .invalid(MCPBinding.errorResponse(id: MCPBinding.requestID(of: message),
                                                 error: AttestError(.mcpMalformedRequest, "the message is neither a request, a notification nor a response")))
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
