/// The table kinds of the spec and their fixed columns. A table is marked by a pragma
/// comment `<!-- table: KIND -->` on the line before it.
public struct TableKind: Sendable {
    public let name: String
    public let columns: [String]
    /// Columns whose cells may be empty (written as `-` by convention, but empty is allowed).
    public let optional: Set<String>

    public static let all: [String: TableKind] = Dictionary(uniqueKeysWithValues: [
        TableKind(name: "errors", columns: ["code", "meaning", "raised by", "json-rpc"], optional: []),
        TableKind(name: "exclusions", columns: ["requirement", "reason"], optional: []),
        TableKind(name: "registry-exclusions", columns: ["code", "reason", "tests"], optional: []),
        TableKind(name: "retired", columns: ["id", "retired in", "reason"], optional: []),
        TableKind(name: "ops", columns: ["op", "document", "input", "output", "errors"], optional: []),
        TableKind(name: "tables", columns: ["kind", "columns", "used in"], optional: []),
        TableKind(name: "claims", columns: ["claim", "type", "presence", "meaning", "requirement"], optional: []),
        TableKind(name: "media-types", columns: ["media type", "typ", "meaning", "requirement"], optional: []),
        TableKind(name: "cosai", columns: ["id", "category", "threats", "cosai mitigations", "gap", "our mechanism",
                                           "requirements", "vectors", "tests", "status"], optional: []),
        TableKind(name: "owasp", columns: ["id", "risk", "our mechanism", "requirements", "vectors", "tests", "status"], optional: []),
        TableKind(name: "attacks", columns: ["id", "attack", "attacker controls", "expected code", "vectors", "tests"],
                  optional: []),
    ].map { ($0.name, $0) })
}
