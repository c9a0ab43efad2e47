import AttestCore
import AttestOps
import Foundation
import SpecKit
import Testing

/// A minimal spec that passes every check; each test breaks it in one way and asserts
/// the exact problem `attest check` reports, with its line.
let fixture = """
# Fixture

<!-- table: errors -->
| code | meaning | raised by | json-rpc |
| --- | --- | --- | --- |
| `JSON_SYNTAX` | not JSON | fixture.md | -31000 |
| `JSON_TOO_DEEP` | too deep | fixture.md | -31000 |

[FIX-001] A parser MUST reject text that is not JSON.

[FIX-002] A parser SHOULD say where the error is.

```json vector
{"id":"fix-valid","op":"json.parse","description":"An object parses.","covers":["FIX-001"],
 "input":{"data":"7b7d"},"expected":{"result":"valid","output":{"canonical":"7b7d"}}}
```

```json vector
{"id":"fix-invalid","op":"json.parse","description":"A truncated object is rejected.","covers":["FIX-001"],
 "input":{"data":"7b"},"expected":{"result":"invalid","error":"JSON_SYNTAX"},
 "base":"fix-valid","mutation":"closing brace removed"}
```

"""

func check(_ markdown: String, codes: Set<String> = ["JSON_SYNTAX", "JSON_TOO_DEEP"], extra: [MarkdownDocument] = [],
           vectorsDirectory: URL? = nil, evidence: URL? = nil) -> SpecCheck {
    let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: markdown)] + extra)
    return SpecCheck(spec: spec, implementationCodes: codes, executor: ReferenceOps(), vectorsDirectory: vectorsDirectory,
                     evidence: evidence.map { Evidence.read([$0]) })
}

/// Writes an evidence directory as `make test` leaves one: a conformance run's
/// results.json, code records of tests (JSON lines), and a JUnit report.
func evidenceDirectory(vectors: [(id: String, verdict: String, error: String?)],
                       records: [(scope: String, test: String, code: String?)] = [],
                       junit: [(classname: String, name: String, passed: Bool)] = []) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evidence-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("conformance/run"), withIntermediateDirectories: true)
    let results: JSONValue = ["summary": ["verdict": "PASS"], "vectors": .array(vectors.map { v in
        var o: JSONObject = ["id": .string(v.id), "verdict": .string(v.verdict)]
        if let error = v.error { o["error"] = .string(error) }
        return .object(o)
    })]
    try Data(results.serialized(pretty: true).utf8).write(to: dir.appendingPathComponent("conformance/run/results.json"))
    if !records.isEmpty {
        let lines = records.map { r in
            JSONValue.object(["scope": .string(r.scope), "test": .string(r.test), "code": r.code.map { .string($0) } ?? .null])
                .serialized(pretty: false) + "\n"
        }
        try Data(lines.joined().utf8).write(to: dir.appendingPathComponent("swift-1.jsonl"))
    }
    if !junit.isEmpty {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites><testsuite name=\"t\">\n"
        for t in junit {
            xml += "<testcase classname=\"\(t.classname)\" name=\"\(t.name)\" time=\"0.1\""
            xml += t.passed ? " />\n" : "><failure message=\"no\" /></testcase>\n"
        }
        try Data((xml + "</testsuite></testsuites>\n").utf8).write(to: dir.appendingPathComponent("tests.xml"))
    }
    return dir
}

/// Asserts that the check fails with exactly one problem of `kind` containing `text`, at `line` when given.
func expectProblem(_ c: SpecCheck, _ kind: Diagnostic.Kind, _ text: String, line: Int? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    let matching = c.diagnostics.filter { $0.kind == kind && $0.message.contains(text) }
    #expect(!c.passed, sourceLocation: sourceLocation)
    #expect(matching.count == 1, "problems: \(c.diagnostics)", sourceLocation: sourceLocation)
    if let line, let first = matching.first {
        #expect(first.line == line, "\(first)", sourceLocation: sourceLocation)
    }
}

func lineOf(_ needle: String, in text: String) -> Int {
    (text.components(separatedBy: "\n").firstIndex { $0.contains(needle) } ?? -1) + 1
}

