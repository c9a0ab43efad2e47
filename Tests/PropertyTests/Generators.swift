import AttestCore
import AttestEvidence
import PropertyBased

/// Random JSON values, weighted toward what canonicalization and strict parsing find
/// hard: escapes, code points on both sides of the UTF-16 surrogate range (where UTF-16
/// and code point order differ), number literals in every layout, nesting.
enum JSONGen {
    /// A value and the values directly inside it as its shrinks.
    static let value = Generator<JSONValue, [JSONValue]>(
        run: { rng in randomValue(depth: 0, &rng) },
        shrink: { value in
            switch value {
            case .array(let items): return items
            case .object(let o): return o.members.map(\.value)
            default: return []
            }
        })

    static let nameAtoms = ["a", "b", "aa", "\u{E9}", "\u{E000}", "\u{FFFD}", "\u{1F600}", "\u{10000}", "\"", "\\", "\n",
                            "\u{1}", "\u{7F}", "_meta", "", "A", "\u{FB33}"]

    static func randomValue(depth: Int, _ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        let leafOnly = depth >= 4
        switch Int.random(in: 0..<(leafOnly ? 6 : 8), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2, 3: return .number(randomNumber(&rng))
        case 4, 5: return .string(randomString(&rng))
        case 6:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(depth: depth + 1, &rng) })
        default:
            var o = JSONObject()
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                o[randomName(&rng)] = randomValue(depth: depth + 1, &rng)
            }
            return .object(o)
        }
    }

    static func randomName(_ rng: inout any SeededRandomNumberGenerator) -> String {
        (0..<Int.random(in: 1...3, using: &rng)).map { _ in nameAtoms[Int.random(in: 0..<nameAtoms.count, using: &rng)] }.joined()
    }

    static func randomString(_ rng: inout any SeededRandomNumberGenerator) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x00...0x1F, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
            let range = ranges[Int.random(in: 0..<ranges.count, using: &rng)]
            if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &rng)) { scalars.append(scalar) }
        }
        return String(scalars)
    }

    /// A number as the parser reads it from a random literal: integers, decimals,
    /// exponents, negative zero, values near 2^53 and the ends of the double range.
    static func randomNumber(_ rng: inout any SeededRandomNumberGenerator) -> JSONNumber {
        let literal: String
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: literal = String(Int.random(in: -1000...1000, using: &rng))
        case 1: literal = String(Int64.random(in: -(1 << 60)...(1 << 60), using: &rng))
        case 2: literal = String(Int64(1) << 53 + Int64.random(in: -3...3, using: &rng))
        case 3: literal = ["-0", "0.0", "1e21", "1e-7", "5e-324", "1.7976931348623157e308", "0.1", "100.500", "-1E+2"][Int.random(in: 0..<9, using: &rng)]
        case 4:
            let bits = UInt64.random(in: 0...UInt64.max, using: &rng)
            let d = Double(bitPattern: bits)
            literal = d.isFinite ? "\(d)" : "1"
        default:
            literal = "\(Int.random(in: -99...99, using: &rng)).\(Int.random(in: 0...999, using: &rng))e\(Int.random(in: -30...30, using: &rng))"
        }
        guard case .number(let n)? = try? StrictJSONParser().parse(literal) else { return JSONNumber(0) }
        return n
    }
}

/// Constraint pairs: a random parent, and a child that is most often derived from it by
/// tightening (so narrowing holds and is worth checking), otherwise random.
enum ConstraintGen {
    struct Pair: Sendable, CustomStringConvertible {
        let parent: JSONValue
        let child: JSONValue
        let values: [JSONValue]
        var description: String { "parent \(parent.serialized(pretty: false)), child \(child.serialized(pretty: false))" }
    }

    static let pair = Generator<Pair, [Pair]>(run: { rng in randomPair(&rng) }, shrink: { _ in [] })

    static let kinds = ["string", "integer", "number", "boolean", "array"]

    static func randomPair(_ rng: inout any SeededRandomNumberGenerator) -> Pair {
        let parent = randomConstraint(&rng)
        let child = Int.random(in: 0..<4, using: &rng) == 0 ? randomConstraint(&rng) : tighten(parent, &rng)
        var values = (0..<12).map { _ in randomValue(&rng) }
        for c in [parent, child] {
            if let constraint = try? Constraint(json: c) { values += boundaryValues(constraint) }
        }
        return Pair(parent: parent, child: child, values: values)
    }

