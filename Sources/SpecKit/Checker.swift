import AttestCore
import Foundation

/// `attest check`: the spec against itself and against an implementation.
public struct SpecCheck: Sendable {
    public struct VectorRun: Sendable {
        public let vector: Vector
        public let verdict: Verdict
    }

    public let spec: Spec
    public private(set) var diagnostics: [Diagnostic]
    public private(set) var runs: [VectorRun] = []
    public private(set) var registry: [String: TableRow] = [:]
    public private(set) var excluded: [String: TableRow] = [:]
    /// The evidence the check was given; nil when its rules were not checked.
    public let evidence: Evidence?
    /// Registry code -> how the evidence shows it is raised (`vector ID`, `scenario ID`,
    /// `test SCOPE: NAME`, or `excluded`); filled only when evidence is given.
    public private(set) var codeEvidence: [String: String] = [:]

    /// - Parameters:
    ///   - implementationCodes: the error codes the implementation declares; they must
    ///     equal the registry's. This only keeps the two lists in step: that each code is
    ///     actually raised is shown by `evidence`.
    ///   - executor: runs the vectors; nil skips running them.
    ///   - vectorsDirectory: the committed `vectors/` to check for drift; nil skips it.
    ///   - schemaRoot: the repository root whose `spec/schemas/` holds the object schemas;
    ///     nil skips the schema checks (``ObjectSchemas``).
    ///   - evidence: what a test run produced (`attest check --evidence DIR`); nil skips
    ///     the evidence rules: every registry code raised by a passing vector or scenario,
    ///     by a test that observed it, or excluded with a reason; every vector a
    ///     threat-model row names passed, and every test it names is in the evidence.
    public init(spec: Spec, implementationCodes: Set<String>?, executor: OpExecutor?, vectorsDirectory: URL?,
                schemaRoot: URL? = nil, evidence: Evidence? = nil) {
        self.spec = spec
        self.diagnostics = spec.diagnostics
        self.evidence = evidence
        checkRegistry(implementationCodes)
        checkVectors()
        if let schemaRoot {
            let (schemas, problems) = ObjectSchemas.load(root: schemaRoot)
            diagnostics += problems + ObjectSchemas.check(spec, schemas: schemas)
        }
        checkScenarios()
        checkExclusions()
        checkReferences()
        checkCitations()
        checkVersions()
        if let executor { run(executor) }
        checkCoverage()
        if let vectorsDirectory { diagnostics += VectorFiles.drift(spec, in: vectorsDirectory) }
        if let evidence { checkEvidence(evidence) }
    }

    public var passed: Bool { diagnostics.isEmpty }

    private var requirementIDs: Set<String> { Set(spec.requirements.map(\.id)) }

    private mutating func checkRegistry(_ implementationCodes: Set<String>?) {
        let tables = spec.tables("errors")
        if tables.isEmpty {
            diagnostics.append(Diagnostic(.registry, "spec/errors.md", 0, "no error registry table (<!-- table: errors -->)"))
        }
        for table in tables {
            for row in table.rows {
                let code = row["code"]
                if registry[code] != nil {
                    diagnostics.append(Diagnostic(.registry, table.file, row.line, "duplicate registry code \(code)"))
                }
                registry[code] = row
            }
        }
        guard let implementationCodes, !tables.isEmpty else { return }
        let file = tables[0].file
        for code in implementationCodes.subtracting(registry.keys).sorted() {
            diagnostics.append(Diagnostic(.registry, file, 0, "the implementation raises \(code), which the registry lacks"))
        }
        for code in Set(registry.keys).subtracting(implementationCodes).sorted() {
            diagnostics.append(Diagnostic(.registry, file, registry[code]!.line,
                "registry code \(code) is not raised by the implementation"))
        }
    }

