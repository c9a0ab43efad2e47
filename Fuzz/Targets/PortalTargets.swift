import AttestCore
import AttestPortalFraming

extension FuzzTargets {
    /// The portal's stdio framing and message sorting. Byte 0 picks the line limit, byte 1
    /// seeds the split of the rest into reads. The frames must not depend on the split and
    /// must equal a slow reference; no returned line is empty, over the limit, or holds a
    /// newline. Each line is sorted as the portal sorts client messages: a request has a
    /// string or integer id, and every rejection is one line of a JSON-RPC error object
    /// (-31000, its registry code in `data`) whose id is null or the message's own id.
    @Sendable public static func portalFraming(_ data: [UInt8]) throws(OracleFailure) {
        guard data.count >= 2 else { return }
        let limit = [1, 8, 64, 512, 4096][Int(data[0]) % 5]
        let stream = Array(data.dropFirst(2))

        var whole = LineFramer(maxBytes: limit)
        let expected = whole.feed(stream)
        try check(expected == referenceFrames(stream, limit: limit), "the framer differs from the reference (limit \(limit))")

        var split = LineFramer(maxBytes: limit)
        var frames: [LineFramer.Frame] = []
        var state = UInt32(data[1]) &* 2_654_435_761 | 1
        var offset = 0
        while offset < stream.count {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            let length = min(stream.count - offset, Int(state % 19))
            frames += split.feed(stream[offset..<(offset + length)])
            offset += length
        }
        try check(frames == expected, "the frames depend on how the bytes were split into reads (limit \(limit))")

        for frame in expected {
            guard case .line(let line) = frame else { continue }
            try check(!line.isEmpty && line.count <= limit, "a framed line of \(line.count) bytes (limit \(limit))")
            try check(!line.contains(0x0A), "a framed line holds a newline")
            try checkSorting(line, limit: limit)
        }
    }

    static func checkSorting(_ line: [UInt8], limit: Int) throws(OracleFailure) {
        let parsed = try? StrictJSONParser(limits: .init(maxBytes: .max)).parse(line)
        switch ClientMessage.classify(line, maxMessageBytes: limit) {
        case .request(let object, let method):
            try check(object["method"]?.stringValue?.isExactly(method) == true, "a request's method is not the one reported")
            let id = object["id"]
            let isRequestID: Bool
            if case .string? = id { isRequestID = true } else { isRequestID = id?.integerValue != nil }
            try check(isRequestID, "a request without a string or integer id")
            try check(object["jsonrpc"]?.stringValue?.isExactly("2.0") == true, "a request that is not JSON-RPC 2.0")
        case .oneWay(let object):
            try check(object["jsonrpc"]?.stringValue?.isExactly("2.0") == true, "a one-way message that is not JSON-RPC 2.0")
        case .invalid(let reply):
            try check(reply.count == 3 && reply["jsonrpc"]?.stringValue?.isExactly("2.0") == true, "a rejection that is not a JSON-RPC 2.0 response")
            guard case .object(let error)? = reply["error"] else { throw OracleFailure("a rejection without an error object") }
            try check(error["code"]?.integerValue == -31000 && error["message"]?.stringValue != nil,
                      "a rejection's error is not -31000 with a message")
            try check(error["data"]?["code"]?.stringValue.flatMap { ErrorCode(rawValue: $0) } != nil,
                      "a rejection's data does not name a registry code")
            let id = reply["id"] ?? .null
            if id != .null {
                guard let own = parsed?["id"] else { throw OracleFailure("a rejection names an id the message does not have") }
                try check(identical(id, own), "a rejection names another id than the message's")
            }
            try check(!Array(JSONValue.object(reply).serialized(pretty: false).utf8).contains(0x0A), "a rejection is not one line")
        }
    }

    /// Framing as the spec states it: split at each newline; a segment longer than the
    /// limit is reported once (and its end skipped); otherwise one trailing CR is dropped
    /// and a non-empty line returned. An unterminated tail yields only its overflow.
    static func referenceFrames(_ stream: [UInt8], limit: Int) -> [LineFramer.Frame] {
        var frames: [LineFramer.Frame] = []
        var segments = stream.split(separator: 0x0A, omittingEmptySubsequences: false)
        let tail = segments.removeLast()  // trap-free: split without omitting always returns at least one segment
        for segment in segments {
            if segment.count > limit {
                frames.append(.tooLong)
            } else {
                var line = Array(segment)
                if line.last == 0x0D { line.removeLast() }
                if !line.isEmpty { frames.append(.line(line)) }
            }
        }
        if tail.count > limit { frames.append(.tooLong) }
        return frames
    }
}
