import AttestCore
import Foundation

/// A problem found in the spec, with its place.
public struct Diagnostic: Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case requirement, keyword, table, vector, coverage, registry, drift, result, reference, schema, evidence
    }
    public let kind: Kind
    public let file: String
    public let line: Int
    public let message: String

    public init(_ kind: Kind, _ file: String, _ line: Int, _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(kind.rawValue): \(message)" }
}

/// BCP 14 (RFC 2119, RFC 8174) keywords, longest first so that "MUST NOT" is one match.
public enum Keyword: String, CaseIterable, Sendable, Comparable {
    case mustNot = "MUST NOT"
    case must = "MUST"
    case required = "REQUIRED"
    case shallNot = "SHALL NOT"
    case shall = "SHALL"
    case notRecommended = "NOT RECOMMENDED"
    case shouldNot = "SHOULD NOT"
    case should = "SHOULD"
    case recommended = "RECOMMENDED"
    case may = "MAY"
    case optional = "OPTIONAL"

    /// Absolute requirements: each needs a covering vector or a reasoned exclusion.
    public var isAbsolute: Bool { [.mustNot, .must, .required, .shallNot, .shall].contains(self) }

    public static func < (a: Keyword, b: Keyword) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Every keyword occurrence in `text`, as whole words.
    public static func occurrences(in text: String) -> [Keyword] {
        let scalars = Array(text.unicodeScalars)
        var found: [Keyword] = []
        var i = 0
        func isWordScalar(_ s: Unicode.Scalar) -> Bool {
            CharacterSet.alphanumerics.contains(s) || s == "_" || s == "-"
        }
        outer: while i < scalars.count {
            if i > 0 && isWordScalar(scalars[i - 1]) { i += 1; continue }
            for keyword in allCases {
                let k = Array(keyword.rawValue.unicodeScalars)
                if i + k.count <= scalars.count, Array(scalars[i..<(i + k.count)]) == k,
                   i + k.count == scalars.count || !isWordScalar(scalars[i + k.count]) {
                    found.append(keyword)
                    i += k.count
                    continue outer
                }
            }
            i += 1
        }
        return found
    }
}

public struct Requirement: Sendable {
    public let id: String
    public let keyword: Keyword
    public let text: String
    public let document: String
    public let file: String
    public let line: Int
    public var anchor: String { id.lowercased() }
}

public struct TableRow: Sendable {
    public let cells: [String: String]
    public let line: Int
    public subscript(column: String) -> String { cells[column] ?? "" }
}

public struct SpecTable: Sendable {
    public let kind: String
    public let columns: [String]
    public let rows: [TableRow]
    public let document: String
    public let file: String
    public let line: Int
}

/// A vector of a `json vector` fence, with its data-file references resolved.
public struct Vector: Sendable {
    /// The vector with every data-file reference replaced by what it stands for: what
    /// `vectors/` holds and what implementations are given.
    public let json: JSONObject
    public let document: String
    public let file: String
    public let line: Int
    /// The data files the block refers to, in order of appearance (conventions.md §Data files).
    public let dataFiles: [DataFileReference]

    public init(json: JSONObject, document: String, file: String, line: Int, dataFiles: [DataFileReference] = []) {
        self.json = json
        self.document = document
        self.file = file
        self.line = line
        self.dataFiles = dataFiles
    }

    public var id: String { json["id"]?.stringValue ?? "" }
    public var op: String { json["op"]?.stringValue ?? "" }
    public var covers: [String] { json["covers"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var context: JSONObject { json["context"]?.objectValue ?? JSONObject() }
    public var input: JSONObject { json["input"]?.objectValue ?? JSONObject() }
    public var expected: JSONObject { json["expected"]?.objectValue ?? JSONObject() }
    public var expectsValid: Bool { expected["result"]?.stringValue == "valid" }
    public var expectedError: String? { expected["error"]?.stringValue }
    public var expectedErrorAnyOf: [String] { expected["error_any_of"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var base: String? { json["base"]?.stringValue }
    public var anchor: String { "v-" + id }
}

/// Everything collected from `spec/*.md` (and `threat-model/*.md`).
public struct Spec: Sendable {
    public var documents: [MarkdownDocument] = []
    /// The files under `spec/data` (conventions.md §Data files).
    public var dataFiles = DataFiles()
    public var requirements: [Requirement] = []
    public var vectors: [Vector] = []
    /// Portal scenarios (```json scenario blocks, portal.md): run against a portal process
    /// by `attest conformance --portal`, not through the op protocol.
    public var scenarios: [Vector] = []
    public var tables: [SpecTable] = []
    /// Problems found while reading (malformed IDs, keyword misuse, table shape, vector JSON).
    public var diagnostics: [Diagnostic] = []

    public init() {}

    public func tables(_ kind: String) -> [SpecTable] { tables.filter { $0.kind == kind } }
    public func rows(_ kind: String) -> [TableRow] { tables(kind).flatMap(\.rows) }

    /// The document name of a file: `spec/token.md` -> `token`.
    public static func documentName(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }
}
