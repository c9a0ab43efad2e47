import ArgumentParser
import AttestCore
import AttestPortal
import Foundation

/// Opening a portal's store from the command line, and the errors of working on one.
enum PortalStoreCLI {
    /// The store in `path`: an existing directory holding a portal database.
    static func open(_ path: String, option: String, readOnly: Bool = false) throws -> PortalStore {
        guard !path.isEmpty else { throw CLIError.usage("\(option): the path is empty") }
        guard CLIFiles.isDirectory(path) else { throw CLIError.io("cannot read \(path): no such directory") }
        let database = URL(fileURLWithPath: path).appendingPathComponent(PortalStore.fileName).path
        guard FileManager.default.fileExists(atPath: database) else {
            throw CLIError.io("cannot read \(database): no such file (not a portal store)")
        }
        return try guarded(option) { try PortalStore(directory: URL(fileURLWithPath: path), readOnly: readOnly) }
    }

    /// Runs `body`, reporting a database error (a file that is not a store, a store in use)
    /// as a rejection that names `what`.
    static func guarded<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw mapped(what, error) }
    }

    static func mapped(_ what: String, _ error: Error) -> Error {
        switch error {
        case is CLIError, is CocoaError: error
        case let error as PortalConfigurationError: CLIError.rejected("\(what): \(error.description)")
        case let error as AttestError: CLIError.rejected("\(what): \(error.code.rawValue): \(error.message)")
        default: CLIError.rejected("\(what): \(error)")
        }
    }

    static func configuration(_ path: String) throws -> PortalConfiguration {
        _ = try CLIFiles.read(path, option: "--config")
        do { return try PortalConfiguration.load(URL(fileURLWithPath: path)) } catch {
            throw CLIError.rejected("--config \(path): \(error.description)")
        }
    }
}

struct PortalClose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close",
        abstract: "Close a portal's log for good: recover open calls, sign a final checkpoint over every receipt, mark the log closed, print that checkpoint.",
        discussion: """
            Run it with the portal stopped, to rotate or retire the log key (spec/portal.md §Operations). A closed log is \
            never written again: the portal refuses to start on its store. Closing a closed log reports its final size.
            """)
    @Option(help: "The configuration of the portal whose log to close (its store, origin and log key).") var config: String

    func run() async throws {
        let configuration = try PortalStoreCLI.configuration(config)
        _ = try PortalStoreCLI.open(configuration.store.path, option: "--config \(config): store")
        let size: UInt64
        do { size = try await PortalStore.closeLog(configuration: configuration) } catch {
            throw PortalStoreCLI.mapped("--config \(config)", error)
        }
        print("closed log \(configuration.origin) at size \(size); its final checkpoint, to publish:")
        let store = try PortalStoreCLI.open(configuration.store.path, option: "--config \(config): store", readOnly: true)
        if let note = try PortalStoreCLI.guarded("--config \(config)", { try store.newestCheckpointNote() }) {
            print(note, terminator: note.hasSuffix("\n") ? "" : "\n")
        }
    }
}

struct PortalRotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Start the successor of a closed log: a new store for a new origin and log key, carrying the rate state over.",
        discussion: """
            --config is the new log's configuration: a new origin, a new log key, a new store, and artifacts whose \
            log.origins name the new origin. The predecessor's artifacts and its allowed calls within the longest rate \
            window are carried into the new store, so rate limits hold across the rotation.
            """)
    @Option(help: "The store of the closed log this one succeeds.") var from: String
    @Option(help: "The new log's portal configuration.") var config: String

    func run() throws {
        let configuration = try PortalStoreCLI.configuration(config)
        let predecessor = try PortalStoreCLI.open(from, option: "--from")
        let carried = try PortalStoreCLI.guarded("--from \(from)") {
            try PortalStore.startSuccessor(of: predecessor, configuration: configuration)
        }
        let old = try PortalStoreCLI.guarded("--from \(from)") { try predecessor.status() }
        print("started log \(configuration.origin) in \(configuration.store.path), succeeding \(old.origin ?? "") (closed at size \(old.closedSize ?? 0)); \(carried) allowed calls carried")
    }
}

