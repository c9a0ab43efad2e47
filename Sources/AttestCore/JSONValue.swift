import Foundation

/// A JSON value as read by ``StrictJSONParser``.
///
/// Strings compare by their Unicode scalars, not by Swift's canonical equivalence:
/// `"\u00e9"` and `"e\u0301"` are different JSON strings (RFC 8259 §8.3), and treating
/// them as equal would let two distinct member names collide.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A number keeps the exact text it was read from alongside its IEEE double value.
public struct JSONNumber: Sendable, Equatable {
    /// The literal as it appeared in the input (`1.50`, `1e3`, ...).
    public let source: String
    public let value: Double

    public init(source: String, value: Double) {
        self.source = source
        self.value = value
    }

    /// A number built by code, whose source text is its JCS form.
    public init(_ value: Double) {
        self.value = value
        self.source = JCS.format(value)
    }

    public init(_ value: Int) { self.init(Double(value)) }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool { a.value == b.value }
}

/// An object whose members keep the order in which they were read.
public struct JSONObject: Sendable, Sequence {
    public struct Member: Sendable {
        public let name: String
        public var value: JSONValue
    }

    public private(set) var members: [Member]

    public init() { members = [] }

    /// Builds an object from pairs; a later pair with an existing name replaces it.
    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        members = []
        for (name, value) in pairs { self[name] = value }
    }

    public init(members: [Member]) { self.members = members }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var names: [String] { members.map(\.name) }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    public subscript(name: String) -> JSONValue? {
        get { index(of: name).map { members[$0].value } }
        set {
            if let i = index(of: name) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append(Member(name: name, value: newValue))
            }
        }
    }

    public func contains(_ name: String) -> Bool { index(of: name) != nil }

    public func index(of name: String) -> Int? {
        // Lengths first: they are in the strings' headers, so most members are passed
        // over without reading their bytes.
        let count = name.utf8.count
        return members.withUnsafeBufferPointer { members in
            for i in 0..<members.count where members[i].name.utf8.count == count && sameCodeUnits(members[i].name, name) {
                return i
            }
            return nil
        }
    }
}

/// Whether two strings are the same sequence of code points: equal UTF-8 bytes. (Swift's
/// `==` would also equate canonically equivalent strings.)
///
/// Reads both strings in place (no copy, so no reference counting per comparison: an
/// object lookup compares the name with every member's name).
@inline(__always)
public func sameCodeUnits(_ a: String, _ b: String) -> Bool {
    let count = a.utf8.count
    guard count == b.utf8.count else { return false }
    let same = a.utf8.withContiguousStorageIfAvailable { pa in
        b.utf8.withContiguousStorageIfAvailable { pb in
            // Member names are mostly a few bytes: a loop beats a call to memcmp.
            if count <= 16 {
                for k in 0..<count where pa[k] != pb[k] { return false }
                return true
            }
            return memcmp(pa.baseAddress!, pb.baseAddress!, count) == 0  // trap-free: count > 16, so both buffers have storage
        }
    }
    if let same, let same { return same }
    return a.utf8.elementsEqual(b.utf8)
}

extension JSONObject: Equatable {
    /// Objects are equal when they hold the same names with equal values, in any order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        for member in a.members {
            guard let other = b[member.name], other == member.value else { return false }
        }
        return true
    }
}

extension JSONValue: Equatable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        default: return false
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (name, value) in elements { object[name] = value }
        self = .object(object)
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var numberValue: JSONNumber? { if case .number(let n) = self { return n } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// The value as an exact integer, when it is a number with no fractional part
    /// within ±2^53 (the range in which a double is exact).
    public var integerValue: Int64? {
        guard case .number(let n) = self, n.value.rounded() == n.value,
              abs(n.value) <= 9_007_199_254_740_992 else { return nil }
        return Int64(n.value)
    }

    /// The value as an unsigned 64-bit integer read exactly from its source text, when
    /// that text is a plain non-negative integer literal (`18446744073709551615` reads
    /// exactly although no double holds it).
    public var unsignedValue: UInt64? {
        guard case .number(let n) = self else { return nil }
        return UInt64(n.source)
    }

    public subscript(name: String) -> JSONValue? { objectValue?[name] }

    /// A short name for the value's type, used in messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (name, value) in elements { self[name] = value }
    }
}
