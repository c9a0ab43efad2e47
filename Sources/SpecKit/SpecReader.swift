import AttestCore
import Foundation

/// Reads spec documents into a ``Spec``: requirements, vectors and pragma tables, and
/// the problems found on the way, each with file and line.
public enum SpecReader {
    /// Reads every `*.md` in `directories` (relative to `root`), sorted by path.
    public static func read(root: URL, directories: [String] = ["spec", "threat-model"]) throws -> Spec {
        var documents: [MarkdownDocument] = []
        let fm = FileManager.default
        for directory in directories {
            let dir = root.appendingPathComponent(directory)
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { continue }
            for name in names.sorted() where name.hasSuffix(".md") {
                documents.append(try MarkdownDocument(contentsOf: dir.appendingPathComponent(name),
                                                      displayPath: "\(directory)/\(name)"))
            }
        }
        let dataFiles = DataFiles.load(specDirectory: root.appendingPathComponent("spec"))
        return read(documents: documents, dataFiles: dataFiles)
    }

    /// Reads `documents`; vector blocks' data-file references are resolved against
    /// `dataFiles`, and a data file that no vector refers to is a problem.
    public static func read(documents: [MarkdownDocument], dataFiles: DataFiles = DataFiles()) -> Spec {
        var spec = Spec()
        spec.documents = documents
        spec.dataFiles = dataFiles
        spec.diagnostics += dataFiles.problems
        for document in documents { read(document, into: &spec) }
        let referenced = Set(spec.vectors.flatMap { $0.dataFiles.map { Array($0.path.utf8) } })
        for path in dataFiles.files.keys.sorted() where !referenced.contains(Array(path.utf8)) {
            spec.diagnostics.append(Diagnostic(.vector, "spec/\(path)", 0,
                "data file referenced by no vector; remove it or run scripts/externalize_vectors.py"))
        }
        var seen: [String: Requirement] = [:]
        for requirement in spec.requirements {
            if let first = seen[requirement.id] {
                spec.diagnostics.append(Diagnostic(.requirement, requirement.file, requirement.line,
                    "duplicate requirement ID [\(requirement.id)] (first at \(first.file):\(first.line))"))
            } else {
                seen[requirement.id] = requirement
            }
        }
        return spec
    }

    // Regex values are immutable, but Swift 6 does not mark them Sendable.
    nonisolated(unsafe) static let requirementID = #/^[A-Z]{2,5}-[0-9]{3}$/#
    nonisolated(unsafe) static let bracketed = #/^\[([^\]\s]{1,20})\]/#
    nonisolated(unsafe) static let pragma = #/^<!--\s*table:\s*([a-z0-9-]+)\s*-->\s*$/#

    private static func read(_ document: MarkdownDocument, into spec: inout Spec) {
        let file = document.path
        let name = Spec.documentName(file)
        var pendingPragma: (kind: String, line: Int)? = nil
        for block in document.blocks {
            if let pending = pendingPragma {
                if case .table = block {} else {
                    spec.diagnostics.append(Diagnostic(.table, file, pending.line,
                        "pragma 'table: \(pending.kind)' is not followed by a table"))
                    pendingPragma = nil
                }
            }
            switch block {
            case .heading(_, let text, let line):
                checkStrayKeywords(text, file: file, line: line, into: &spec)
            case .paragraph(let text, let prose, let line):
                readParagraph(text: text, prose: prose, document: name, file: file, line: line, into: &spec)
            case .html(let html, let line):
                let trimmed = html.trimmingCharacters(in: .whitespacesAndNewlines)
                if let match = trimmed.wholeMatch(of: pragma) {
                    pendingPragma = (String(match.1), line)
                } else if trimmed.hasPrefix("<!--") && trimmed.contains("table:") {
                    spec.diagnostics.append(Diagnostic(.table, file, line, "malformed table pragma: \(trimmed)"))
                }
            case .code(let info, let literal, let line):
                guard info == "json vector" || info == "json scenario" else { continue }
                do {
                    let value = try StrictJSONParser().parse(literal)
                    guard case .object(let object) = value else {
                        spec.diagnostics.append(Diagnostic(.vector, file, line, "a vector is a JSON object"))
                        continue
                    }
                    if info == "json scenario" {
                        spec.scenarios.append(Vector(json: object, document: name, file: file, line: line))
                    } else {
                        spec.vectors.append(resolved(object, document: name, file: file, line: line, into: &spec))
                    }
                } catch {
                    spec.diagnostics.append(Diagnostic(.vector, file, line, "vector JSON: \(error)"))
                }
            case .table(let header, let rows, let rowLines, let proseCells, let line):
                for cell in proseCells { checkStrayKeywords(cell, file: file, line: line, into: &spec) }
                guard let pending = pendingPragma else { continue }
                pendingPragma = nil
                readTable(kind: pending.kind, header: header, rows: rows, rowLines: rowLines,
                          document: name, file: file, line: line, into: &spec)
            }
        }
        if let pending = pendingPragma {
            spec.diagnostics.append(Diagnostic(.table, file, pending.line,
                "pragma 'table: \(pending.kind)' is not followed by a table"))
        }
    }

