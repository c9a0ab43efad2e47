import AttestCore
import AttestEvidence
import AttestWitness
import Foundation
import GRDB
import TestSupport
import Testing
@testable import AttestPortal

/// A portal submitting its checkpoints to witnesses on loopback (spec/witness.md
/// §Submitting checkpoints): cosignatures verified and stored, a witness that is down never
/// felt by a call, and one retry from the size a witness answers with 409.
@Suite("Witness submission", .serialized)
struct WitnessSubmissionTests {
    /// A witness on loopback with its own Ed25519 cosigner key.
    final class Witness: @unchecked Sendable {
        let name: String
        let cosigner: Cosigner
        let service: WitnessService
        let server: WitnessServer
        let task: Task<Void, any Error>

        /// `extra`: lines the witness adds to its answer; `lie`: it signs another body.
        init(_ name: String, extra: String = "", lie: Bool = false) async throws {
            self.name = name
            let cosigner = Cosigner(name: name, key: try Ed25519.PrivateKey(seed: SHA256.hash(Array(name.utf8))))
            self.cosigner = cosigner
            let state = PortalFixture.temporaryDirectory().appendingPathComponent("witness.sqlite").path
            let cosign: WitnessCosigner = { body, time throws(AttestError) in
                try cosigner.signatureLine(body: lie ? body + Array("x\n".utf8) : body, time: time) + extra
            }
            service = try WitnessService(statePath: state, logs: [NoteVerifier(name: PortalFixture.origin, key: PortalFixture.logKey.publicKey)],
                                         cosign: cosign, clock: { 1_796_083_200 })
            let server = try await WitnessServer.bind(service, host: "127.0.0.1", port: 0)
            self.server = server
            task = Task { try await server.run() }
        }

        /// The endpoint as a portal configures it: the URL and the witness's cosigner key.
        var endpoint: WitnessEndpoint { WitnessEndpoint(url: server.url, key: cosigner.verifier) }

        func stop() { task.cancel() }
    }

    static func storedNote(_ h: PortalHarness) throws -> String {
        try DatabaseQueue(path: h.store.appendingPathComponent(PortalStore.fileName).path).read { db in
            let line = try Data.fetchOne(db, sql: "SELECT line FROM checkpoints ORDER BY size DESC LIMIT 1") ?? Data()
            return try StrictJSONParser().parse(Array(line))["note"]?.stringValue ?? ""
        }
    }

    @Test func portalStoresVerifiedCosignatures() async throws {
        let w1 = try await Witness("witness.example/w1")
        let w2 = try await Witness("witness.example/w2", extra: "\u{2014} witness.example/unknown AAAAAAAA\n")
        defer { w1.stop(); w2.stop() }
        let h = try await PortalHarness(configure: { $0.witnesses = [w1.endpoint, w2.endpoint] })
        for _ in 0..<3 { #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil) }
        try await h.portal.checkpoint(force: true)
        await h.portal.witnesses?.idle()
        var note = try Self.storedNote(h)
        #expect(note.contains("\u{2014} witness.example/w1 "), "\(note)")
        #expect(note.contains("\u{2014} witness.example/w2 "), "\(note)")
        #expect(!note.contains("witness.example/unknown"), "\(note)")
        // A successor: each witness gets the consistency proof from the size it holds.
        #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil)
        try await h.portal.checkpoint(force: true)
        await h.portal.witnesses?.idle()
        note = try Self.storedNote(h)
        #expect(note.contains("\u{2014} witness.example/w1 ") && note.contains("\u{2014} witness.example/w2 "), "\(note)")
        let size = try #require(try w1.service.record(origin: PortalFixture.origin)?.size)
        #expect(size == (try w2.service.record(origin: PortalFixture.origin)?.size))
        #expect(note.contains("\n\(size)\n"))
        let cosignatures = try Checkpoint.cosignatures(on: note, witnesses: [w1.cosigner.verifier, w2.cosigner.verifier])
        #expect(cosignatures.map(\.name) == ["witness.example/w1", "witness.example/w2"] || cosignatures.map(\.name) == ["witness.example/w2", "witness.example/w1"])
        // The exported bundle carries the cosigned notes and verifies.
        let report = try await PortalLifecycleTests.verify(h)
        #expect(report.passed, "\(String(describing: report.failure))")
    }

    @Test func foreignCosignatureIgnored() async throws {
        // A witness whose line under its key does not verify (it signed another body): nothing is stored.
        let liar = try await Witness("witness.example/liar", lie: true)
        defer { liar.stop() }
        let h = try await PortalHarness(configure: { $0.witnesses = [liar.endpoint] })
        #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil)
        try await h.portal.checkpoint(force: true)
        await h.portal.witnesses?.idle()
        #expect(!(try Self.storedNote(h)).contains("witness.example/liar"))
        await h.portal.close()
    }

    @Test func witnessDownNeverFailsACall() async throws {
        let down = WitnessEndpoint(url: "http://127.0.0.1:9", key: Cosigner(name: "witness.example/down", key: PortalFixture.logKey).verifier)
        let h = try await PortalHarness(configure: { $0.witnesses = [down] })
        let start = ContinuousClock.now
        for _ in 0..<3 {
            #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil)
            try await h.portal.checkpoint(force: true)
        }
        // Signing and storing checkpoints does not wait for the witness's retries.
        #expect(ContinuousClock.now - start < .seconds(20))
        // Closing waits a bounded time for the witness, then the log is exported as usual.
        let report = try await PortalLifecycleTests.verify(h)
        #expect(report.passed, "\(String(describing: report.failure))")
    }

    @Test func retriesOnceFromTheAnsweredSize() async throws {
        let w = try await Witness("witness.example/w1")
        defer { w.stop() }
        let store = PortalFixture.temporaryDirectory()
        // A first portal run gets size 2 cosigned; the next run starts believing 0.
        do {
            let h = try await PortalHarness(store: store, configure: { $0.witnesses = [w.endpoint] })
            for _ in 0..<2 { #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil) }
            try await h.portal.checkpoint(force: true)
            await h.portal.witnesses?.idle()
            await h.portal.close()
        }
        let recorded = try #require(try w.service.record(origin: PortalFixture.origin)?.size)
        let h = try await PortalHarness(store: store, configure: { $0.witnesses = [w.endpoint] })
        #expect(PortalHarness.code(try await h.call("echo", ["text": "hi"])) == nil)
        try await h.portal.checkpoint(force: true)
        await h.portal.witnesses?.idle()
        let now = try #require(try w.service.record(origin: PortalFixture.origin)?.size)
        #expect(now > recorded)
        #expect(try Self.storedNote(h).contains("\u{2014} witness.example/w1 "))
        await h.portal.close()
    }
}
