import AttestCore

/// A validator for the JSON Schema (draft 2020-12) subset that `spec/schemas/` is written in.
///
/// It is hand-written on purpose. The schemas state exact facts (a base64url string of
/// exactly 32 bytes as 43 characters whose last one has zero unused bits, member names and
/// enumerations compared by code points, lengths counted in Unicode scalar values), and
/// the checker must read them exactly as a draft 2020-12 validator in another language
/// does. No well-kept Swift JSON Schema library covers draft 2020-12 with that exactness:
/// the ones available compare strings with Swift's `String ==` (Unicode canonical
/// equivalence, under which U+212A KELVIN SIGN equals `K`), count lengths in grapheme
/// clusters, or run `pattern` through `NSRegularExpression` (UTF-16). A small validator
/// over ``JSONValue`` that supports only what the schemas use is easier to trust.
///
/// Supported keywords:
/// - applicators: `properties`, `additionalProperties`, `items`, `prefixItems`, `allOf`,
///   `anyOf`, `oneOf`, `$ref` (to `#/$defs/NAME`, `FILE`, or `FILE#/$defs/NAME` of the set);
/// - assertions: `type`, `enum`, `const`, `required`, `minimum`, `maximum`, `minLength`,
///   `maxLength`, `minItems`, `maxItems`, `uniqueItems`, `pattern`;
/// - annotations, which assert nothing: `$schema`, `$id`, `$defs`, `$comment`, `title`,
///   `description`;
/// - the boolean schemas `true` and `false`.
///
/// Any other keyword makes the schema ill-formed (``SchemaSet/problems()``), so a schema
/// can never state a constraint that the checker silently ignores. `pattern` takes a
/// small regular-expression subset (``SchemaPattern``). Strings compare by code points,
/// numbers by value, and `integer` means a number with no fractional part.
public struct SchemaSet: Sendable {
    /// Schema documents by file name (`receipt.schema.json`).
    public let documents: [String: JSONValue]

    public init(documents: [String: JSONValue]) { self.documents = documents }

