import AttestCore

/// The argument constraint language of sealed artifacts (spec/artifact.md §Constraints).
///
/// It is deliberately small so that both evaluation and "is this constraint narrower
/// than that one" are decidable and exact: a type, then any of `const`, `enum`,
/// `minimum`/`maximum`, `min_length`/`max_length` (in Unicode scalars), `prefix`,
/// `min_items`/`max_items`. There is no regular expression.
public struct Constraint: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case string, integer, number, boolean, array }

    public let kind: Kind
    public let const: JSONValue?
    public let `enum`: [JSONValue]?
    public let minimum: Double?
    public let maximum: Double?
    public let minLength: Int?
    public let maxLength: Int?
    public let prefix: String?
    public let minItems: Int?
    public let maxItems: Int?

    static let members: [String] = ["type", "const", "enum", "minimum", "maximum", "min_length", "max_length",
                                       "prefix", "min_items", "max_items"]

    public init(json: JSONValue) throws(AttestError) {
        guard case .object(let o) = json else { throw Self.malformed("a constraint is an object") }
        for name in o.names where !Self.members.containsExactly(name) { throw Self.malformed("unknown constraint member \"\(name)\"") }
        guard let kindName = o["type"]?.stringValue, let kind = Kind.allCases.first(where: { $0.rawValue.isExactly(kindName) }) else {
            throw Self.malformed("constraint \"type\" is one of string, integer, number, boolean, array")
        }
        self.kind = kind
        func count(_ name: String) throws(AttestError) -> Int? {
            guard let v = o[name] else { return nil }
            guard let i = v.integerValue, i >= 0 else { throw Self.malformed("\"\(name)\" is a non-negative integer") }
            return Int(i)
        }
        func number(_ name: String) throws(AttestError) -> Double? {
            guard let v = o[name] else { return nil }
            guard let n = v.numberValue else { throw Self.malformed("\"\(name)\" is a number") }
            return n.value
        }
        const = o["const"]
        if let e = o["enum"] {
            guard let values = e.arrayValue, !values.isEmpty else { throw Self.malformed("\"enum\" is a non-empty array") }
            self.enum = values
        } else {
            self.enum = nil
        }
        minimum = try number("minimum")
        maximum = try number("maximum")
        minLength = try count("min_length")
        maxLength = try count("max_length")
        if let p = o["prefix"] {
            guard let s = p.stringValue else { throw Self.malformed("\"prefix\" is a string") }
            prefix = s
        } else {
            prefix = nil
        }
        minItems = try count("min_items")
        maxItems = try count("max_items")
        let numeric = minimum != nil || maximum != nil
        let textual = minLength != nil || maxLength != nil || prefix != nil
        let sized = minItems != nil || maxItems != nil
        if (numeric && kind != .integer && kind != .number) || (textual && kind != .string) || (sized && kind != .array) {
            throw Self.malformed("constraint member does not apply to type \(kind.rawValue)")
        }
        for value in [const].compactMap({ $0 }) + (self.enum ?? []) where !Self.hasKind(value, kind) {
            throw Self.malformed("const or enum value is not of type \(kind.rawValue)")
        }
    }

    static func malformed(_ message: String) -> AttestError { AttestError(.artifactMalformed, message) }

    static func hasKind(_ value: JSONValue, _ kind: Kind) -> Bool {
        switch (kind, value) {
        case (.string, .string), (.boolean, .bool), (.array, .array), (.number, .number): return true
        case (.integer, .number(let n)): return n.value.rounded() == n.value && abs(n.value) <= 9_007_199_254_740_992
        default: return false
        }
    }

    /// Whether `value` satisfies every member of the constraint.
    public func accepts(_ value: JSONValue) -> Bool {
        guard Self.hasKind(value, kind) else { return false }
        if let const, value != const { return false }
        if let values = self.enum, !values.contains(value) { return false }
        if case .number(let n) = value {
            if let minimum, n.value < minimum { return false }
            if let maximum, n.value > maximum { return false }
        }
        if case .string(let s) = value {
            let length = s.unicodeScalars.count
            if let minLength, length < minLength { return false }
            if let maxLength, length > maxLength { return false }
            if let prefix, !s.unicodeScalars.starts(with: prefix.unicodeScalars) { return false }
        }
        if case .array(let items) = value {
            if let minItems, items.count < minItems { return false }
            if let maxItems, items.count > maxItems { return false }
        }
        return true
    }

    /// Whether every value this constraint accepts is accepted by `parent`. Exact when
    /// the constraint enumerates its values (`const` or `enum`): each is evaluated
    /// against the parent. Otherwise member by member: same type, and each bound of
    /// the parent present and at least as tight here.
    public func isNarrower(than parent: Constraint) -> Bool {
        if let values = const.map({ [$0] }) ?? self.enum {
            return values.filter(accepts).allSatisfy(parent.accepts)
        }
        guard kind == parent.kind || (kind == .integer && parent.kind == .number) else { return false }
        if parent.const != nil || parent.enum != nil { return false }
        func atLeast<T: Comparable>(_ mine: T?, _ theirs: T?) -> Bool {
            guard let theirs else { return true }
            return mine.map { $0 >= theirs } ?? false
        }
        func atMost<T: Comparable>(_ mine: T?, _ theirs: T?) -> Bool {
            guard let theirs else { return true }
            return mine.map { $0 <= theirs } ?? false
        }
        if let p = parent.prefix {
            guard let mine = prefix, mine.unicodeScalars.starts(with: p.unicodeScalars) else { return false }
        }
        return atLeast(minimum, parent.minimum) && atMost(maximum, parent.maximum)
            && atLeast(minLength, parent.minLength) && atMost(maxLength, parent.maxLength)
            && atLeast(minItems, parent.minItems) && atMost(maxItems, parent.maxItems)
    }
}
