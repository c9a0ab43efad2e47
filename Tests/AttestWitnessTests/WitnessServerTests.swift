import AsyncHTTPClient
import AttestCore
import AttestEvidence
@testable import AttestWitness
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// A log to submit from: its key, its leaves and its signed checkpoints.
struct WitnessedLog {
    let origin: String
    let key: Ed25519.PrivateKey
    var tree = MerkleTree()

    init(origin: String = "portal.example/log/witnessed", seed: UInt8 = 0xC1) throws {
        self.origin = origin
        key = try Ed25519.PrivateKey(seed: [UInt8](repeating: seed, count: 32))
    }

    var verifier: NoteVerifier { NoteVerifier(name: origin, key: key.publicKey) }

    mutating func grow(to size: Int, tag: String = "") {
        while tree.size < size { tree.append(Array("receipt \(tree.size)\(tag)".utf8)) }
    }

    func note(size: Int? = nil) -> String {
        let size = size ?? tree.size
        return Checkpoint(origin: origin, size: UInt64(size), root: tree.root(size: size).bytes)
            .signed(by: [Checkpoint.Signer(name: origin, key: key)])
    }

    func request(old: Int, size: Int? = nil) -> [UInt8] {
        let size = size ?? tree.size
        let proof = old == 0 || old == size ? [] : tree.consistencyProof(from: old, to: size).map(\.bytes)
        return WitnessRequest(oldSize: UInt64(old), proof: proof, note: note(size: size)).body
    }
}

/// What the witness was asked to cosign, so a test can see the body and time it signed.
final class RecordingCosigner: Sendable {
    let calls = Locked<[(body: [UInt8], time: UInt64)]>([])
    var cosign: WitnessCosigner {
        { body, time in
            self.calls.withLock { $0.append((body, time)) }
            return "\u{2014} test.witness \(time)\n"
        }
    }
}

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

struct HTTPAnswer {
    let status: Int
    let contentType: String?
    let body: String
    /// The registry code a refusal's body starts with.
    var code: String? { body.split(separator: ":", maxSplits: 1).first.map(String.init) }
}

/// A witness on loopback, served until the test ends.
final class RunningWitness: @unchecked Sendable {
    let service: WitnessService
    let server: WitnessServer
    let task: Task<Void, any Error>

    init(state: String, logs: [NoteVerifier], cosign: @escaping WitnessCosigner, time: UInt64 = 1_796_083_200) async throws {
        service = try WitnessService(statePath: state, logs: logs, cosign: cosign, clock: { time })
        let server = try await WitnessServer.bind(service, host: "127.0.0.1", port: 0)
        self.server = server
        task = Task { try await server.run() }
    }

    func post(_ body: [UInt8], path: String = "/add-checkpoint", method: HTTPMethod = .POST) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: server.url + path)
        request.method = method
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return HTTPAnswer(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
                          body: String(decoding: bytes.readableBytesView, as: UTF8.self))
    }

    func stop() { task.cancel() }
}

