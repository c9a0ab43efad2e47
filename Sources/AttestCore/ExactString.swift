/// A protocol string that compares, hashes and orders by its UTF-8 bytes, so by exact
/// code points (conventions.md: names are never compared by Unicode equivalence).
///
/// Swift's `String` equality and hashing treat canonically equivalent strings as equal:
/// `"\u{212A}ill_job"` (KELVIN SIGN) equals `"Kill_job"`, `"cafe\u{301}"` equals `"café"`.
/// Tool, argument, member, issuer, origin and key names are therefore kept as
/// `ExactString` wherever they are looked up or compared.
public struct ExactString: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    public var description: String { value }

    public static func == (a: ExactString, b: ExactString) -> Bool { sameCodeUnits(a.value, b.value) }

    public func hash(into hasher: inout Hasher) {
        var copy = value
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Byte order of the UTF-8 form, which is code point order.
    public static func < (a: ExactString, b: ExactString) -> Bool { a.value.utf8.lexicographicallyPrecedes(b.value.utf8) }
}

extension String {
    /// Whether the two strings are the same code points (equal UTF-8 bytes).
    @inline(__always)
    public func isExactly(_ other: String) -> Bool { sameCodeUnits(self, other) }
}

extension Sequence where Element == String {
    /// Whether one element is exactly `name` (code points, not canonical equivalence).
    public func containsExactly(_ name: String) -> Bool { contains { sameCodeUnits($0, name) } }
}
