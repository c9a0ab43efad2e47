#if DEBUG
@testable import AttestCore
@testable import AttestEvidence
#else
import AttestCore
import AttestEvidence
#endif

extension FuzzTargets {
    /// Strict JSON on arbitrary bytes, under small and default limits. Whatever parses
    /// survives serialization (compact and pretty) and JCS: each parses back to the
    /// same value, and a value accepted under the small limits is accepted, identical,
    /// under the default ones.
    @Sendable public static func json(_ data: [UInt8]) throws(OracleFailure) {
        let small = StrictJSONParser.Limits(maxBytes: 256, maxDepth: 4)
        var smallValue: JSONValue? = nil
        for limits in [small, .default] {
            let value: JSONValue
            do { value = try StrictJSONParser(limits: limits).parse(data) } catch { continue }
            if limits.maxBytes == small.maxBytes { smallValue = value }
            // Serialized text may be longer than the input (pretty-printing adds
            // whitespace), never deeper.
            let roomy = StrictJSONParser(limits: .init(maxBytes: .max, maxDepth: limits.maxDepth))
            for pretty in [false, true] {
                let serialized = value.serialized(pretty: pretty)
                let again: JSONValue
                do { again = try roomy.parse(serialized) } catch {
                    throw OracleFailure("serialized(pretty: \(pretty)) does not parse: \(error)\n\(serialized)")
                }
                try check(identical(again, value), "serialized(pretty: \(pretty)) parses to another value:\n\(serialized)")
            }
            let canonical = JCS.canonicalize(value)
            let reparsed: JSONValue
            do { reparsed = try roomy.parse(canonical) } catch {
                throw OracleFailure("JCS output does not parse: \(error)\n\(text(canonical))")
            }
            try check(reparsed == value, "JCS output parses to another value: \(text(canonical))")
            guard let viaJSON = try? JCS.canonicalize(json: data, limits: limits) else {
                throw OracleFailure("JCS.canonicalize(json:) rejects what the parser accepted")
            }
            try check(viaJSON == canonical, "JCS.canonicalize(json:) differs from canonicalize(parse(_:))")
        }
        if let smallValue {
            guard let value = try? StrictJSONParser().parse(data) else {
                throw OracleFailure("accepted under the small limits, rejected under the default ones")
            }
            try check(identical(value, smallValue), "the default limits give another value than the small ones")
        }
    }

    /// JCS: round trip and idempotence, the output checked against a slow reference
    /// (UTF-16 member order, per-scalar escaping), the in-place member removal against
    /// removing from a copy, the byte-wise name order against UTF-16 order, and every
    /// number's text against ECMAScript's layout rules.
    @Sendable public static func jcs(_ data: [UInt8]) throws(OracleFailure) {
        guard let value = try? StrictJSONParser().parse(data) else { return }
        let canonical = JCS.canonicalize(value)
        guard let reparsed = try? StrictJSONParser(limits: .init(maxBytes: .max)).parse(canonical) else {
            throw OracleFailure("JCS output does not parse: \(text(canonical))")
        }
        try check(reparsed == value, "JCS output parses to another value")
        try check(JCS.canonicalize(reparsed) == canonical, "JCS is not idempotent: \(text(canonical))")
        let reference = referenceCanonical(value)
        try check(reference == canonical, "JCS differs from the reference:\n\(text(canonical))\n\(text(reference))")

        try checkReceiptEncoder(value)
        for v in allValues(value) {
            switch v {
            case .number(let n):
                try checkNumberText(n.value)
            case .object(let o):
                #if DEBUG
                let names = o.names.prefix(8)
                for a in names {
                    for b in names {
                        try check(JCS.precedes(a, b) == a.utf16.lexicographicallyPrecedes(b.utf16),
                                  "precedes(\(a.debugDescription), \(b.debugDescription)) disagrees with UTF-16 order")
                    }
                }
                #endif
                for member in o.members.prefix(3) {
                    guard case .object(let inner) = member.value else { continue }
                    var removing: [String] = []
                    for name in [inner.names.first, inner.names.last, "_absent", inner.names.dropFirst().first].compactMap({ $0 })
                        where !removing.contains(where: { sameCodeUnits($0, name) }) {
                        removing.append(name)
                    }
                    var copy = o
                    var innerCopy = inner
                    for name in removing { innerCopy[name] = nil }
                    copy[member.name] = .object(innerCopy)
                    try check(JCS.canonicalize(o, removing: removing, fromMember: member.name) == JCS.canonicalize(.object(copy)),
                              "canonicalize(_:removing:fromMember:) differs from removing from a copy (member \(member.name.debugDescription))")
                }
            default:
                break
            }
        }
    }

