/// The one JSON parser for everything the protocol signs or hashes.
///
/// Hand-written because no Swift library enforces the restrictions of I-JSON (RFC 7493)
/// with stable rejection codes: Foundation's `JSONSerialization` accepts duplicate member
/// names (keeping one silently), lone surrogates and out-of-range numbers, and reports
/// every failure as the same error. It applies every I-JSON restriction but the exclusion
/// of noncharacters (json.md), so it is not an I-JSON parser.
///
/// The checks run in a fixed order so the code for a given input is deterministic:
/// 1. size limit (`JSON_TOO_LARGE`), 2. byte-order mark (`JSON_BYTE_ORDER_MARK`),
/// 3. UTF-8 well-formedness of the whole input (`JSON_LONE_SURROGATE` for an encoded
/// surrogate, `JSON_INVALID_UTF8` otherwise), 4. the grammar in document order, where
/// the first of `JSON_SYNTAX`, `JSON_TOO_DEEP`, `JSON_DUPLICATE_MEMBER`,
/// `JSON_LONE_SURROGATE` (escaped) and `JSON_NUMBER_OUT_OF_RANGE` met wins.
///
/// Noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are accepted: they are Unicode
/// scalar values, JCS carries them unchanged, and rejecting them would buy nothing.
public struct StrictJSONParser: Sendable {
    public struct Limits: Sendable {
        /// Largest accepted input in bytes.
        public var maxBytes: Int
        /// Deepest accepted nesting of arrays and objects (a scalar has depth 0), never
        /// more than ``depthCeiling``.
        public var maxDepth: Int

        /// Nesting refused whatever `maxDepth` says (json.md JSON-014): the reader descends
        /// recursively, and this keeps its stack use bounded on any thread.
        public static let depthCeiling = 1000

        public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64) {
            self.maxBytes = maxBytes
            self.maxDepth = maxDepth
        }

        public static let `default` = Limits()
    }

    public var limits: Limits

    public init(limits: Limits = .default) { self.limits = limits }

    public func parse(_ bytes: some Collection<UInt8>) throws(AttestError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { (buffer) throws(AttestError) -> JSONValue in
            try parse(buffer: buffer)
        }
    }

    public func parse(_ text: String) throws(AttestError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public func parse(buffer: UnsafeBufferPointer<UInt8>) throws(AttestError) -> JSONValue {
        guard buffer.count <= limits.maxBytes else {
            throw AttestError(.jsonTooLarge, "input is \(buffer.count) bytes; the limit is \(limits.maxBytes)")
        }
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
            throw AttestError(.jsonByteOrderMark, "input starts with a UTF-8 byte-order mark")
        }
        try UTF8Validation.validate(buffer)
        var reader = Reader(bytes: buffer, maxDepth: min(limits.maxDepth, Limits.depthCeiling))
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        guard reader.position == buffer.count else {
            throw reader.syntax("unexpected data after the top-level value")
        }
        return value
    }
}