    static let annotations: Set<String> = ["$schema", "$id", "$defs", "$comment", "title", "description"]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
        "uniqueItems", "enum", "const", "minimum", "maximum", "minLength", "maxLength", "pattern", "oneOf", "anyOf",
        "allOf", "$ref",
    ]
    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]
    /// Bounds every walk: `$ref` chains and nesting deeper than this are an error, not a loop.
    static let maxDepth = 64

    // MARK: Well-formedness

    /// Why the set is not well-formed for the supported subset: unsupported keywords,
    /// keyword values of the wrong type, unresolvable `$ref`s, patterns outside the subset.
    public func problems() -> [String] {
        var found: [String] = []
        for name in documents.keys.sorted() {
            guard let root = documents[name] else { continue }
            checkSchema(root, document: name, at: name, depth: 0, into: &found)
            if let defs = root["$defs"] {
                guard let members = defs.objectValue else {
                    found.append("\(name): $defs is not an object")
                    continue
                }
                for member in members {
                    checkSchema(member.value, document: name, at: "\(name)#/$defs/\(member.name)", depth: 1, into: &found)
                }
            }
        }
        return found
    }

    private func checkSchema(_ schema: JSONValue, document: String, at place: String, depth: Int, into found: inout [String]) {
        guard depth < Self.maxDepth else { found.append("\(place): nested too deeply"); return }
        if case .bool = schema { return }
        guard let o = schema.objectValue else { found.append("\(place): a schema is an object or a boolean"); return }
        func sub(_ value: JSONValue, _ suffix: String) {
            checkSchema(value, document: document, at: place + "/" + suffix, depth: depth + 1, into: &found)
        }
        for member in o {
            let key = member.name, value = member.value
            if Self.annotations.contains(where: { $0.isExactly(key) }) {
                if key.isExactly("$defs") && depth > 0 { found.append("\(place): $defs only at a document's root") }
                continue
            }
            guard Self.keywords.contains(where: { $0.isExactly(key) }) else {
                found.append("\(place): unsupported keyword \"\(key)\"")
                continue
            }
            switch key {
            case "type":
                let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue) ?? []
                if names.isEmpty || names.count != (value.arrayValue?.count ?? 1)
                    || !names.allSatisfy({ n in Self.typeNames.contains(where: { $0.isExactly(n) }) }) {
                    found.append("\(place): \"type\" is a type name or an array of them")
                }
            case "properties":
                guard let members = value.objectValue else { found.append("\(place): \"properties\" is an object"); continue }
                for m in members { sub(m.value, "properties/\(m.name)") }
            case "required":
                guard let names = value.arrayValue, names.allSatisfy({ $0.stringValue != nil }) else {
                    found.append("\(place): \"required\" is an array of strings")
                    continue
                }
            case "additionalProperties", "items":
                sub(value, key)
            case "prefixItems", "oneOf", "anyOf", "allOf":
                guard let items = value.arrayValue, !items.isEmpty else {
                    found.append("\(place): \"\(key)\" is a non-empty array of schemas")
                    continue
                }
                for (i, item) in items.enumerated() { sub(item, "\(key)/\(i)") }
            case "minItems", "maxItems", "minLength", "maxLength":
                if (value.integerValue ?? -1) < 0 { found.append("\(place): \"\(key)\" is a non-negative integer") }
            case "minimum", "maximum":
                if value.numberValue == nil { found.append("\(place): \"\(key)\" is a number") }
            case "uniqueItems":
                if value.boolValue == nil { found.append("\(place): \"uniqueItems\" is a boolean") }
            case "enum":
                if value.arrayValue == nil { found.append("\(place): \"enum\" is an array") }
            case "pattern":
                guard let text = value.stringValue else { found.append("\(place): \"pattern\" is a string"); continue }
                do throws(AttestError) { _ = try SchemaPattern(text) } catch { found.append("\(place): pattern: \(error.message)") }
            case "$ref":
                guard let reference = value.stringValue else { found.append("\(place): \"$ref\" is a string"); continue }
                if resolve(reference, from: document) == nil { found.append("\(place): $ref \"\(reference)\" does not resolve") }
            default:
                break  // const: any value
            }
        }
    }

    /// The schema a `$ref` names, and the document it is in.
    func resolve(_ reference: String, from document: String) -> (schema: JSONValue, document: String)? {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let file = parts[0].isEmpty ? document : parts[0]
        guard let root = documents.first(where: { $0.key.isExactly(file) })?.value else { return nil }
        guard parts.count == 2, !parts[1].isEmpty else { return (root, file) }
        let prefix = "/$defs/"
        guard parts[1].utf8.starts(with: prefix.utf8) else { return nil }
        let name = String(parts[1].dropFirst(prefix.count))
        guard !name.utf8.contains(UInt8(ascii: "/")), let target = root["$defs"]?[name] else { return nil }
        return (target, file)
    }

    // MARK: Validation

    /// The violations of `value` against the document `name`, each with the JSON pointer
    /// of the offending value; empty when it conforms.
    public func validate(_ value: JSONValue, against name: String) -> [String] {
        guard let root = documents.first(where: { $0.key.isExactly(name) })?.value else { return ["no schema \(name)"] }
        var found: [String] = []
        validate(value, root, document: name, pointer: "", depth: 0, into: &found)
        return found
    }

    public func conforms(_ value: JSONValue, to name: String) -> Bool { validate(value, against: name).isEmpty }

    private func validate(_ value: JSONValue, _ schema: JSONValue, document: String, pointer: String, depth: Int,
                          into found: inout [String]) {
        let at = pointer.isEmpty ? "/" : pointer
        guard depth < Self.maxDepth else { found.append("\(at): schema nesting too deep"); return }
        if case .bool(let accepts) = schema {
            if !accepts { found.append("\(at): not allowed here") }
            return
        }
        guard let s = schema.objectValue else { found.append("\(at): ill-formed schema"); return }
        func fail(_ why: String) { found.append("\(at): \(why)") }
        func conforms(_ v: JSONValue, _ sub: JSONValue) -> Bool {
            var scratch: [String] = []
            validate(v, sub, document: document, pointer: pointer, depth: depth + 1, into: &scratch)
            return scratch.isEmpty
        }
        if let reference = s["$ref"]?.stringValue {
            if let resolved = resolve(reference, from: document) {
                validate(value, resolved.schema, document: resolved.document, pointer: pointer, depth: depth + 1, into: &found)
            } else {
                fail("$ref \(reference) does not resolve")
            }
        }
        if let type = s["type"] {
            let names = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
            if !names.contains(where: { Self.hasType(value, $0) }) {
                fail("is \(value.typeName), not \(names.joined(separator: " or "))")
                return
            }
        }
        if let constant = s["const"], value != constant { fail("is not the constant \(constant.serialized(pretty: false))") }
        if let values = s["enum"]?.arrayValue, !values.contains(value) {
            fail("is not one of \(values.map { $0.serialized(pretty: false) }.joined(separator: ", "))")
        }
        if let n = value.numberValue {
            if let minimum = s["minimum"]?.numberValue, n.value < minimum.value { fail("is below the minimum \(minimum.source)") }
            if let maximum = s["maximum"]?.numberValue, n.value > maximum.value { fail("is above the maximum \(maximum.source)") }
        }
        if let text = value.stringValue {
            let length = Int64(text.unicodeScalars.count)
            if let minimum = s["minLength"]?.integerValue, length < minimum { fail("is shorter than \(minimum) characters") }
            if let maximum = s["maxLength"]?.integerValue, length > maximum { fail("is longer than \(maximum) characters") }
            if let pattern = s["pattern"]?.stringValue {
                if let compiled = try? SchemaPattern(pattern) {
                    if !compiled.matches(text) { fail("does not match the pattern \(pattern)") }
                } else {
                    fail("the pattern \(pattern) is outside the supported subset")
                }
            }
        }
        if let items = value.arrayValue {
            if let minimum = s["minItems"]?.integerValue, Int64(items.count) < minimum { fail("has fewer than \(minimum) items") }
            if let maximum = s["maxItems"]?.integerValue, Int64(items.count) > maximum { fail("has more than \(maximum) items") }
            if s["uniqueItems"]?.boolValue == true {
                outer: for i in items.indices {
                    for j in items.indices where j > i && items[i] == items[j] {
                        fail("items \(i) and \(j) are equal")
                        break outer
                    }
                }
            }
            let prefix = s["prefixItems"]?.arrayValue ?? []
            for (i, item) in items.enumerated() {
                let sub: JSONValue? = i < prefix.count ? prefix[i] : s["items"]
                if let sub {
                    validate(item, sub, document: document, pointer: pointer + "/\(i)", depth: depth + 1, into: &found)
                }
            }
        }
        if let object = value.objectValue {
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !object.contains(name) {
                fail("lacks the member \"\(name)\"")
            }
            let properties = s["properties"]?.objectValue
            for member in object {
                let child = pointer + "/" + Self.escape(member.name)
                if let sub = properties?[member.name] {
                    validate(member.value, sub, document: document, pointer: child, depth: depth + 1, into: &found)
                } else if let additional = s["additionalProperties"] {
                    if case .bool(false) = additional {
                        found.append("\(child): the member \"\(member.name)\" is not allowed")
                    } else {
                        validate(member.value, additional, document: document, pointer: child, depth: depth + 1, into: &found)
                    }
                }
            }
        }
        for sub in s["allOf"]?.arrayValue ?? [] {
            validate(value, sub, document: document, pointer: pointer, depth: depth + 1, into: &found)
        }
        if let branches = s["anyOf"]?.arrayValue, !branches.contains(where: { conforms(value, $0) }) {
            fail("matches none of the anyOf branches")
        }
        if let branches = s["oneOf"]?.arrayValue {
            let matching = branches.indices.filter { conforms(value, branches[$0]) }
            if matching.count != 1 {
                // Explain the closest branch: the one with the fewest violations.
                var best: [String] = []
                for (i, branch) in branches.enumerated() {
                    var scratch: [String] = []
                    validate(value, branch, document: document, pointer: pointer, depth: depth + 1, into: &scratch)
                    if i == 0 || scratch.count < best.count { best = scratch }
                }
                fail(matching.isEmpty ? "matches none of the oneOf branches (closest: \(best.joined(separator: "; ")))"
                                      : "matches \(matching.count) of the oneOf branches, not exactly one")
            }
        }
    }

    static func hasType(_ value: JSONValue, _ name: String) -> Bool {
        switch (name, value) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("number", .number), ("string", .string):
            return true
        case ("integer", .number(let n)):
            return n.value.isFinite && n.value.rounded(.towardZero) == n.value
        default:
            return false
        }
    }

    /// RFC 6901 escaping of one reference token.
    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: Walking a value with its schema

    /// The schema objects that apply to `value` at the top level of `schema`: the schema
    /// itself, what its `$ref`s name, its `allOf` members, and the `oneOf`/`anyOf` branches
    /// the value matches. Used to derive mutations from a schema.
    public func applicable(_ schema: JSONValue, document: String, to value: JSONValue, depth: Int = 0) -> [(JSONObject, String)] {
        guard depth < Self.maxDepth, let s = schema.objectValue else { return [] }
        var result: [(JSONObject, String)] = [(s, document)]
        if let reference = s["$ref"]?.stringValue, let resolved = resolve(reference, from: document) {
            result += applicable(resolved.schema, document: resolved.document, to: value, depth: depth + 1)
        }
        for sub in s["allOf"]?.arrayValue ?? [] { result += applicable(sub, document: document, to: value, depth: depth + 1) }
        for key in ["oneOf", "anyOf"] {
            for branch in s[key]?.arrayValue ?? [] {
                var scratch: [String] = []
                validate(value, branch, document: document, pointer: "", depth: depth + 1, into: &scratch)
                if scratch.isEmpty { result += applicable(branch, document: document, to: value, depth: depth + 1) }
            }
        }
        return result
    }

    /// The root schema of the document `name`.
    public func root(_ name: String) -> JSONValue? { documents.first(where: { $0.key.isExactly(name) })?.value }
}