struct PortalPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Retention: purge payloads (the receipts stay verifiable by structure), or delete a closed, exported log.",
        discussion: """
            --payloads-before and --payloads-through delete payloads and salts; a portal may be running. --log deletes the \
            whole store of a closed log (attest portal close) whose whole log an export recorded (attest bundle export \
            --store): keep that bundle, it is the log's only copy.
            """)
    @Option(help: "The portal's store directory.") var store: String
    @Option(name: .customLong("payloads-before"), help: "Delete the payloads of receipts dated before this time (seconds since the epoch).")
    var payloadsBefore: Int64?
    @Option(name: .customLong("payloads-through"), help: "Delete the payloads of receipts with seq up to this one.")
    var payloadsThrough: UInt64?
    @Option(help: "Delete the store of this closed, exported log (its origin, as a confirmation).") var log: String?

    func validate() throws {
        let chosen = [payloadsBefore != nil || payloadsThrough != nil, log != nil].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("give --payloads-before or --payloads-through, or --log ORIGIN") }
        if let payloadsBefore { try requireRange(payloadsBefore, epochSeconds, "--payloads-before", "seconds since the epoch") }
        if let log, log.isEmpty { throw ValidationError("--log is the origin of the log to delete, not empty") }
    }

    func run() throws {
        if let log {
            _ = try PortalStoreCLI.open(store, option: "--store", readOnly: true)
            let retired = try PortalStoreCLI.guarded("--store \(store)") {
                try PortalStore.retire(directory: URL(fileURLWithPath: store), origin: log)
            }
            print("deleted log \(log) (closed at size \(retired.size), exported with root \(retired.root) to \(retired.bundle))")
            return
        }
        let opened = try PortalStoreCLI.open(store, option: "--store")
        let deleted = try PortalStoreCLI.guarded("--store \(store)") {
            try opened.prunePayloads(before: payloadsBefore, throughSeq: payloadsThrough)
        }
        print("deleted \(deleted) payloads; the receipts stay")
    }
}

struct PortalBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of a portal's store to a file (SQLite online backup), while the portal runs.",
        discussion: "Restore it with attest portal restore; a portal started on the restored store continues the log from the backup point.")
    @Option(help: "The portal's store directory.") var store: String
    @Option(help: "The backup file to write (must not exist).") var out: String

    func run() throws {
        guard !out.isEmpty else { throw CLIError.usage("--out: the path is empty") }
        guard !FileManager.default.fileExists(atPath: out) else { throw CLIError.usage("--out \(out) exists; a backup writes a new file") }
        let parent = URL(fileURLWithPath: out).deletingLastPathComponent().path
        guard CLIFiles.isDirectory(parent) else { throw CLIError.io("cannot write \(out): \(parent) is not a directory") }
        let opened = try PortalStoreCLI.open(store, option: "--store", readOnly: true)
        let size = try PortalStoreCLI.guarded("--store \(store)") { try opened.backup(to: URL(fileURLWithPath: out)) }
        print("wrote backup \(out): \(size) receipts")
    }
}

struct PortalRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a new store directory, for a portal that continues the log from the backup point.")
    @Option(help: "The backup file (attest portal backup).") var backup: String
    @Option(help: "The store directory to create (new, or empty).") var store: String

    func run() throws {
        guard !store.isEmpty else { throw CLIError.usage("--store: the path is empty") }
        guard !backup.isEmpty else { throw CLIError.usage("--backup: the path is empty") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: backup, isDirectory: &isDirectory) else { throw CLIError.io("cannot read \(backup): no such file") }
        guard !isDirectory.boolValue else { throw CLIError.io("cannot read \(backup): is a directory") }
        let restored = try PortalStoreCLI.guarded("--backup \(backup)") {
            try PortalStore.restore(backup: URL(fileURLWithPath: backup), into: URL(fileURLWithPath: store))
        }
        print("restored log \(restored.origin) at size \(restored.size) into \(store)")
    }
}

struct PortalStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a portal store's log as JSON: origin, key thumbprint, receipts, newest checkpoint, closed or open, predecessor, exports recorded.",
        discussion: "Read-only; a portal may be running on the store.")
    @Option(help: "The portal's store directory.") var store: String

    func run() throws {
        let opened = try PortalStoreCLI.open(store, option: "--store", readOnly: true)
        let status = try PortalStoreCLI.guarded("--store \(store)") { try opened.status() }
        func n(_ value: UInt64) -> JSONValue { .number(JSONNumber(Double(value))) }
        let out: JSONObject = [
            "origin": status.origin.map { .string($0) } ?? .null,
            "log_key_thumbprint": status.keyThumbprint.map { .string($0) } ?? .null,
            "receipts": n(status.receipts),
            "checkpoint_size": n(status.checkpointSize),
            "closed_size": status.closedSize.map(n) ?? .null,
            "predecessor": status.predecessor.map { .string($0) } ?? .null,
            "exports": .array(status.exports.map { ["size": n($0.size), "root": .string($0.root), "bundle": .string($0.bundle)] }),
        ]
        print(JSONValue.object(out).serialized(pretty: true), terminator: "")
    }
}
