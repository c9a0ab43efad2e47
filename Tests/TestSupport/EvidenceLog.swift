import AttestCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Records, for `attest check --evidence`, that the running test observed a registry
/// code (spec/errors.md). Enabled by the environment variable `ATTEST_EVIDENCE_DIR`: each
/// observation is one line `{"scope": MODULE, "test": FUNCTION, "code": CODE, …}` appended
/// to `swift-<pid>.jsonl` in that directory. Without the variable nothing is written.
///
/// Record only what the test asserted: the assertion helpers below record when their
/// expectation holds, never when it fails.
public enum EvidenceLog {
    public static func observed(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, function: String = #function) {
        observed(code.rawValue, sourceLocation: sourceLocation, function: function)
    }

    public static func observed(_ code: String?, sourceLocation: SourceLocation = #_sourceLocation, function: String = #function) {
        guard let directory = ProcessInfo.processInfo.environment["ATTEST_EVIDENCE_DIR"], !directory.isEmpty else { return }
        let location = Test.current?.sourceLocation ?? sourceLocation
        let scope = String(location.fileID.prefix { $0 != "/" })
        let name = baseName(Test.current?.name ?? function)
        var record: JSONObject = ["scope": .string(scope), "test": .string(name), "file": .string(location.fileID),
                                  "code": code.map { .string($0) } ?? .null]
        if let display = Test.current?.displayName { record["display"] = .string(display) }
        append(Array((JSONValue.object(record).serialized(pretty: false) + "\n").utf8), to: directory)
    }

    static func baseName(_ name: String) -> String { String(name.prefix { $0 != "(" }) }

    private static let lock = NSLock()

    /// One `write` per line with O_APPEND: lines from concurrent tests and processes do not interleave.
    private static func append(_ line: [UInt8], to directory: String) {
        lock.lock()
        defer { lock.unlock() }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/swift-\(getpid()).jsonl"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

/// Expects `actual` to be exactly the registry code `code` (compared by UTF-8 bytes), and
/// records the observation as evidence when it is.
public func expectRegistryCode(_ actual: String?, _ code: String, _ what: Comment? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation, function: String = #function) {
    let matches = actual.map { Array($0.utf8) == Array(code.utf8) } ?? false
    #expect(matches, "expected \(code), got \(actual ?? "no code")\(what.map { ": \($0)" } ?? "")", sourceLocation: sourceLocation)
    if matches { EvidenceLog.observed(code, sourceLocation: sourceLocation, function: function) }
}