/// The `pattern` subset: literals, `.`, character classes with ranges and negation,
/// groups, `|`, the quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, the anchors `^` and
/// `$`, and the escapes `\d` and of the metacharacters. Matched over Unicode scalars as
/// ECMA-262 matches without flags: the pattern may match anywhere unless anchored.
///
/// Matching computes, node by node, the set of positions reachable from a set of start
/// positions, so its cost is bounded by (pattern size × text length²) whatever the
/// pattern: there is no backtracking to blow up.
public struct SchemaPattern: Sendable {
    indirect enum Node: Sendable {
        case scalars([ClosedRange<UInt32>], negated: Bool)
        case any
        case start, end
        case sequence([Node])
        case alternation([Node])
        case repeating(Node, min: Int, max: Int?)
    }

    let root: Node
    static let maxCount = 100_000

    public init(_ pattern: String) throws(AttestError) {
        var parser = Parser(scalars: Array(pattern.unicodeScalars))
        root = try parser.alternation()
        guard parser.index == parser.scalars.count else { throw Parser.error("unexpected \")\"") }
    }

    public func matches(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        let anchored: Bool
        if case .sequence(let nodes) = root, case .start? = nodes.first { anchored = true } else { anchored = false }
        let starts: Set<Int> = anchored ? [0] : Set(0...scalars.count)
        return !Self.step(root, starts, scalars).isEmpty
    }

