import AttestCore
import Foundation

/// `attest conformance`: runs selected vectors against an implementation, applies the
/// expected-failures baseline and the ops allowed to be unsupported, and writes
/// `results.json`, `junit.xml` and `summary.md`.
///
/// A run cannot pass by skipping: a vector whose op the implementation does not support
/// fails the run unless its op is named in `allowUnsupported` (conformance.md, CNF-007),
/// and a run that selects no vector fails.
public struct ConformanceRun: Sendable {
    public struct Result: Sendable {
        public let vector: Vector
        public let verdict: Verdict
        /// Listed in the baseline as an expected failure.
        public let expectedFailure: Bool
        public let seconds: Double
        /// The registry code the implementation answered with, for an invalid result.
        public let observedError: String?
    }

    public let implementation: String
    public let mode: String
    public let results: [Result]
    /// Baseline entries whose vector now passes (stale) or that name no selected vector.
    public let staleBaselineEntries: [String]
    /// The ops named with `--allow-unsupported`, sorted.
    public let allowedUnsupported: [String]
    /// Allowed ops that no skipped vector of this run needed (stale allowances).
    public let staleAllowances: [String]
    public let seconds: Double

    public var unexpectedFailures: [Result] { results.filter { $0.verdict.label == "fail" && !$0.expectedFailure } }
    /// Vectors skipped as unsupported whose op was not allowed to be unsupported.
    public var disallowedSkips: [Result] {
        results.filter { $0.verdict.label == "skip" && !allowedUnsupported.contains($0.vector.op) }
    }
    /// Why the run fails, one line per reason; empty when it passes.
    public var failureReasons: [String] {
        var reasons: [String] = []
        if results.isEmpty { reasons.append("no vector was selected") }
        if !unexpectedFailures.isEmpty { reasons.append("\(unexpectedFailures.count) vector(s) failed") }
        let ops = Set(disallowedSkips.map(\.vector.op)).sorted()
        if !ops.isEmpty {
            reasons.append("\(disallowedSkips.count) vector(s) skipped as unsupported, ops not allowed: \(ops.joined(separator: ", "))")
        }
        if !staleBaselineEntries.isEmpty { reasons.append("stale baseline entries: \(staleBaselineEntries.joined(separator: ", "))") }
        if !staleAllowances.isEmpty { reasons.append("stale --allow-unsupported ops: \(staleAllowances.joined(separator: ", "))") }
        return reasons
    }
    public var passed: Bool { failureReasons.isEmpty }

    public func count(_ label: String) -> Int { results.filter { $0.verdict.label == label }.count }

    /// - Parameter allowUnsupported: ops whose vectors may be skipped as unsupported
    ///   without failing the run. Each must be needed: an allowed op for which no
    ///   selected vector was skipped is stale and fails the run, as a stale baseline
    ///   entry does.
    public init(spec: Spec, vectors: [Vector], executor: OpExecutor, implementation: String, mode: String,
                baseline: Set<String>, allowUnsupported: Set<String> = []) {
        let start = Date()
        var results: [Result] = []
        for vector in vectors {
            let t0 = Date()
            let outcome = executor.execute(op: vector.op, context: vector.context, input: vector.input)
            var observed: String? = nil
            if case .invalid(let code, _) = outcome { observed = code }
            results.append(Result(vector: vector, verdict: vector.judge(outcome), expectedFailure: baseline.contains(vector.id),
                                  seconds: Date().timeIntervalSince(t0), observedError: observed))
        }
        self.results = results
        self.implementation = implementation
        self.mode = mode
        let selected = Set(vectors.map(\.id))
        self.staleBaselineEntries = baseline.sorted().filter { id in
            !selected.contains(id) || results.contains { $0.vector.id == id && $0.verdict == .pass }
        }
        self.allowedUnsupported = allowUnsupported.sorted()
        let skippedOps = Set(results.filter { $0.verdict.label == "skip" }.map(\.vector.op))
        self.staleAllowances = allowUnsupported.sorted().filter { !skippedOps.contains($0) }
        self.seconds = Date().timeIntervalSince(start)
    }

