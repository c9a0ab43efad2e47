import AsyncHTTPClient
import AttestCore
import AttestEvidence
import Foundation
import GRDB
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// A witness the portal submits its checkpoints to (spec/witness.md §Submitting checkpoints).
public struct WitnessEndpoint: Sendable {
    /// The submission prefix: requests go to `<url>/add-checkpoint`.
    public let url: String
    /// The witness's key name, for logs and metrics.
    public let name: String
    /// Reads a 200 answer's cosignature lines over a checkpoint body with the witness's
    /// configured key: the lines by that key, each verified; lines by other keys are left
    /// out, and a line by the key that does not verify is an error.
    public let verify: @Sendable (_ lines: [String], _ body: [UInt8]) throws(AttestError) -> [String]

    public init(url: String, name: String,
                verify: @escaping @Sendable (_ lines: [String], _ body: [UInt8]) throws(AttestError) -> [String]) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.name = name
        self.verify = verify
    }
}

/// Submits the portal's checkpoints to its witnesses, apart from the calls: `submit` only
/// notes the newest checkpoint and returns; one task sends it to every witness, with the
/// consistency proof from the size each witness is believed to hold, retries a bounded
/// number of times, verifies the cosignatures and adds them to the stored note. A witness
/// that is down or refuses is logged and counted; no call waits for it or fails by it.
final class WitnessSubmitter: Sendable {
    private let endpoints: [WitnessEndpoint]
    private let store: PortalStore
    private let proof: @Sendable (_ from: UInt64, _ to: UInt64) -> [[UInt8]]
    private let logger: Logger
    /// The newest checkpoint not yet submitted (older ones are superseded by it), and
    /// whether the task is running.
    private let pending = Locked<(next: (size: UInt64, note: String)?, running: Bool)>((nil, false))
    /// The size each witness is believed to have recorded (0 until it answers).
    private let believed: Locked<[UInt64]>
    private let timeout: TimeAmount
    private let attempts: Int

    init(endpoints: [WitnessEndpoint], store: PortalStore, logger: Logger, timeout: TimeAmount = .seconds(10), attempts: Int = 3,
         proof: @escaping @Sendable (_ from: UInt64, _ to: UInt64) -> [[UInt8]]) {
        self.endpoints = endpoints
        self.store = store
        self.logger = logger
        self.timeout = timeout
        self.attempts = attempts
        self.proof = proof
        believed = Locked([UInt64](repeating: 0, count: endpoints.count))
    }

    /// Notes a checkpoint just stored; returns at once.
    func submit(size: UInt64, note: String) {
        let start = pending.update { state -> Bool in
            state.next = (size, note)
            if state.running { return false }
            state.running = true
            return true
        }
        if start { Task.detached { await self.drain() } }
    }

