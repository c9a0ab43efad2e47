import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import GRDB
import TestSupport
import Testing
@testable import AttestPortal

/// The operator's lifecycle controls (portal.md §Revocation, §Shadow mode, §Policy reload),
/// each enforced by a running portal and proven by the bundle exported from its log.
@Suite struct PortalLifecycleTests {
    static let echo: JSONValue = ["text": "hi"]

    /// The log exported as a bundle and verified at `now`.
    static func verify(_ h: PortalHarness, now: Int64 = PortalFixture.now + 60) async throws -> BundleVerifier.Report {
        await h.portal.close()
        let out = PortalFixture.temporaryDirectory().appendingPathComponent("bundle")
        _ = try PortalStore(directory: h.store, readOnly: true).exportBundle(to: out, disclose: .all)
        return BundleVerifier(trust: .init(authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)],
            logKeys: [NoteVerifier(name: PortalFixture.origin, key: PortalFixture.logKey.publicKey)], now: now)).verify(bundle: out)
    }

    /// The calls the store counts towards rate limits.
    static func allowedCalls(_ store: URL) throws -> Int {
        try DatabaseQueue(path: store.appendingPathComponent(PortalStore.fileName).path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM allowed_calls") ?? -1
        }
    }

    static func decisions(_ h: PortalHarness) throws -> [String] {
        try h.log().map { $0.decision + ($0.code.map { " " + $0 } ?? "") + ($0.line["shadow"]?.stringValue.map { " shadow " + $0 } ?? "") }
    }

    @Test func revocationIsRecordedThenEnforced() async throws {
        let artifact = try PortalFixture.artifact(PortalFixture.unsignedArtifact())
        let h = try await PortalHarness(artifacts: [artifact])
        // Positive control: the call is allowed before the revocation.
        #expect(PortalHarness.code(try await h.call("echo", Self.echo)) == nil)
        // The operator revokes through the store, as `attest portal revoke --store` does.
        try await PortalStore(directory: h.store).revoke(digest: artifact.digest, time: PortalFixture.now)
        let denied = try await h.call("echo", Self.echo)
        expectRegistryCode(PortalHarness.code(denied), "PTL_ARTIFACT_REVOKED", "the next call after the revocation")
        // The REVOKE entry precedes the denial, and is written once.
        let receipts = PortalHarness.receipts(denied)
        #expect(receipts.count == 1)
        expectRegistryCode(PortalHarness.code(try await h.call("echo", Self.echo)), "PTL_ARTIFACT_REVOKED")
        #expect(try Self.decisions(h) == ["ALLOW", "RESULT", "REVOKE", "DENY PTL_ARTIFACT_REVOKED", "DENY PTL_ARTIFACT_REVOKED"])
        let revoke = try #require(try h.log()[2].line.objectValue)
        #expect(revoke.names.sorted() == ["artifact", "decision", "log", "prev", "seq", "sig", "time", "type"])
        #expect(revoke["artifact"]?.stringValue == artifact.digest)
        #expect(h.upstream.calls == 1)
        let report = try await Self.verify(h)
        #expect(report.passed, "\(String(describing: report.failure))")
        #expect(report.revocations == 1)
    }

    /// A mandate's calls are denied when its root artifact is revoked.
    @Test func revokingTheRootRevokesItsMandates() async throws {
        let root = try PortalFixture.artifact(PortalFixture.unsignedArtifact())
        let h = try await PortalHarness(artifacts: [root])
        var narrower = PortalFixture.unsignedArtifact(subject: PortalFixture.helperID, key: PortalFixture.helper)
        narrower["type"] = "mcp-attest/mandate/v1"
        narrower["parent"] = .string(root.digest)
        narrower["not_before"] = .number(JSONNumber(Double(root.notBefore)))
        narrower["not_after"] = .number(JSONNumber(Double(root.notAfter)))
        narrower["tools"] = ["echo": ["arguments": ["text": ["type": "string", "max_length": 8]], "required": ["text"]]]
        let mandate = try Artifact.seal(narrower, key: PortalFixture.agent)
        let call = { () async throws -> JSONObject in
            await h.send(try h.request("echo", Self.echo, subject: PortalFixture.helperID, key: PortalFixture.helper, mandates: [mandate]))
        }
        #expect(PortalHarness.code(try await call()) == nil)
        try await PortalStore(directory: h.store).revoke(digest: root.digest, time: PortalFixture.now)
        expectRegistryCode(PortalHarness.code(try await call()), "PTL_ARTIFACT_REVOKED", "a mandate under a revoked root")
        #expect(try h.log().map(\.decision) == ["ALLOW", "RESULT", "REVOKE", "DENY"])
        #expect(try h.log()[2].line["artifact"]?.stringValue == root.digest)
        let report = try await Self.verify(h)
        #expect(report.passed, "\(String(describing: report.failure))")
    }

    /// A revocation recorded in a log's store holds in its successor after a key rotation,
    /// which writes its own REVOKE entry before its first decision under the digest.
    @Test func revocationSurvivesKeyRotation() async throws {
        typealias Ops = PortalOperationsTests
        let artifact = try Ops.artifact(origins: [Ops.originA, Ops.originB])
        let old = try Ops.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Ops.originA, key: Ops.keyA)
        let first = try await PortalHarness(configuration: old)
        #expect(PortalHarness.code(try await first.call("echo", Self.echo)) == nil)
        try await first.portal.store.revoke(digest: artifact.digest, time: PortalFixture.now)
        await first.portal.close()
        _ = try await PortalStore.closeLog(configuration: old)
        let new = try Ops.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Ops.originB, key: Ops.keyB)
        _ = try PortalStore.startSuccessor(of: try PortalStore(directory: old.store), configuration: new)
        let second = try await PortalHarness(configuration: new)
        expectRegistryCode(PortalHarness.code(try await second.call("echo", Self.echo)), "PTL_ARTIFACT_REVOKED", "after the rotation")
        #expect(try second.log().map(\.decision) == ["REVOKE", "DENY"])
        await second.portal.close()
    }

    /// Two portals on one shared state: a revocation recorded there (through an instance of
    /// its own, as `attest portal revoke --shared-state` does) is in force at both.
    static func acrossReplicas(_ location: SharedStateLocation, revoker: any RevocationStore) async throws {
        let artifact = try PortalFixture.artifact(PortalFixture.unsignedArtifact(subject: PortalFixture.agentID + "/\(UUID().uuidString)"))
        let subject = artifact.subject
        let first = try await PortalHarness(artifacts: [artifact], configure: { $0.sharedState = location })
        let second = try await PortalHarness(artifacts: [artifact], configure: { $0.sharedState = location })
        #expect(PortalHarness.code(try await first.call("echo", Self.echo, subject: subject)) == nil)
        #expect(PortalHarness.code(try await second.call("echo", Self.echo, subject: subject)) == nil)
        try await revoker.revoke(digest: artifact.digest, time: PortalFixture.now)
        expectRegistryCode(PortalHarness.code(try await second.call("echo", Self.echo, subject: subject)), "PTL_ARTIFACT_REVOKED",
                           "revoked in the shared state")
        expectRegistryCode(PortalHarness.code(try await first.call("echo", Self.echo, subject: subject)), "PTL_ARTIFACT_REVOKED")
        for h in [first, second] {
            #expect(try Self.decisions(h) == ["ALLOW", "RESULT", "REVOKE", "DENY PTL_ARTIFACT_REVOKED"])
            let report = try await Self.verify(h)
            #expect(report.passed, "\(String(describing: report.failure))")
        }
    }

    @Test func revocationAcrossReplicas() async throws {
        let file = PortalFixture.temporaryDirectory().appendingPathComponent("shared.sqlite")
        try await Self.acrossReplicas(.sqlite(file), revoker: try SQLiteSharedState(path: file.path))
    }

    @Test(.enabled(if: PostgresTestServer.url != nil, "ATTEST_POSTGRES_URL is not set: no PostgreSQL server to test against"))
    func revocationAcrossPostgresReplicas() async throws {
        let url = try #require(PostgresTestServer.url)
        let revoker = try PostgresSharedState(url: url)
        try await revoker.prepare()
        try await Self.acrossReplicas(.postgres(url: url), revoker: revoker)
        await revoker.close()
    }

    @Test func shadowModeForwardsAndRecords() async throws {
        let artifact = try PortalFixture.artifact(PortalFixture.unsignedArtifact(addLimit: 1))
        let h = try await PortalHarness(artifacts: [artifact], configure: { $0.shadow = true })
        let add: JSONValue = ["a": 1, "b": 2]
        #expect(PortalHarness.code(try await h.call("echo", Self.echo)) == nil)
        // A tool the artifact does not allow: forwarded, recorded with the code enforcement gives.
        #expect(PortalHarness.code(try await h.call("delete_everything")) == nil)
        #expect(PortalHarness.code(try await h.call("add", add)) == nil)
        // Beyond the limit of 1: forwarded in shadow mode, and not counted.
        #expect(PortalHarness.code(try await h.call("add", add)) == nil)
        #expect(h.upstream.calls == 4)
        // Identity failures are still refused, and recorded nowhere.
        let unattested = await h.send(try h.request("echo", Self.echo, attest: false))
        expectRegistryCode(PortalHarness.code(unattested), "PRF_TOKEN_MISSING", "an unattested request in shadow mode")
        #expect(h.upstream.calls == 4)
        let counted = try Self.allowedCalls(h.store)
        #expect(counted == 2, "echo and the first add: the shadow calls consume nothing")
        // Revocation is never shadowed.
        try await PortalStore(directory: h.store).revoke(digest: artifact.digest, time: PortalFixture.now)
        expectRegistryCode(PortalHarness.code(try await h.call("echo", Self.echo)), "PTL_ARTIFACT_REVOKED", "revoked, in shadow mode")
        #expect(h.upstream.calls == 4)
        #expect(try Self.decisions(h) == ["ALLOW", "RESULT", "ALLOW shadow PTL_TOOL_NOT_ALLOWED", "RESULT", "ALLOW", "RESULT",
                                          "ALLOW shadow PTL_RATE_LIMITED", "RESULT", "REVOKE", "DENY PTL_ARTIFACT_REVOKED"])
        let report = try await Self.verify(h)
        #expect(report.passed, "\(String(describing: report.failure))")
        #expect(report.shadowCalls == 2)
        #expect(report.logs.first?.allowedCalls == 2, "only the enforced ALLOWs are re-evaluated")
    }

    /// Shadow mode relaxes the policy, not what may be forwarded to: a call to an upstream
    /// that is not the pinned one, and one whose shared rate state cannot be decided, are
    /// denied in shadow mode too, and reach nothing. Control: the pinned upstream in shadow
    /// mode forwards a call the policy denies.
    @Test func shadowModeNeverForwardsWhatMustNotBeForwarded() async throws {
        let pinned = try PortalFixture.artifact(PortalFixture.unsignedArtifact(upstream: PortalFixture.upstreamIdentity))
        let control = try await PortalHarness(artifacts: [pinned], configure: { $0.shadow = true })
        #expect(PortalHarness.code(try await control.call("delete_everything")) == nil)
        #expect(control.upstream.calls == 1)
        await control.portal.close()
        let other: JSONValue = ["transport": "stdio", "executable_sha256": .string(String(repeating: "cd", count: 32))]
        let drifted = try await PortalHarness(artifacts: [pinned], upstreamIdentity: other, configure: { $0.shadow = true })
        expectRegistryCode(PortalHarness.code(try await drifted.call("echo", Self.echo)), "PTL_UPSTREAM_DRIFT", "a drifted upstream, in shadow mode")
        #expect(drifted.upstream.calls == 0)
        await drifted.portal.close()
        let limited = try PortalFixture.artifact(PortalFixture.unsignedArtifact(addLimit: 5))
        let h = try await PortalHarness(artifacts: [limited], configure: { $0.shadow = true })
        h.portal.useSharedState(PortalReplicaTests.CountsFail(
            proofs: try SQLiteSharedState(path: PortalFixture.temporaryDirectory().appendingPathComponent("shared.sqlite").path)))
        expectRegistryCode(PortalHarness.code(try await h.call("add", ["a": 1, "b": 2])), "PRF_REPLAY_STORE_UNAVAILABLE",
                           "a shared state that cannot count, in shadow mode")
        #expect(h.upstream.calls == 0)
        await h.portal.close()
    }

    @Test func expiryThenReload() async throws {
        let start = PortalFixture.now
        let offset = Locked<Int64>(0)
        let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) + offset.value }
        // A minute of validity left, so that a loaded machine does not make the first call late;
        // then the portal's clock moves 90 s on, within the proofs' age limit (60 s + leeway).
        let expiring = try PortalFixture.artifact(PortalFixture.unsignedArtifact(window: (start - 3600, start + 60)))
        let h = try await PortalHarness(artifacts: [expiring], clock: clock)
        #expect(PortalHarness.code(try await h.call("echo", Self.echo)) == nil)
        offset.value = 90  // the artifact has expired
        for _ in 0..<2 {
            expectRegistryCode(PortalHarness.code(try await h.call("echo", Self.echo)), "PTL_OUTSIDE_VALIDITY", "a call after expiry")
        }
        // A renewed artifact that fails the checks is refused, and changes nothing.
        var foreign = PortalFixture.unsignedArtifact(window: (start, start + 86_400))
        foreign["log"] = ["origins": ["portal.test/log/other"]]
        #expect(throws: PortalConfigurationError.self) { try h.portal.reload(artifacts: [try PortalFixture.artifact(foreign)]) }
        expectRegistryCode(PortalHarness.code(try await h.call("echo", Self.echo)), "PTL_OUTSIDE_VALIDITY")
        // The renewed artifact is installed without a restart: the next call is allowed.
        let renewed = try PortalFixture.artifact(PortalFixture.unsignedArtifact(window: (start, start + 86_400)))
        try h.portal.reload(artifacts: [renewed])
        #expect(PortalHarness.code(try await h.call("echo", Self.echo)) == nil)
        #expect(try Self.decisions(h) == ["ALLOW", "RESULT", "DENY PTL_OUTSIDE_VALIDITY", "DENY PTL_OUTSIDE_VALIDITY",
                                          "DENY PTL_OUTSIDE_VALIDITY", "ALLOW", "RESULT"])
        let report = try await Self.verify(h, now: PortalFixture.now + 300)
        #expect(report.passed, "\(String(describing: report.failure))")
        #expect(report.artifacts == 2, "the expired artifact and the renewed one (the refused set is not kept): \(report.artifacts)")
    }

    /// Credentials are per request: an expired token fails its request, and a fresh one on
    /// the next request of the same session is accepted, with no new session.
    @Test func tokenExpiryPerRequest() async throws {
        let h = try await PortalHarness()
        let now = PortalFixture.now
        let expired = try PortalFixture.token(issuedAt: now - 900, expiresAt: now - 300)
        let refused = await h.send(try h.request("echo", Self.echo, token: expired))
        expectRegistryCode(PortalHarness.code(refused), "TOK_EXPIRED", "a request with an expired token")
        let fresh = await h.send(try h.request("echo", Self.echo, id: 2))
        #expect(PortalHarness.code(fresh) == nil, "the next request of the session, with a fresh token")
        #expect(try Self.decisions(h) == ["ALLOW", "RESULT"])
        #expect(h.upstream.calls == 1)
    }
}
