import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import TestSupport
import Testing
@testable import AttestPortal

/// Two portal replicas, each with its own store, log origin and log key, deciding against
/// one shared state (portal.md §Replicas): a SQLite file here, PostgreSQL in
/// ``PostgresPortalReplicaTests``.
struct ReplicaPair {
    static let origins = ["portal.test/log/a", "portal.test/log/b"]
    static let logKeys = [PortalFixture.key("replica a"), PortalFixture.key("replica b")]

    let portals: [Portal]
    let upstreams: [ScriptedUpstream]
    let stores: [URL]
    let artifact: Artifact

    /// The agent's artifact naming both logs, `add` limited to `addLimit` calls an hour.
    static func artifact(addLimit: Int64, drift: JSONValue? = nil) throws -> Artifact {
        var unsigned = PortalFixture.unsignedArtifact(addLimit: addLimit)
        // An artifact of its own per pair: tests share one PostgreSQL database, where limits are kept by digest.
        unsigned["id"] = .string("replicated-\(UUID().uuidString)")
        if let drift { unsigned["drift"] = drift }
        unsigned["log"] = ["origins": .array(origins.map { .string($0) })]
        return try PortalFixture.artifact(unsigned)
    }

    /// `shared` nil: each replica keeps the state in its own store (the control).
    init(addLimit: Int64, shared: SharedStateLocation?, drift: JSONValue? = nil) async throws {
        artifact = try Self.artifact(addLimit: addLimit, drift: drift)
        var portals: [Portal] = [], upstreams: [ScriptedUpstream] = [], stores: [URL] = []
        for i in 0..<2 {
            let store = PortalFixture.temporaryDirectory()
            let configuration = try PortalConfiguration(
                audience: PortalFixture.audience,
                issuers: [TrustedIssuer(issuer: PortalFixture.issuer, keys: try JWKS(keys: [JWK(key: PortalFixture.provider.verifyingKey)]),
                                        trustDomains: ["agents.provider.example"])],
                authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)], artifacts: [artifact],
                origin: Self.origins[i], logKey: Self.logKeys[i], store: store, checkpointEvery: 100_000,
                checkpointSeconds: 86_400, sharedState: shared)
            let portal = try Portal(configuration: configuration, upstreamIdentity: PortalFixture.upstreamIdentity)
            try await portal.recover()
            portals.append(portal)
            upstreams.append(ScriptedUpstream())
            stores.append(store)
        }
        (self.portals, self.upstreams, self.stores) = (portals, upstreams, stores)
    }

    func session(_ replica: Int, _ id: String) -> PortalSession {
        PortalSession(portal: portals[replica], relay: upstreams[replica].relay, id: id)
    }

    /// `sessions` sessions at each replica call `add` `calls` times each, all at once;
    /// returns the registry code of every answer (nil: allowed).
    func hammer(sessions: Int, calls: Int, harness: PortalHarness,
                request: @escaping @Sendable (_ replica: Int, _ call: Int) throws -> JSONObject? = { _, _ in nil }) async throws -> [String?] {
        try await withThrowingTaskGroup(of: [String?].self) { group in
            for replica in 0..<2 {
                for s in 0..<sessions {
                    let session = session(replica, "replica-\(replica)-session-\(s)")
                    group.addTask {
                        var codes: [String?] = []
                        for c in 0..<calls {
                            let message = try request(replica, c) ?? harness.request("add", ["a": 1, "b": .number(JSONNumber(Double(c)))])
                            let response = await session.handle(request: message, method: "tools/call", era: .handshake)
                            codes.append(PortalHarness.code(response))
                        }
                        return codes
                    }
                }
            }
            var all: [String?] = []
            for try await codes in group { all += codes }
            return all
        }
    }

    /// Closes both replicas and exports the logs of `replicas` as one bundle.
    func exportBundle(replicas: [Int] = [0, 1]) async throws -> URL {
        for portal in portals { await portal.close() }
        let out = PortalFixture.temporaryDirectory().appendingPathComponent("bundle")
        _ = try PortalStore.exportBundle(stores: try replicas.map { try PortalStore(directory: stores[$0], readOnly: true) },
                                         to: out, disclose: .all)
        return out
    }

    static func verify(_ bundle: URL) -> BundleVerifier.Report {
        BundleVerifier(trust: .init(
            authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)],
            logKeys: zip(origins, logKeys).map { NoteVerifier(name: $0, key: $1.publicKey) },
            now: PortalFixture.now + 60)).verify(bundle: bundle)
    }
}

