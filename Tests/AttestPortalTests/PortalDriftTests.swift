import AttestCore
import AttestEvidence
import Foundation
import GRDB
import TestSupport
import Testing
@testable import AttestPortal

/// artifact.md §Evaluation steps 0 and 7 in a running portal: a drift rule denies the call
/// that fires it, the session stays in drift, other sessions are decided as usual, and the
/// exported log proves it (bundle.md step 7).
@Suite struct PortalDriftTests {
    typealias H = PortalHarness

    static func artifact(onDrift: String = "deny") throws -> Artifact {
        var o = PortalFixture.unsignedArtifact()
        var tools = o["tools"]?.objectValue ?? [:]
        tools["read_secret"] = [:]
        tools["send_email"] = [:]
        o["tools"] = .object(tools)
        o["drift"] = ["on_drift": .string(onDrift), "sequences": [["tools": ["read_secret", "send_email"], "window": 3600]]]
        return try PortalFixture.artifact(o)
    }

    @Test func exfiltrationSequenceIsQuarantined() async throws {
        let h = try await PortalHarness(artifacts: [try Self.artifact()])
        let other = PortalSession(portal: h.portal, relay: h.upstream.relay, id: "other-session")
        func inOther(_ tool: String) async throws -> JSONObject {
            await other.handle(request: try h.request(tool), method: "tools/call", era: .handshake)
        }
        // Positive controls: send_email alone, then read_secret and another call, are allowed.
        #expect(H.code(try await h.call("send_email")) == nil)
        #expect(H.code(try await h.call("read_secret")) == nil)
        #expect(H.code(try await h.call("echo", ["text": "between"])) == nil)
        #expect(h.upstream.calls == 3)
        // send_email after read_secret fires the sequence: denied, not forwarded.
        expectRegistryCode(H.code(try await h.call("send_email")), "PTL_BEHAVIOUR_DRIFT")
        // The session is in drift: every later request of it, of any method, is refused.
        expectRegistryCode(H.code(try await h.call("echo", ["text": "later"])), "PTL_BEHAVIOUR_DRIFT")
        expectRegistryCode(H.code(await h.send(try h.request("", method: "tools/list"))), "PTL_BEHAVIOUR_DRIFT")
        #expect(h.upstream.calls == 3)
        // Another session is decided on its own calls: send_email is allowed there.
        #expect(H.code(try await inOther("send_email")) == nil)
        #expect(h.upstream.calls == 4)
        let log = try h.log()
        #expect(log.map(\.decision) == ["ALLOW", "RESULT", "ALLOW", "RESULT", "ALLOW", "RESULT", "DENY", "DENY", "DENY", "ALLOW", "RESULT"])
        #expect(log.compactMap(\.code) == ["PTL_BEHAVIOUR_DRIFT", "PTL_BEHAVIOUR_DRIFT", "PTL_BEHAVIOUR_DRIFT"])

        // The exported log verifies: the quarantine holds in its structure.
        await h.portal.close()
        let out = PortalFixture.temporaryDirectory().appendingPathComponent("bundle")
        _ = try PortalStore(directory: h.store, readOnly: true).exportBundle(to: out, disclose: .none)
        let trust = BundleVerifier.Trust(authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)],
            logKeys: [NoteVerifier(name: PortalFixture.origin, key: PortalFixture.logKey.publicKey)], now: PortalFixture.now + 60)
        let result = BundleVerifier(trust: trust).verify(bundle: out)
        #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
        #expect(result.receipts == 11)
    }

    /// A session that ended (closed, idle, or one stateless request's context) leaves no
    /// drift state behind: the portal keeps state only for sessions that can still ask.
    @Test func endedSessionsAreForgotten() async throws {
        let h = try await PortalHarness(artifacts: [try Self.artifact()])
        #expect(H.code(try await h.call("read_secret")) == nil)
        expectRegistryCode(H.code(try await h.call("send_email")), "PTL_BEHAVIOUR_DRIFT")
        let id = h.session.id
        #expect(h.portal.writer.withTree { _, state in state.drift.began(session: id) } == .portalBehaviourDrift)
        h.portal.endSession(id)
        // The next decision (of any session) drops it first.
        let other = PortalSession(portal: h.portal, relay: h.upstream.relay, id: "other-session")
        #expect(H.code(await other.handle(request: try h.request("echo", ["text": "x"]), method: "tools/call", era: .handshake)) == nil)
        #expect(h.portal.writer.withTree { _, state in state.drift.began(session: id) } == nil)
        #expect(h.portal.writer.withTree { _, state in state.drift.count } == 1)
    }

    /// A session ended while the store refuses writes: the failed batch is undone, and the
    /// session is forgotten by the next batch that commits, not kept for ever.
    @Test func endedSessionsAreForgottenAfterAFailedBatch() async throws {
        let h = try await PortalHarness(artifacts: [try Self.artifact()])
        #expect(H.code(try await h.call("read_secret")) == nil)
        expectRegistryCode(H.code(try await h.call("send_email")), "PTL_BEHAVIOUR_DRIFT")
        let id = h.session.id
        let other = PortalSession(portal: h.portal, relay: h.upstream.relay, id: "other-session")
        let store = try DatabaseQueue(path: h.store.appendingPathComponent(PortalStore.fileName).path)
        try await store.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON receipts BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        }
        h.portal.endSession(id)
        expectRegistryCode(H.code(await other.handle(request: try h.request("echo", ["text": "x"]), method: "tools/call", era: .handshake)),
                           "PTL_RECEIPT_WRITE_FAILED")
        #expect(h.portal.writer.withTree { _, state in state.drift.began(session: id) } == .portalBehaviourDrift)
        try await store.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        #expect(H.code(await other.handle(request: try h.request("echo", ["text": "y"]), method: "tools/call", era: .handshake)) == nil)
        #expect(h.portal.writer.withTree { _, state in state.drift.began(session: id) } == nil)
    }

    /// `on_drift: phantom` names the PHANTOM a sandbox would answer; this portal writes a DENY.
    @Test func phantomIsAnsweredAsDeny() async throws {
        let phantom = try Self.artifact(onDrift: "phantom")
        #expect(Portal.driftResponse(.portalBehaviourDrift, phantom) == .phantom(.portalBehaviourDrift))
        #expect(Portal.driftResponse(.portalUpstreamDrift, try Self.artifact()) == .deny(.portalUpstreamDrift))
        #expect(Portal.driftResponse(.portalRateLimited, phantom) == nil)
        let h = try await PortalHarness(artifacts: [phantom])
        #expect(H.code(try await h.call("read_secret")) == nil)
        expectRegistryCode(H.code(try await h.call("send_email")), "PTL_BEHAVIOUR_DRIFT")
        #expect(try h.log().map(\.decision) == ["ALLOW", "RESULT", "DENY"])
    }
}