    /// Reads a baseline file: `{"expected_failures": [{"id": "...", "reason": "..."}]}`.
    public static func loadBaseline(_ url: URL) throws -> Set<String> {
        let value = try StrictJSONParser().parse(Array(try Data(contentsOf: url)))
        guard let entries = value["expected_failures"]?.arrayValue else {
            throw AttestError(.jsonSyntax, "baseline has no \"expected_failures\" array")
        }
        var ids: Set<String> = []
        for entry in entries {
            guard let id = entry["id"]?.stringValue, let reason = entry["reason"]?.stringValue, !reason.isEmpty else {
                throw AttestError(.jsonSyntax, "each baseline entry has an \"id\" and a non-empty \"reason\"")
            }
            ids.insert(id)
        }
        return ids
    }

    // MARK: Reports

    public func resultsJSON(requirements: [Requirement]) -> JSONValue {
        var byRequirement = JSONObject()
        for requirement in requirements {
            let covering = results.filter { $0.vector.covers.contains(requirement.id) }
            guard !covering.isEmpty else { continue }
            // Covered only by a vector that passed in this run (CNF-008).
            let passing = covering.filter { $0.verdict == .pass }
            let status: String
            if covering.contains(where: { $0.verdict.label == "fail" }) { status = "fail" }
            else if passing.isEmpty { status = "not covered" }
            else if passing.count == covering.count { status = "pass" }
            else { status = "partial" }
            byRequirement[requirement.id] = [
                "keyword": .string(requirement.keyword.rawValue),
                "status": .string(status),
                "covered": .bool(!passing.isEmpty),
                "vectors": .array(covering.map { .string($0.vector.id) }),
                "passing_vectors": .array(passing.map { .string($0.vector.id) }),
            ]
        }
        return [
            "implementation": .string(implementation),
            "mode": .string(mode),
            "summary": [
                "vectors": .number(JSONNumber(results.count)),
                "pass": .number(JSONNumber(count("pass"))),
                "fail": .number(JSONNumber(count("fail"))),
                "skip": .number(JSONNumber(count("skip"))),
                "expected_failures": .number(JSONNumber(results.filter { $0.expectedFailure && $0.verdict.label == "fail" }.count)),
                "stale_baseline_entries": .array(staleBaselineEntries.map { .string($0) }),
                "allowed_unsupported": .array(allowedUnsupported.map { .string($0) }),
                "stale_allowances": .array(staleAllowances.map { .string($0) }),
                "disallowed_skips": .number(JSONNumber(disallowedSkips.count)),
                "failure_reasons": .array(failureReasons.map { .string($0) }),
                "seconds": .number(JSONNumber((seconds * 1000).rounded() / 1000)),
                "verdict": .string(passed ? "PASS" : "FAIL"),
            ],
            "vectors": .array(results.map { r in
                var o: JSONObject = [
                    "id": .string(r.vector.id), "document": .string(r.vector.document), "op": .string(r.vector.op),
                    "covers": .array(r.vector.covers.map { .string($0) }), "verdict": .string(r.verdict.label),
                ]
                switch r.verdict {
                case .fail(let why), .skip(let why): o["detail"] = .string(why)
                case .pass: break
                }
                if r.expectedFailure { o["expected_failure"] = true }
                if let code = r.observedError { o["error"] = .string(code) }
                if r.verdict.label == "skip" { o["unsupported_allowed"] = .bool(allowedUnsupported.contains(r.vector.op)) }
                return .object(o)
            }),
            "requirements": .object(byRequirement),
        ]
    }

