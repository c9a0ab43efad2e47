import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import TestSupport
import Testing
@testable import AttestPortal

/// spec/portal.md §What is governed, §Deciding, §Log entries, §What is recorded and
/// forwarded, against a portal whose upstream is scripted in process.
@Suite struct PortalDecisionTests {
    typealias H = PortalHarness

    @Test func sortsMessages() async throws {
        let h = try await PortalHarness()
        // Governed and allowed: forwarded.
        let allowed = try await h.call("echo", ["text": "hi"])
        #expect(allowed["result"] != nil)
        #expect(h.upstream.calls == 1)
        // Forwarded untouched.
        let ping = await h.send(["jsonrpc": "2.0", "id": 7, "method": "ping"])
        #expect(ping["id"] == 7 && h.upstream.calls == 2)
        // An unknown request is answered by the portal and never forwarded.
        let unknown = await h.send(["jsonrpc": "2.0", "id": 8, "method": "tasks/list", "params": [:]])
        #expect(unknown["error"]?["code"] == -32601)
        #expect(h.upstream.calls == 2)
        // A notification passes.
        h.session.forward(["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 1]])
        #expect(h.upstream.received.last?["method"] == "notifications/progress")
        // Governed but unattested: refused, not forwarded.
        let bare = await h.send(try h.request("echo", ["text": "hi"], attest: false))
        expectRegistryCode(H.code(bare), "PRF_TOKEN_MISSING")
        #expect(h.upstream.calls == 2)
    }

    @Test func checksInOrder() async throws {
        let stranger = try PortalFixture.artifact(PortalFixture.unsignedArtifact(subject: PortalFixture.helperID, key: PortalFixture.helper))
        let h = try await PortalHarness(artifacts: [try PortalFixture.artifact(PortalFixture.unsignedArtifact(addLimit: 1)), stranger])
        // Step 1: the strict parser, before anything else.
        if case .invalid(let reply) = h.session.classify(Array("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2}".utf8)) {
            expectRegistryCode(H.code(reply), "JSON_DUPLICATE_MEMBER")
        } else { Issue.record("a duplicate member was not refused") }
        // Step 3: a token for another audience.
        var wrongAudience = try h.request("echo", ["text": "hi"])
        let attester = MCPAttester(token: try PortalFixture.token(audience: "https://elsewhere.example"), key: PortalFixture.agent,
                                   audience: PortalFixture.audience)
        wrongAudience = try attester.attach(to: .object(wrongAudience), era: .handshake, issuedAt: PortalFixture.now,
                                            proofID: MCPAttester.randomProofID(), governed: Portal.governed).objectValue ?? [:]
        expectRegistryCode(H.code(await h.send(wrongAudience)), "TOK_AUDIENCE_MISMATCH")
        // Step 5 before step 6: a stranger with no artifact is refused with PTL_NO_ARTIFACT, and
        // the same proof again is a replay, whatever else is wrong with it.
        let strangerCall = try h.request("echo", ["text": "hi"], subject: PortalFixture.strangerID, key: PortalFixture.stranger)
        expectRegistryCode(H.code(await h.send(strangerCall)), "PTL_NO_ARTIFACT")
        expectRegistryCode(H.code(await h.send(strangerCall)), "PRF_REPLAY")
        // Positive control for the replay: a fresh proof of the agent is allowed, the same again is not.
        let fresh = try h.request("echo", ["text": "hi"])
        #expect(H.code(await h.send(fresh)) == nil)
        expectRegistryCode(H.code(await h.send(fresh)), "PRF_REPLAY")
        // Step 7: the evaluation of artifact.md in its order.
        expectRegistryCode(H.code(try await h.call("forbidden")), "PTL_TOOL_NOT_ALLOWED")
        expectRegistryCode(H.code(try await h.call("echo", ["text": .string(String(repeating: "x", count: 33))])), "PTL_CONSTRAINT_VIOLATED")
        #expect(H.code(try await h.call("echo", ["text": "ok"])) == nil)
        #expect(H.code(try await h.call("add", ["a": 1, "b": 2])) == nil)
        expectRegistryCode(H.code(try await h.call("add", ["a": 1, "b": 2])), "PTL_RATE_LIMITED")
        #expect(h.upstream.calls == 3)
    }

    @Test func outsideTheValidityWindow() async throws {
        let expired = try PortalFixture.artifact(PortalFixture.unsignedArtifact(window: (PortalFixture.now - 7200, PortalFixture.now - 3600)))
        let h = try await PortalHarness(artifacts: [expired])
        expectRegistryCode(H.code(try await h.call("echo", ["text": "hi"])), "PTL_OUTSIDE_VALIDITY")
        let list = await h.send(try h.request("", method: "tools/list"))
        expectRegistryCode(H.code(list), "PTL_OUTSIDE_VALIDITY")
        #expect(h.upstream.calls == 0)
        #expect(try h.log().map(\.decision) == ["DENY", "DENY"])
    }

    @Test func writesTheEntriesOfEachOutcome() async throws {
        let h = try await PortalHarness()
        let allowed = try await h.call("echo", ["text": "hi"])
        let denied = try await h.call("forbidden")
        _ = await h.send(try h.request("echo", attest: false))
        let log = try h.log()
        #expect(log.map(\.decision) == ["ALLOW", "RESULT", "DENY"])
        #expect(log[1].line["call"] == 0)
        expectRegistryCode(log[2].code, "PTL_TOOL_NOT_ALLOWED")
        // The client holds exactly the stored receipts of its calls.
        #expect(H.receipts(allowed) == [log[0].line, log[1].line])
        #expect(H.receipts(denied) == [log[2].line])
        // The result the client sees is the upstream's, plus the receipts.
        var result = allowed["result"]?.objectValue ?? [:]
        result["_meta"] = nil
        #expect(JSONValue.object(result) == h.upstream.answer(["id": 1, "params": ["name": "echo"]])?["result"])
    }

    /// An upstream cannot hand the client receipts of its own: the member is replaced by
    /// the portal's, and the committed response does not hold it.
    @Test func plantedReceiptsAreRemoved() async throws {
        let h = try await PortalHarness()
        h.upstream.answer = { request in
            ["jsonrpc": "2.0", "id": request["id"] ?? .null,
             "result": ["content": [], "_meta": [.init(Portal.receiptsKey): ["forged"], "other": 1]]]
        }
        let response = try await h.call("echo", ["text": "hi"])
        let log = try h.log()
        #expect(H.receipts(response) == [log[0].line, log[1].line])
        #expect(response["result"]?["_meta"]?["other"] == 1)
        let payload = try await PortalStore(directory: h.store, readOnly: true).queue.read { db in
            try Data.fetchOne(db, sql: "SELECT line FROM payloads WHERE seq = 1")
        }
        let committed = try StrictJSONParser().parse(Array(payload ?? Data()))
        #expect(committed["response"]?["_meta"] == ["other": 1])
    }

    @Test func toolsListIsFilteredByTheArtifact() async throws {
        let h = try await PortalHarness()
        h.upstream.answer = { request in
            ["jsonrpc": "2.0", "id": request["id"] ?? .null,
             "result": ["tools": [["name": "echo"], ["name": "forbidden"], ["name": "add"]]]]
        }
        let list = await h.send(try h.request("", method: "tools/list"))
        #expect(list["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["echo", "add"])
        #expect(try h.log().map(\.decision) == ["ALLOW", "RESULT"])
    }

    @Test func recordsAndForwardsWithoutCredentials() async throws {
        let h = try await PortalHarness()
        _ = try await h.call("echo", ["text": "hi"])
        let forwarded = h.upstream.received.first?["params"]?["_meta"]?.objectValue ?? [:]
        #expect(!forwarded.names.contains { $0.hasPrefix("dev.agent-attestation/") })
        let payload = try await PortalStore(directory: h.store, readOnly: true).queue.read { db in
            try Data.fetchOne(db, sql: "SELECT line FROM payloads WHERE seq = 0")
        }
        let recorded = try StrictJSONParser().parse(Array(payload ?? Data()))
        let meta = recorded["request"]?["_meta"]?.objectValue ?? [:]
        for carrier in Carrier.all { #expect(meta[carrier] == nil) }
        #expect(recorded["request"]?["arguments"] == ["text": "hi"])
    }

    @Test func deniesADriftedUpstream() async throws {
        let pinned = try PortalFixture.artifact(PortalFixture.unsignedArtifact(upstream: PortalFixture.upstreamIdentity))
        let h = try await PortalHarness(artifacts: [pinned])
        #expect(H.code(try await h.call("echo", ["text": "hi"])) == nil)
        #expect(try h.log().first?.line["upstream"] == PortalFixture.upstreamIdentity)
        let drifted = try await PortalHarness(artifacts: [pinned], upstreamIdentity:
            ["transport": "stdio", "executable_sha256": .string(String(repeating: "cd", count: 32))])
        // The policy's own code comes first (step 7 before step 8).
        expectRegistryCode(H.code(try await drifted.call("forbidden")), "PTL_TOOL_NOT_ALLOWED")
        expectRegistryCode(H.code(try await drifted.call("echo", ["text": "hi"])), "PTL_UPSTREAM_DRIFT")
        // That denial began the session's drift: every later request of it gets its code first.
        expectRegistryCode(H.code(try await drifted.call("forbidden")), "PTL_UPSTREAM_DRIFT")
        #expect(drifted.upstream.calls == 0)
    }

    /// `drift.tools_sha256`: the portal asks the upstream for its tool list when it has
    /// seen none, records the digest in the ALLOW, and denies when the list differs.
    @Test func pinnedToolList() async throws {
        let listed: [JSONValue] = [["name": "echo", "description": "echoes"], ["name": "add"]]
        let answer: @Sendable (JSONObject) -> JSONObject? = { request in
            if request["method"] == "tools/list" {
                return ["jsonrpc": "2.0", "id": request["id"] ?? .null, "result": ["tools": .array(listed)]]
            }
            return ["jsonrpc": "2.0", "id": request["id"] ?? .null, "result": ["content": [], "isError": false]]
        }
        let digest = ToolsDigestCache.digest(listed)
        var pinned = PortalFixture.unsignedArtifact()
        pinned["drift"] = ["on_drift": "deny", "tools_sha256": .string(digest)]
        let h = try await PortalHarness(artifacts: [try PortalFixture.artifact(pinned)])
        h.upstream.answer = answer
        #expect(H.code(try await h.call("echo", ["text": "hi"])) == nil)
        #expect(try h.log().first?.line["tools_sha256"] == .string(digest))
        #expect(h.upstream.received.first?["method"] == "tools/list")
        // The same portal pinned to another list denies, before forwarding.
        var other = PortalFixture.unsignedArtifact()
        other["drift"] = ["on_drift": "deny", "tools_sha256": .string(ToolsDigestCache.digest([["name": "echo"]]))]
        let drifted = try await PortalHarness(artifacts: [try PortalFixture.artifact(other)])
        drifted.upstream.answer = answer
        expectRegistryCode(H.code(try await drifted.call("echo", ["text": "hi"])), "PTL_UPSTREAM_DRIFT")
        #expect(drifted.upstream.received.map { $0["method"] } == ["tools/list"])
        await h.portal.close()
        let out = PortalFixture.temporaryDirectory().appendingPathComponent("bundle")
        _ = try PortalStore(directory: h.store, readOnly: true).exportBundle(to: out, disclose: .all)
        let result = BundleVerifier(trust: .init(authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)],
            logKeys: [NoteVerifier(name: PortalFixture.origin, key: PortalFixture.logKey.publicKey)], now: PortalFixture.now + 60))
            .verify(bundle: out)
        #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
    }

    @Test func upstreamFailureIsRecorded() async throws {
        let h = try await PortalHarness()
        h.upstream.answer = { _ in nil }
        let request = try h.request("echo", ["text": "hi"])
        async let response = h.send(request)
        while h.upstream.calls == 0 { try await Task.sleep(for: .milliseconds(5)) }
        h.upstream.relay.close(reason: "the upstream server exited with status 1")
        let failed = await response
        expectRegistryCode(H.code(failed), "PTL_UPSTREAM_FAILED")
        let log = try h.log()
        #expect(log.map(\.decision) == ["ALLOW", "RESULT"])
        expectRegistryCode(log[1].code, "PTL_UPSTREAM_FAILED")
        #expect(H.receipts(failed) == [log[0].line, log[1].line])
    }

    @Test func mandateChains() async throws {
        let root = try PortalFixture.artifact(PortalFixture.unsignedArtifact())
        let h = try await PortalHarness(artifacts: [root])
        var narrower = PortalFixture.unsignedArtifact(subject: PortalFixture.helperID, key: PortalFixture.helper)
        narrower["type"] = "mcp-attest/mandate/v1"
        narrower["parent"] = .string(root.digest)
        // The parent's own window: a clock tick between the two must not widen it.
        narrower["not_before"] = .number(JSONNumber(Double(root.notBefore)))
        narrower["not_after"] = .number(JSONNumber(Double(root.notAfter)))
        narrower["tools"] = ["echo": ["arguments": ["text": ["type": "string", "max_length": 8]], "required": ["text"]]]
        let mandate = try Artifact.seal(narrower, key: PortalFixture.agent)
        let ok = await h.send(try h.request("echo", ["text": "hi"], subject: PortalFixture.helperID, key: PortalFixture.helper,
                                            mandates: [mandate]))
        #expect(H.code(ok) == nil)
        #expect(try h.log().first?.line["artifact"] == .string(mandate.digest))
        // Positive control above; the same chain with a widening mandate is refused before any receipt.
        var wider = narrower
        wider["tools"] = ["echo": ["arguments": ["text": ["type": "string", "max_length": 8]], "required": ["text"]], "rm": [:]]
        let widening = try Artifact.seal(wider, key: PortalFixture.agent)
        let refused = await h.send(try h.request("echo", ["text": "hi"], subject: PortalFixture.helperID, key: PortalFixture.helper,
                                                 mandates: [widening]))
        expectRegistryCode(H.code(refused), "MAN_WIDENS_TOOLS")
        // The agent presenting a chain whose last subject is someone else.
        let notMine = await h.send(try h.request("echo", ["text": "hi"], mandates: [mandate]))
        expectRegistryCode(H.code(notMine), "PTL_SUBJECT_MISMATCH")
        #expect(try h.log().count == 2)
    }
}
