import AttestCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An implementation may exit (unsupported, or crashed) before it reads its request: the
/// write into its closed standard input must fail as an error, not kill the runner with
/// SIGPIPE.
func ignoreBrokenPipes() {
    _ = signal(SIGPIPE, SIG_IGN)
}

/// Runs an implementation under test through the conformance protocol
/// (spec/conformance.md): one process per vector, `<command> <op>`, request on stdin,
/// one JSON response on stdout; exit code 3 means unsupported.
public final class PerProcessExecutor: OpExecutor, @unchecked Sendable {
    let command: String
    let timeout: Double

    public init(command: String, timeout: Double = 10) {
        self.command = command
        self.timeout = timeout
        ignoreBrokenPipes()
    }

    public func execute(op: String, context: JSONObject, input: JSONObject) -> Outcome {
        let request: JSONValue = ["context": .object(context), "input": .object(input)]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(command) \(op)"]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch { return .failure("cannot start \(command): \(error)") }
        try? stdin.fileHandleForWriting.write(contentsOf: Data(request.serialized(pretty: false).utf8))
        try? stdin.fileHandleForWriting.close()
        final class Box: @unchecked Sendable { var data = Data() }
        let output = Box()
        let reader = DispatchQueue(label: "conformance.read")
        let readDone = DispatchSemaphore(value: 0)
        reader.async {
            output.data = stdout.fileHandleForReading.readDataToEndOfFile()
            readDone.signal()
        }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 2)
            return .failure("timed out after \(timeout) s")
        }
        _ = readDone.wait(timeout: .now() + 2)
        switch process.terminationStatus {
        case 3: return .unsupported
        case 0: break
        default: return .failure("exit status \(process.terminationStatus)")
        }
        do {
            return Outcome(response: try StrictJSONParser().parse(Array(output.data)))
        } catch {
            return .failure("stdout is not one JSON object: \(error)")
        }
    }
}

/// The `--jsonl` mode: one long-lived `<command> --jsonl` process, one request line
/// `{"op":…,"context":…,"input":…}` in and one response line out per vector.
public final class JSONLinesExecutor: OpExecutor, @unchecked Sendable {
    let process = Process()
    let stdinHandle: FileHandle
    let stdoutFD: Int32
    let timeout: Double
    var buffer: [UInt8] = []
    let lock = NSLock()
    var broken: String? = nil

    public init(command: String, timeout: Double = 10) throws {
        self.timeout = timeout
        ignoreBrokenPipes()
        let stdin = Pipe(), stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \(command) --jsonl"]
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdinHandle = stdin.fileHandleForWriting
        stdoutFD = stdout.fileHandleForReading.fileDescriptor
    }

    deinit { close() }

    public func close() {
        try? stdinHandle.close()
        // A process that stopped answering is not waited for.
        if broken != nil && process.isRunning { process.terminate() }
        if process.isRunning { process.waitUntilExit() }
    }

    public func execute(op: String, context: JSONObject, input: JSONObject) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        if let broken { return .failure(broken) }
        let request: JSONValue = ["op": .string(op), "context": .object(context), "input": .object(input)]
        do {
            try stdinHandle.write(contentsOf: Data((request.serialized(pretty: false) + "\n").utf8))
        } catch {
            broken = "implementation closed its input: \(error)"
            return .failure(broken!)
        }
        guard let line = readLine() else {
            broken = "no response line within \(timeout) s (or the process exited)"
            return .failure(broken!)
        }
        do {
            return Outcome(response: try StrictJSONParser().parse(line))
        } catch {
            return .failure("response line is not one JSON object: \(error)")
        }
    }

    private func readLine() -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var descriptor = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(remaining * 1000))
            guard ready > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(stdoutFD, &chunk, chunk.count)
            guard n > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}