    public func junitXML() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var documents: [String] = []
        for r in results where !documents.contains(r.vector.document) { documents.append(r.vector.document) }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"\(esc(implementation))\" tests=\"\(results.count)\" failures=\"\(count("fail"))\" skipped=\"\(count("skip"))\">\n"
        for document in documents {
            let rs = results.filter { $0.vector.document == document }
            xml += "  <testsuite name=\"\(esc(document))\" tests=\"\(rs.count)\" failures=\"\(rs.filter { $0.verdict.label == "fail" }.count)\" skipped=\"\(rs.filter { $0.verdict.label == "skip" }.count)\">\n"
            for r in rs {
                xml += "    <testcase classname=\"\(esc(document)).\(esc(r.vector.op))\" name=\"\(esc(r.vector.id))\" time=\"\(String(format: "%.4f", r.seconds))\""
                switch r.verdict {
                case .pass: xml += "/>\n"
                case .skip(let why):
                    let tag = allowedUnsupported.contains(r.vector.op) ? "skipped" : "failure"
                    let note = allowedUnsupported.contains(r.vector.op) ? " (allowed by --allow-unsupported)" : " (not allowed: the run fails)"
                    xml += "><\(tag) message=\"\(esc(why + note))\"/></testcase>\n"
                case .fail(let why):
                    let tag = r.expectedFailure ? "skipped" : "failure"
                    xml += "><\(tag) message=\"\(esc((r.expectedFailure ? "expected failure: " : "") + why))\"/></testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    public func markdownSummary() -> String {
        var md = "# Conformance: \(implementation)\n\n"
        md += "Mode: \(mode). Verdict: **\(passed ? "PASS" : "FAIL")**. "
        md += "\(results.count) vectors: \(count("pass")) pass, \(count("fail")) fail"
        md += " (\(results.filter { $0.expectedFailure && $0.verdict.label == "fail" }.count) expected), \(count("skip")) skipped"
        md += String(format: ", %.2f s.\n\n", seconds)
        if !failureReasons.isEmpty {
            md += "The run fails: " + failureReasons.joined(separator: "; ") + ".\n\n"
        }
        if allowedUnsupported.isEmpty {
            md += "Unsupported ops allowed: none.\n\n"
        } else {
            md += "Unsupported ops allowed (`--allow-unsupported`), whose vectors are skipped and cover nothing: "
            md += allowedUnsupported.map { "`\($0)`" }.joined(separator: ", ") + ".\n\n"
        }
        md += "| document | vectors | pass | fail | skip |\n| --- | ---: | ---: | ---: | ---: |\n"
        var documents: [String] = []
        for r in results where !documents.contains(r.vector.document) { documents.append(r.vector.document) }
        for d in documents {
            let rs = results.filter { $0.vector.document == d }
            md += "| \(d) | \(rs.count) | \(rs.filter { $0.verdict == .pass }.count) | \(rs.filter { $0.verdict.label == "fail" }.count) | \(rs.filter { $0.verdict.label == "skip" }.count) |\n"
        }
        let failures = results.filter { $0.verdict.label == "fail" }
        if !failures.isEmpty {
            md += "\n## Failures\n\n"
            for r in failures {
                if case .fail(let why) = r.verdict {
                    md += "- `\(r.vector.id)`\(r.expectedFailure ? " (expected)" : ""): \(why)\n"
                }
            }
        }
        if !disallowedSkips.isEmpty {
            md += "\n## Unsupported ops not allowed\n\nThese vectors were skipped because the implementation does not support their op, "
            md += "and the op was not named with `--allow-unsupported`:\n\n"
            md += disallowedSkips.map { "- `\($0.vector.id)` (`\($0.vector.op)`)\n" }.joined()
        }
        if !staleAllowances.isEmpty {
            md += "\n## Stale allowances\n\nThese ops are allowed to be unsupported but no vector of theirs was skipped; remove them:\n\n"
            md += staleAllowances.map { "- `\($0)`\n" }.joined()
        }
        if !staleBaselineEntries.isEmpty {
            md += "\n## Stale baseline entries\n\nThese are listed as expected failures but pass (or no longer exist); remove them:\n\n"
            md += staleBaselineEntries.map { "- `\($0)`\n" }.joined()
        }
        return md
    }

    public func write(to directory: URL, requirements: [Requirement]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(resultsJSON(requirements: requirements).serialized(pretty: true).utf8)
            .write(to: directory.appendingPathComponent("results.json"))
        try Data(junitXML().utf8).write(to: directory.appendingPathComponent("junit.xml"))
        try Data(markdownSummary().utf8).write(to: directory.appendingPathComponent("summary.md"))
    }
}
