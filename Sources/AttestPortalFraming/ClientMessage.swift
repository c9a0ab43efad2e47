import AttestCore
import AttestEvidence

/// What one message a client sent is (portal.md §What is governed, and step 1 of
/// §Deciding): parsed with the strict parser of json.md, then sorted by its JSON-RPC shape
/// (MCP-010). A module of its own, on AttestCore and AttestEvidence only, so that the
/// fuzz target reaches it without the portal's network and storage dependencies.
package enum ClientMessage {
    case request(JSONObject, method: String)
    /// A notification, or a response to the upstream's own request.
    case oneWay(JSONObject)
    /// The rejection to send back: a JSON-RPC error whose id is the message's, or null.
    case invalid(JSONObject)

    package static func classify(_ bytes: [UInt8], maxMessageBytes: Int) -> ClientMessage {
        let message: JSONValue
        do { message = try StrictJSONParser(limits: StrictJSONParser.Limits(maxBytes: maxMessageBytes)).parse(bytes) } catch {
            return .invalid(rejection(id: nil, error))
        }
        guard case .object(let object) = message, object["jsonrpc"]?.stringValue?.isExactly("2.0") == true else {
            return .invalid(rejection(id: requestID(of: message), AttestError(.mcpMalformedRequest, "the message is not a JSON-RPC 2.0 object")))
        }
        if let method = object["method"]?.stringValue {
            guard let id = object["id"] else { return .oneWay(object) }
            guard requestID(of: message) != nil else {
                return .invalid(rejection(id: nil, AttestError(.mcpMalformedRequest,
                    "the request id \(id.serialized(pretty: false)) is neither a string nor an integer")))
            }
            return .request(object, method: method)
        }
        if object["id"] != nil, object["result"] != nil || object["error"] != nil, object.count == 3 { return .oneWay(object) }
        return .invalid(rejection(id: requestID(of: message),
                                  AttestError(.mcpMalformedRequest, "the message is neither a request, a notification nor a response")))
    }

    /// The registry code of an `.invalid` reply (for metrics).
    package static func code(of reply: JSONObject) -> String? { reply["error"]?["data"]?["code"]?.stringValue }

    /// A message's id when it is one a request may carry (a string or an integer), as
    /// `MCPBinding.requestID(of:)` reads it.
    package static func requestID(of message: JSONValue) -> JSONValue? {
        // `.none`, not `nil`: JSONValue is ExpressibleByNilLiteral, and a bare `nil` here
        // would become `.null`, an id.
        guard let id = message["id"] else { return .none }
        if case .string = id { return id }
        guard id.integerValue != nil else { return .none }
        return id
    }

    /// The rejection of mcp-binding.md, the same object as `MCPBinding.errorResponse`.
    package static func rejection(id: JSONValue?, _ error: AttestError) -> JSONObject {
        ["jsonrpc": "2.0", "id": id ?? .null, "error": Disclosure.denial(error.code, error.message)]
    }
}