    private mutating func checkVectors() {
        var byID: [String: Vector] = [:]
        let ids = requirementIDs
        for vector in spec.vectors {
            for problem in VectorSchema.violations(vector.json) {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line, "vector \(vector.id): \(problem)"))
            }
            if let first = byID[vector.id] {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line,
                    "duplicate vector id \(vector.id) (first at \(first.file):\(first.line))"))
            } else {
                byID[vector.id] = vector
            }
            for id in vector.covers where !ids.contains(id) {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line, "vector \(vector.id) covers unknown requirement \(id)"))
            }
            for code in [vector.expectedError].compactMap({ $0 }) + vector.expectedErrorAnyOf where registry[code] == nil {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line, "vector \(vector.id) expects \(code), which is not in the registry"))
            }
        }
        let tabledOps = Set(spec.rows("ops").map { $0["op"] })
        if !tabledOps.isEmpty {
            for vector in spec.vectors where !tabledOps.contains(vector.op) {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line,
                    "vector \(vector.id) uses op \(vector.op), which the ops table does not define"))
            }
        }
        for vector in spec.vectors {
            guard let base = vector.base else { continue }
            guard let baseVector = byID[base] else {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line, "vector \(vector.id): base \(base) does not exist"))
                continue
            }
            if !baseVector.expectsValid {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line, "vector \(vector.id): base \(base) is not a valid vector"))
            }
            if baseVector.op != vector.op {
                diagnostics.append(Diagnostic(.vector, vector.file, vector.line,
                    "vector \(vector.id): base \(base) has op \(baseVector.op), not \(vector.op)"))
            }
        }
    }

    /// Scenarios: unique ids, known requirements, registry codes (portal.md §Conformance scenarios).
    private mutating func checkScenarios() {
        var seen = Set<String>()
        let ids = requirementIDs
        for scenario in spec.scenarios {
            if scenario.id.isEmpty || !seen.insert(scenario.id).inserted {
                diagnostics.append(Diagnostic(.vector, scenario.file, scenario.line, "scenario id \"\(scenario.id)\" is empty or repeated"))
            }
            for id in scenario.covers where !ids.contains(id) {
                diagnostics.append(Diagnostic(.vector, scenario.file, scenario.line, "scenario \(scenario.id) covers unknown requirement \(id)"))
            }
            guard let steps = scenario.json["steps"]?.arrayValue, !steps.isEmpty else {
                diagnostics.append(Diagnostic(.vector, scenario.file, scenario.line, "scenario \(scenario.id) has no steps"))
                continue
            }
            for step in steps {
                let codes = [step["expect"]?["error"]?.stringValue].compactMap { $0 }
                    + (step["receipts"]?.arrayValue ?? []).compactMap { $0.stringValue?.split(separator: " ").dropFirst().first.map(String.init) }
                for code in codes where registry[code] == nil {
                    diagnostics.append(Diagnostic(.vector, scenario.file, scenario.line, "scenario \(scenario.id) expects \(code), which is not in the registry"))
                }
            }
        }
    }

    private mutating func checkExclusions() {
        let ids = Set(spec.requirements.map(\.id))
        for table in spec.tables("exclusions") {
            for row in table.rows {
                let id = row["requirement"]
                if !ids.contains(id) {
                    diagnostics.append(Diagnostic(.coverage, table.file, row.line, "exclusion names unknown requirement \(id)"))
                }
                excluded[id] = row
            }
        }
        let retired = Set(spec.rows("retired").map { $0["id"] })
        for requirement in spec.requirements where retired.contains(requirement.id) {
            diagnostics.append(Diagnostic(.requirement, requirement.file, requirement.line,
                "[\(requirement.id)] is retired; IDs are never reused"))
        }
    }

    nonisolated(unsafe) static let requirementToken = #/[A-Z]{2,5}-[0-9]{3}/#
    nonisolated(unsafe) static let codeToken = #/[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+/#

    /// Threat-model and other cross-reference tables name requirements and vectors that must exist.
    private mutating func checkReferences() {
        let ids = requirementIDs
        let vectorIDs = Set((spec.vectors + spec.scenarios).map(\.id))
        for kind in ["cosai", "owasp", "attacks", "claims", "media-types"] {
            for table in spec.tables(kind) {
                for row in table.rows {
                    for column in ["requirements", "requirement"] {
                        for match in row[column].matches(of: Self.requirementToken) where !ids.contains(String(match.0)) {
                            diagnostics.append(Diagnostic(.reference, table.file, row.line,
                                "table '\(kind)' names unknown requirement \(match.0)"))
                        }
                    }
                    for token in Self.listTokens(row["vectors"]) where !vectorIDs.contains(token) {
                        diagnostics.append(Diagnostic(.reference, table.file, row.line, "table '\(kind)' names unknown vector \(token)"))
                    }
                }
            }
        }
        let vectorsByID = Dictionary((spec.vectors + spec.scenarios).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for table in spec.tables("attacks") {
            for row in table.rows {
                let codes = row["expected code"].matches(of: Self.codeToken).map { String($0.0) }
                for code in codes where registry[code] == nil {
                    diagnostics.append(Diagnostic(.reference, table.file, row.line,
                        "attack expects \(code), which is not in the registry"))
                }
                // An attack's expected outcome rests on something that runs: a vector or a test.
                let vectors = Self.listTokens(row["vectors"])
                let tests = table.columns.contains("tests") ? (Evidence.citations(row["tests"]) ?? []) : []
                if vectors.isEmpty && tests.isEmpty {
                    diagnostics.append(Diagnostic(.reference, table.file, row.line,
                        "\(row["id"]) names no vector and no test: its expected code rests on nothing that runs"))
                } else if tests.isEmpty, !codes.isEmpty {
                    // With vectors only, one of them must expect one of the row's codes.
                    let expected = vectors.compactMap { vectorsByID[$0] }.flatMap { vector -> [String] in
                        [vector.expectedError].compactMap { $0 }
                            + (vector.expected["error_any_of"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                    }
                    if !codes.contains(where: { code in expected.contains { $0.utf8.elementsEqual(code.utf8) } }) {
                        diagnostics.append(Diagnostic(.reference, table.file, row.line,
                            "\(row["id"]) expects \(codes.joined(separator: " or ")), but none of its vectors expects it"))
                    }
                }
            }
        }
        for kind in ["attacks", "cosai", "owasp", "registry-exclusions"] {
            for table in spec.tables(kind) { for row in table.rows { _ = citations(row, table) } }
        }
        for table in spec.tables("registry-exclusions") {
            for row in table.rows where registry[row["code"]] == nil {
                diagnostics.append(Diagnostic(.reference, table.file, row.line, "exclusion names \(row["code"]), which is not in the registry"))
            }
        }
        let statuses: Set<String> = ["enforced and evidenced", "evidenced only", "out of scope"]
        for table in spec.tables("cosai") + spec.tables("owasp") {
            for row in table.rows where !statuses.contains(row["status"].lowercased()) {
                diagnostics.append(Diagnostic(.reference, table.file, row.line,
                    "status '\(row["status"])' is not one of: \(statuses.sorted().joined(separator: ", "))"))
            }
            // A claim of enforcement rests on something that can be run.
            for row in table.rows where row["status"].lowercased().hasPrefix("enforced")
                && Self.listTokens(row["vectors"]).isEmpty && (Evidence.citations(row["tests"]) ?? []).isEmpty {
                diagnostics.append(Diagnostic(.reference, table.file, row.line,
                    "\(row["id"]) says '\(row["status"])' but names no vector and no test"))
            }
        }
    }

    /// Every RFC, BCP, FIPS, NIST SP, Internet-Draft, C2SP document, MCP revision and SEP
    /// a document cites has a row in that document's references table, with an https
    /// link; every row is cited; one reference has one link across the specification.
    private mutating func checkCitations() {
        var links: [String: (link: String, file: String)] = [:]
        for table in spec.tables("references") {
            for row in table.rows {
                let reference = row["reference"]
                let link = row["link"]
                if Citations.find(in: reference).map(\.text) != [reference] {
                    diagnostics.append(Diagnostic(.reference, table.file, row.line,
                        "reference '\(reference)' is not written the way the text cites it (RFC 1234, C2SP name, SEP-1234, MCP YYYY-MM-DD, ...)"))
                }
                if !link.hasPrefix("https://") || link.contains(" ") {
                    diagnostics.append(Diagnostic(.reference, table.file, row.line, "reference \(reference): link '\(link)' is not an https URL"))
                }
                if let first = links[reference], first.link != link {
                    diagnostics.append(Diagnostic(.reference, table.file, row.line,
                        "reference \(reference) links \(link), but \(first.file) links \(first.link)"))
                } else if links[reference] == nil {
                    links[reference] = (link, table.file)
                }
            }
        }
        for document in spec.documents {
            let tables = spec.tables.filter { $0.kind == "references" && $0.file == document.path }
            var listed: [String: Int] = [:]
            for row in tables.flatMap(\.rows) { listed[row["reference"]] = row.line }
            let ownRows = Set(listed.values)
            var cited: Set<String> = []
            func scan(_ text: String, line: Int) {
                for citation in Citations.find(in: text) {
                    cited.insert(citation.reference)
                    if listed[citation.reference] == nil {
                        diagnostics.append(Diagnostic(.reference, document.path, line,
                            "cites \(citation.reference), which the document's references table does not list"))
                    }
                }
            }
            for block in document.blocks {
                switch block {
                case .heading(_, let text, let line): scan(text, line: line)
                case .paragraph(_, let prose, let line): scan(prose, line: line)
                case .table(_, let rows, let rowLines, _, _):
                    for (cells, line) in zip(rows, rowLines) where !ownRows.contains(line) {
                        for cell in cells { scan(cell, line: line) }
                    }
                case .html, .code: break
                }
            }
            for (reference, line) in listed.sorted(by: { $0.value < $1.value }) where !cited.contains(reference) {
                diagnostics.append(Diagnostic(.reference, document.path, line, "lists \(reference), which the text does not cite"))
            }
        }
    }

    nonisolated(unsafe) static let isoDate = #/[0-9]{4}-[0-9]{2}-[0-9]{2}/#

    /// The versions table (changelog.md): at least one row, newest first, dates
    /// written YYYY-MM-DD.
    private mutating func checkVersions() {
        let tables = spec.tables("versions")
        guard !tables.isEmpty else { return }
        if let newest = tables.first?.rows.first, !newest["version"].utf8.elementsEqual(SpecificationVersion.current.utf8) {
            diagnostics.append(Diagnostic(.table, tables[0].file, newest.line,
                "the newest version is \(newest["version"]), but the code implements \(SpecificationVersion.current) (SpecificationVersion.current)"))
        }
        var previous: [UInt8]? = nil
        for table in tables {
            for row in table.rows {
                let date = row["date"]
                if date.wholeMatch(of: Self.isoDate) == nil {
                    diagnostics.append(Diagnostic(.table, table.file, row.line,
                        "version \(row["version"]): date '\(date)' is not YYYY-MM-DD"))
                    continue
                }
                let bytes = Array(date.utf8)
                if let previous, previous.lexicographicallyPrecedes(bytes) {
                    diagnostics.append(Diagnostic(.table, table.file, row.line,
                        "version \(row["version"]) is dated after the row above it; the newest version comes first"))
                }
                previous = bytes
            }
        }
    }

    /// The test citations of a `tests` cell, or a diagnostic when the cell has another form.
    private mutating func citations(_ row: TableRow, _ table: SpecTable, column: String = "tests") -> [Evidence.TestID] {
        guard let ids = Evidence.citations(row[column]) else {
            diagnostics.append(Diagnostic(.reference, table.file, row.line,
                "'\(column)' cell is not '-' or 'Tests/<Module>[/<File>.swift]: name[, name]' / 'Tests/python/<file>.py: name' items separated by ';': \(row[column])"))
            return []
        }
        return ids
    }

    /// Vector ids in a cell: comma- or space-separated tokens that look like ids; `-`
    /// and prose in parentheses are ignored.
    static func listTokens(_ cell: String) -> [String] {
        cell.split(whereSeparator: { $0 == "," || $0 == " " })
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "`;")) }
            .filter { !$0.isEmpty && $0 != "-" && $0.contains("-") && $0 == $0.lowercased()
                      && $0.first!.isLetter && !$0.contains("(") && !$0.contains(")") }
    }

    // MARK: Evidence

    private mutating func checkEvidence(_ evidence: Evidence) {
        for problem in evidence.problems {
            diagnostics.append(Diagnostic(.evidence, "evidence", 0, problem))
        }
        if evidence.sources.isEmpty {
            diagnostics.append(Diagnostic(.evidence, "evidence", 0, "the evidence directory holds no results.json, *.jsonl or JUnit report"))
        }
        // Codes raised by passing vectors: what the implementation answered, or for a run
        // that did not record it, the one code the vector expects.
        var byVector: [String: String] = [:]
        for vector in spec.vectors where evidence.passedVectors.contains(vector.id) {
            let codes = evidence.observedCodes[vector.id] ?? Set([vector.expectedError].compactMap { $0 })
            for code in codes.sorted() where byVector[code] == nil { byVector[code] = "vector \(vector.id)" }
        }
        for scenario in spec.scenarios where evidence.passedVectors.contains(scenario.id) {
            for step in scenario.json["steps"]?.arrayValue ?? [] {
                let codes = [step["expect"]?["error"]?.stringValue].compactMap { $0 }
                    + (step["receipts"]?.arrayValue ?? []).compactMap { $0.stringValue?.split(separator: " ").dropFirst().first.map(String.init) }
                for code in codes where byVector[code] == nil { byVector[code] = "scenario \(scenario.id)" }
            }
        }
        var byTest: [String: Evidence.TestID] = [:]
        for (test, codes) in evidence.testCodes.sorted(by: { $0.key < $1.key }) where evidence.hasTest(test) {
            for code in codes where byTest[code] == nil { byTest[code] = test }
        }
        var exclusions: [String: TableRow] = [:]
        for table in spec.tables("registry-exclusions") {
            for row in table.rows {
                exclusions[row["code"]] = row
                for test in Evidence.citations(row["tests"]) ?? [] where !evidence.hasTest(test) {
                    diagnostics.append(Diagnostic(.evidence, table.file, row.line,
                        "the exclusion of \(row["code"]) names the test \(test), which is not in the evidence"))
                }
            }
        }
        let errorsFile = spec.tables("errors").first?.file ?? "spec/errors.md"
        for (code, row) in registry.sorted(by: { $0.key < $1.key }) {
            let raised = byVector[code] ?? byTest[code].map { "test \($0)" }
            if let raised, let exclusion = exclusions[code] {
                // An exclusion says nothing can produce the code: stale once something does.
                let file = spec.tables("registry-exclusions").first?.file ?? errorsFile
                diagnostics.append(Diagnostic(.evidence, file, exclusion.line,
                    "the exclusion of \(code) is stale: \(raised) produced it; remove the exclusion"))
            }
            if let raised { codeEvidence[code] = raised }
            else if exclusions[code] != nil { codeEvidence[code] = "excluded" }
            else {
                diagnostics.append(Diagnostic(.evidence, errorsFile, row.line,
                    "registry code \(code) has no evidence: no passing vector or scenario produced it, no test recorded it, and no exclusion names it"))
            }
        }
        // Threat-model rows: every vector they name passed, every test they name is in the evidence.
        for kind in ["cosai", "owasp", "attacks"] {
            for table in spec.tables(kind) {
                for row in table.rows {
                    let label = row["id"]
                    for token in Self.listTokens(row["vectors"]) where !evidence.passedVectors.contains(token) {
                        diagnostics.append(Diagnostic(.evidence, table.file, row.line,
                            "\(label) (status '\(row["status"].isEmpty ? "-" : row["status"])') names \(token), which passed in no run of the evidence"))
                    }
                    guard table.columns.contains("tests") else { continue }
                    for test in Evidence.citations(row["tests"]) ?? [] where !evidence.hasTest(test) {
                        diagnostics.append(Diagnostic(.evidence, table.file, row.line,
                            "\(label) names the test \(test), which is not in the evidence (it recorded no code and passed in no JUnit report)"))
                    }
                }
            }
        }
    }

    private mutating func run(_ executor: OpExecutor) {
        var verdicts: [String: Verdict] = [:]
        runs = spec.vectors.map { vector in
            let verdict = vector.judge(executor.execute(op: vector.op, context: vector.context, input: vector.input))
            verdicts[vector.id] = verdict
            return VectorRun(vector: vector, verdict: verdict)
        }
        for run in runs {
            if case .fail(let why) = run.verdict {
                diagnostics.append(Diagnostic(.result, run.vector.file, run.vector.line, "vector \(run.vector.id) fails: \(why)"))
            }
            if let base = run.vector.base, let baseVerdict = verdicts[base], baseVerdict != .pass {
                diagnostics.append(Diagnostic(.result, run.vector.file, run.vector.line,
                    "vector \(run.vector.id): its base \(base) does not pass, so the negative proves nothing"))
            }
        }
    }

    /// Requirement ID -> covering vector ids.
    public var coverage: [String: [String]] {
        var map: [String: [String]] = [:]
        for vector in spec.vectors + spec.scenarios { for id in vector.covers { map[id, default: []].append(vector.id) } }
        return map
    }

    private mutating func checkCoverage() {
        let covered = coverage
        for requirement in spec.requirements where requirement.keyword.isAbsolute {
            if covered[requirement.id] == nil && excluded[requirement.id] == nil {
                diagnostics.append(Diagnostic(.coverage, requirement.file, requirement.line,
                    "[\(requirement.id)] \(requirement.keyword.rawValue) has no covering vector and no exclusion"))
            }
        }
    }
}