enum ReplicaChecks {
    /// A proof accepted at one replica is a replay at the other; a fresh proof is not.
    static func replayAcrossReplicas(_ shared: SharedStateLocation) async throws {
        let pair = try await ReplicaPair(addLimit: 1000, shared: shared)
        let harness = try await PortalHarness()
        let request = try harness.request("echo", ["text": "once"])
        let a = pair.session(0, "replay-a"), b = pair.session(1, "replay-b")
        #expect(PortalHarness.code(await a.handle(request: request, method: "tools/call", era: .handshake)) == nil)
        expectRegistryCode(PortalHarness.code(await b.handle(request: request, method: "tools/call", era: .handshake)), "PRF_REPLAY")
        // Control: the same call with a proof of its own is allowed at the other replica.
        let fresh = try harness.request("echo", ["text": "once"])
        #expect(PortalHarness.code(await b.handle(request: fresh, method: "tools/call", era: .handshake)) == nil)
        for portal in pair.portals { await portal.close() }
    }

    /// 2 replicas x 25 sessions x 2 calls on one limit of 20: exactly 20 are allowed, the
    /// rest denied with PTL_RATE_LIMITED, and the bundle of both logs verifies, its
    /// recount across the logs (bundle.md step 10) agreeing with the shared state.
    static func exactAcrossReplicas(_ shared: SharedStateLocation) async throws {
        let pair = try await ReplicaPair(addLimit: 20, shared: shared)
        let harness = try await PortalHarness()
        let codes = try await pair.hammer(sessions: 25, calls: 2, harness: harness)
        #expect(codes.count == 100)
        #expect(codes.filter { $0 == nil }.count == 20)
        for code in codes where code != nil { expectRegistryCode(code, "PTL_RATE_LIMITED") }
        let bundle = try await pair.exportBundle()
        let result = ReplicaPair.verify(bundle)
        #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
        #expect(result.receipts >= 100)
    }

    /// Two sibling mandates of the root artifact, one used at each replica, each with
    /// the root's own limit of 20: together they get 20, not 40 (artifact.md §Evaluation
    /// step 5, mandate.md: deriving a mandate never multiplies a budget), and the bundle
    /// of both logs verifies.
    static func mandatesShareTheRootBudget(_ shared: SharedStateLocation?) async throws {
        let pair = try await ReplicaPair(addLimit: 20, shared: shared)
        let mandates = try (0..<2).map { i -> Artifact in
            var body = PortalFixture.unsignedArtifact(subject: PortalFixture.helperID, key: PortalFixture.helper, addLimit: 20)
            body["type"] = "mcp-attest/mandate/v1"
            body["id"] = .string("sibling-\(i)")
            body["parent"] = .string(pair.artifact.digest)
            body["not_before"] = .number(JSONNumber(Double(pair.artifact.notBefore)))
            body["not_after"] = .number(JSONNumber(Double(pair.artifact.notAfter)))
            body["log"] = ["origins": .array(ReplicaPair.origins.map { .string($0) })]
            return try Artifact.seal(body, key: PortalFixture.agent)
        }
        let harness = try await PortalHarness()
        let codes = try await pair.hammer(sessions: 25, calls: 2, harness: harness) { replica, c in
            try harness.request("add", ["a": 1, "b": .number(JSONNumber(Double(c)))], subject: PortalFixture.helperID,
                                key: PortalFixture.helper, mandates: [mandates[replica]])
        }
        #expect(codes.filter { $0 == nil }.count == (shared == nil ? 40 : 20), "\(Set(codes.map { $0 ?? "allowed" }))")
        let result = ReplicaPair.verify(try await pair.exportBundle())
        if shared == nil {
            expectRegistryCode(result.failure?.code.rawValue, "PTL_RATE_LIMITED")
        } else {
            #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
        }
    }
}

