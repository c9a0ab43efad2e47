import AttestCore
import AttestIdentity
import AttestMCP
import Foundation
import MCP
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `MCPHTTPServer` in process on an ephemeral port, over a real socket (URLSession): a
/// session is opened with `initialize`, an attested tools/call reaches the tool, and calls
/// without token or with a replayed proof get HTTP 401 with the binding's challenge and
/// JSON-RPC error, without reaching it.
@Suite struct MCPHTTPTests {
    static let jsonAndSSE = "application/json, text/event-stream"

    static func post(_ url: URL, _ body: String, session: String? = nil) async throws -> (HTTPURLResponse, Data) {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(jsonAndSSE, forHTTPHeaderField: "Accept")
        if let session {
            request.setValue(session, forHTTPHeaderField: "MCP-Session-Id")
            request.setValue("2025-11-25", forHTTPHeaderField: "MCP-Protocol-Version")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return (response as! HTTPURLResponse, data)
    }

    /// The JSON-RPC message of an SSE response (the `data:` line that is not empty).
    static func sseMessage(_ data: Data) throws -> JSONValue? {
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("data: ") && $0.count > "data: ".count }
        return try line.map { try StrictJSONParser().parse(Array($0.dropFirst("data: ".count).utf8)) }
    }

    @Test func attestedCallIsServedAndRejectionsGetTheirStatus() async throws {
        let calls = MCPFixture.Calls()
        let app = MCPHTTPApp(gate: try MCPFixture.gate()) { app in
            let server = Server(name: "test", version: "1", capabilities: .init(tools: .init()))
            await server.withMethodHandler(CallTool.self) { _ in
                await calls.add()
                let who = await app.attestation(in: Server.currentHandlerContext)?.identity?.subject ?? "unattested"
                return CallTool.Result(content: [.text(text: who, annotations: nil, _meta: nil)], isError: false)
            }
            return server
        }
        let server = try await MCPHTTPServer.bind(app, host: "127.0.0.1", port: 0)
        let serving = Task { try await server.run() }
        let url = try #require(URL(string: server.url))

        let (opened, openedBody) = try await Self.post(url, #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#)
        #expect(opened.statusCode == 200)
        let session = try #require(opened.value(forHTTPHeaderField: "MCP-Session-Id"))
        let advertised = try Self.sseMessage(openedBody)?["result"]?["capabilities"]?["extensions"]?[MCPBinding.extensionID]
        #expect(advertised == ["audience": .string(MCPFixture.audience), "policy": "required"])
        #expect(try await Self.post(url, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: session).0.statusCode == 202)

        let call = try StrictJSONParser().parse(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#)
        let attached = try MCPFixture.attester().attach(to: call, era: .handshake, issuedAt: systemClock(), proofID: MCPAttester.randomProofID())
        let (accepted, acceptedBody) = try await Self.post(url, attached.serialized(pretty: false), session: session)
        #expect(accepted.statusCode == 200)
        #expect(try Self.sseMessage(acceptedBody)?["result"]?["content"]?.arrayValue?.first?["text"] == "spiffe://agents.provider.example/acme/support-bot")

        let rejections: [(String, String, String)] = [
            (#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#, "PRF_TOKEN_MISSING", "attestation_required"),
            (attached.serialized(pretty: false), "PRF_REPLAY", "invalid_attestation"),
        ]
        for (body, code, challenge) in rejections {
            let (rejected, rejectedBody) = try await Self.post(url, body, session: session)
            #expect(rejected.statusCode == 401)
            #expect(rejected.value(forHTTPHeaderField: "WWW-Authenticate") == "AgentAttestation error=\"\(challenge)\", code=\"\(code)\"")
            let error = try StrictJSONParser().parse(Array(rejectedBody))
            #expect(error["id"] == (try StrictJSONParser().parse(Array(body.utf8)))["id"])
            #expect(error["error"]?["code"]?.integerValue == Int64(MCPBinding.errorCode))
            #expect(error["error"]?["data"] == ["code": .string(code), "extension": .string(MCPBinding.extensionID)])
        }
        #expect(await calls.count == 1)

        serving.cancel()
        await app.close()
    }
}
