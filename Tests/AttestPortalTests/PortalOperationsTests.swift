import AttestCore
import AttestEvidence
import AttestIdentity
import Foundation
import GRDB
import Testing
import TestSupport
@testable import AttestPortal

/// Operating a portal over time (spec/portal.md §Operations): one bundle of several logs,
/// log key rotation, policy authority key rotation, retention and backups.
@Suite struct PortalOperationsTests {
    typealias H = PortalHarness
    static let keyA = PortalFixture.key("log A"), keyB = PortalFixture.key("log B")
    static let originA = "portal.test/log/a", originB = "portal.test/log/b"
    static let newAuthority = PortalFixture.key("authority 2")

    /// The fixture's artifact naming `origins`, with `add` limited to `addLimit` per hour.
    static func artifact(origins: [String], addLimit: Int64 = 1000, id: String? = nil,
                         authority: Ed25519.PrivateKey = PortalFixture.authority) throws -> Artifact {
        var unsigned = PortalFixture.unsignedArtifact(addLimit: addLimit, upstream: PortalFixture.upstreamIdentity)
        unsigned["log"] = ["origins": .array(origins.map { .string($0) })]
        if let id { unsigned["id"] = .string(id) }
        return try Artifact.seal(unsigned, key: authority)
    }

    static func configuration(store: URL, artifacts: [Artifact], origin: String, key: Ed25519.PrivateKey,
                              authorities: [Ed25519.PrivateKey] = [PortalFixture.authority]) throws -> PortalConfiguration {
        try PortalConfiguration(
            audience: PortalFixture.audience,
            issuers: [TrustedIssuer(issuer: PortalFixture.issuer, keys: try JWKS(keys: [JWK(key: PortalFixture.provider.verifyingKey)]),
                                    trustDomains: ["agents.provider.example"])],
            authorities: Set(authorities.map { ExactString($0.publicKey.thumbprint) }), artifacts: artifacts, origin: origin,
            logKey: key, store: store, checkpointEvery: 100_000, checkpointSeconds: 86_400)
    }

    static func verify(_ bundle: URL, keys: [(String, Ed25519.PrivateKey)],
                       authorities: [Ed25519.PrivateKey] = [PortalFixture.authority]) -> BundleVerifier.Report {
        BundleVerifier(trust: .init(authorities: Set(authorities.map { ExactString($0.publicKey.thumbprint) }),
                                    logKeys: keys.map { NoteVerifier(name: $0.0, key: $0.1.publicKey) }, now: PortalFixture.now + 60))
            .verify(bundle: bundle)
    }

    static func failure(_ report: BundleVerifier.Report) -> String {
        report.failure.map { "\($0.code.rawValue) \($0.log ?? "") \($0.seq.map(String.init) ?? "") \($0.message)" } ?? "PASS"
    }

    static func bundlePath() -> URL { PortalFixture.temporaryDirectory().appendingPathComponent("bundle") }

