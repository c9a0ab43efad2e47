import AttestCore
import AttestEvidence
import Foundation
import GRDB

/// A witness (spec/witness.md): verifies add-checkpoint requests against its durable record
/// of each log and cosigns those that keep the log append-only.
///
/// The record lives in an SQLite file. A request's record is read, checked and replaced in
/// one IMMEDIATE transaction, and the replacement is a compare-and-swap on the size and
/// root that were read: two requests for one log, in this process or another that opens the
/// same file, are serialized by SQLite's write lock, and the second is checked against what
/// the first stored, so both cannot advance from one record (C2SP tlog-witness's race).
public final class WitnessService: Sendable {
    public struct Response: Sendable, Equatable {
        public let status: Int
        public let contentType: String
        public let body: [UInt8]
        /// The registry code of a refusal (nil on 200).
        public let code: ErrorCode?
    }

    private let queue: DatabaseQueue
    private let logs: [NoteVerifier]
    private let cosign: WitnessCosigner
    private let clock: @Sendable () -> UInt64

    /// Opens (or creates) the state at `path`; `WIT_STATE_UNAVAILABLE` when it cannot.
    public init(statePath: String, logs: [NoteVerifier], cosign: @escaping WitnessCosigner,
                clock: @escaping @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970)) }) throws(AttestError) {
        self.logs = logs
        self.cosign = cosign
        self.clock = clock
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: statePath, configuration: configuration)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS witness_log (
                        origin BLOB PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL) WITHOUT ROWID
                    """)
            }
        } catch {
            throw AttestError(.witnessStateUnavailable, "the witness state at \(statePath) cannot be opened: \(error)")
        }
    }

    /// The record of `origin` (nil when the witness never cosigned a checkpoint of it).
    public func record(origin: String) throws(AttestError) -> WitnessRecord? {
        do {
            return try queue.read { db in try Self.read(db, origin: origin) }
        } catch {
            throw AttestError(.witnessStateUnavailable, "the witness state cannot be read: \(error)")
        }
    }

    private static func read(_ db: Database, origin: String) throws -> WitnessRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT size, root FROM witness_log WHERE origin = ?",
                                         arguments: [Data(origin.utf8)]) else { return nil }
        let size: Int64 = row["size"]
        let root: Data = row["root"]
        return WitnessRecord(size: UInt64(bitPattern: size), root: Array(root))
    }

    /// Runs the algorithm of spec/witness.md on one request body.
    public func addCheckpoint(_ body: [UInt8]) async -> Response {
        do {
            let (request, accepted) = try WitnessAlgorithm.verify(body, logs: logs)
            let origin = Data(accepted.checkpoint.origin.utf8)
            let time = clock()
            let cosign = cosign
            let outcome: (refused: (error: AttestError, recorded: UInt64)?, line: String) = try await queue.writeWithoutTransaction { db in
                var refused: (error: AttestError, recorded: UInt64)?
                var line = ""
                try db.inTransaction(.immediate) {
                    let record = try Self.read(db, origin: accepted.checkpoint.origin)
                    do throws(AttestError) {
                        try WitnessAlgorithm.check(request, accepted.checkpoint, against: record ?? .empty)
                    } catch {
                        refused = (error, (record ?? .empty).size)
                        return .rollback
                    }
                    let size = Int64(bitPattern: accepted.checkpoint.size)
                    let root = Data(accepted.checkpoint.root)
                    if let record {
                        try db.execute(sql: "UPDATE witness_log SET size = ?, root = ? WHERE origin = ? AND size = ? AND root = ?",
                                       arguments: [size, root, origin, Int64(bitPattern: record.size), Data(record.root)])
                    } else {
                        try db.execute(sql: "INSERT INTO witness_log (origin, size, root) VALUES (?, ?, ?)",
                                       arguments: [origin, size, root])
                    }
                    guard db.changesCount == 1 else {
                        refused = (AttestError(.witnessStateUnavailable, "the record of the log changed during the request"), 0)
                        return .rollback
                    }
                    // Signed before the commit, answered after it: a cosignature is never
                    // returned for a record that is not durable.
                    do throws(AttestError) {
                        line = try cosign(accepted.body, time)
                    } catch {
                        refused = (error, 0)
                        return .rollback
                    }
                    return .commit
                }
                return (refused, line)
            }
            if let refused = outcome.refused { return refusal(refused.error, recorded: refused.recorded) }
            return Response(status: 200, contentType: "text/plain; charset=utf-8", body: Array(outcome.line.utf8), code: nil)
        } catch let error as AttestError {
            return refusal(error, recorded: 0)
        } catch {
            return refusal(AttestError(.witnessStateUnavailable, "the witness state cannot be written: \(error)"), recorded: 0)
        }
    }

    /// A refusal; a `WIT_OLD_SIZE_MISMATCH` carries the recorded size as C2SP tlog-witness says.
    private func refusal(_ error: AttestError, recorded: UInt64) -> Response {
        let status = WitnessAlgorithm.httpStatus(for: error.code)
        if error.code == .witnessOldSizeMismatch {
            return Response(status: status, contentType: "text/x.tlog.size", body: Array("\(recorded)\n".utf8), code: error.code)
        }
        return Response(status: status, contentType: "text/plain; charset=utf-8",
                        body: Array("\(error.code.rawValue): \(error.message)\n".utf8), code: error.code)
    }
}
