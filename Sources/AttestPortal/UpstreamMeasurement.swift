import AttestCore
import Foundation

/// The identity of a stdio upstream as artifact.md §Upstream identity and drift defines
/// it: the SHA-256 of the file the running process executes, read through the process
/// (`/proc/PID/exe` on Linux), and of each word of the command that names a regular file.
struct StdioMeasurement: Sendable {
    /// The most files a pin holds (artifact.md `files_sha256`).
    static let maxFiles = 16
    /// The largest file measured; a larger one is not measurable, and a pin cannot hold it.
    static let maxFileBytes: Int64 = 4 << 30

    /// The executable path the command resolved to, measured where the system does not
    /// expose the running process's executable.
    let executable: String
    /// The words of the command that named regular files when the server started, in order.
    let files: [String]
    /// The digest of the file at ``executable`` when the server started.
    let executableDigest: [UInt8]?

    /// Fixes which words of `command` are measured: every word naming a regular file when
    /// the server starts, the first only when it is not the file the process executes.
    init(command: [String], executable: String, pid: Int32) throws {
        self.executable = executable
        executableDigest = Self.digest(path: executable)
        let running = Self.digest(path: Self.processExecutable(pid: pid) ?? executable)
        var files: [String] = []
        for (index, word) in command.enumerated() where Self.isRegularFile(word) {
            if index == 0, let running, Self.digest(path: word) == running { continue }
            files.append(word)
        }
        guard files.count <= Self.maxFiles else {
            throw PortalConfigurationError("the upstream command names \(files.count) files; a pin holds at most \(Self.maxFiles)")
        }
        self.files = files
    }

    /// Measures the running process now: its upstream identity, or nil when the executable
    /// or a file that was measured at start cannot be read any more (which is itself drift).
    func measure(pid: Int32) -> JSONValue? {
        // What runs, read through the process; and the file the command starts, which must
        // be as it was at start: an executable replaced on disk means that another server
        // than the one running would start next, and the measurement fails.
        guard let exe = Self.digest(path: Self.processExecutable(pid: pid) ?? executable),
              let onDisk = Self.digest(path: executable), onDisk == executableDigest else { return nil }
        var identity: JSONObject = ["transport": "stdio", "executable_sha256": .string(Hex.encode(exe))]
        if !files.isEmpty {
            var digests: [JSONValue] = []
            for file in files {
                guard let d = Self.digest(path: file) else { return nil }
                digests.append(.string(Hex.encode(d)))
            }
            identity["files_sha256"] = .array(digests)
        }
        return .object(identity)
    }

    /// The path through which the running process's executable is read, where the system
    /// has one: `/proc/PID/exe` reads the file the process executes even after the path it
    /// was started from was replaced or removed.
    static func processExecutable(pid: Int32) -> String? {
        #if os(Linux)
        let path = "/proc/\(pid)/exe"
        return FileManager.default.isReadableFile(atPath: path) ? path : nil
        #else
        return nil
        #endif
    }

    /// Whether `word` is a path whose target, after symbolic links, is a regular file.
    static func isRegularFile(_ word: String) -> Bool {
        guard !word.isEmpty else { return false }
        var info = stat()
        guard stat(word, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The SHA-256 of a file's bytes, read in chunks; nil when it cannot be read or is larger
    /// than ``maxFileBytes``.
    static func digest(path: String) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256.Hasher()
        var total: Int64 = 0
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch { return nil }
            if chunk.isEmpty { break }
            total += Int64(chunk.count)
            guard total <= maxFileBytes else { return nil }
            hasher.update(Array(chunk))
        }
        return hasher.finalize()
    }
}

/// Re-measures an upstream every `seconds` and reports each measurement, until cancelled.
final class UpstreamMonitor: @unchecked Sendable {
    private let task: Task<Void, Never>

    init(seconds: Int, measure: @escaping @Sendable () async -> Void) {
        task = Task.detached {
            while (try? await Task.sleep(for: .seconds(seconds))) != nil {
                await measure()
            }
        }
    }

    func cancel() { task.cancel() }
    deinit { task.cancel() }
}