    /// Two replicas, each with its own store, origin and key, under one artifact naming
    /// both: one bundle of two logs, each artifact once; both keys verify it, one is not enough.
    @Test func severalStoresExportAsOneBundle() async throws {
        let artifact = try Self.artifact(origins: [Self.originA, Self.originB])
        var stores: [PortalStore] = []
        for (origin, key) in [(Self.originA, Self.keyA), (Self.originB, Self.keyB)] {
            let h = try await H(configuration: try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact],
                                                                      origin: origin, key: key))
            #expect(H.code(try await h.call("echo", ["text": .string(origin)])) == nil)
            #expect(H.code(try await h.call("add", ["a": 1, "b": 2])) == nil)
            await h.portal.close()
            stores.append(try PortalStore(directory: h.store))
        }
        let out = Self.bundlePath()
        let logs = try PortalStore.exportBundle(stores: stores, to: out, disclose: .all)
        #expect(logs.map(\.origin) == [Self.originA, Self.originB] && logs.map(\.receipts) == [4, 4] && logs.map(\.payloads) == [4, 4])
        let artifactLines = try String(contentsOf: out.appendingPathComponent("artifacts.jsonl"), encoding: .utf8)
        #expect(artifactLines.split(separator: "\n").count == 1)
        let both = Self.verify(out, keys: [(Self.originA, Self.keyA), (Self.originB, Self.keyB)])
        #expect(both.passed, "\(Self.failure(both))")
        #expect(both.logs.count == 2 && both.receipts == 8)
        let one = Self.verify(out, keys: [(Self.originA, Self.keyA)])
        expectRegistryCode(one.failure?.code.rawValue, "BND_LOG_UNTRUSTED")
        #expect(one.failure?.log == Self.originB)
        // One log twice would be a fork passing as two logs: refused before anything is written.
        let twice = Self.bundlePath()
        #expect(throws: PortalConfigurationError.self) { try PortalStore.exportBundle(stores: [stores[0], stores[0]], to: twice, disclose: .all) }
        #expect(!FileManager.default.fileExists(atPath: twice.path))
    }

    /// Rotating the log key: the old log is closed at a final checkpoint and refuses further
    /// writes; its successor (a new origin and key) carries the rate state over, so the
    /// portal denies a call over a limit counted across both; a bundle of both verifies.
    @Test func logKeyRotationClosesTheLogAndCarriesTheRateState() async throws {
        let artifact = try Self.artifact(origins: [Self.originA, Self.originB], addLimit: 3)
        let old = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originA, key: Self.keyA)
        let first = try await H(configuration: old)
        let accepted = try first.request("add", ["a": 0, "b": 1])
        #expect(H.code(await first.send(accepted)) == nil)
        #expect(H.code(try await first.call("add", ["a": 1, "b": 1])) == nil)
        await first.portal.close()
        #expect(try await PortalStore.closeLog(configuration: old) == 4)
        #expect(try await PortalStore.closeLog(configuration: old) == 4)  // closing a closed log reports it
        expectCode(.portalReceiptWriteFailed, "a closed log is never written again") {
            try Portal(configuration: old, upstreamIdentity: PortalFixture.upstreamIdentity)
        }
        let oldStore = try PortalStore(directory: old.store)
        // The successor needs an origin and a key of its own.
        let sameKey = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originB, key: Self.keyA)
        #expect(throws: PortalConfigurationError.self) { try PortalStore.startSuccessor(of: oldStore, configuration: sameKey) }
        let sameOrigin = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originA, key: Self.keyB)
        #expect(throws: PortalConfigurationError.self) { try PortalStore.startSuccessor(of: oldStore, configuration: sameOrigin) }
        let new = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originB, key: Self.keyB)
        #expect(try PortalStore.startSuccessor(of: oldStore, configuration: new) == 2)
        let second = try await H(configuration: new)
        // The closed log's replay store is carried: a request it accepted is a replay here.
        expectRegistryCode(H.code(await second.send(accepted)), "PRF_REPLAY", "a proof accepted before the rotation")
        #expect(H.code(try await second.call("add", ["a": 3, "b": 1])) == nil)
        expectRegistryCode(H.code(try await second.call("add", ["a": 4, "b": 1])), "PTL_RATE_LIMITED", "counted across the rotation")
        await second.portal.close()
        let out = Self.bundlePath()
        _ = try PortalStore.exportBundle(stores: [oldStore, try PortalStore(directory: new.store)], to: out, disclose: .all)
        let report = Self.verify(out, keys: [(Self.originA, Self.keyA), (Self.originB, Self.keyB)])
        #expect(report.passed, "\(Self.failure(report))")
        #expect(try PortalStore(directory: new.store).status().predecessor == Self.originA)
    }

    /// A new log started without carrying the rate state lets the portal allow a call over
    /// a limit that spans the rotation; the bundle of both logs recounts it (bundle.md step
    /// 10) and fails with PTL_RATE_LIMITED at that call.
    @Test func aBundleRecountsLimitsAcrossTheRotation() async throws {
        let artifact = try Self.artifact(origins: [Self.originA, Self.originB], addLimit: 3)
        let old = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originA, key: Self.keyA)
        let first = try await H(configuration: old)
        for i in 0..<2 { #expect(H.code(try await first.call("add", ["a": .number(JSONNumber(i)), "b": 1])) == nil) }
        await first.portal.close()
        _ = try await PortalStore.closeLog(configuration: old)
        let fresh = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originB, key: Self.keyB)
        let second = try await H(configuration: fresh)
        for i in 0..<2 { #expect(H.code(try await second.call("add", ["a": .number(JSONNumber(i)), "b": 2])) == nil) }
        await second.portal.close()
        let newOnly = Self.bundlePath()
        _ = try PortalStore.exportBundle(stores: [try PortalStore(directory: fresh.store)], to: newOnly, disclose: .all)
        #expect(Self.verify(newOnly, keys: [(Self.originB, Self.keyB)]).passed, "the new log alone stays within the limit")
        let out = Self.bundlePath()
        _ = try PortalStore.exportBundle(stores: [try PortalStore(directory: old.store), try PortalStore(directory: fresh.store)],
                                         to: out, disclose: .all)
        let report = Self.verify(out, keys: [(Self.originA, Self.keyA), (Self.originB, Self.keyB)])
        expectRegistryCode(report.failure?.code.rawValue, "PTL_RATE_LIMITED", "the fourth call, counted over both logs")
        #expect(report.failure?.log == Self.originB && report.failure?.seq == 2)
    }

    /// Rotating the policy authority key: the artifact is renewed under the new key; with
    /// both thumbprints trusted the bundle verifies, with only the new one the first
    /// receipt under the old artifact fails with ART_SIGNER_UNTRUSTED.
    @Test func authorityKeyRotationRenewsTheArtifact() async throws {
        let store = PortalFixture.temporaryDirectory()
        let both = [PortalFixture.authority, Self.newAuthority]
        let renewed = try Self.artifact(origins: [PortalFixture.origin], id: "art-renewed", authority: Self.newAuthority)
        for artifact in [try Self.artifact(origins: [PortalFixture.origin]), renewed] {
            let h = try await H(configuration: try Self.configuration(store: store, artifacts: [artifact], origin: PortalFixture.origin,
                                                                      key: PortalFixture.logKey, authorities: both))
            #expect(H.code(try await h.call("echo", ["text": "hi"])) == nil)
            await h.portal.close()
        }
        let out = Self.bundlePath()
        _ = try PortalStore(directory: store).exportBundle(to: out, disclose: .all)
        let keys = [(PortalFixture.origin, PortalFixture.logKey)]
        let trusted = Self.verify(out, keys: keys, authorities: both)
        #expect(trusted.passed, "\(Self.failure(trusted))")
        let newOnly = Self.verify(out, keys: keys, authorities: [Self.newAuthority])
        expectRegistryCode(newOnly.failure?.code.rawValue, "ART_SIGNER_UNTRUSTED")
        #expect(newOnly.failure?.seq == 0)
    }

    /// Retention: purged payloads leave a log that verifies, those receipts by structure
    /// only; a log's store is deleted only once it is closed and its whole log exported.
    @Test func retentionPurgesPayloadsAndRetiresExportedLogs() async throws {
        let configuration = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [try Self.artifact(origins: [Self.originA])],
                                                   origin: Self.originA, key: Self.keyA)
        let h = try await H(configuration: configuration)
        for i in 0..<3 { #expect(H.code(try await h.call("echo", ["text": .string("t\(i)")])) == nil) }
        let store = try PortalStore(directory: configuration.store)
        #expect(try store.prunePayloads(before: nil, throughSeq: 1) == 2)
        #expect(try store.prunePayloads(before: PortalFixture.now + 3600, throughSeq: nil) == 4)
        #expect(H.code(try await h.call("echo", ["text": "kept"])) == nil)
        await h.portal.close()
        let out = Self.bundlePath()
        let logs = try PortalStore.exportBundle(stores: [store], to: out, disclose: .all)
        #expect(logs[0].receipts == 8 && logs[0].payloads == 2)
        let report = Self.verify(out, keys: [(Self.originA, Self.keyA)])
        #expect(report.passed, "\(Self.failure(report))")
        #expect(report.logs.first?.disclosed == 2 && report.logs.first?.receipts == 8)
        // Retiring: refused while open, refused for a closed log no export covers, then done.
        #expect(throws: PortalConfigurationError.self) { try PortalStore.retire(directory: configuration.store, origin: Self.originA) }
        _ = try await PortalStore.closeLog(configuration: configuration)
        #expect(throws: PortalConfigurationError.self) { try PortalStore.retire(directory: configuration.store, origin: Self.originA) }
        #expect(throws: PortalConfigurationError.self) { try PortalStore.retire(directory: configuration.store, origin: Self.originB) }
        try store.recordExport(logs[0], bundle: out.path, time: PortalFixture.now)
        // A receipt written after the close (by a portal that was still running) is in no export.
        let raw = try DatabaseQueue(path: configuration.store.appendingPathComponent(PortalStore.fileName).path)
        try await raw.write { try $0.execute(sql: "INSERT INTO receipts (seq, time, leaf, line) VALUES (8, 0, x'00', x'00')") }
        #expect(throws: PortalConfigurationError.self) { try PortalStore.retire(directory: configuration.store, origin: Self.originA) }
        try await raw.write { try $0.execute(sql: "DELETE FROM receipts WHERE seq = 8") }
        try raw.close()
        let retired = try PortalStore.retire(directory: configuration.store, origin: Self.originA)
        #expect(retired.size == 8 && retired.root == logs[0].root)
        #expect(!FileManager.default.fileExists(atPath: configuration.store.appendingPathComponent(PortalStore.fileName).path))
    }

    /// A backup taken while calls are being written restores into a store on which a new
    /// portal continues the same log; the bundle verifies across the backup point.
    @Test func backupOfARunningStoreRestoresAndContinues() async throws {
        let artifact = try Self.artifact(origins: [Self.originA])
        let running = try Self.configuration(store: PortalFixture.temporaryDirectory(), artifacts: [artifact], origin: Self.originA, key: Self.keyA)
        let h = try await H(configuration: running)
        #expect(H.code(try await h.call("echo", ["text": "before"])) == nil)
        let file = PortalFixture.temporaryDirectory().appendingPathComponent("portal.backup")
        let requests = try (0..<20).map { i in try h.request("echo", ["text": .string("during \(i)")]) }
        let size = try await withThrowingTaskGroup(of: UInt64?.self) { group in
            for r in requests { group.addTask { _ = await h.send(r); return nil } }
            group.addTask { try PortalStore(directory: running.store, readOnly: true).backup(to: file) }
            var size: UInt64 = 0
            for try await s in group { if let s { size = s } }
            return size
        }
        #expect(size >= 2)
        await h.portal.close()
        let restoredDirectory = PortalFixture.temporaryDirectory().appendingPathComponent("restored")
        let restored = try PortalStore.restore(backup: file, into: restoredDirectory)
        #expect(restored.origin == Self.originA && restored.size == size)
        var continued = running
        continued.store = restoredDirectory
        let again = try await H(configuration: continued)
        #expect(H.code(try await again.call("echo", ["text": "after"])) == nil)
        await again.portal.close()
        let out = Self.bundlePath()
        let logs = try PortalStore.exportBundle(stores: [try PortalStore(directory: restoredDirectory)], to: out, disclose: .all)
        #expect(logs[0].receipts > Int(size))
        let report = Self.verify(out, keys: [(Self.originA, Self.keyA)])
        #expect(report.passed, "\(Self.failure(report))")
        #expect(throws: PortalConfigurationError.self) { try PortalStore.restore(backup: file, into: restoredDirectory) }
    }
}

