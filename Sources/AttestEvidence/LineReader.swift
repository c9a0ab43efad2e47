import Foundation

/// Reads a file as lines of bytes in bounded memory, whatever its size.
///
/// A line longer than `maxLineBytes` stops the reader: memory never holds more than
/// about one limit plus one read, and every byte is scanned for a line feed once.
public struct LineReader {
    public enum Failure: Error, Sendable, Equatable {
        /// Line `line` (1-based) is longer than the limit.
        case lineTooLong(line: Int, limit: Int)
        /// Reading failed (errno).
        case unreadable(errno: Int32)
    }

    private let file: ReadableFile
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` up to here hold no line feed.
    private var scanned = 0
    private var finished = false
    public private(set) var lineNumber = 0
    /// Why reading stopped before the end of the file, if it did.
    public private(set) var failure: Failure?

    static let chunkSize = 1 << 20

    /// Reads a file opened by the caller; it is closed when the reader is dropped.
    init(file: ReadableFile, maxLineBytes: Int) {
        self.file = file
        self.maxLineBytes = maxLineBytes
    }

    /// Opens `url` (a log the caller owns, not a bundle's path: see ``BundleDirectory``).
    public init(url: URL, maxLineBytes: Int = 1 << 24) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: url.path]) }
        self.init(file: ReadableFile(fd: fd), maxLineBytes: maxLineBytes)
    }

    /// Up to `count` next lines (without their line feeds); empty at the end of the file
    /// or after a failure (see ``failure``).
    public mutating func next(_ count: Int) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        lines.reserveCapacity(Swift.min(count, 4096))
        while lines.count < count, failure == nil {
            if let newline = Self.firstNewline(buffer, from: Swift.max(start, scanned)) {
                guard newline - start <= maxLineBytes else {
                    failure = .lineTooLong(line: lineNumber + 1, limit: maxLineBytes)
                    break
                }
                lines.append(buffer[start..<newline])
                start = newline + 1
                scanned = start
                lineNumber += 1
                continue
            }
            scanned = buffer.count
            guard buffer.count - start <= maxLineBytes else {
                failure = .lineTooLong(line: lineNumber + 1, limit: maxLineBytes)
                break
            }
            if finished {
                if start < buffer.count {
                    lines.append(buffer[start...])
                    start = buffer.count
                    scanned = start
                    lineNumber += 1
                }
                break
            }
            // Compact, then read more. Lines already taken keep the old storage alive
            // (copy on write), so their indices stay valid.
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
            switch file.read(into: &buffer, upTo: Self.chunkSize) {
            case .success(0): finished = true
            case .success: break
            case .failure(let error): failure = .unreadable(errno: error.code)
            }
        }
        return lines
    }

    private static func firstNewline(_ buffer: [UInt8], from start: Int) -> Int? {
        buffer.withUnsafeBufferPointer { b in
            guard start < b.count, let base = b.baseAddress, let hit = memchr(base + start, 0x0A, b.count - start) else {
                return nil
            }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }
}

/// An open file descriptor that is closed with its last reference.
final class ReadableFile: @unchecked Sendable {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    struct ReadError: Error { let code: Int32 }

    /// Appends up to `limit` bytes; the count read (0 at the end), or errno. Reads into
    /// scratch memory and appends only what was read, so nothing is zero-filled first.
    func read(into buffer: inout [UInt8], upTo limit: Int) -> Result<Int, ReadError> {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: limit) { scratch in
            while true {
                let n = Glibc.read(fd, scratch.baseAddress, limit)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return .failure(ReadError(code: errno)) }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<n]))
                return .success(n)
            }
        }
    }

    /// The whole file, if it has at most `limit` bytes.
    func readAll(limit: Int) -> Result<[UInt8], LineReader.Failure> {
        var bytes: [UInt8] = []
        while true {
            switch read(into: &bytes, upTo: 1 << 16) {
            case .success(0): return .success(bytes)
            case .success: if bytes.count > limit { return .failure(.lineTooLong(line: 1, limit: limit)) }
            case .failure(let error): return .failure(.unreadable(errno: error.code))
            }
        }
    }
}