/// UTF-8 well-formedness per RFC 3629 (Unicode Table 3-7), with a distinct code for
/// an encoded surrogate (ED A0..BF xx), which CESU-8 and WTF-8 producers emit.
enum UTF8Validation {
    static func validate(_ b: UnsafeBufferPointer<UInt8>) throws(AttestError) {
        var i = 0
        let n = b.count
        while i < n {
            // ASCII runs, eight bytes at a time.
            while i + 8 <= n, UnsafeRawPointer(b.baseAddress! + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {  // trap-free: i + 8 <= n, so b is not empty
                i += 8
            }
            guard i < n else { return }
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            func bad(_ what: String) -> AttestError {
                AttestError(.jsonInvalidUTF8, "\(what) at byte \(i)")
            }
            func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
                i + k < n && b[i + k] >= lo && b[i + k] <= hi
            }
            switch c {
            case 0xC2...0xDF:
                guard cont(1) else { throw bad("truncated 2-byte sequence") }
                i += 2
            case 0xE0:
                guard cont(1, 0xA0, 0xBF), cont(2) else { throw bad("overlong or truncated 3-byte sequence") }
                i += 3
            case 0xED:
                if cont(1, 0xA0, 0xBF) && cont(2) {
                    throw AttestError(.jsonLoneSurrogate, "UTF-8-encoded surrogate code point at byte \(i)")
                }
                guard cont(1, 0x80, 0x9F), cont(2) else { throw bad("truncated 3-byte sequence") }
                i += 3
            case 0xE1...0xEC, 0xEE...0xEF:
                guard cont(1), cont(2) else { throw bad("truncated 3-byte sequence") }
                i += 3
            case 0xF0:
                guard cont(1, 0x90, 0xBF), cont(2), cont(3) else { throw bad("overlong or truncated 4-byte sequence") }
                i += 4
            case 0xF1...0xF3:
                guard cont(1), cont(2), cont(3) else { throw bad("truncated 4-byte sequence") }
                i += 4
            case 0xF4:
                guard cont(1, 0x80, 0x8F), cont(2), cont(3) else { throw bad("code point above U+10FFFF") }
                i += 4
            default:
                throw bad("byte 0x\(String(c, radix: 16)) cannot start a UTF-8 sequence")
            }
        }
    }
}

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func syntax(_ message: String) -> AttestError {
        AttestError(.jsonSyntax, "\(message) at byte \(position)")
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(AttestError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw syntax("truncated literal") }
        let start = literal.utf8Start
        for k in 0..<count where bytes[position + k] != start[k] {
            throw syntax("invalid literal")
        }
        position += count
    }

    mutating func parseValue(depth: Int) throws(AttestError) -> JSONValue {
        guard let c = current else { throw syntax("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw syntax("unexpected character")
        }
    }

    mutating func enter(_ depth: Int) throws(AttestError) {
        guard depth <= maxDepth else {
            throw AttestError(.jsonTooDeep, "nesting deeper than \(maxDepth) at byte \(position)")
        }
        position += 1
        skipWhitespace()
    }

    mutating func parseArray(depth: Int) throws(AttestError) -> [JSONValue] {
        try enter(depth)
        var elements: [JSONValue] = []
        if current == UInt8(ascii: "]") { position += 1; return elements }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1; skipWhitespace()
            case UInt8(ascii: "]"): position += 1; return elements
            default: throw syntax("expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(AttestError) -> JSONObject {
        try enter(depth)
        var members: [JSONObject.Member] = []
        // Built once an object passes 16 members (so empty means not built yet).
        var seen: Set<[UInt8]> = []
        if current == UInt8(ascii: "}") { position += 1; return JSONObject(members: members) }
        members.reserveCapacity(8)
        while true {
            guard current == UInt8(ascii: "\"") else { throw syntax("expected a member name") }
            let nameStart = position
            let name = try parseString()
            if members.count < 16 {
                if members.contains(where: { sameCodeUnits($0.name, name) }) {
                    throw AttestError(.jsonDuplicateMember, "duplicate member name \"\(name)\" at byte \(nameStart)")
                }
            } else {
                if seen.isEmpty { seen = Set(members.map { Array($0.name.utf8) }) }
                guard seen.insert(Array(name.utf8)).inserted else {
                    throw AttestError(.jsonDuplicateMember, "duplicate member name \"\(name)\" at byte \(nameStart)")
                }
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw syntax("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONObject.Member(name: name, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1; skipWhitespace()
            case UInt8(ascii: "}"): position += 1; return JSONObject(members: members)
            default: throw syntax("expected ',' or '}'")
            }
        }
    }

    mutating func parseString() throws(AttestError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes. The input is already valid UTF-8.
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw syntax("unescaped control character in string") }
            position += 1
        }
        var out = Array(bytes[start..<position])
        while true {
            guard position < bytes.count else { throw syntax("unterminated string") }
            let c = bytes[position]
            if c == UInt8(ascii: "\"") { position += 1; return String(decoding: out, as: UTF8.self) }
            if c < 0x20 { throw syntax("unescaped control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); position += 1; continue }
            position += 1
            guard let e = current else { throw syntax("unterminated escape") }
            position += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let escapeStart = position - 2
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                          bytes[position + 1] == UInt8(ascii: "u") else {
                        throw AttestError(.jsonLoneSurrogate, "high surrogate escape without a low surrogate at byte \(escapeStart)")
                    }
                    position += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else {
                        throw AttestError(.jsonLoneSurrogate, "high surrogate escape followed by a non-low-surrogate at byte \(escapeStart)")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw AttestError(.jsonLoneSurrogate, "low surrogate escape without a high surrogate at byte \(escapeStart)")
                }
                // Surrogates were refused above and a pair gives at most U+10FFFF, so
                // every value here is a scalar; the guard keeps that from being a trap.
                guard let decoded = Unicode.Scalar(scalar) else {
                    throw AttestError(.jsonLoneSurrogate, "escape at byte \(escapeStart) is not a Unicode scalar value")
                }
                UTF8.encode(decoded) { out.append($0) }
            default:
                throw syntax("invalid escape")
            }
        }
    }

    mutating func hex4() throws(AttestError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw syntax("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw syntax("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    mutating func digits() -> Int {
        let start = position
        while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { position += 1 }
        return position - start
    }

    mutating func parseNumber() throws(AttestError) -> JSONNumber {
        let start = position
        var plainInteger = true
        if current == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() > 0 else { throw syntax("expected a digit") }
        }
        let integerEnd = position
        if current == UInt8(ascii: ".") {
            plainInteger = false
            position += 1
            guard digits() > 0 else { throw syntax("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            plainInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw syntax("expected a digit in the exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        // An integer literal of at most 15 digits is below 2^53, so its double is exact
        // and equal to what `Double(text)` returns; other literals go through `Double`.
        let value: Double
        if plainInteger && integerEnd - integerStart <= 15 {
            var magnitude: Int64 = 0
            for k in integerStart..<integerEnd { magnitude = magnitude * 10 + Int64(bytes[k] &- UInt8(ascii: "0")) }
            value = start == integerStart ? Double(magnitude) : -Double(magnitude)
        } else if let parsed = Double(text) {
            value = parsed
        } else {
            throw AttestError(.jsonNumberOutOfRange, "number \(text) is beyond the IEEE 754 double range")
        }
        guard value.isFinite else {
            throw AttestError(.jsonNumberOutOfRange, "number \(text) is beyond the IEEE 754 double range")
        }
        if value == 0 {
            // A literal with a non-zero significand digit that rounds to zero has underflowed.
            let significand = text.prefix { $0 != "e" && $0 != "E" }
            if significand.contains(where: { $0 >= "1" && $0 <= "9" }) {
                throw AttestError(.jsonNumberOutOfRange, "number \(text) underflows the IEEE 754 double range")
            }
        }
        return JSONNumber(source: text, value: value)
    }
}
