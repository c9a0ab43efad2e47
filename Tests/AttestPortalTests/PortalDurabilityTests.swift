import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import GRDB
import TestSupport
import Testing
@testable import AttestPortal

/// spec/portal.md §Log entries (durability, recovery), §Storage and checkpoints.
@Suite struct PortalDurabilityTests {
    typealias H = PortalHarness

    /// A store whose writes fail: SQLite itself refuses the insert (a trigger added by a
    /// second connection), so the portal's transaction fails as on a full or broken disk.
    @Test func unwritableStoreForwardsNothing() async throws {
        let h = try await PortalHarness()
        #expect(H.code(try await h.call("echo", ["text": "before"])) == nil)
        #expect(h.upstream.calls == 1)
        let other = try DatabaseQueue(path: h.store.appendingPathComponent(PortalStore.fileName).path)
        try await other.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON receipts BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        }
        let refused = try await h.call("echo", ["text": "during"])
        expectRegistryCode(H.code(refused), "PTL_RECEIPT_WRITE_FAILED")
        #expect(h.upstream.calls == 1)
        // Nothing of the failed batch is left, in the database or in memory: once the
        // store accepts writes again the log continues without a gap.
        try await other.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        #expect(H.code(try await h.call("echo", ["text": "after"])) == nil)
        #expect(try h.log().map(\.line["seq"]) == [0, 1, 2, 3])
        try await verifyExport(h, expectOpen: 0)
    }

    /// A portal that stops between forwarding a call and recording its outcome: the next
    /// start closes the call with PTL_OUTCOME_UNKNOWN, and the exported log verifies.
    @Test func recoveryClosesOpenCalls() async throws {
        let h = try await PortalHarness()
        #expect(H.code(try await h.call("echo", ["text": "done"])) == nil)
        h.upstream.answer = { _ in nil }
        let pending = Task { try await h.call("echo", ["text": "lost"]) }
        while h.upstream.calls < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try h.log().map(\.decision) == ["ALLOW", "RESULT", "ALLOW"])
        // A second portal on the same store, as after a crash of the first.
        let restarted = try await PortalHarness(store: h.store)
        let log = try restarted.log()
        #expect(log.map(\.decision) == ["ALLOW", "RESULT", "ALLOW", "RESULT"])
        expectRegistryCode(log[3].code, "PTL_OUTCOME_UNKNOWN")
        #expect(log[3].line["call"] == 2)
        await restarted.portal.close()
        try await verifyExport(restarted, expectOpen: 0)
        pending.cancel()
    }

    /// Concurrent calls share flushes: far fewer commits than calls.
    @Test func concurrentCallsShareFlushes() async throws {
        let h = try await PortalHarness()
        let before = h.portal.writer.flushes
        let requests = try (0..<64).map { _ in try h.request("echo", ["text": "hi"]) }
        let codes = await withTaskGroup(of: String?.self) { group in
            for r in requests { group.addTask { H.code(await h.send(r)) } }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(codes.allSatisfy { $0 == nil })
        let flushes = h.portal.writer.flushes - before
        #expect(try h.log().count == 128)
        #expect(flushes < 128, "\(flushes) flushes for 128 entries")
    }

    /// `checkpoint.seconds` holds on an idle portal: a checkpoint covers the last call
    /// without another call or a stop.
    @Test func idlePortalCheckpointsOnTime() async throws {
        let h = try await PortalHarness(checkpointSeconds: 1)
        #expect(H.code(try await h.call("echo", ["text": "hi"])) == nil)
        let store = try PortalStore(directory: h.store, readOnly: true)
        var size: UInt64 = 0
        for _ in 0..<40 where size < 2 {
            try await Task.sleep(for: .milliseconds(100))
            size = try store.lastCheckpoint().size
        }
        #expect(size == 2)
    }

    @Test func checkpointsAndExport() async throws {
        let h = try await PortalHarness()
        for i in 0..<5 { #expect(H.code(try await h.call("echo", ["text": .string("n\(i)")])) == nil) }
        expectRegistryCode(H.code(try await h.call("forbidden")), "PTL_TOOL_NOT_ALLOWED")
        await h.portal.close()
        try await verifyExport(h, expectOpen: 0)
    }

    func verifyExport(_ h: PortalHarness, expectOpen: Int) async throws {
        await h.portal.close()
        let out = PortalFixture.temporaryDirectory().appendingPathComponent("bundle")
        let count = try PortalStore(directory: h.store, readOnly: true)
            .exportBundle(to: out, disclose: .all)
        #expect(count == (try h.log().count))
        let verifier = BundleVerifier(trust: .init(
            authorities: [ExactString(PortalFixture.authority.publicKey.thumbprint)],
            logKeys: [NoteVerifier(name: PortalFixture.origin, key: PortalFixture.logKey.publicKey)], now: PortalFixture.now + 60))
        let result = verifier.verify(bundle: out)
        #expect(result.failure == nil, "\(result.failure.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
        #expect(result.receipts == count)
    }
}

/// spec/portal.md POR-006: rate limits exact under concurrency.
@Suite struct PortalRateTests {
    @Test func exactUnderConcurrency() async throws {
        let limited = try PortalFixture.artifact(PortalFixture.unsignedArtifact(addLimit: 10))
        let h = try await PortalHarness(artifacts: [limited])
        let requests = try (0..<50).map { try h.request("add", ["a": .number(JSONNumber(Double($0))), "b": 1], id: $0) }
        let codes = await withTaskGroup(of: String?.self) { group in
            for r in requests { group.addTask { PortalHarness.code(await h.send(r)) } }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(codes.filter { $0 == nil }.count == 10)
        #expect(codes.filter { $0 == "PTL_RATE_LIMITED" }.count == 40)
        #expect(h.upstream.calls == 10)
        // The limit holds across a restart: the rate state is rebuilt from the store.
        await h.portal.close()
        let restarted = try await PortalHarness(artifacts: [limited], store: h.store)
        expectRegistryCode(PortalHarness.code(try await restarted.call("add", ["a": 1, "b": 1])), "PTL_RATE_LIMITED")
        #expect(PortalHarness.code(try await restarted.call("echo", ["text": "still fine"])) == nil)
    }
}

/// spec/portal.md POR-013.
@Suite struct PortalConfigurationTests {
    func write(_ config: JSONObject, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("portal.json")
        try Data(JSONValue.object(config).serialized(pretty: true).utf8).write(to: url)
        return url
    }

    func files(_ artifacts: [Artifact], authority: String = PortalFixture.authority.publicKey.thumbprint) throws -> (URL, JSONObject) {
        let dir = PortalFixture.temporaryDirectory()
        try Data(Hex.encode(SHA256.hash(Array("portal tests: log".utf8))).utf8).write(to: dir.appendingPathComponent("log.seed"))
        try Data(JSONValue.object(["keys": [JWK(key: PortalFixture.provider.verifyingKey).jsonValue]]).serialized(pretty: false).utf8)
            .write(to: dir.appendingPathComponent("jwks.json"))
        var names: [JSONValue] = []
        for (i, a) in artifacts.enumerated() {
            try Data(JSONValue.object(a.json).serialized(pretty: false).utf8).write(to: dir.appendingPathComponent("a\(i).json"))
            names.append(.string("a\(i).json"))
        }
        let config: JSONObject = [
            "audience": .string(PortalFixture.audience), "artifacts": .array(names), "authorities": [.string(authority)],
            "issuers": [["issuer": .string(PortalFixture.issuer), "trust_domains": ["agents.provider.example"], "jwks": "jwks.json"]],
            "log": ["origin": .string(PortalFixture.origin), "key": "log.seed"], "store": "store",
        ]
        return (dir, config)
    }

    func load(_ dir: URL, _ config: JSONObject) -> String? {
        do { _ = try PortalConfiguration.load(try write(config, in: dir)); return nil } catch { return "\(error)" }
    }

    @Test func refusesWhatItCannotEnforce() throws {
        let good = try PortalFixture.artifact(PortalFixture.unsignedArtifact())
        let (dir, config) = try files([good])
        #expect(load(dir, config) == nil)
        var optional = config
        optional["policy"] = "optional"
        #expect(load(dir, optional)?.contains("required") == true)
        let (dir2, config2) = try files([good], authority: PortalFixture.stranger.publicKey.thumbprint)
        #expect(load(dir2, config2)?.contains("ART_SIGNER_UNTRUSTED") == true)
        var otherLog = PortalFixture.unsignedArtifact()
        otherLog["log"] = ["origins": ["elsewhere/log"]]
        let (dir3, config3) = try files([try PortalFixture.artifact(otherLog)])
        #expect(load(dir3, config3)?.contains("does not name this portal's log") == true)
        var again = PortalFixture.unsignedArtifact()
        again["id"] = "another"
        let (dir4, config4) = try files([good, try PortalFixture.artifact(again)])
        #expect(load(dir4, config4)?.contains("two artifacts") == true)
        var unknown = config
        unknown["polcy"] = "required"
        #expect(load(dir, unknown)?.contains("unknown member") == true)
    }
}