    static func step(_ node: Node, _ positions: Set<Int>, _ s: [Unicode.Scalar]) -> Set<Int> {
        if positions.isEmpty { return positions }
        switch node {
        case .scalars(let ranges, let negated):
            var next = Set<Int>()
            for p in positions where p < s.count {
                let inClass = ranges.contains { $0.contains(s[p].value) }
                if inClass != negated { next.insert(p + 1) }
            }
            return next
        case .any:
            return Set(positions.filter { $0 < s.count && s[$0] != "\n" && s[$0] != "\r" }.map { $0 + 1 })
        case .start:
            return positions.filter { $0 == 0 }
        case .end:
            return positions.filter { $0 == s.count }
        case .sequence(let nodes):
            var current = positions
            for n in nodes { current = step(n, current, s) }
            return current
        case .alternation(let nodes):
            var union = Set<Int>()
            for n in nodes { union.formUnion(step(n, positions, s)) }
            return union
        case .repeating(let inner, let min, let max):
            var current = positions
            for _ in 0..<min {
                current = step(inner, current, s)
                if current.isEmpty { return current }
            }
            var reached = current
            var frontier = current
            var count = min
            while !frontier.isEmpty && (max.map { count < $0 } ?? true) {
                let next = step(inner, frontier, s).subtracting(reached)
                reached.formUnion(next)
                frontier = next
                count += 1
            }
            return reached
        }
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        static func error(_ why: String) -> AttestError { AttestError(.jsonSyntax, "pattern: \(why)") }

        var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        mutating func alternation() throws(AttestError) -> Node {
            var branches = [try sequence()]
            while peek == "|" {
                index += 1
                branches.append(try sequence())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func sequence() throws(AttestError) -> Node {
            var nodes: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try self.atom()
                atom = try quantified(atom)
                nodes.append(atom)
            }
            return .sequence(nodes)
        }

        mutating func atom() throws(AttestError) -> Node {
            guard let c = peek else { throw Self.error("unexpected end") }
            index += 1
            switch c {
            case "(":
                if peek == "?" { throw Self.error("group modifiers (?...) are not supported") }
                let inner = try alternation()
                guard peek == ")" else { throw Self.error("unclosed group") }
                index += 1
                return inner
            case "[": return try characterClass()
            case ".": return .any
            case "^": return .start
            case "$": return .end
            case "\\": return try escape(inClass: false)
            case "*", "+", "?", "{", "}", "]": throw Self.error("\"\(c)\" has nothing to repeat or is unescaped")
            default: return .scalars([c.value...c.value], negated: false)
            }
        }

        mutating func escape(inClass: Bool) throws(AttestError) -> Node {
            guard let e = peek else { throw Self.error("trailing backslash") }
            index += 1
            if e == "d" { return .scalars([0x30...0x39], negated: false) }
            guard "\\^$.|?*+()[]{}/-".unicodeScalars.contains(e) else { throw Self.error("escape \\\(e) is not supported") }
            return .scalars([e.value...e.value], negated: false)
        }

        mutating func characterClass() throws(AttestError) -> Node {
            var negated = false
            if peek == "^" { negated = true; index += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            while let c = peek, c != "]" {
                let low = try classScalar()
                if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                    index += 1
                    let high = try classScalar()
                    guard low <= high else { throw Self.error("range out of order") }
                    ranges.append(low...high)
                } else {
                    ranges.append(low...low)
                }
            }
            guard peek == "]", !ranges.isEmpty else { throw Self.error("unclosed or empty character class") }
            index += 1
            return .scalars(ranges, negated: negated)
        }

        mutating func classScalar() throws(AttestError) -> UInt32 {
            guard let c = peek else { throw Self.error("unclosed character class") }
            index += 1
            if c == "\\" {
                guard case .scalars(let r, _) = try escape(inClass: true), r.count == 1, r[0].lowerBound == r[0].upperBound else {
                    throw Self.error("class escapes other than of a single character are not supported")
                }
                return r[0].lowerBound
            }
            if c == "[" { throw Self.error("\"[\" inside a class is not supported") }
            return c.value
        }

        mutating func quantified(_ atom: Node) throws(AttestError) -> Node {
            guard let q = peek else { return atom }
            switch q {
            case "*": index += 1; return .repeating(atom, min: 0, max: nil)
            case "+": index += 1; return .repeating(atom, min: 1, max: nil)
            case "?": index += 1; return .repeating(atom, min: 0, max: 1)
            case "{":
                index += 1
                let min = try number()
                var max: Int? = min
                if peek == "," {
                    index += 1
                    max = peek == "}" ? nil : try number()
                }
                guard peek == "}" else { throw Self.error("unclosed {n,m}") }
                index += 1
                if let max, max < min { throw Self.error("{n,m} with m < n") }
                return .repeating(atom, min: min, max: max)
            default:
                return atom
            }
        }

        mutating func number() throws(AttestError) -> Int {
            var value = 0
            var digits = 0
            while let c = peek, ("0"..."9").contains(c) {
                value = value * 10 + Int(c.value - 0x30)
                digits += 1
                index += 1
                guard value <= SchemaPattern.maxCount else { throw Self.error("count above \(SchemaPattern.maxCount)") }
            }
            guard digits > 0 else { throw Self.error("a count is decimal digits") }
            return value
        }
    }
}