    /// The vector with its data-file references in `context` and `input` resolved
    /// (conventions.md §Data files); each reference that does not resolve is a problem.
    private static func resolved(_ object: JSONObject, document: String, file: String, line: Int,
                                 into spec: inout Spec) -> Vector {
        let id = object["id"]?.stringValue ?? ""
        var resolver = DataFileResolver(store: spec.dataFiles, document: document, vectorID: id)
        var json = object
        for member in ["context", "input"] {
            if let value = object[member] { json[member] = resolver.resolve(value) }
        }
        for problem in resolver.problems {
            spec.diagnostics.append(Diagnostic(.vector, file, line, "vector \(id): \(problem)"))
        }
        return Vector(json: json, document: document, file: file, line: line, dataFiles: resolver.references)
    }

    private static func readParagraph(text: String, prose: String, document: String, file: String, line: Int,
                                      into spec: inout Spec) {
        guard let match = text.firstMatch(of: bracketed), text.hasPrefix("[") else {
            checkStrayKeywords(prose, file: file, line: line, into: &spec)
            return
        }
        let id = String(match.1)
        let looksLikeID = id.contains("-") && id.first!.isLetter
        guard looksLikeID else {
            checkStrayKeywords(prose, file: file, line: line, into: &spec)
            return
        }
        guard id.wholeMatch(of: requirementID) != nil else {
            spec.diagnostics.append(Diagnostic(.requirement, file, line,
                "malformed requirement ID [\(id)]: expected [PREFIX-NNN], 2-5 capital letters and 3 digits"))
            return
        }
        let keywords = Keyword.occurrences(in: prose)
        guard keywords.count == 1 else {
            spec.diagnostics.append(Diagnostic(.keyword, file, line, keywords.isEmpty
                ? "requirement [\(id)] has no BCP 14 keyword"
                : "requirement [\(id)] has \(keywords.count) BCP 14 keywords (\(keywords.map(\.rawValue).joined(separator: ", "))); split it"))
            return
        }
        let body = String(text.dropFirst(match.0.count)).trimmingCharacters(in: .whitespaces)
        spec.requirements.append(Requirement(id: id, keyword: keywords[0], text: body, document: document,
                                             file: file, line: line))
    }

    /// Uppercase BCP 14 keywords are reserved for requirements. The boilerplate
    /// paragraph of conventions.md, which names them, says "BCP 14".
    private static func checkStrayKeywords(_ prose: String, file: String, line: Int, into spec: inout Spec) {
        let keywords = Keyword.occurrences(in: prose)
        guard !keywords.isEmpty, !prose.contains("BCP 14") else { return }
        spec.diagnostics.append(Diagnostic(.keyword, file, line,
            "BCP 14 keyword \(keywords.map(\.rawValue).joined(separator: ", ")) outside a requirement"))
    }

    private static func readTable(kind: String, header: [String], rows: [[String]], rowLines: [Int],
                                  document: String, file: String, line: Int, into spec: inout Spec) {
        guard let schema = TableKind.all[kind] else {
            spec.diagnostics.append(Diagnostic(.table, file, line, "unknown table kind '\(kind)'"))
            return
        }
        var ok = true
        for column in header where !schema.columns.contains(column) {
            spec.diagnostics.append(Diagnostic(.table, file, line, "table '\(kind)': unknown column '\(column)'"))
            ok = false
        }
        for column in schema.columns where !header.contains(column) {
            spec.diagnostics.append(Diagnostic(.table, file, line, "table '\(kind)': missing column '\(column)'"))
            ok = false
        }
        guard ok else { return }
        var tableRows: [TableRow] = []
        for (cells, rowLine) in zip(rows, rowLines) {
            var values: [String: String] = [:]
            for (column, cell) in zip(header, cells) { values[column] = cell }
            for column in schema.columns where !schema.optional.contains(column) && (values[column] ?? "").isEmpty {
                spec.diagnostics.append(Diagnostic(.table, file, rowLine, "table '\(kind)': empty cell in column '\(column)'"))
            }
            tableRows.append(TableRow(cells: values, line: rowLine))
        }
        spec.tables.append(SpecTable(kind: kind, columns: header, rows: tableRows, document: document, file: file, line: line))
    }
}