@Suite(.serialized) struct PortalReplicaTests {
    static func sqliteShared() -> SharedStateLocation {
        .sqlite(PortalFixture.temporaryDirectory().appendingPathComponent("shared.sqlite"))
    }

    @Test func replayAcrossReplicas() async throws { try await ReplicaChecks.replayAcrossReplicas(Self.sqliteShared()) }

    @Test func exactAcrossReplicas() async throws { try await ReplicaChecks.exactAcrossReplicas(Self.sqliteShared()) }

    @Test func mandatesShareTheRootBudget() async throws {
        try await ReplicaChecks.mandatesShareTheRootBudget(Self.sqliteShared())
        // The control: without the shared state each replica spends the root's budget.
        try await ReplicaChecks.mandatesShareTheRootBudget(nil)
    }

    /// The proof is recorded in the shared state and then its rate steps cannot be
    /// decided: the call is denied with a DENY receipt carrying
    /// PRF_REPLAY_STORE_UNAVAILABLE, and nothing is forwarded. Control: the same call on
    /// a shared state that answers is allowed.
    @Test func countOutageIsADenial() async throws {
        let harness = try await PortalHarness()
        let shared = try SQLiteSharedState(path: PortalFixture.temporaryDirectory().appendingPathComponent("shared.sqlite").path)
        harness.portal.useSharedState(shared)
        #expect(PortalHarness.code(try await harness.call("add", ["a": 1, "b": 2])) == nil)
        let forwarded = harness.upstream.calls
        harness.portal.useSharedState(CountsFail(proofs: shared))
        let response = try await harness.call("add", ["a": 1, "b": 2])
        expectRegistryCode(PortalHarness.code(response), "PRF_REPLAY_STORE_UNAVAILABLE")
        #expect(harness.upstream.calls == forwarded)
        let last = try #require(try harness.log().last)
        #expect(last.decision == "DENY" && last.code == "PRF_REPLAY_STORE_UNAVAILABLE")
        // A call without a rate limit needs no count: allowed while counting fails, once the
        // gate's cool-off after the failure (every operation refused at once) has passed.
        try await Task.sleep(for: .milliseconds(600))
        #expect(PortalHarness.code(try await harness.call("echo", ["text": "no limit"])) == nil)
        await harness.portal.close()
    }

    /// A shared state that records proofs and cannot count.
    struct CountsFail: SharedState {
        let proofs: SQLiteSharedState
        func recordProof(issuer: String, tokenID: String, expires: Int64, now: Int64) async throws(AttestError) {
            try await proofs.recordProof(issuer: issuer, tokenID: tokenID, expires: expires, now: now)
        }
        func count(_ limits: [SharedLimit], earliest: Int64, deadline: Int64, record: Bool) async throws(AttestError) -> SharedCount {
            throw AttestError(.proofReplayStoreUnavailable, "counting fails here")
        }
        func revoke(digest: String, time: Int64) async throws(AttestError) {
            try await proofs.revoke(digest: digest, time: time)
        }
        func revoked(among digests: [String]) async throws(AttestError) -> [String] {
            try await proofs.revoked(among: digests)
        }
    }