@Suite("attest check on broken fixture specs")
struct CheckFixtureTests {
    @Test("the unbroken fixture passes (positive control)")
    func control() {
        let c = check(fixture)
        #expect(c.passed, "\(c.diagnostics)")
        #expect(c.spec.requirements.count == 2)
        #expect(c.spec.vectors.count == 2)
        #expect(c.runs.allSatisfy { $0.verdict == .pass })
    }

    @Test("duplicate requirement ID")
    func duplicateID() {
        let broken = fixture + "[FIX-001] A parser MUST reject again.\n"
        expectProblem(check(broken), .requirement, "duplicate requirement ID [FIX-001]", line: lineOf("reject again", in: broken))
    }

    @Test("malformed requirement ID")
    func malformedID() {
        let broken = fixture + "[FIX-01] A parser MUST be strict.\n"
        expectProblem(check(broken), .requirement, "malformed requirement ID [FIX-01]", line: lineOf("FIX-01]", in: broken))
    }

    @Test("requirement with no keyword")
    func noKeyword() {
        expectProblem(check(fixture + "[FIX-003] A parser rejects text.\n"), .keyword, "has no BCP 14 keyword")
    }

    @Test("requirement with two keywords")
    func twoKeywords() {
        expectProblem(check(fixture + "[FIX-003] A parser MUST reject and SHOULD log.\n"), .keyword, "has 2 BCP 14 keywords")
    }

    @Test("uppercase keyword outside a requirement, in prose and in a table cell")
    func strayKeyword() {
        expectProblem(check(fixture + "Parsers MUST be strict.\n"), .keyword, "MUST outside a requirement")
        expectProblem(check(fixture + "\n| a | b |\n| - | - |\n| x | SHOULD |\n"), .keyword, "SHOULD outside a requirement")
        // Lowercase and code spans are fine.
        #expect(check(fixture + "Parsers must be strict; `MUST` is a keyword.\n").passed)
    }

