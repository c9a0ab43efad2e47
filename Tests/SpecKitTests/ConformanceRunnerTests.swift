import AttestCore
import Foundation
import SpecKit
import Testing

/// The conformance runner against stub implementations, each wrong in one way.
@Suite("Conformance runner")
struct ConformanceRunnerTests {
    let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: fixture)])

    /// Writes an executable shell script and returns the command that runs it.
    func stub(_ body: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stub-\(UUID().uuidString).sh")
        try Data("#!/bin/sh\n\(body)\n".utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url.path
    }

    /// A correct implementation of the two fixture vectors: answers by the op's input.
    var correct: String {
        get throws {
            try stub("""
                input=$(cat)
                case "$input" in
                  *'"7b7d"'*) echo '{"result":"valid","output":{"canonical":"7b7d"}}' ;;
                  *) echo '{"result":"invalid","error":"JSON_SYNTAX"}' ;;
                esac
                """)
        }
    }

    func run(_ command: String, baseline: Set<String> = [], timeout: Double = 5) -> ConformanceRun {
        ConformanceRun(spec: spec, vectors: spec.vectors, executor: PerProcessExecutor(command: command, timeout: timeout),
                       implementation: command, mode: "per-process", baseline: baseline)
    }

    func verdict(_ r: ConformanceRun, _ id: String) -> Verdict? { r.results.first { $0.vector.id == id }?.verdict }

    @Test("a correct implementation passes (positive control)")
    func passes() throws {
        let r = run(try correct)
        #expect(r.passed)
        #expect(r.count("pass") == 2)
    }

    @Test("exit 3 is reported as skipped, not failed")
    func unsupported() throws {
        let r = run(try stub("exit 3"))
        #expect(r.count("skip") == 2)
        #expect(r.passed)
    }

    @Test("a crash, garbage output and a timeout each fail the vector")
    func failures() throws {
        let crash = run(try stub("exit 1"))
        #expect(crash.count("fail") == 2)
        #expect(!crash.passed)
        if case .fail(let why)? = verdict(crash, "fix-valid") { #expect(why.contains("exit status 1")) } else { Issue.record("no failure") }
        let garbage = run(try stub("cat >/dev/null; echo 'not json'"))
        if case .fail(let why)? = verdict(garbage, "fix-valid") { #expect(why.contains("not one JSON object")) } else { Issue.record("no failure") }
        let slow = run(try stub("sleep 5"), timeout: 0.5)
        if case .fail(let why)? = verdict(slow, "fix-valid") { #expect(why.contains("timed out")) } else { Issue.record("no failure") }
    }

    @Test("comparison: result, then error code, then each output member")
    func comparison() throws {
        let alwaysValid = run(try stub(#"cat >/dev/null; echo '{"result":"valid","output":{"canonical":"7b7d"}}'"#))
        if case .fail(let why)? = verdict(alwaysValid, "fix-invalid") { #expect(why.contains("expected invalid")) } else { Issue.record("no failure") }
        let wrongCode = run(try stub(#"cat >/dev/null; echo '{"result":"invalid","error":"JSON_TOO_DEEP"}'"#))
        if case .fail(let why)? = verdict(wrongCode, "fix-invalid") { #expect(why.contains("expected error JSON_SYNTAX, got JSON_TOO_DEEP")) } else { Issue.record("no failure") }
        let wrongOutput = run(try stub(#"cat >/dev/null; echo '{"result":"valid","output":{"canonical":"7b20"}}'"#))
        if case .fail(let why)? = verdict(wrongOutput, "fix-valid") { #expect(why.contains(#"output "canonical""#)) } else { Issue.record("no failure") }
        let missingOutput = run(try stub(#"cat >/dev/null; echo '{"result":"valid"}'"#))
        if case .fail(let why)? = verdict(missingOutput, "fix-valid") { #expect(why.contains(#"no "canonical""#)) } else { Issue.record("no failure") }
        // Members the vector does not name are ignored.
        let extra = try stub("""
            input=$(cat)
            case "$input" in
              *'"7b7d"'*) echo '{"result":"valid","output":{"canonical":"7b7d","more":1}}' ;;
              *) echo '{"result":"invalid","error":"JSON_SYNTAX","message":"m"}' ;;
            esac
            """)
        #expect(run(extra).passed)
    }

    @Test("baseline: listed failures are expected, unlisted ones and stale entries fail the run")
    func baseline() throws {
        let wrongCode = try stub("""
            input=$(cat)
            case "$input" in
              *'"7b7d"'*) echo '{"result":"valid","output":{"canonical":"7b7d"}}' ;;
              *) echo '{"result":"invalid","error":"JSON_TOO_DEEP"}' ;;
            esac
            """)
        #expect(!run(wrongCode).passed)
        let listed = run(wrongCode, baseline: ["fix-invalid"])
        #expect(listed.passed)
        #expect(listed.unexpectedFailures.isEmpty)
        let stale = run(try correct, baseline: ["fix-invalid"])
        #expect(!stale.passed)
        #expect(stale.staleBaselineEntries == ["fix-invalid"])
        let gone = run(try correct, baseline: ["fix-removed"])
        #expect(gone.staleBaselineEntries == ["fix-removed"])
    }

    @Test("JSON lines mode against the same stub logic")
    func jsonl() throws {
        let command = try stub("""
            [ "$1" = "--jsonl" ] || exit 2
            while IFS= read -r line; do
              case "$line" in
                *'"7b7d"'*) echo '{"result":"valid","output":{"canonical":"7b7d"}}' ;;
                *'"op":"json.parse"'*) echo '{"result":"invalid","error":"JSON_SYNTAX"}' ;;
                *) echo '{"unsupported":true}' ;;
              esac
            done
            """)
        let executor = try JSONLinesExecutor(command: command, timeout: 5)
        let r = ConformanceRun(spec: spec, vectors: spec.vectors, executor: executor, implementation: command, mode: "jsonl", baseline: [])
        executor.close()
        #expect(r.passed)
        #expect(r.count("pass") == 2)
        let silent = try JSONLinesExecutor(command: try stub("sleep 5"), timeout: 0.5)
        let s = ConformanceRun(spec: spec, vectors: spec.vectors, executor: silent, implementation: "silent", mode: "jsonl", baseline: [])
        silent.close()
        #expect(s.count("fail") == 2)
    }

    @Test("reports: results.json by vector and requirement, JUnit XML, Markdown")
    func reports() throws {
        let r = run(try correct)
        let json = r.resultsJSON(requirements: spec.requirements)
        #expect(json["summary"]!["verdict"] == "PASS")
        #expect(json["requirements"]!["FIX-001"]!["status"] == "pass")
        #expect(json["vectors"]!.arrayValue!.count == 2)
        let xml = r.junitXML()
        #expect(xml.contains(#"<testcase classname="fixture.json.parse" name="fix-valid""#))
        #expect(r.markdownSummary().contains("**PASS**"))
    }
}
