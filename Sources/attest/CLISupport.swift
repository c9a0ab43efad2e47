import ArgumentParser
import AttestCore
import AttestEvidence
import AttestPortal
import Foundation

/// The exit codes of every command: one scheme for the whole tool, printed by
/// `attest --help` and listed in the README.
enum CLIExit {
    /// Success: the command did what it was asked, or the verdict is PASS / valid.
    static let success: Int32 = 0
    /// Refused or invalid: the input was read and is not valid (a token, a request, an
    /// artifact, a spec check, a conformance run), or the command refuses what a verifier
    /// would later reject. The message names the registry code where there is one.
    static let rejected: Int32 = 1
    /// A usage error: an argument is malformed, out of range, or contradicts another.
    static let usage: Int32 = 64
    /// An internal error: a failure the tool does not expect (a defect to report).
    static let internalError: Int32 = 70
    /// An I/O error: a file or directory that cannot be read or written.
    static let io: Int32 = 74

    static let discussion = """
        Exit codes, the same for every command:
          0      success: done, PASS, valid
          1      refused or invalid: the input was read and is not valid, or a
                 verifier would reject it (the message names the registry code)
          2, 3   attest impl only: the op failed, the op is unsupported
          10-15  attest bundle verify FAIL, by class (spec/bundle.md, Report):
                 10 malformed input, 11 authenticity, 12 log integrity,
                 13 policy chain, 14 enforcement, 15 disclosure
          64     usage error: an argument is malformed, out of range or
                 contradicts another (one line naming it)
          70     internal error: a defect of the tool
          74     I/O error: a file cannot be read or written
        Errors are one line on standard error. Seeds are read from a file or
        from the environment (--key FILE, --key env:NAME), never given as an
        argument.
        """
}

/// An error of the tool itself, with its exit class.
enum CLIError: Error, CustomStringConvertible {
    /// An argument is wrong: the message names it.
    case usage(String)
    /// A file cannot be read or written.
    case io(String)
    /// The input is not valid, or the command refuses it.
    case rejected(String)

    var description: String {
        switch self {
        case .usage(let m), .io(let m), .rejected(let m): m
        }
    }

    var exitCode: Int32 {
        switch self {
        case .usage: CLIExit.usage
        case .io: CLIExit.io
        case .rejected: CLIExit.rejected
        }
    }
}

extension Attest {
    /// Parses, runs, and maps every error to one line and its exit class: nothing the
    /// user types ends in a trap or a framework dump.
    static func main() async {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Parse and validation errors: the subcommand's usage, exit 64; help: exit 0.
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var c = command
                try c.run()
            }
        } catch {
            fail(error)
        }
    }

    static func fail(_ error: Error) -> Never {
        let (message, code) = classify(error)
        if let message { FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8)) }
        Foundation.exit(code)
    }

    static func classify(_ error: Error) -> (String?, Int32) {
        switch error {
        case let e as ExitCode: return (nil, e.rawValue)
        case let e as CLIError: return (e.description, e.exitCode)
        case let e as ValidationError: return (e.message, CLIExit.usage)
        case let e as AttestError: return ("\(e.code.rawValue): \(e.message)", CLIExit.rejected)
        case let e as PortalConfigurationError: return (e.description, CLIExit.rejected)
        case let e as CocoaError: return (CLIFiles.describe(e), CLIExit.io)
        default:
            // The parser's own outcomes (help, a bad option) are rendered by the parser.
            if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { exit(withError: error) }
            let ns = error as NSError
            if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain { return (CLIFiles.describe(ns), CLIExit.io) }
            return ("internal: \(error)", CLIExit.internalError)
        }
    }
}

