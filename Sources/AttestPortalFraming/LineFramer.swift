/// Newline-delimited JSON-RPC framing (MCP's stdio transport): a message is one line of
/// at most `maxBytes` bytes. A longer line is skipped to its end, never buffered whole,
/// so neither peer can make the portal hold more than one line's limit.
package struct LineFramer {
    package let maxBytes: Int
    private var buffer: [UInt8] = []
    private var skipping = false

    package init(maxBytes: Int) { self.maxBytes = maxBytes }

    package enum Frame: Equatable { case line([UInt8]), tooLong }

    /// Feeds bytes read from the peer; returns the complete frames they end.
    package mutating func feed(_ bytes: some Collection<UInt8>) -> [Frame] {
        var frames: [Frame] = []
        for byte in bytes {
            if byte == 0x0A {
                if skipping {
                    skipping = false
                } else {
                    var line = buffer
                    if line.last == 0x0D { line.removeLast() }
                    if !line.isEmpty { frames.append(.line(line)) }
                }
                buffer.removeAll(keepingCapacity: buffer.count <= 1 << 16)
            } else if !skipping {
                if buffer.count >= maxBytes {
                    skipping = true
                    buffer.removeAll()
                    frames.append(.tooLong)
                } else {
                    buffer.append(byte)
                }
            }
        }
        return frames
    }
}