    /// The receipt encoder, which writes the canonical form of a receipt directly, against
    /// JCS of the same receipt as a JSON object, with fields taken from `value`'s strings
    /// and numbers (any text, escapes and non-ASCII included).
    static func checkReceiptEncoder(_ value: JSONValue) throws(OracleFailure) {
        #if DEBUG
        let values = allValues(value)
        let strings = values.compactMap(\.stringValue) + ["log", "artifact", "session", "sub", "jkt", "tools/call", "tool"]
        let numbers = values.compactMap(\.integerValue) + [0, 0]
        let digest = { (k: Int) in SHA256.hash(Array(strings[k].utf8)) }
        let decision = [Receipt.Decision.allow, .deny, .phantom][abs(Int(numbers[0] % 3))]
        let code = decision == .allow ? nil : ErrorCode.allCases[abs(Int(numbers[1] % Int64(ErrorCode.allCases.count)))]
        let agent = values.count % 2 == 0 ? (sub: strings[3], jkt: strings[4]) : nil
        let tool = values.count % 3 == 0 ? nil : strings[6]
        let fields = ReceiptFields(log: strings[0], seq: numbers[0].magnitude, time: numbers[1], prev: digest(1), artifact: strings[1],
                                   session: strings[2], agent: agent, method: strings[5], tool: tool, decision: decision,
                                   code: code, request: digest(2), response: digest(3))
        var o: JSONObject = [
            "type": .string(Receipt.typeName), "log": .string(fields.log), "seq": .number(JSONNumber(Double(fields.seq))),
            "time": .number(JSONNumber(Double(fields.time))), "prev": .string(Base64URL.encode(fields.prev)),
            "artifact": .string(fields.artifact), "session": .string(fields.session), "method": .string(fields.method),
            "decision": .string(decision.rawValue), 
        ]
        if let r = fields.request { o["request"] = .string(Base64URL.encode(r)) }
        if let r = fields.response { o["response"] = .string(Base64URL.encode(r)) }
        if let c = fields.call { o["call"] = .number(JSONNumber(Double(c))) }
        if let u = fields.upstream { o["upstream"] = u }
        if let agent { o["agent"] = ["sub": .string(agent.sub), "jkt": .string(agent.jkt)] }
        if let tool { o["tool"] = .string(tool) }
        if let code { o["code"] = .string(code.rawValue) }
        try check(fields.encode() == JCS.canonicalize(.object(o)), "ReceiptFields.encode() differs from JCS of the receipt object")
        guard let signed = try? fields.sign(with: EvidenceFixture.logKey) else { throw OracleFailure("a receipt could not be signed") }
        guard let line = try? StrictJSONParser().parse(signed.line), let sig = line["sig"] else {
            throw OracleFailure("a signed receipt line does not parse")
        }
        o["sig"] = sig
        try check(signed.line == JCS.canonicalize(.object(o)), "the signed receipt line is not JCS of the signed receipt")
        #endif
    }

