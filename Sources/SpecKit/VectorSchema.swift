import AttestCore

/// Structural validation of a vector object. `spec/vector.schema.json` states the same
/// rules as a JSON Schema (draft 2020-12) for other tools; the tests check that the two
/// agree on every vector in the spec.
public enum VectorSchema {
    public static let members: Set<String> = [
        "id", "op", "description", "covers", "flags", "context", "input", "expected", "base", "mutation", "source",
    ]
    public static let expectedMembers: Set<String> = ["result", "output", "error", "error_any_of"]

    nonisolated(unsafe) static let idPattern = #/^[a-z0-9][a-z0-9.-]{1,79}$/#
    nonisolated(unsafe) static let opPattern = #/^[a-z0-9]+(\.[a-z0-9-]+)+$/#
    nonisolated(unsafe) static let requirementPattern = #/^[A-Z]{2,5}-[0-9]{3}$/#
    nonisolated(unsafe) static let codePattern = #/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/#

    /// Returns the schema violations of one vector, as messages.
    public static func violations(_ v: JSONObject) -> [String] {
        var problems: [String] = []
        for name in v.names where !members.contains(name) { problems.append("unknown member \"\(name)\"") }
        func string(_ name: String, required: Bool = true) -> String? {
            guard let value = v[name] else {
                if required { problems.append("missing \"\(name)\"") }
                return nil
            }
            guard case .string(let s) = value, !s.isEmpty else {
                problems.append("\"\(name)\" must be a non-empty string")
                return nil
            }
            return s
        }
        if let id = string("id"), id.wholeMatch(of: idPattern) == nil {
            problems.append("\"id\" must match ^[a-z0-9][a-z0-9.-]{1,79}$")
        }
        if let op = string("op"), op.wholeMatch(of: opPattern) == nil {
            problems.append("\"op\" must look like area.name")
        }
        _ = string("description")
        _ = string("source", required: false)
        if let covers = v["covers"] {
            if case .array(let ids) = covers, !ids.isEmpty,
               ids.allSatisfy({ $0.stringValue?.wholeMatch(of: requirementPattern) != nil }) {
            } else {
                problems.append("\"covers\" must be a non-empty array of requirement IDs")
            }
        } else {
            problems.append("missing \"covers\"")
        }
        if let flags = v["flags"], !(flags.arrayValue?.allSatisfy({ $0.stringValue != nil }) ?? false) {
            problems.append("\"flags\" must be an array of strings")
        }
        if let context = v["context"], context.objectValue == nil { problems.append("\"context\" must be an object") }
        if v["input"]?.objectValue == nil { problems.append("\"input\" must be an object") }
        guard let expected = v["expected"]?.objectValue else {
            problems.append("\"expected\" must be an object")
            return problems
        }
        for name in expected.names where !expectedMembers.contains(name) {
            problems.append("unknown member \"expected.\(name)\"")
        }
        switch expected["result"]?.stringValue {
        case "valid":
            if expected.contains("error") || expected.contains("error_any_of") {
                problems.append("a valid vector has no \"error\" or \"error_any_of\"")
            }
            if let output = expected["output"], output.objectValue == nil {
                problems.append("\"expected.output\" must be an object")
            }
            if v.contains("base") || v.contains("mutation") {
                problems.append("a valid vector has no \"base\" or \"mutation\"")
            }
        case "invalid":
            if expected.contains("output") { problems.append("an invalid vector has no \"expected.output\"") }
            let single = expected["error"]
            let anyOf = expected["error_any_of"]
            switch (single, anyOf) {
            case (.string(let code)?, nil):
                if code.wholeMatch(of: codePattern) == nil { problems.append("\"expected.error\" is not a code") }
            case (nil, .array(let codes)?):
                if codes.count < 2 || !codes.allSatisfy({ $0.stringValue?.wholeMatch(of: codePattern) != nil }) {
                    problems.append("\"expected.error_any_of\" must list at least two codes")
                }
            default:
                problems.append("an invalid vector has exactly one of \"expected.error\" and \"expected.error_any_of\"")
            }
            _ = string("base")
            _ = string("mutation")
        default:
            problems.append("\"expected.result\" must be \"valid\" or \"invalid\"")
        }
        return problems
    }
}