    /// Resolves when every noted checkpoint has been submitted, or after `limit` (the drain
    /// waits this long for the final checkpoint's cosignatures, no longer).
    func idle(atMost limit: Duration = .seconds(60)) async {
        let end = ContinuousClock.now + limit
        while pending.update({ $0.running }), ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func drain() async {
        while true {
            guard let next = pending.update({ state -> (size: UInt64, note: String)? in
                let next = state.next
                state.next = nil
                if next == nil { state.running = false }
                return next
            }) else { return }
            await submitEverywhere(size: next.size, note: next.note)
        }
    }

    private func submitEverywhere(size: UInt64, note: String) async {
        let noteBytes = Array(note.utf8)
        guard let blank = noteBytes.indices.dropLast().first(where: { noteBytes[$0] == 0x0A && noteBytes[$0 + 1] == 0x0A }) else { return }
        let body = Array(noteBytes[...blank])
        let lines = await withTaskGroup(of: [String].self) { group in
            for index in endpoints.indices {
                group.addTask { await self.submit(to: index, size: size, note: note, body: body) }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        guard !lines.isEmpty else { return }
        do {
            try store.addCosignatures(size: size, lines: lines)
        } catch {
            logger.error("the cosignatures of a checkpoint cannot be stored", metadata: ["size": "\(size)", "error": "\(error)"])
        }
    }

    /// One witness: at most `attempts` tries for a transport failure or a 5xx, and one retry
    /// from the answered size on 409. The verified cosignature lines, or none.
    private func submit(to index: Int, size: UInt64, note: String, body: [UInt8]) async -> [String] {
        let endpoint = endpoints[index]
        var retriedConflict = false
        var attempt = 0
        while attempt < attempts {
            attempt += 1
            let old = believed.update { $0[index] }
            guard old <= size else {
                count(endpoint, "behind")
                return []
            }
            let request = WitnessRequest(oldSize: old, proof: old == 0 || old == size ? [] : proof(old, size), note: note)
            let answer: (status: Int, body: [UInt8])
            do {
                answer = try await post(request.body, to: endpoint)
            } catch {
                logger.warning("a witness cannot be reached", metadata: ["witness": "\(endpoint.name)", "error": "\(error)"])
                count(endpoint, "unreachable")
                if attempt < attempts { try? await Task.sleep(for: .milliseconds(200 << attempt)) }
                continue
            }
            switch answer.status {
            case 200:
                let lines = answer.body.split(separator: 0x0A).map { String(decoding: $0 + [0x0A], as: UTF8.self) }
                do {
                    let verified = try endpoint.verify(lines, body)
                    believed.update { $0[index] = size }
                    count(endpoint, verified.isEmpty ? "unsigned" : "cosigned")
                    return verified
                } catch {
                    logger.error("a witness's cosignature does not verify", metadata: ["witness": "\(endpoint.name)", "error": "\(error)"])
                    count(endpoint, "invalid")
                    return []
                }
            case 409 where !retriedConflict:
                let text = String(decoding: answer.body, as: UTF8.self)
                guard text.utf8.last == 0x0A, let recorded = UInt64(text.dropLast()), String(recorded).isExactly(String(text.dropLast())) else {
                    count(endpoint, "refused")
                    return []
                }
                retriedConflict = true
                attempt -= 1  // the retry from the answered size is not a transport retry
                believed.update { $0[index] = recorded }
            case 500...599:
                count(endpoint, "unavailable")
                if attempt < attempts { try? await Task.sleep(for: .milliseconds(200 << attempt)) }
            default:
                logger.error("a witness refuses a checkpoint", metadata: [
                    "witness": "\(endpoint.name)", "status": "\(answer.status)", "size": "\(size)",
                    "answer": "\(String(decoding: answer.body.prefix(200), as: UTF8.self))"])
                count(endpoint, "refused")
                return []
            }
        }
        return []
    }

    private func post(_ body: [UInt8], to endpoint: WitnessEndpoint) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: endpoint.url + "/add-checkpoint")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 10)
        return (Int(response.status.code), Array(bytes.readableBytesView))
    }

    private func count(_ endpoint: WitnessEndpoint, _ result: String) {
        Counter(label: "attest_portal_witness_submissions_total", dimensions: [("witness", endpoint.name), ("result", result)]).increment()
    }
}

extension PortalStore {
    /// Appends verified cosignature lines to the stored note of the checkpoint of `size`
    /// (a witness's line is added once: a later line by the same key name is left out).
    func addCosignatures(size: UInt64, lines: [String]) throws {
        try queue.write { db in
            guard let line = try Data.fetchOne(db, sql: "SELECT line FROM checkpoints WHERE size = ?", arguments: [Int64(size)]),
                  case .object(var entry) = try StrictJSONParser().parse(Array(line)),
                  var note = entry["note"]?.stringValue else { return }
            // Key names by bytes: the second space-separated field of a signature line.
            func keyName(_ line: some Collection<UInt8>) -> [UInt8] {
                Array(line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false).dropFirst().first ?? [])
            }
            for cosignature in lines {
                let name = keyName(Array(cosignature.utf8))
                let present = Array(note.utf8).split(separator: 0x0A).contains { keyName($0) == name }
                if !present { note += cosignature }
            }
            entry["note"] = .string(note)
            try db.execute(sql: "UPDATE checkpoints SET line = ? WHERE size = ?",
                           arguments: [Data(JSONValue.object(entry).serialized(pretty: false).utf8), Int64(size)])
        }
    }
}
