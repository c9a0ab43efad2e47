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

    func run(_ command: String, baseline: Set<String> = [], allow: Set<String> = [], timeout: Double = 5) -> ConformanceRun {
        ConformanceRun(spec: spec, vectors: spec.vectors, executor: PerProcessExecutor(command: command, timeout: timeout),
                       implementation: command, mode: "per-process", baseline: baseline, allowUnsupported: allow)
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
        let r = run(try stub("exit 3"), allow: ["json.parse"])
        #expect(r.count("skip") == 2)
        #expect(r.count("fail") == 0)
        #expect(r.passed)
    }

    @Test("a stub that answers unsupported to everything does not pass unless each op is allowed")
    func unsupportedFailsTheRun() throws {
        // Positive control: a correct implementation passes with nothing allowed.
        #expect(run(try correct).passed)
        let everything = try stub("exit 3")
        let r = run(everything)
        #expect(!r.passed)
        #expect(r.disallowedSkips.map(\.vector.id) == ["fix-valid", "fix-invalid"])
        #expect(r.failureReasons.contains { $0.contains("ops not allowed: json.parse") })
        let json = r.resultsJSON(requirements: spec.requirements)
        #expect(json["summary"]!["verdict"] == "FAIL")
        #expect(json["summary"]!["disallowed_skips"] == 2)
        #expect(r.junitXML().contains("<failure message=\"op json.parse unsupported (not allowed: the run fails)\""))
        #expect(r.markdownSummary().contains("## Unsupported ops not allowed"))
        // The same stub in JSON lines mode.
        let jsonl = try stub(#"while IFS= read -r line; do echo '{"unsupported":true}'; done"#)
        let executor = try JSONLinesExecutor(command: jsonl, timeout: 5)
        let j = ConformanceRun(spec: spec, vectors: spec.vectors, executor: executor, implementation: jsonl, mode: "jsonl", baseline: [])
        executor.close()
        #expect(j.count("skip") == 2)
        #expect(!j.passed)
        // Allowed by name: the run passes, and the reports record the allowance.
        let allowed = run(everything, allow: ["json.parse"])
        #expect(allowed.passed)
        let allowedJSON = allowed.resultsJSON(requirements: spec.requirements)
        #expect(allowedJSON["summary"]!["allowed_unsupported"] == ["json.parse"])
        #expect(allowedJSON["vectors"]!.arrayValue![0]["unsupported_allowed"] == true)
        #expect(allowed.markdownSummary().contains("Unsupported ops allowed (`--allow-unsupported`)"))
        #expect(allowed.markdownSummary().contains("`json.parse`"))
    }

    @Test("an allowance no skipped vector needs is stale, and an empty selection fails")
    func staleAllowance() throws {
        let r = run(try correct, allow: ["json.parse"])
        #expect(!r.passed)
        #expect(r.staleAllowances == ["json.parse"])
        #expect(r.markdownSummary().contains("## Stale allowances"))
        let other = run(try correct, allow: ["jcs.canonicalize"])
        #expect(other.staleAllowances == ["jcs.canonicalize"])
        let none = ConformanceRun(spec: spec, vectors: [], executor: PerProcessExecutor(command: try correct), implementation: "x",
                                  mode: "per-process", baseline: [])
        #expect(!none.passed)
        #expect(none.failureReasons == ["no vector was selected"])
    }

    @Test("a requirement is covered only by a vector that passed in the run")
    func coveredOnlyByPassingVectors() throws {
        let all = run(try correct).resultsJSON(requirements: spec.requirements)
        #expect(all["requirements"]!["FIX-001"]!["covered"] == true)
        #expect(all["requirements"]!["FIX-001"]!["passing_vectors"] == ["fix-valid", "fix-invalid"])
        let skipped = run(try stub("exit 3"), allow: ["json.parse"]).resultsJSON(requirements: spec.requirements)
        #expect(skipped["requirements"]!["FIX-001"]!["status"] == "not covered")
        #expect(skipped["requirements"]!["FIX-001"]!["covered"] == false)
        let half = try stub("""
            input=$(cat)
            case "$input" in
              *'"7b7d"'*) echo '{"result":"valid","output":{"canonical":"7b7d"}}' ;;
              *) exit 3 ;;
            esac
            """)
        let partial = run(half, allow: ["json.parse"]).resultsJSON(requirements: spec.requirements)
        #expect(partial["requirements"]!["FIX-001"]!["status"] == "partial")
        #expect(partial["requirements"]!["FIX-001"]!["passing_vectors"] == ["fix-valid"])
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
        // The code each invalid answer carried: what `attest check --evidence` reads.
        #expect(json["vectors"]!.arrayValue![1]["error"] == "JSON_SYNTAX")
        #expect(json["vectors"]!.arrayValue![0]["error"] == nil)
        let xml = r.junitXML()
        #expect(xml.contains(#"<testcase classname="fixture.json.parse" name="fix-valid""#))
        #expect(r.markdownSummary().contains("**PASS**"))
    }
}