    static func randomValue(_ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: return .number(JSONNumber(Double(Int.random(in: -20...20, using: &rng))))
        case 1: return .number(JSONNumber(Double.random(in: -20...20, using: &rng)))
        case 2: return .string(["", "a", "ab", "abc", "/data/x", "/data", "\u{E9}t\u{E9}", "e\u{301}"][Int.random(in: 0..<8, using: &rng)])
        case 3: return .array(Array(repeating: .null, count: Int.random(in: 0...6, using: &rng)))
        default: return .bool(Bool.random(using: &rng))
        }
    }

    static func randomConstraint(_ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        let kind = kinds[Int.random(in: 0..<kinds.count, using: &rng)]
        var o: JSONObject = ["type": .string(kind)]
        // Each bound is present or not at random; its value is drawn either way.
        var bounds: [(String, JSONValue)] = []
        switch kind {
        case "integer", "number":
            let half = kind == "number" ? 0.5 * Double(Int.random(in: 0...1, using: &rng)) : 0
            let low = Double(Int.random(in: -10...10, using: &rng)) + half
            bounds = [("minimum", .number(JSONNumber(low))),
                      ("maximum", .number(JSONNumber(low + Double(Int.random(in: 0...10, using: &rng)))))]
        case "string":
            let n = Int.random(in: 0...4, using: &rng)
            bounds = [("prefix", .string(["/", "/data", "a", "\u{E9}", ""][Int.random(in: 0..<5, using: &rng)])),
                      ("min_length", .number(JSONNumber(n))),
                      ("max_length", .number(JSONNumber(n + Int.random(in: 0...4, using: &rng))))]
        case "array":
            let n = Int.random(in: 0...3, using: &rng)
            bounds = [("min_items", .number(JSONNumber(n))), ("max_items", .number(JSONNumber(n + Int.random(in: 0...3, using: &rng))))]
        default:
            break
        }
        for (name, value) in bounds where Bool.random(using: &rng) { o[name] = value }
        if Int.random(in: 0..<5, using: &rng) == 0 {
            let values = (0..<Int.random(in: 1...3, using: &rng)).map { _ in randomValue(&rng) }
            if let c = try? Constraint(json: .object(o)) {
                let fitting = values.filter { Constraint.hasKindLike($0, c.kind) }
                if !fitting.isEmpty { o["enum"] = .array(fitting) }
            }
        }
        return .object(o)
    }

    /// A constraint every value of which `parent` should accept: bounds moved inward,
    /// missing bounds added, a longer prefix, an enumeration of values the parent accepts.
    static func tighten(_ parent: JSONValue, _ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        guard case .object(var o) = parent, let c = try? Constraint(json: parent) else { return parent }
        if c.const != nil || c.enum != nil || Int.random(in: 0..<4, using: &rng) == 0 {
            let pool = ((c.enum ?? []) + [c.const].compactMap { $0 } + (0..<6).map { _ in randomValue(&rng) } + boundaryValues(c))
                .filter(c.accepts)
            guard !pool.isEmpty else { return parent }
            var child: JSONObject = ["type": .string(c.kind.rawValue)]
            let picked = (0..<Int.random(in: 1...3, using: &rng)).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }
            if picked.count == 1 && Bool.random(using: &rng) { child["const"] = picked[0] } else { child["enum"] = .array(picked) }
            return .object(child)
        }
        func step(_ rng: inout any SeededRandomNumberGenerator) -> Double { Double(Int.random(in: 0...3, using: &rng)) }
        switch c.kind {
        case .integer, .number:
            let low = (c.minimum ?? Double(Int.random(in: -10...0, using: &rng))) + step(&rng)
            let high = (c.maximum ?? Double(Int.random(in: 0...10, using: &rng))) - step(&rng)
            o["minimum"] = .number(JSONNumber(low))
            o["maximum"] = .number(JSONNumber(high))
            if c.kind == .number && Int.random(in: 0..<3, using: &rng) == 0 { o["type"] = "integer" }
        case .string:
            o["prefix"] = .string((c.prefix ?? "") + ["", "a", "/", "\u{E9}"][Int.random(in: 0..<4, using: &rng)])
            o["min_length"] = .number(JSONNumber((c.minLength ?? 0) + Int(step(&rng))))
            o["max_length"] = .number(JSONNumber(max(0, (c.maxLength ?? 8) - Int(step(&rng)))))
        case .array:
            o["min_items"] = .number(JSONNumber((c.minItems ?? 0) + Int(step(&rng))))
            o["max_items"] = .number(JSONNumber(max(0, (c.maxItems ?? 6) - Int(step(&rng)))))
        case .boolean:
            break
        }
        return .object(o)
    }

    /// Values at and around a constraint's bounds.
    static func boundaryValues(_ c: Constraint) -> [JSONValue] {
        var out: [JSONValue] = [c.const].compactMap { $0 } + (c.enum ?? [])
        for bound in [c.minimum, c.maximum].compactMap({ $0 }) {
            out += [bound, bound.nextUp, bound.nextDown, bound - 0.5, bound + 0.5, bound - 1, bound + 1].map { .number(JSONNumber($0)) }
        }
        let prefix = c.prefix ?? ""
        for n in [c.minLength, c.maxLength].compactMap({ $0 }).flatMap({ [$0 - 1, $0, $0 + 1] }) where n >= 0 {
            out.append(.string(prefix + String(repeating: "x", count: max(0, n - prefix.unicodeScalars.count))))
        }
        out += [.string(prefix), .string(prefix + "z")]
        for n in [c.minItems, c.maxItems].compactMap({ $0 }).flatMap({ [$0 - 1, $0, $0 + 1] }) where n >= 0 {
            out.append(.array(Array(repeating: .null, count: n)))
        }
        return out
    }
}

extension Constraint {
    /// Whether `value` has the JSON type of `kind` (an integer kind takes integral numbers).
    static func hasKindLike(_ value: JSONValue, _ kind: Kind) -> Bool {
        switch (kind, value) {
        case (.string, .string), (.boolean, .bool), (.array, .array), (.number, .number): true
        case (.integer, .number(let n)): n.value.rounded() == n.value
        default: false
        }
    }
}
