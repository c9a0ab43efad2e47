import Foundation

/// Reads a file as lines of bytes in bounded memory, whatever its size.
public struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    public private(set) var lineNumber = 0

    public init(url: URL) throws {
        handle = try FileHandle(forReadingFrom: url)
    }

    /// Up to `count` next lines (without their line feeds); empty at the end of the file.
    public mutating func next(_ count: Int) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        lines.reserveCapacity(count)
        while lines.count < count {
            if let newline = Self.firstNewline(buffer, from: start) {
                lines.append(buffer[start..<newline])
                start = newline + 1
                lineNumber += 1
                continue
            }
            if finished {
                if start < buffer.count {
                    lines.append(buffer[start...])
                    start = buffer.count
                    lineNumber += 1
                }
                break
            }
            // Compact, then read more. Lines already taken keep the old storage alive
            // (copy on write), so their indices stay valid.
            buffer.removeSubrange(0..<start)
            start = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
        return lines
    }

    private static func firstNewline(_ buffer: [UInt8], from start: Int) -> Int? {
        buffer.withUnsafeBufferPointer { b in
            guard start < b.count, let hit = memchr(b.baseAddress! + start, 0x0A, b.count - start) else { return nil }
            return b.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }
}
