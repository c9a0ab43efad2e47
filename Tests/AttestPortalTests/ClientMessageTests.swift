import AttestCore
import AttestMCP
import AttestPortalFraming
import Testing

/// AttestPortalFraming cannot depend on AttestMCP (the fuzz build would pull in the MCP
/// SDK and NIO), so it builds rejections and reads request ids itself: they must stay
/// the same as `MCPBinding`'s.
@Suite struct ClientMessageTests {
    @Test func rejectionsAreMCPBindingErrorResponses() {
        let errors = [AttestError(.mcpMalformedRequest, "not JSON-RPC"), AttestError(.jsonDuplicateMember, "id twice"),
                      AttestError(.jsonTooLarge, "long")]
        for error in errors {
            for id: JSONValue? in [nil, .string("a"), .number(JSONNumber(7))] {
                #expect(ClientMessage.rejection(id: id, error) == MCPBinding.errorResponse(id: id, error: error))
            }
        }
    }

    @Test func requestIDsAreReadAsMCPBindingReadsThem() throws {
        for text in ["{\"id\":1}", "{\"id\":\"x\"}", "{\"id\":1.5}", "{\"id\":null}", "{\"id\":[1]}", "{}", "[1]", "1e2", "{\"id\":1e2}"] {
            let message = try StrictJSONParser().parse(Array(text.utf8))
            #expect(ClientMessage.requestID(of: message) == MCPBinding.requestID(of: message), "\(text)")
        }
    }
}