    /// A call that both exceeds a shared limit and fires a drift rule is denied for the
    /// limit (artifact.md §Evaluation: the rate steps come before step 7) even when only
    /// the shared count, not the replica's own, knows the limit is spent; the session is
    /// then not in drift, and the next call that fires the rule begins it.
    @Test func rateStepsComeBeforeADriftRule() async throws {
        let pair = try await ReplicaPair(addLimit: 2, shared: Self.sqliteShared(),
                                         drift: ["on_drift": "deny", "burst": ["max": 2, "window": 3600]])
        let harness = try await PortalHarness()
        func send(_ replica: Int, _ session: String, _ tool: String, _ arguments: JSONValue) async throws -> String? {
            PortalHarness.code(await pair.session(replica, session).handle(request: try harness.request(tool, arguments),
                                                                            method: "tools/call", era: .handshake))
        }
        // Replica b spends the shared budget of `add` in a session of its own.
        #expect(try await send(1, "b", "add", ["a": 1, "b": 2]) == nil)
        #expect(try await send(1, "b", "add", ["a": 1, "b": 2]) == nil)
        // At replica a, one session makes two calls: the burst rule's max.
        #expect(try await send(0, "a", "echo", ["text": "one"]) == nil)
        #expect(try await send(0, "a", "echo", ["text": "two"]) == nil)
        expectRegistryCode(try await send(0, "a", "add", ["a": 1, "b": 2]), "PTL_RATE_LIMITED")
        expectRegistryCode(try await send(0, "a", "echo", ["text": "three"]), "PTL_BEHAVIOUR_DRIFT")
        for portal in pair.portals { await portal.close() }
    }

    /// The control: replicas that do not share rate state each allow the limit, and the
    /// bundle of both logs fails the recount with PTL_RATE_LIMITED at the first call over it.
    @Test func unsharedReplicasOverspendAndTheBundleSaysSo() async throws {
        let pair = try await ReplicaPair(addLimit: 20, shared: nil)
        let harness = try await PortalHarness()
        let codes = try await pair.hammer(sessions: 25, calls: 2, harness: harness)
        #expect(codes.filter { $0 == nil }.count == 40)
        let result = ReplicaPair.verify(try await pair.exportBundle())
        expectRegistryCode(result.failure?.code.rawValue, "PTL_RATE_LIMITED")
    }
}

/// The same through PostgreSQL, and an outage: governed calls are refused with
/// PRF_REPLAY_STORE_UNAVAILABLE while the server is stopped, never forwarded, and served
/// again once it returns.
/// (In the serialized PostgreSQL suite, so that no other test uses the server while it is stopped.)
extension PostgresSharedStateTests {
    static func shared() throws -> SharedStateLocation { .postgres(url: try #require(PostgresTestServer.url)) }

    @Test func portalReplayAcrossReplicas() async throws { try await ReplicaChecks.replayAcrossReplicas(try Self.shared()) }

    @Test func portalExactAcrossReplicas() async throws { try await ReplicaChecks.exactAcrossReplicas(try Self.shared()) }

    @Test func portalMandatesShareTheRootBudget() async throws { try await ReplicaChecks.mandatesShareTheRootBudget(try Self.shared()) }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ATTEST_POSTGRES_DIR"] != nil,
                   "ATTEST_POSTGRES_DIR is not set: the outage test stops and restarts the server of scripts/postgres.sh"))
    func portalOutageDeniesAndRecovers() async throws {
        let pair = try await ReplicaPair(addLimit: 1000, shared: try Self.shared())
        let harness = try await PortalHarness()
        let session = pair.session(0, "outage")
        func call() async throws -> String? {
            PortalHarness.code(await session.handle(request: try harness.request("add", ["a": 1, "b": 2]), method: "tools/call", era: .handshake))
        }
        #expect(try await call() == nil)
        let forwardedBefore = pair.upstreams[0].calls
        try Self.server("pause")
        var paused = true
        defer { if paused { try? Self.server("resume") } }
        expectRegistryCode(try await call(), "PRF_REPLAY_STORE_UNAVAILABLE")
        #expect(pair.upstreams[0].calls == forwardedBefore, "a call was forwarded while the shared state was down")
        try Self.server("resume")
        paused = false
        var recovered = false
        for _ in 0..<60 where !recovered {
            if try await call() == nil { recovered = true } else { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(recovered)
        let result = ReplicaPair.verify(try await pair.exportBundle(replicas: [0]))
        #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
    }
}