    /// The text of a number: it reads back as the same double, and has the layout of
    /// ECMAScript `Number.prototype.toString` (exponent form exactly outside [1e-6, 1e21)).
    static func checkNumberText(_ value: Double) throws(OracleFailure) {
        let formatted = JCS.format(value)
        guard let back = Double(formatted) else { throw OracleFailure("JCS.format(\(value)) = \(formatted) does not read back") }
        try check(back == value, "JCS.format(\(value)) = \(formatted) reads back as \(back)")
        let magnitude = abs(value)
        let exponent = formatted.contains("e")
        try check(exponent == (magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21)),
                  "JCS.format(\(value)) = \(formatted) has the wrong layout")
        try check(!formatted.hasSuffix(".0") && !formatted.contains("e+0") && !formatted.contains("e-0") && !formatted.contains(".e"),
                  "JCS.format(\(value)) = \(formatted) is not minimal")
    }

    /// RFC 8785 written the slow and obvious way.
    static func referenceCanonical(_ value: JSONValue) -> [UInt8] {
        switch value {
        case .null: return Array("null".utf8)
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        case .number(let n): return Array(JCS.format(n.value).utf8)
        case .string(let s): return referenceString(s)
        case .array(let items):
            return Array("[".utf8) + Array(items.map(referenceCanonical).joined(separator: Array(",".utf8))) + Array("]".utf8)
        case .object(let o):
            let sorted = o.members.enumerated().sorted { x, y in
                let a = Array(x.element.name.utf16), b = Array(y.element.name.utf16)
                return a == b ? x.offset < y.offset : a.lexicographicallyPrecedes(b)
            }
            let members = sorted.map { referenceString($0.element.name) + Array(":".utf8) + referenceCanonical($0.element.value) }
            return Array("{".utf8) + Array(members.joined(separator: Array(",".utf8))) + Array("}".utf8)
        }
    }

    static func referenceString(_ s: String) -> [UInt8] {
        var out = Array("\"".utf8)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += Array("\\\"".utf8)
            case 0x5C: out += Array("\\\\".utf8)
            case 0x08: out += Array("\\b".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0..<0x20:
                let hex = String(scalar.value, radix: 16)
                out += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: out += Array(String(scalar).utf8)
            }
        }
        return out + Array("\"".utf8)
    }

    /// base64url: whatever decodes re-encodes to the same text; any bytes encode to a
    /// text that decodes back; the decoder agrees with a slow reference on every input
    /// (bytes or first error code), and `isStrictEncoding` with both.
    @Sendable public static func base64url(_ data: [UInt8]) throws(OracleFailure) {
        let decoded = Decoding { () throws(AttestError) in try Base64URL.decode(utf8: data) }
        let reference = referenceDecode(data)
        try check(decoded == reference, "decoder gives \(decoded), the reference \(reference)")
        if case .bytes(let bytes) = decoded {
            try check(Array(Base64URL.encode(bytes).utf8) == data, "decoded bytes do not re-encode to the input")
        }
        if let string = String(validating: data, as: UTF8.self) {
            let viaString = Decoding { () throws(AttestError) in try Base64URL.decode(string) }
            try check(viaString == decoded, "decode(String) gives \(viaString), decode(utf8:) \(decoded)")
            for count in Set([data.count * 3 / 4 - 1, data.count * 3 / 4, data.count * 3 / 4 + 1]) where count >= 0 {
                var expected = false
                if case .bytes(let b) = decoded { expected = b.count == count }
                try check(Base64URL.isStrictEncoding(string, ofByteCount: count) == expected,
                          "isStrictEncoding(_, ofByteCount: \(count)) is \(!expected)")
            }
        }
        let encoded = Base64URL.encode(data)
        try check(encoded.utf8.count == Base64URL.encodedCount(data.count), "encodedCount is not the encoded length")
        try check(Base64URL.encode(data.lazy.map { $0 }) == encoded, "the generic encoder differs from the buffer encoder")
        try check((try? Base64URL.decode(encoded)) == data, "encoded bytes do not decode back")
    }

    /// What a decoder made of an input: the bytes, or the code it rejected it with.
    enum Decoding: Equatable {
        case bytes([UInt8])
        case rejected(ErrorCode)

        init(_ body: () throws(AttestError) -> [UInt8]) {
            do { self = .bytes(try body()) } catch { self = .rejected(error.code) }
        }
    }

    /// RFC 4648 §5 without padding, strict, one character at a time; the first defect
    /// in the order character, length, trailing bits.
    static func referenceDecode(_ text: [UInt8]) -> Decoding {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var values: [UInt8] = []
        for c in text {
            guard let v = alphabet.firstIndex(of: c) else {
                switch c {
                case UInt8(ascii: "="): return .rejected(.base64Padding)
                case 0x20, 0x09, 0x0A, 0x0D: return .rejected(.base64Whitespace)
                default: return .rejected(.base64InvalidCharacter)
                }
            }
            values.append(UInt8(v))
        }
        if values.count % 4 == 1 { return .rejected(.base64InvalidLength) }
        var bits: [Bool] = []
        for v in values { for k in (0..<6).reversed() { bits.append(v >> k & 1 == 1) } }
        let byteCount = bits.count / 8
        if bits[(byteCount * 8)...].contains(true) { return .rejected(.base64NonZeroTrailingBits) }
        return .bytes((0..<byteCount).map { i in
            (0..<8).reduce(UInt8(0)) { $0 << 1 | (bits[i * 8 + $1] ? 1 : 0) }
        })
    }
}