func temporaryState(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("witness-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("\(name)-\(UUID().uuidString).sqlite").path
    return path
}

@Suite("Witness server", .serialized)
struct WitnessServerTests {
    @Test func cosignsFirstAndSuccessor() async throws {
        var log = try WitnessedLog()
        let cosigner = RecordingCosigner()
        let witness = try await RunningWitness(state: temporaryState("first"), logs: [log.verifier], cosign: cosigner.cosign)
        defer { witness.stop() }
        log.grow(to: 3)
        let first = try await witness.post(log.request(old: 0))
        #expect(first.status == 200, "\(first.body)")
        #expect(first.body == "\u{2014} test.witness 1796083200\n")
        log.grow(to: 7)
        let second = try await witness.post(log.request(old: 3))
        #expect(second.status == 200, "\(second.body)")
        let bodies = cosigner.calls.withLock { $0.map { String(decoding: $0.body, as: UTF8.self) } }
        #expect(bodies == [Checkpoint(origin: log.origin, size: 3, root: log.tree.root(size: 3).bytes).body,
                           Checkpoint(origin: log.origin, size: 7, root: log.tree.root().bytes).body])
        #expect(try witness.service.record(origin: log.origin) == WitnessRecord(size: 7, root: log.tree.root().bytes))
    }

    /// The real cosigner: the answer is a C2SP cosignature line that verifies on the note.
    @Test func answersWithAVerifiableCosignature() async throws {
        var log = try WitnessedLog()
        let cosigner = Cosigner(name: "witness.example/w1", key: try Ed25519.PrivateKey(seed: [UInt8](repeating: 0xC7, count: 32)))
        let witness = try await RunningWitness(state: temporaryState("real"), logs: [log.verifier]) { body, time throws(AttestError) in
            try cosigner.signatureLine(body: body, time: time)
        }
        defer { witness.stop() }
        log.grow(to: 4)
        let answer = try await witness.post(log.request(old: 0))
        #expect(answer.status == 200, "\(answer.body)")
        let cosigned = log.note() + answer.body
        _ = try Checkpoint.verify(cosigned, trusted: [log.verifier], origin: log.origin, cosigners: [cosigner.verifier])
        let cosignatures = try Checkpoint.cosignatures(on: cosigned, witnesses: [cosigner.verifier])
        #expect(cosignatures == [Cosignature(name: "witness.example/w1", time: 1_796_083_200)])
    }

    @Test func refusalsOverHTTP() async throws {
        var log = try WitnessedLog()
        let other = try WitnessedLog(origin: "portal.example/log/other", seed: 0xC2)
        let witness = try await RunningWitness(state: temporaryState("refusals"), logs: [log.verifier], cosign: RecordingCosigner().cosign)
        defer { witness.stop() }
        log.grow(to: 7)
        #expect(try await witness.post(log.request(old: 0)).status == 200)

        // A rollback sent from the recorded size: 400.
        let rollback = try await witness.post(WitnessRequest(oldSize: 7, proof: [], note: log.note(size: 3)).body)
        #expect(rollback.status == 400)
        expectRegistryCode(rollback.code, "WIT_OLD_SIZE_INVALID")
        // A rollback sent from its own size: 409 with the recorded size.
        let stale = try await witness.post(log.request(old: 3, size: 3))
        #expect(stale.status == 409)
        #expect(stale.contentType == "text/x.tlog.size")
        #expect(stale.body == "7\n")
        // Growth with a proof that does not verify: 422.
        log.grow(to: 9)
        var proof = log.tree.consistencyProof(from: 7, to: 9).map(\.bytes)
        proof[0][0] ^= 1
        let bad = try await witness.post(WitnessRequest(oldSize: 7, proof: proof, note: log.note()).body)
        #expect(bad.status == 422)
        expectRegistryCode(bad.code, "WIT_CONSISTENCY_INVALID")
        // A log the witness does not know: 404.
        var unknown = other
        unknown.grow(to: 2)
        let notFound = try await witness.post(unknown.request(old: 0))
        #expect(notFound.status == 404)
        expectRegistryCode(notFound.code, "WIT_UNKNOWN_LOG")
        // Signed by another key under the log's name: 403.
        let impostor = try WitnessedLog(origin: log.origin, seed: 0xC3)
        var forged = impostor
        forged.grow(to: 9)
        let forbidden = try await witness.post(forged.request(old: 7))
        #expect(forbidden.status == 403)
        expectRegistryCode(forbidden.code, "WIT_LOG_SIGNATURE_INVALID")
        // Not a request body: 400.
        let malformed = try await witness.post(Array("old 7\n".utf8))
        #expect(malformed.status == 400)
        expectRegistryCode(malformed.code, "WIT_REQUEST_MALFORMED")
        // Over the size limit: 413.
        let large = try await witness.post([UInt8](repeating: 0x41, count: WitnessRequest.maxBytes + 1))
        #expect(large.status == 413)
        // Another method or path.
        #expect(try await witness.post([], method: .GET).status == 405)
        #expect(try await witness.post([], path: "/other").status == 404)
        // Nothing of the refusals changed the record.
        #expect(try witness.service.record(origin: log.origin)?.size == 7)
        // The valid successor is still accepted.
        #expect(try await witness.post(log.request(old: 7)).status == 200)
    }

    @Test func stateSurvivesRestart() async throws {
        var log = try WitnessedLog()
        let state = temporaryState("restart")
        log.grow(to: 5)
        do {
            let witness = try await RunningWitness(state: state, logs: [log.verifier], cosign: RecordingCosigner().cosign)
            #expect(try await witness.post(log.request(old: 0)).status == 200)
            witness.stop()
        }
        let restarted = try await RunningWitness(state: state, logs: [log.verifier], cosign: RecordingCosigner().cosign)
        defer { restarted.stop() }
        let answer = try await restarted.post(log.request(old: 0, size: 5))
        #expect(answer.status == 409)
        #expect(answer.body == "5\n")
        var fork = try WitnessedLog()
        fork.grow(to: 5, tag: " forked")
        let conflict = try await restarted.post(fork.request(old: 5))
        #expect(conflict.status == 422)
        expectRegistryCode(conflict.code, "WIT_ROOT_CONFLICT")
    }

    /// Many requests from one record at once, on two services sharing the state file: one
    /// advances, every other is told the new size.
    @Test func concurrentRequestsAdvanceOnce() async throws {
        var log = try WitnessedLog()
        let state = temporaryState("concurrent")
        let a = try WitnessService(statePath: state, logs: [log.verifier], cosign: RecordingCosigner().cosign)
        let b = try WitnessService(statePath: state, logs: [log.verifier], cosign: RecordingCosigner().cosign)
        log.grow(to: 3)
        #expect(await a.addCheckpoint(log.request(old: 0)).status == 200)
        var requests: [[UInt8]] = []
        for size in 4...11 {
            log.grow(to: size)
            requests.append(log.request(old: 3, size: size))
        }
        let statuses = await withTaskGroup(of: Int.self) { group in
            for (i, request) in requests.enumerated() {
                let service = i % 2 == 0 ? a : b
                group.addTask { await service.addCheckpoint(request).status }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 200 }.count == 1, "\(statuses)")
        #expect(statuses.filter { $0 == 409 }.count == requests.count - 1, "\(statuses)")
        let record = try a.record(origin: log.origin)
        #expect(record.map { log.tree.root(size: Int($0.size)).bytes == $0.root } == true)
    }

    @Test func unavailableState() {
        expectCode(.witnessStateUnavailable) {
            try WitnessService(statePath: "/nonexistent-directory-\(getpid())/state.sqlite", logs: [], cosign: RecordingCosigner().cosign)
        }
    }

    /// A forked checkpoint B of the size of A, signed by the same log key: a witness that
    /// cosigned A refuses it, whichever old size the log claims.
    @Test func forkRefusedByAWitnessThatSawTheOtherBranch() async throws {
        var log = try WitnessedLog()
        var fork = try WitnessedLog()
        log.grow(to: 6)
        fork.grow(to: 6, tag: " forked")
        let w1 = try await RunningWitness(state: temporaryState("w1"), logs: [log.verifier], cosign: RecordingCosigner().cosign)
        let w2 = try await RunningWitness(state: temporaryState("w2"), logs: [log.verifier], cosign: RecordingCosigner().cosign)
        defer { w1.stop(); w2.stop() }
        #expect(try await w1.post(log.request(old: 0)).status == 200)
        #expect(try await w2.post(log.request(old: 0)).status == 200)
        let sameSize = try await w2.post(fork.request(old: 6))
        #expect(sameSize.status == 422)
        expectRegistryCode(sameSize.code, "WIT_ROOT_CONFLICT")
        let fromZero = try await w2.post(fork.request(old: 0))
        #expect(fromZero.status == 409)
        #expect(fromZero.body == "6\n")
        #expect(try w2.service.record(origin: log.origin) == WitnessRecord(size: 6, root: log.tree.root().bytes))
    }
}