    @Test("vector breaking the schema")
    func schema() {
        let broken = fixture.replacingOccurrences(of: #""description":"An object parses.","#, with: "")
        expectProblem(check(broken), .vector, #"missing "description""#)
        let unknown = fixture.replacingOccurrences(of: #""id":"fix-valid","#, with: #""id":"fix-valid","note":1,"#)
        expectProblem(check(unknown), .vector, #"unknown member "note""#)
    }

    @Test("vector covering an unknown requirement")
    func unknownCovers() {
        let broken = fixture.replacingOccurrences(of: #""covers":["FIX-001"],"#, with: #""covers":["FIX-009"],"#)
        #expect(check(broken).diagnostics.contains { $0.message.contains("covers unknown requirement FIX-009") })
    }

    @Test("vector with an error code not in the registry")
    func unknownCode() {
        let broken = fixture.replacingOccurrences(of: #""error":"JSON_SYNTAX""#, with: #""error":"JSON_NOPE""#)
        #expect(check(broken).diagnostics.contains { $0.kind == .vector && $0.message.contains("JSON_NOPE, which is not in the registry") })
    }

    @Test("duplicate vector id")
    func duplicateVector() {
        let broken = fixture.replacingOccurrences(of: #""id":"fix-invalid""#, with: #""id":"fix-valid""#)
        #expect(check(broken).diagnostics.contains { $0.message.contains("duplicate vector id fix-valid") })
    }

    @Test("vector JSON with a duplicate member is refused by the strict parser")
    func vectorJSON() {
        let broken = fixture.replacingOccurrences(of: #""op":"json.parse","description":"An object"#,
                                                  with: #""op":"json.parse","op":"json.parse","description":"An object"#)
        expectProblem(check(broken), .vector, "JSON_DUPLICATE_MEMBER")
    }

    @Test("MUST without a vector or exclusion; SHOULD is only reported")
    func coverage() {
        let broken = fixture + "[FIX-003] A parser MUST NOT accept NaN.\n"
        expectProblem(check(broken), .coverage, "[FIX-003] MUST NOT has no covering vector", line: lineOf("FIX-003", in: broken))
        let excluded = broken + "\n<!-- table: exclusions -->\n| requirement | reason |\n| --- | --- |\n| FIX-003 | tested elsewhere |\n"
        #expect(check(excluded).passed)
        let unknownExclusion = fixture + "\n<!-- table: exclusions -->\n| requirement | reason |\n| --- | --- |\n| FIX-404 | x |\n"
        expectProblem(check(unknownExclusion), .coverage, "exclusion names unknown requirement FIX-404")
    }

    @Test("tables: unknown kind, unknown column, missing column, empty cell, pragma without table")
    func tables() {
        expectProblem(check(fixture + "<!-- table: nonsense -->\n| a |\n| - |\n| x |\n"), .table, "unknown table kind 'nonsense'")
        let extraColumn = fixture.replacingOccurrences(of: "| code | meaning | raised by | json-rpc |\n| --- | --- | --- | --- |",
                                                       with: "| code | meaning | raised by | json-rpc | notes |\n| --- | --- | --- | --- | --- |")
        #expect(check(extraColumn).diagnostics.contains { $0.kind == .table && $0.message.contains("unknown column 'notes'") })
        let missing = fixture + "\n<!-- table: exclusions -->\n| requirement |\n| --- |\n| FIX-001 |\n"
        expectProblem(check(missing), .table, "missing column 'reason'")
        let empty = fixture + "\n<!-- table: exclusions -->\n| requirement | reason |\n| --- | --- |\n| FIX-001 |  |\n"
        expectProblem(check(empty), .table, "empty cell in column 'reason'", line: lineOf("| FIX-001 |  |", in: empty))
        expectProblem(check(fixture + "<!-- table: exclusions -->\n\nSome text.\n"), .table, "is not followed by a table")
    }

    @Test("a negative vector whose base does not pass proves nothing")
    func baseMustPass() {
        let broken = fixture.replacingOccurrences(of: #""output":{"canonical":"7b7d"}"#, with: #""output":{"canonical":"7b20"}"#)
        let c = check(broken)
        #expect(c.diagnostics.contains { $0.kind == .result && $0.message.contains("fix-valid fails") })
        #expect(c.diagnostics.contains { $0.kind == .result && $0.message.contains("its base fix-valid does not pass") })
        let missingBase = fixture.replacingOccurrences(of: #""base":"fix-valid""#, with: #""base":"fix-gone""#)
        #expect(check(missingBase).diagnostics.contains { $0.message.contains("base fix-gone does not exist") })
        let invalidBase = fixture.replacingOccurrences(of: #""base":"fix-valid""#, with: #""base":"fix-invalid""#)
        #expect(check(invalidBase).diagnostics.contains { $0.message.contains("base fix-invalid is not a valid vector") })
    }

    @Test("a vector the implementation fails")
    func failingVector() {
        let broken = fixture.replacingOccurrences(of: #""error":"JSON_SYNTAX""#, with: #""error":"JSON_TOO_DEEP""#)
        expectProblem(check(broken), .result, "expected error JSON_TOO_DEEP, got JSON_SYNTAX")
    }

    @Test("registry and implementation codes are compared both ways")
    func registry() {
        expectProblem(check(fixture, codes: ["JSON_SYNTAX", "JSON_TOO_DEEP", "JSON_BYTE_ORDER_MARK"]), .registry,
                      "raises JSON_BYTE_ORDER_MARK, which the registry lacks")
        expectProblem(check(fixture, codes: ["JSON_SYNTAX"]), .registry, "JSON_TOO_DEEP is not raised by the implementation")
    }

    @Test("retired IDs are never reused")
    func retired() {
        let broken = fixture + "\n<!-- table: retired -->\n| id | retired in | reason |\n| --- | --- | --- |\n| FIX-001 | draft-01 | merged |\n"
        expectProblem(check(broken), .requirement, "[FIX-001] is retired")
    }

    @Test("threat tables name requirements and vectors that exist")
    func references() {
        let threat = MarkdownDocument(path: "threat-model/attacks.md", source: """
            <!-- table: attacks -->
            | id | attack | attacker controls | expected code | vectors | tests |
            | --- | --- | --- | --- | --- | --- |
            | ATK-001 | truncation | the bytes | JSON_SYNTAX | fix-invalid, fix-gone | - |

            """)
        expectProblem(check(fixture, extra: [threat]), .reference, "unknown vector fix-gone")
    }

    @Test("evidence: a registry code that no passing vector or test produced fails the check; a test record or an exclusion is evidence")
    func evidenceRegistry() throws {
        let passing: [(id: String, verdict: String, error: String?)] = [("fix-valid", "pass", nil), ("fix-invalid", "pass", "JSON_SYNTAX")]
        // Negative: nothing produced JSON_TOO_DEEP.
        let bare = try evidenceDirectory(vectors: passing)
        expectProblem(check(fixture, evidence: bare), .evidence, "registry code JSON_TOO_DEEP has no evidence",
                      line: lineOf("`JSON_TOO_DEEP`", in: fixture))
        // Positive control: a test that asserted it recorded the observation.
        let tooDeep: (scope: String, test: String, code: String?) = ("SpecKitTests", "tooDeep", "JSON_TOO_DEEP")
        let observed = try evidenceDirectory(vectors: passing, records: [tooDeep])
        let ok = check(fixture, evidence: observed)
        #expect(ok.passed, "\(ok.diagnostics)")
        #expect(ok.codeEvidence["JSON_SYNTAX"] == "vector fix-invalid")
        #expect(ok.codeEvidence["JSON_TOO_DEEP"] == "test SpecKitTests: tooDeep")
        #expect(ok.summary().contains("observed only by a test 1"))
        // A record of a test that the run's JUnit report shows failed is no evidence.
        let failedTest = try evidenceDirectory(vectors: passing, records: [tooDeep],
                                               junit: [("SpecKitTests.CheckFixtureTests", "tooDeep()", false)])
        expectProblem(check(fixture, evidence: failedTest), .evidence, "registry code JSON_TOO_DEEP has no evidence")
        // A vector that failed is no evidence, even with the right code.
        let failedVector = try evidenceDirectory(vectors: [("fix-valid", "pass", nil), ("fix-invalid", "fail", "JSON_SYNTAX")],
                                                 records: [tooDeep])
        expectProblem(check(fixture, evidence: failedVector), .evidence, "registry code JSON_SYNTAX has no evidence")
        // A reasoned exclusion is evidence; one that names a test requires the test in the evidence.
        let exclusions = "\n<!-- table: registry-exclusions -->\n| code | reason | tests |\n| --- | --- | --- |\n"
        #expect(check(fixture + exclusions + "| `JSON_TOO_DEEP` | unreachable by any input | - |\n", evidence: bare).passed)
        expectProblem(check(fixture + exclusions + "| `JSON_TOO_DEEP` | unreachable by any input | - |\n", evidence: observed),
                      .evidence, "the exclusion of JSON_TOO_DEEP is stale: test SpecKitTests: tooDeep produced it")
        expectProblem(check(fixture + exclusions + "| `JSON_TOO_DEEP` | unreachable | Tests/SpecKitTests/X.swift: gone |\n", evidence: bare),
                      .evidence, "names the test SpecKitTests: gone, which is not in the evidence")
        expectProblem(check(fixture + exclusions + "| `JSON_NOPE` | unreachable | - |\n", evidence: observed),
                      .reference, "exclusion names JSON_NOPE, which is not in the registry")
        // An empty evidence directory fails; without evidence the rules are not checked, and the summary says so.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("evidence-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(check(fixture, evidence: empty).diagnostics.contains { $0.kind == .evidence && $0.message.contains("holds no results.json") })
        let plain = check(fixture)
        #expect(plain.passed)
        #expect(plain.summary().contains("Evidence: not checked"))
    }

    @Test("evidence: a threat-model row citing a test absent from the evidence, or a vector that passed in no run, fails the check")
    func evidenceThreatRows() throws {
        let attacks = { (tests: String) in MarkdownDocument(path: "threat-model/attacks.md", source: """
            <!-- table: attacks -->
            | id | attack | attacker controls | expected code | vectors | tests |
            | --- | --- | --- | --- | --- | --- |
            | ATK-001 | truncation | the bytes | JSON_SYNTAX | fix-invalid, fix-valid | \(tests) |

            """) }
        let cited = attacks("Tests/SpecKitTests/CheckFixtureTests.swift: truncation; Tests/python/test_x.py: test_truncated")
        let passing: [(id: String, verdict: String, error: String?)] = [("fix-valid", "pass", nil), ("fix-invalid", "pass", "JSON_SYNTAX")]
        let tooDeep: (scope: String, test: String, code: String?) = ("SpecKitTests", "tooDeep", "JSON_TOO_DEEP")
        let ran: [(classname: String, name: String, passed: Bool)] = [("SpecKitTests.CheckFixtureTests", "truncation()", true),
                                                                     ("Tests.python.test_x", "test_truncated[stdio]", true)]
        // Positive control: both tests passed in a JUnit report, both vectors passed.
        let control = check(fixture, extra: [cited], evidence: try evidenceDirectory(vectors: passing, records: [tooDeep], junit: ran))
        #expect(control.passed, "\(control.diagnostics)")
        // A test that recorded its code counts as well.
        let recorded = try evidenceDirectory(vectors: passing, records: [tooDeep, ("SpecKitTests", "truncation", "JSON_SYNTAX")],
                                             junit: [ran[1]])
        #expect(check(fixture, extra: [cited], evidence: recorded).passed)
        // Negative: the Swift test is absent from the evidence.
        let absent = try evidenceDirectory(vectors: passing, records: [tooDeep], junit: [ran[1]])
        expectProblem(check(fixture, extra: [cited], evidence: absent), .evidence,
                      "ATK-001 names the test SpecKitTests: truncation, which is not in the evidence")
        // Negative: the Python test was skipped.
        let skipped = try evidenceDirectory(vectors: passing, records: [tooDeep], junit: [ran[0], ("Tests.python.test_x", "test_truncated[stdio]", false)])
        expectProblem(check(fixture, extra: [cited], evidence: skipped), .evidence, "names the test Tests/python/test_x.py: test_truncated")
        // Negative: a vector of the row did not pass.
        let failedVector = try evidenceDirectory(vectors: [("fix-valid", "pass", nil), ("fix-invalid", "skip", nil)],
                                                 records: [tooDeep, ("SpecKitTests", "syntax", "JSON_SYNTAX")], junit: ran)
        expectProblem(check(fixture, extra: [cited], evidence: failedVector), .evidence, "names fix-invalid, which passed in no run")
        // A tests cell of another form is refused, with or without evidence.
        expectProblem(check(fixture, extra: [attacks("each defect yields its own code")]), .reference, "'tests' cell is not")
    }

    @Test("a threat row that says enforced names at least one vector or test")
    func enforcedNeedsSomething() {
        let cosai = { (vectors: String, tests: String, status: String) in MarkdownDocument(path: "threat-model/cosai.md", source: """
            <!-- table: cosai -->
            | id | category | threats | cosai mitigations | gap | our mechanism | requirements | vectors | tests | status |
            | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
            | T1 | parsing | 1 bad JSON | validate | none | strict parser | FIX-001 | \(vectors) | \(tests) | \(status) |

            """) }
        expectProblem(check(fixture, extra: [cosai("-", "-", "enforced and evidenced")]), .reference, "T1 says 'enforced and evidenced' but names no vector and no test")
        #expect(check(fixture, extra: [cosai("fix-invalid", "-", "enforced and evidenced")]).passed)
        #expect(check(fixture, extra: [cosai("-", "Tests/SpecKitTests/CheckFixtureTests.swift: control", "enforced and evidenced")]).passed)
        #expect(check(fixture, extra: [cosai("-", "-", "out of scope")]).passed)
    }

    @Test("vectors/ drift: missing, changed and stale files")
    func drift() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("drift-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: fixture)])
        try VectorFiles.write(spec, to: dir)
        #expect(check(fixture, vectorsDirectory: dir).passed)
        let changed = fixture.replacingOccurrences(of: "A truncated object", with: "An unterminated object")
        let changedCheck = check(changed, vectorsDirectory: dir)
        #expect(Set(changedCheck.diagnostics.filter { $0.kind == .drift }.map(\.file))
                == ["vectors/fixture.json", "vectors/index.json"])
        try Data("{}".utf8).write(to: dir.appendingPathComponent("old.json"))
        expectProblem(check(fixture, vectorsDirectory: dir), .drift, "no longer produced")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("old.json"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("fixture.json"))
        expectProblem(check(fixture, vectorsDirectory: dir), .drift, "missing")
    }

    @Test("the real spec passes, with every absolute requirement covered")
    func realSpec() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let spec = try SpecReader.read(root: root)
        let c = SpecCheck(spec: spec, implementationCodes: ReferenceOps.errorCodes, executor: ReferenceOps(),
                          vectorsDirectory: root.appendingPathComponent("vectors"))
        #expect(c.passed, "\(c.diagnostics)")
        #expect(c.spec.vectors.count >= 160)
    }

    @Test("the published JSON Schema's rules and the Swift validator agree on the keyword set")
    func schemaFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let schema = try StrictJSONParser().parse(Array(try Data(contentsOf: root.appendingPathComponent("spec/vector.schema.json"))))
        #expect(Set(schema["properties"]!.objectValue!.names) == VectorSchema.members)
        #expect(Set(schema["properties"]!["expected"]!["properties"]!.objectValue!.names) == VectorSchema.expectedMembers)
    }

    @Test("keyword scanning matches whole words, MUST NOT as one")
    func keywords() {
        #expect(Keyword.occurrences(in: "it MUST NOT fail") == [.mustNot])
        #expect(Keyword.occurrences(in: "MUSTARD and MAYBE") == [])
        #expect(Keyword.occurrences(in: "NOT RECOMMENDED, MAY") == [.notRecommended, .may])
    }

    static let references = """

    ## References

    <!-- table: references -->
    | reference | title | link |
    | --- | --- | --- |
    | RFC 8259 | The JSON Data Interchange Format | https://www.rfc-editor.org/rfc/rfc8259 |
    | C2SP signed-note | Signed Note | https://c2sp.org/signed-note |

    """

    @Test("cited documents: listed with an https link, and every row cited (positive control first)")
    func citations() {
        let cited = fixture + "JSON is RFC 8259 §2; notes are C2SP signed-note texts.\n" + Self.references
        #expect(check(cited).passed, "\(check(cited).diagnostics)")
        let unlisted = cited + "\nSee also SEP-1932.\n"
        expectProblem(check(unlisted), .reference, "cites SEP-1932", line: lineOf("SEP-1932", in: unlisted))
        let uncited = fixture + "JSON is RFC 8259.\n" + Self.references
        expectProblem(check(uncited), .reference, "lists C2SP signed-note, which the text does not cite",
                      line: lineOf("| C2SP signed-note", in: uncited))
        let plain = cited.replacingOccurrences(of: "https://c2sp.org/signed-note", with: "c2sp.org/signed-note")
        expectProblem(check(plain), .reference, "is not an https URL")
        let page = Citations.find(in: "in initialize (MCP 2025-11-25 basic/lifecycle).")
        #expect(page.map(\.reference) == ["MCP 2025-11-25"] && page.first?.page == "basic/lifecycle")
        #expect(Citations.link("https://modelcontextprotocol.io/specification/2025-11-25", section: nil, page: "basic/lifecycle")
                == "https://modelcontextprotocol.io/specification/2025-11-25/basic/lifecycle")
        #expect(Citations.find(in: "RFC 9162 §2.1.1.").first?.section == "2.1.1")
        let unknownName = fixture + "Checkpoints are C2SP checkpoints.\n"
        expectProblem(check(unknownName), .reference, "cites C2SP checkpoints")
    }

    @Test("the versions table lists the newest version first")
    func versions() {
        let table = """

        <!-- table: versions -->
        | version | date | status | summary |
        | --- | --- | --- | --- |
        | \(SpecificationVersion.current) | 2026-12-07 | working draft | second |
        | 0.1 | 2026-11-25 | working draft | first |

        """
        #expect(check(fixture + table).passed, "\(check(fixture + table).diagnostics)")
        let swapped = table.replacingOccurrences(of: "2026-12-07", with: "2026-10-01")
        expectProblem(check(fixture + swapped), .table, "version 0.1 is dated after the row above it")
        let badDate = table.replacingOccurrences(of: "2026-12-07", with: "7 December 2026")
        expectProblem(check(fixture + badDate), .table, "is not YYYY-MM-DD")
        // The newest row is the version the code implements (SpecificationVersion.current).
        let other = table.replacingOccurrences(of: "| \(SpecificationVersion.current) |", with: "| 9.9 |")
        expectProblem(check(fixture + other), .table, "the newest version is 9.9, but the code implements")
    }
}
