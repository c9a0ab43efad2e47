import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import MCP
import SystemPackage
import Testing
@testable import AttestPortal

/// The MCP Swift SDK 0.12.1 client (handshake era) through `attest portal stdio`, a real
/// process, to the scripted upstream: the SDK's own framing, ids and `initialize`.
@Suite struct PortalSwiftSDKTests {
    static let attest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/attest").path

    @Test func swiftClientThroughThePortal() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.attest), "build the attest product first: \(Self.attest)")
        let dir = PortalFixture.temporaryDirectory()
        let artifact = try PortalFixture.artifact(PortalFixture.unsignedArtifact())
        try Data(JSONValue.object(artifact.json).serialized(pretty: false).utf8).write(to: dir.appendingPathComponent("artifact.json"))
        try Data(JSONValue.object(["keys": [JWK(key: PortalFixture.provider.verifyingKey).jsonValue]]).serialized(pretty: false).utf8)
            .write(to: dir.appendingPathComponent("jwks.json"))
        try Data(Hex.encode(SHA256.hash(Array("portal tests: log".utf8))).utf8).write(to: dir.appendingPathComponent("log.seed"))
        let config: JSONValue = [
            "audience": .string(PortalFixture.audience), "artifacts": ["artifact.json"],
            "authorities": [.string(PortalFixture.authority.publicKey.thumbprint)],
            "issuers": [["issuer": .string(PortalFixture.issuer), "trust_domains": ["agents.provider.example"], "jwks": "jwks.json"]],
            "log": ["origin": .string(PortalFixture.origin), "key": "log.seed"], "store": "store",
        ]
        try Data(config.serialized(pretty: true).utf8).write(to: dir.appendingPathComponent("portal.json"))
        let calls = dir.appendingPathComponent("calls.txt").path

        let toPortal = try FileDescriptor.pipe(), fromPortal = try FileDescriptor.pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.attest)
        process.arguments = ["portal", "stdio", "--config", dir.appendingPathComponent("portal.json").path, "--",
                             Self.attest, "conformance-upstream", "--tools", "echo,forbidden", "--calls=\(calls)"]
        process.standardInput = FileHandle(fileDescriptor: toPortal.readEnd.rawValue, closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: fromPortal.writeEnd.rawValue, closeOnDealloc: false)
        try process.run()
        try toPortal.readEnd.close()
        try fromPortal.writeEnd.close()

        let attester = MCPAttester(token: try PortalFixture.token(), key: PortalFixture.agent, audience: PortalFixture.audience)
        let transport = AttestingClientTransport(wrapping: StdioTransport(input: fromPortal.readEnd, output: toPortal.writeEnd),
                                                 attester: attester, governed: Portal.governed)
        let client = Client(name: "swift-agent", version: "1")
        _ = try await client.connect(transport: transport)
        let allowed = try await client.callTool(name: "echo", arguments: ["text": .string("hi")])
        guard case .text(let text, _, _)? = allowed.content.first else { Issue.record("no text content"); return }
        #expect(text == "ran echo")
        // Positive control above; a tool outside the artifact is denied with its code.
        do {
            _ = try await client.callTool(name: "forbidden", arguments: [:])
            Issue.record("a call outside the artifact was answered")
        } catch let error as MCPError {
            #expect(error.code == -31000)
            #expect("\(error)".contains("PTL_TOOL_NOT_ALLOWED"))
        }
        // tools/list is governed and filtered to the artifact's tools.
        let (tools, _) = try await client.listTools()
        #expect(tools.map(\.name) == ["echo"])
        await client.disconnect()
        try? toPortal.writeEnd.close()
        process.waitUntilExit()
        let reached = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(reached.filter { $0.hasPrefix("tools/call") } == ["tools/call echo"])
    }
}
