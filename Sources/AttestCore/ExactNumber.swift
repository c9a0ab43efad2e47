/// Exact numbers (json.md §Exact numbers).
///
/// The strict parser reads a number as an IEEE double, and JCS serializes that double.
/// A literal such as `100000000000000008191` parses to the same double as `1e20`, so a
/// signature or hash over the JCS form would bind both, while a consumer that keeps
/// exact integers acts on another amount than was signed. A literal is *exact* when it
/// denotes the same decimal value as the JCS form of its double: `1.0`, `1e2`, `0.1`
/// and `-0` are exact; `100000000000000008191` and `0.30000000000000001` are not.
extension JSONNumber {
    public var isExact: Bool {
        guard let literal = DecimalValue(source.utf8), let canonical = DecimalValue(JCS.format(value).utf8) else {
            return false
        }
        return literal == canonical
    }
}

extension JSONValue {
    /// The first number, in document order, that is not exact; nil when every number is.
    /// Walks with an explicit stack, so nesting depth costs no call stack.
    public var firstInexactNumber: JSONNumber? {
        var stack: [JSONValue] = [self]
        while let value = stack.popLast() {
            switch value {
            case .number(let n): if !n.isExact { return n }
            case .array(let items): stack.append(contentsOf: items.reversed())
            case .object(let o): stack.append(contentsOf: o.members.reversed().map(\.value))
            default: break
            }
        }
        return nil
    }
}

/// A decimal value in a normal form: zero, or a sign, a digit string with no leading or
/// trailing zero, and a power of ten. Two JSON number texts denote the same value exactly
/// when their normal forms are equal.
struct DecimalValue: Equatable {
    var negative = false
    var digits: [UInt8] = []
    var exponent = 0

    /// Reads a JSON number (RFC 8259 grammar); nil for any other text.
    init?<Text: Collection>(_ text: Text) where Text.Element == UInt8 {
        var i = text.startIndex
        if i < text.endIndex, text[i] == UInt8(ascii: "-") {
            negative = true
            i = text.index(after: i)
        }
        var fractionDigits = 0
        var inFraction = false
        var sawDigit = false
        while i < text.endIndex {
            let c = text[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                sawDigit = true
                if !(digits.isEmpty && c == UInt8(ascii: "0")) { digits.append(c) }
                if inFraction { fractionDigits += 1 }
            } else if c == UInt8(ascii: "."), !inFraction {
                inFraction = true
            } else {
                break
            }
            i = text.index(after: i)
        }
        guard sawDigit else { return nil }
        // The power of ten written after `e`, saturated: no exact double has a nonzero
        // mantissa with an exponent anywhere near the bound, so saturation never makes two
        // different values equal.
        var written = 0
        if i < text.endIndex, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i = text.index(after: i)
            var sign = 1
            if i < text.endIndex, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") {
                if text[i] == UInt8(ascii: "-") { sign = -1 }
                i = text.index(after: i)
            }
            var sawExponentDigit = false
            while i < text.endIndex, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "9") {
                sawExponentDigit = true
                if written < 1_000_000_000_000 { written = written * 10 + Int(text[i] - UInt8(ascii: "0")) }
                i = text.index(after: i)
            }
            guard sawExponentDigit else { return nil }
            written *= sign
        }
        guard i == text.endIndex else { return nil }
        // Leading zeros were never kept; a fraction's leading zeros only shift the exponent.
        exponent = written - fractionDigits
        var trailing = 0
        while trailing < digits.count, digits[digits.count - 1 - trailing] == UInt8(ascii: "0") { trailing += 1 }
        digits.removeLast(trailing)
        exponent += trailing
        if digits.isEmpty {
            negative = false
            exponent = 0
        }
    }
}
