/// RFC 8785 JSON Canonicalization Scheme.
///
/// Hand-written because the output must be exact to the byte and no maintained Swift
/// library implements RFC 8785. Member names sort by UTF-16 code units (RFC 8785
/// §3.2.3), strings use the minimal escaping of ECMAScript `JSON.stringify`, and
/// numbers use ECMAScript `Number.prototype.toString` (RFC 8785 §3.2.2.3), built from
/// Swift's shortest round-trip digits.
public enum JCS {
    /// The canonical bytes of a value.
    public static func canonicalize(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    /// Parses with ``StrictJSONParser`` and canonicalizes.
    public static func canonicalize(json bytes: some Collection<UInt8>,
                                    limits: StrictJSONParser.Limits = .default) throws(AttestError) -> [UInt8] {
        canonicalize(try StrictJSONParser(limits: limits).parse(bytes))
    }

    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: format(n.value).utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            writeObject(object.members, skipping: nil, into: &out) { i, out in write(object.members[i].value, into: &out) }
        }
    }

    /// The canonical bytes of `object` as if its first member named `member`, when that
    /// member is an object, had first lost its first member of each of `names` (which
    /// are distinct): the bytes of removing them and canonicalizing, without copying
    /// either object.
    public static func canonicalize(_ object: JSONObject, removing names: [String], fromMember member: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        let target = object.index(of: member)
        writeObject(object.members, skipping: nil, into: &out) { i, out in
            guard i == target, case .object(let inner) = object.members[i].value else {
                write(object.members[i].value, into: &out)
                return
            }
            let removed = names.compactMap { inner.index(of: $0) }
            writeObject(inner.members, skipping: removed.isEmpty ? nil : { removed.contains($0) }, into: &out) { k, out in
                write(inner.members[k].value, into: &out)
            }
        }
        return out
    }

    /// `{`, the members in JCS order (a stable sort by name) without those `skip`
    /// names, each as name `:` and the value `writeValue` writes for its index, and
    /// `}`. Small objects sort an index array on the stack; larger ones on the heap.
    static func writeObject(_ members: [JSONObject.Member], skipping skip: ((Int) -> Bool)?, into out: inout [UInt8],
                            value writeValue: (Int, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "{"))
        let n = members.count
        func emit(_ order: UnsafeBufferPointer<Int>, _ count: Int, _ out: inout [UInt8]) {
            for p in 0..<count {
                if p > 0 { out.append(UInt8(ascii: ",")) }
                writeString(members[order[p]].name, into: &out)
                out.append(UInt8(ascii: ":"))
                writeValue(order[p], &out)
            }
        }
        if n <= 16 {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(n, 1)) { order in
                // Insertion sort: an element moves only before names it strictly precedes,
                // so equal names keep their order, as a stable sort keeps it.
                var count = 0
                for i in 0..<n where skip?(i) != true {
                    var j = count
                    while j > 0 && precedes(members[i].name, members[order[j - 1]].name) {
                        order[j] = order[j - 1]
                        j -= 1
                    }
                    order[j] = i
                    count += 1
                }
                emit(UnsafeBufferPointer(order), count, &out)
            }
        } else {
            let order = (0..<n).filter { skip?($0) != true }.sorted { precedes(members[$0].name, members[$1].name) }
            order.withUnsafeBufferPointer { emit($0, order.count, &out) }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Whether `a` sorts before `b` as arrays of UTF-16 code units (RFC 8785 §3.2.3).
    /// UTF-8 byte order is code point order, which equals UTF-16 order except between a
    /// code point at or above U+10000 and one in U+E000...U+FFFF (lead bytes 0xEE and
    /// above). The first differing code points decide both orders, so the bytes are
    /// compared, and only when either of those code points has such a lead byte are the
    /// UTF-16 views compared.
    static func precedes(_ a: String, _ b: String) -> Bool {
        let byBytes: Bool??? = a.utf8.withContiguousStorageIfAvailable { pa in
            b.utf8.withContiguousStorageIfAvailable { pb -> Bool? in
                let n = min(pa.count, pb.count)
                var i = 0
                while i < n && pa[i] == pb[i] { i += 1 }
                if i == n { return pa.count < pb.count }
                // The bytes before i are equal, so both code points start at the same place.
                var lead = i
                while lead > 0 && pa[lead] & 0xC0 == 0x80 { lead -= 1 }
                if pa[lead] >= 0xEE || pb[lead] >= 0xEE { return nil }
                return pa[i] < pb[i]
            }
        }
        if let byBytes, let byBytes, let byBytes { return byBytes }
        return a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape at all: copy them whole, scanning the bytes in place.
        let copied = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte == 0x22 || byte == 0x5C { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        if copied == nil && !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x00..<0x20:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// ECMAScript `Number.prototype.toString(10)` for a finite double.
    public static func format(_ value: Double) -> String {
        precondition(value.isFinite, "JCS cannot represent NaN or infinity")
        if value == 0 { return "0" }  // also -0
        // Integers within ±2^53 print as their decimal digits, as Number.prototype.toString
        // prints them; this is the common case and skips the digit extraction below.
        if value.rounded(.towardZero) == value && abs(value) <= 9_007_199_254_740_992 { return String(Int64(value)) }
        if value < 0 { return "-" + format(-value) }
        let (digits, exponent) = shortestDigits(value)
        // value = 0.d1d2...dk × 10^n, with k = digits.count and n = exponent (ECMA-262 §6.1.6.1.20).
        let k = digits.count
        let n = exponent
        if k <= n && n <= 21 {
            return String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: n - k)
        }
        if 0 < n && n <= 21 {
            return String(decoding: digits[0..<n], as: UTF8.self) + "." + String(decoding: digits[n...], as: UTF8.self)
        }
        if -6 < n && n <= 0 {
            return "0." + String(repeating: "0", count: -n) + String(decoding: digits, as: UTF8.self)
        }
        let e = n - 1
        let sign = e < 0 ? "-" : "+"
        let mantissa = k == 1
            ? String(UnicodeScalar(digits[0]))
            : String(UnicodeScalar(digits[0])) + "." + String(decoding: digits[1...], as: UTF8.self)
        return mantissa + "e" + sign + String(abs(e))
    }

    /// The shortest digit string that round-trips, and the exponent n with
    /// value = 0.digits × 10^n. Swift's `description` already produces the shortest
    /// round-trip digits, choosing the one closest to the exact value on ties, which is
    /// what ECMA-262 requires; only the layout differs, so it is re-parsed here.
    static func shortestDigits(_ value: Double) -> (digits: [UInt8], exponent: Int) {
        let text = Array(value.description.utf8)  // e.g. "1.5", "1e-07", "1.7976931348623157e+308"
        var mantissaDigits: [UInt8] = []
        var pointPosition: Int? = nil
        var i = 0
        while i < text.count, text[i] != UInt8(ascii: "e") {
            if text[i] == UInt8(ascii: ".") { pointPosition = mantissaDigits.count } else { mantissaDigits.append(text[i]) }
            i += 1
        }
        var exponent10 = 0
        if i < text.count {
            var j = i + 1
            var negative = false
            if text[j] == UInt8(ascii: "-") { negative = true; j += 1 } else if text[j] == UInt8(ascii: "+") { j += 1 }
            while j < text.count { exponent10 = exponent10 * 10 + Int(text[j] - UInt8(ascii: "0")); j += 1 }
            if negative { exponent10 = -exponent10 }
        }
        let integerDigits = pointPosition ?? mantissaDigits.count
        // Strip leading zeros (e.g. "0.001") and trailing zeros (e.g. "100.0").
        var leading = 0
        while leading < mantissaDigits.count - 1, mantissaDigits[leading] == UInt8(ascii: "0") { leading += 1 }
        var end = mantissaDigits.count
        while end > leading + 1, mantissaDigits[end - 1] == UInt8(ascii: "0") { end -= 1 }
        let digits = Array(mantissaDigits[leading..<end])
        return (digits, integerDigits - leading + exponent10)
    }
}