extension PortalHarness {
    /// A portal of `configuration` with a scripted upstream.
    init(configuration: PortalConfiguration) async throws {
        portal = try Portal(configuration: configuration, upstreamIdentity: PortalFixture.upstreamIdentity)
        try await portal.recover()
        upstream = ScriptedUpstream()
        session = PortalSession(portal: portal, relay: upstream.relay, id: "test-session")
        store = configuration.store
    }
}

/// The replicas' shared state in PostgreSQL is backed up with pg_dump and restored with
/// pg_restore (spec/portal.md §Backup and restore): what was recorded before the dump is
/// back (a replay is refused, counted calls still count), what came after it is lost.
/// Runs in a database of its own on the server of scripts/postgres.sh.
@Suite(.serialized, .enabled(if: PostgresTestServer.url != nil,
                             "ATTEST_POSTGRES_URL is not set: no PostgreSQL server to test against (make pg-test starts one)"))
struct PostgresBackupTests {
    /// A PostgreSQL client program of the newest installed server.
    static func program(_ name: String) throws -> URL {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let url = root.appendingPathComponent(version).appendingPathComponent("bin").appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw PortalConfigurationError("\(name) is not installed (scripts/postgres.sh installs PostgreSQL)")
    }

    static func run(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = try program(name)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(name) \(arguments.joined(separator: " ")) failed")
    }

