/// The human summary printed by `attest check`.
extension SpecCheck {
    public func summary(elapsed: Double? = nil) -> String {
        var lines: [String] = []
        let covered = coverage
        lines.append("Requirements: \(spec.requirements.count) in \(Set(spec.requirements.map(\.document)).count) documents")
        lines.append(pad(["keyword", "total", "by vector", "excluded", "uncovered"]))
        for keyword in Keyword.allCases {
            let reqs = spec.requirements.filter { $0.keyword == keyword }
            guard !reqs.isEmpty else { continue }
            let byVector = reqs.filter { covered[$0.id] != nil }.count
            let byExclusion = reqs.filter { covered[$0.id] == nil && excluded[$0.id] != nil }.count
            lines.append(pad([keyword.rawValue, "\(reqs.count)", "\(byVector)", "\(byExclusion)",
                              "\(reqs.count - byVector - byExclusion)\(keyword.isAbsolute ? "" : " (reported only)")"]))
        }
        lines.append("")
        lines.append("Vectors: \(spec.vectors.count)")
        lines.append(pad(["document", "vectors", "pass", "fail", "skip"]))
        var documents: [String] = []
        for v in spec.vectors where !documents.contains(v.document) { documents.append(v.document) }
        for document in documents {
            let inDoc = runs.filter { $0.vector.document == document }
            let total = spec.vectors.filter { $0.document == document }.count
            lines.append(pad([document, "\(total)", "\(inDoc.filter { $0.verdict == .pass }.count)",
                              "\(inDoc.filter { $0.verdict.label == "fail" }.count)",
                              "\(inDoc.filter { $0.verdict.label == "skip" }.count)"]))
        }
        let failures = runs.filter { $0.verdict.label == "fail" }
        if !failures.isEmpty {
            lines.append("")
            lines.append("Failing vectors:")
            for run in failures {
                if case .fail(let why) = run.verdict { lines.append("  \(run.vector.id): \(why)") }
            }
        }
        lines.append("")
        if let evidence {
            let ways = codeEvidence.values
            let vectors = ways.filter { $0.hasPrefix("vector ") || $0.hasPrefix("scenario ") }.count
            let tests = ways.filter { $0.hasPrefix("test ") }.count
            let excluded = ways.filter { $0 == "excluded" }.count
            lines.append("Evidence: \(evidence.sources.count) files; \(evidence.passedVectors.count) passing vectors and scenarios, "
                         + "\(evidence.testCodes.count) tests recording codes, \(evidence.passedTests.count) passing tests in JUnit reports")
            lines.append("  registry codes: \(registry.count), raised by a passing vector or scenario \(vectors), "
                         + "observed only by a test \(tests), excluded \(excluded), without evidence \(registry.count - vectors - tests - excluded)")
            for (code, how) in codeEvidence.sorted(by: { $0.key < $1.key }) where !how.hasPrefix("vector ") && !how.hasPrefix("scenario ") {
                lines.append("    \(code): \(how)")
            }
        } else {
            lines.append("Evidence: not checked (run `attest check --evidence DIR` after `make test`): that each registry code is raised, "
                         + "and that each threat-model row's vectors passed and its tests ran, were not checked")
        }
        lines.append("")
        if diagnostics.isEmpty {
            lines.append("check: OK (0 problems)" + (elapsed.map { String(format: " in %.2f s", $0) } ?? ""))
        } else {
            lines.append("check: FAILED with \(diagnostics.count) problem(s):")
            lines += diagnostics.map { "  " + $0.description }
        }
        return lines.joined(separator: "\n")
    }

    private func pad(_ cells: [String]) -> String {
        let widths = [18, 8, 10, 10, 10]
        return "  " + cells.enumerated().map { i, c in
            c.padding(toLength: max(widths[min(i, widths.count - 1)], c.count), withPad: " ", startingAt: 0)
        }.joined()
    }
}