/// Reading and writing the files the commands are given, with one-line errors.
enum CLIFiles {
    /// Files larger than this are refused (no command reads one this large in one piece).
    static let maxBytes = 256 << 20

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied"
        case EISDIR: "is a directory"
        case ENOTDIR: "a component of the path is not a directory"
        case ELOOP: "too many symbolic links"
        case ENOSPC: "no space left on the device"
        case EROFS: "read-only file system"
        case EEXIST: "exists"
        default: String(cString: strerror(code))
        }
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
        let verb = (CocoaError.Code.fileReadUnknown.rawValue...CocoaError.Code.fileReadUnknownStringEncoding.rawValue).contains(ns.code)
            || ns.code == CocoaError.Code.fileNoSuchFile.rawValue ? "read" : "write"
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return "cannot \(verb) \(path): \(reason(Int32(underlying.code)))"
        }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileReadNoSuchFile, .fileNoSuchFile: return "cannot read \(path): no such file"
        case .fileReadNoPermission: return "cannot read \(path): permission denied"
        case .fileWriteNoPermission: return "cannot write \(path): permission denied"
        case .fileWriteOutOfSpace: return "cannot write \(path): no space left on the device"
        case .fileWriteFileExists: return "cannot write \(path): exists"
        default: return "cannot \(verb) \(path): \(ns.localizedDescription)"
        }
    }

    /// The bytes of a file, or of standard input for "-" (refused when it is a terminal:
    /// a command never waits silently for input nobody is typing).
    static func read(_ path: String, option: String, limit: Int = maxBytes) throws -> [UInt8] {
        if path == "-" {
            guard isatty(STDIN_FILENO) == 0 else {
                throw CLIError.usage("\(option): standard input is a terminal; give a file, or pipe the input in")
            }
            return try readAll(fd: STDIN_FILENO, name: "standard input", limit: limit)
        }
        guard !path.isEmpty else { throw CLIError.usage("\(option): the path is empty") }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw CLIError.io("cannot read \(path): \(reason(errno))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CLIError.io("cannot read \(path): \(reason(errno))") }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: throw CLIError.io("cannot read \(path): is a directory")
        case S_IFREG: break
        default: throw CLIError.io("cannot read \(path): not a regular file")
        }
        _ = fcntl(fd, F_SETFL, O_RDONLY)
        return try readAll(fd: fd, name: path, limit: limit)
    }

    private static func readAll(fd: Int32, name: String, limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError.io("cannot read \(name): \(reason(errno))")
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
            guard bytes.count <= limit else { throw CLIError.io("cannot read \(name): larger than \(limit) bytes") }
        }
    }

    /// Refuses "-" when standard input is a terminal (checked before any other input is read).
    static func refuseTerminal(_ path: String?, option: String) throws {
        if path == "-", isatty(STDIN_FILENO) != 0 {
            throw ValidationError("\(option): standard input is a terminal; give a file, or pipe the input in")
        }
    }

    static func text(_ path: String, option: String) throws -> String {
        String(decoding: try read(path, option: option), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A JSON document read from a file (or "-"); malformed JSON is refused naming the option.
    static func json(_ path: String, option: String) throws -> JSONValue {
        let bytes = try read(path, option: option)
        do { return try StrictJSONParser().parse(bytes) } catch {
            throw CLIError.rejected("\(option) \(path): not JSON: \(describeError(error))")
        }
    }

    /// JSON given inline as an option's value.
    static func inlineJSON(_ text: String, option: String) throws -> JSONValue {
        do { return try StrictJSONParser().parse(text) } catch {
            throw CLIError.usage("\(option): not JSON: \(error.message)")
        }
    }

    /// Writes `bytes` to `path` whole or not at all: a temporary file beside it, then a rename.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        guard !path.isEmpty else { throw CLIError.usage("the output path is empty") }
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CLIError.io("cannot write \(path): is a directory")
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CLIError.io("cannot write \(path): \(reason(errno))") }
        var written = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            while written < b.count {
                let n = Glibc.write(fd, base + written, b.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw CLIError.io("cannot write \(path): \(reason(failure))")
        }
    }

    /// Writes a directory whole or not at all: `body` fills a staging directory beside
    /// `path`, which is renamed to `path` only when it succeeds; `path` must not exist.
    static func writeDirectory(_ path: String, option: String, _ body: (URL) throws -> Void) throws {
        guard !path.isEmpty else { throw CLIError.usage("\(option): the path is empty") }
        let fm = FileManager.default
        guard !fm.fileExists(atPath: path) else {
            throw CLIError.usage("\(option) \(path) exists; the output is written to a new directory")
        }
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError.io("cannot write \(path): \(parent.path) is not a directory")
        }
        let staging = parent.appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw CLIError.io("cannot write \(path): \(describe(error))")
        }
        do {
            try body(staging)
            guard rename(staging.path, path) == 0 else { throw CLIError.io("cannot write \(path): \(reason(errno))") }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    /// Whether `path` is an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

/// A secret seed given by reference, never by value: a file holding it in hex, or
/// `env:NAME` for an environment variable holding it in hex (the portal configuration's
/// convention for the log key).
enum SecretSeed {
    static func read(_ reference: String, option: String,
                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [UInt8] {
        let text: String
        if reference.hasPrefix("env:") {
            let name = String(reference.dropFirst(4))
            guard !name.isEmpty, let value = environment[name] else {
                throw CLIError.usage("\(option) \(reference): the environment has no \(name.isEmpty ? "variable of that name" : name)")
            }
            text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            if reference.count == 64, Hex.decode(reference) != nil, !FileManager.default.fileExists(atPath: reference) {
                throw CLIError.usage("\(option) takes a file or env:NAME holding the seed, never the seed itself")
            }
            text = try CLIFiles.text(reference, option: option)
        }
        guard let seed = Hex.decode(text), seed.count == 32 else {
            throw CLIError.usage("\(option) \(reference) does not hold a 32-byte seed in hex")
        }
        return seed
    }
}

/// A number option's range, checked before anything uses it.
func requireRange<T: BinaryInteger>(_ value: T?, _ range: ClosedRange<T>, _ option: String, _ meaning: String) throws {
    guard let value else { return }
    guard range.contains(value) else { throw ValidationError("\(option) is \(meaning), \(range.lowerBound) to \(range.upperBound); not \(value)") }
}

func requireRange(_ value: Double?, _ range: ClosedRange<Double>, _ option: String, _ meaning: String) throws {
    guard let value else { return }
    guard value.isFinite, range.contains(value) else {
        throw ValidationError("\(option) is \(meaning), \(range.lowerBound) to \(range.upperBound); not \(value)")
    }
}

/// Times, seconds since the epoch, as every command takes them.
let epochSeconds: ClosedRange<Int64> = 0...253_402_300_799

extension ErrorCode {
    /// The registry code spelled exactly `name`.
    init?(exactly name: String) {
        guard let code = ErrorCode.allCases.first(where: { $0.rawValue.isExactly(name) }) else { return nil }
        self = code
    }
}

extension Receipt.Decision {
    init?(exactly name: String) {
        guard let d = Receipt.Decision.allCases.first(where: { $0.rawValue.isExactly(name) }) else { return nil }
        self = d
    }
}

/// The tree size a checkpoint note states (its second line), read without verifying it.
func checkpointSize(_ note: String) -> Int? {
    let lines = note.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
    guard lines.count >= 2, let size = Int(lines[1]), size >= 0, String(size).isExactly(String(lines[1])) else { return nil }
    return size
}

/// "CODE: message" for a protocol error, the description of any other.
func describeError(_ error: Error) -> String {
    if let e = error as? AttestError { return "\(e.code.rawValue): \(e.message)" }
    return "\(error)"
}