    @Test func dumpAndRestoreTheSharedState() async throws {
        let text = try #require(PostgresTestServer.url)
        let server = try #require(URLComponents(string: text))
        let port = try #require(server.port)
        let database = "attest_backup_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))"
        try Self.run("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1",
                              "-c", "CREATE DATABASE \(database) OWNER attest"])
        let url = "postgres://attest@127.0.0.1:\(port)/\(database)"
        let t = SharedStateChecks.time, issuer = "https://issuer.example/backup"
        let limit = [SharedLimit(artifact: "sha256:backup", tool: "echo", max: 2, window: 3600)]
        let before = try PostgresSharedState(url: url, connections: 2)
        try await before.prepare()
        try await before.recordProof(issuer: issuer, tokenID: "before", expires: t + 600, now: t)
        #expect(try await before.countCall(against: limit, time: t))
        let dump = PortalFixture.temporaryDirectory().appendingPathComponent("shared.dump")
        try Self.run("pg_dump", ["--format=custom", "--dbname", url, "--file", dump.path])
        try await before.recordProof(issuer: issuer, tokenID: "after", expires: t + 600, now: t)
        #expect(try await before.countCall(against: limit, time: t))
        #expect(try await before.countCall(against: limit, time: t) == false)
        await before.close()
        try Self.run("pg_restore", ["--clean", "--if-exists", "--dbname", url, dump.path])
        let restored = try PostgresSharedState(url: url, connections: 2)
        try await restored.prepare()
        expectRegistryCode(await SharedStateChecks.code { () async throws(AttestError) in
            try await restored.recordProof(issuer: issuer, tokenID: "before", expires: t + 600, now: t) }, "PRF_REPLAY")
        #expect(await SharedStateChecks.code { () async throws(AttestError) in
            try await restored.recordProof(issuer: issuer, tokenID: "after", expires: t + 600, now: t) } == nil,
                "recorded after the dump: lost by the restore")
        #expect(try await restored.countCall(against: limit, time: t), "one call counted before the dump, one now")
        #expect(try await restored.countCall(against: limit, time: t) == false)
        await restored.close()
    }
}
