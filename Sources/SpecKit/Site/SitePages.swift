import Foundation

/// Builds every page of the site from the index and the templates.
struct SitePages {
    let index: SiteIndex
    let templates: SiteTemplates
    let root: URL
    let resultsDirectory: URL

    private let specDocuments: [MarkdownDocument]
    private let threatDocuments: [MarkdownDocument]

    init(index: SiteIndex, templates: SiteTemplates, root: URL, resultsDirectory: URL) {
        self.index = index
        self.templates = templates
        self.root = root
        self.resultsDirectory = resultsDirectory
        let documents = index.spec.documents
        // The changelog comes last, after every document it describes.
        self.specDocuments = Self.readingOrder(documents.filter { $0.path.hasPrefix("spec/") && $0.path != "spec/changelog.md" },
                                               first: Self.conventionsOrder(documents))
            + documents.filter { $0.path == "spec/changelog.md" }
        self.threatDocuments = Self.readingOrder(documents.filter { $0.path.hasPrefix("threat-model/") },
                                                 first: ["cosai.md", "owasp.md", "attacks.md", "limitations.md"])
    }

    mutating func build(into writer: inout SiteWriter) throws {
        for document in specDocuments + threatDocuments { try documentPage(document, into: &writer) }
        try traceabilityPage(into: &writer)
        try errorCodesPage(into: &writer)
        try tableIndexPage(kind: "claims", page: "claims.html", heading: "Claims",
                           intro: "The members of the attestation token's claims set, as defined by every claims table of the specification.",
                           into: &writer)
        try tableIndexPage(kind: "media-types", page: "media-types.html", heading: "Media types",
                           intro: "The media types and JOSE typ values the specification defines, from every media-types table.",
                           into: &writer)
        try requirementIndexPage(into: &writer)
        try vectorIndexPage(into: &writer)
        try runConformancePage(into: &writer)
        try homePage(into: &writer)
    }

    // MARK: Ordering

    /// The document order of the prefix table in conventions.md (`| prefix | document | ...`).
    private static func conventionsOrder(_ documents: [MarkdownDocument]) -> [String] {
        guard let conventions = documents.first(where: { $0.path == "spec/conventions.md" }) else { return [] }
        for block in conventions.blocks {
            if case .table(let header, let rows, _, _, _) = block, header.starts(with: ["prefix", "document"]) {
                return ["conventions.md"] + rows.compactMap { $0.count > 1 ? $0[1] : nil }
            }
        }
        return []
    }

    private static func readingOrder(_ documents: [MarkdownDocument], first: [String]) -> [MarkdownDocument] {
        func rank(_ d: MarkdownDocument) -> Int {
            first.firstIndex(of: URL(fileURLWithPath: d.path).lastPathComponent) ?? first.count
        }
        return documents.sorted { (rank($0), $0.path) < (rank($1), $1.path) }
    }

    private static func title(of document: MarkdownDocument) -> String {
        for block in document.blocks {
            if case .heading(1, let text, _) = block { return text }
        }
        return Spec.documentName(document.path)
    }

    // MARK: Layout

    private func nav(current page: String) -> [NavItem] {
        [("Home", "index.html"), ("Traceability", SiteIndex.traceabilityPage), ("Requirements", "requirements.html"), ("Vectors", "vectors.html"),
         ("Error codes", SiteIndex.errorCodesPage), ("Claims", "claims.html"), ("Media types", "media-types.html"),
         ("Run conformance", "run-conformance.html")].map { label, target in
            NavItem(label: label, href: SiteIndex.href(from: page, to: target), current: target == page, note: "")
        }
    }

    /// The sidebar (table of contents, then the documents) of a page, or its copy for the
    /// menu that replaces the sidebar and the site navigation on narrow screens.
    private func sidebar(page: String, toc: [TocEntry], collapsed: Bool = false, menu: Bool = false) throws -> String {
        func items(_ documents: [MarkdownDocument]) -> [NavItem] {
            documents.compactMap { document in
                guard let target = index.pages[document.path] else { return nil }
                return NavItem(label: Self.title(of: document), href: SiteIndex.href(from: page, to: target),
                               current: target == page, note: URL(fileURLWithPath: document.path).lastPathComponent)
            }
        }
        var groups = [NavGroup(heading: "Specification", items: items(specDocuments))]
        if !threatDocuments.isEmpty { groups.append(NavGroup(heading: "Threat model", items: items(threatDocuments))) }
        return try templates.render("sidebar", SidebarView(toc: toc, hasToc: !toc.isEmpty, groups: groups,
                                                           collapsed: collapsed, menu: menu,
                                                           labelSuffix: menu ? " (menu)" : ""))
    }

    private func write(_ page: String, title: String, content: String, toc: [TocEntry]? = nil, collapsed: Bool = false,
                       script: Bool = false, bodyClass: String, into writer: inout SiteWriter) throws {
        let sidebar = try toc.map { try self.sidebar(page: page, toc: $0, collapsed: collapsed) }
        let menu = try self.sidebar(page: page, toc: toc ?? [], menu: true)
        let view = LayoutView(title: title, root: SiteIndex.root(of: page), nav: nav(current: page), content: content,
                              sidebar: sidebar ?? "", menu: menu, status: index.status, hasSidebar: sidebar != nil,
                              script: script, bodyClass: bodyClass)
        try writer.write(page, templates.render("layout", view))
    }

    private func link(from page: String, _ text: String, _ target: String?, tooltip: String? = nil) -> LinkView? {
        target.map { LinkView(text: text, href: SiteIndex.href(from: page, to: $0), tooltip: tooltip) }
    }

    private func documentLink(from page: String, _ requirementFile: String) -> LinkView {
        let name = URL(fileURLWithPath: requirementFile).lastPathComponent
        return link(from: page, name, index.pages[requirementFile]) ?? LinkView(text: name, href: "", tooltip: nil)
    }

    // MARK: Documents

    private func documentPage(_ document: MarkdownDocument, into writer: inout SiteWriter) throws {
        guard let page = index.pages[document.path] else { return }
        var ids = PageIDs()
        let renderer = SiteMarkdown(index: index, templates: templates, page: page, source: document.path)
        let rendered = try renderer.render(document.source, ids: &ids)
        let name = Spec.documentName(document.path)
        let vectorFile = "vectors/\(name).json"
        let vectorCount = index.spec.vectors.filter { $0.file == document.path }.count
        let requirementCount = index.spec.requirements.filter { $0.file == document.path }.count
        // The title first, then the document's facts, then the text.
        var (titleHTML, body) = ("", rendered.html)
        if let end = rendered.html.range(of: "</h1>") {
            titleHTML = String(rendered.html[..<end.upperBound])
            body = String(rendered.html[end.upperBound...])
        }
        let view = DocumentView(
            title: titleHTML, body: body, source: document.path, status: index.status,
            isSpec: document.path.hasPrefix("spec/"),
            requirementCount: requirementCount, hasRequirements: requirementCount > 0,
            vectorCount: vectorCount, hasVectors: vectorCount > 0,
            vectorFile: vectorCount > 0 && index.copiedFiles.contains(vectorFile)
                ? link(from: page, vectorFile, vectorFile) : nil)
        let kind = document.path.hasPrefix("threat-model/") ? "threat" : "spec"
        try write(page, title: rendered.title.isEmpty ? name : rendered.title, content: templates.render("document", view),
                  toc: rendered.toc, collapsed: kind == "threat", bodyClass: "doc doc-\(kind) doc-\(name)", into: &writer)
    }

    // MARK: Coverage

    private func keywordRows() -> (rows: [KeywordRow], totals: KeywordRow) {
        var rows: [KeywordRow] = []
        for keyword in Keyword.allCases {
            let requirements = index.spec.requirements.filter { $0.keyword == keyword }
            guard !requirements.isEmpty else { continue }
            let byVector = requirements.filter { index.coverage[$0.id] != nil }.count
            let excluded = requirements.filter { index.coverage[$0.id] == nil && index.excluded[$0.id] != nil }.count
            rows.append(KeywordRow(keyword: keyword.rawValue, total: requirements.count, byVector: byVector,
                                   excludedCount: excluded, uncoveredCount: requirements.count - byVector - excluded,
                                   absolute: keyword.isAbsolute))
        }
        let totals = KeywordRow(keyword: "all", total: rows.map(\.total).reduce(0, +),
                                byVector: rows.map(\.byVector).reduce(0, +),
                                excludedCount: rows.map(\.excludedCount).reduce(0, +),
                                uncoveredCount: rows.map(\.uncoveredCount).reduce(0, +), absolute: false)
        return (rows, totals)
    }

    private var implementationViews: [ImplementationView] {
        index.runs.map { run in
            ImplementationView(name: run.name, implementation: run.implementation,
                               implementationHTML: SiteMarkdown.codeHTML(run.implementation), mode: run.mode, verdict: run.verdict,
                               verdictClass: run.verdict == "PASS" ? "pass" : "fail", total: run.total, pass: run.pass,
                               fail: run.fail, skip: run.skip, expectedFailures: run.expectedFailures)
        }
    }

    /// Requirements in reading order of their documents.
    private var orderedRequirements: [Requirement] {
        let order = (specDocuments + threatDocuments).map(\.path)
        return index.spec.requirements.enumerated().sorted { a, b in
            let (ra, rb) = (order.firstIndex(of: a.element.file) ?? order.count, order.firstIndex(of: b.element.file) ?? order.count)
            return (ra, a.offset) < (rb, b.offset)
        }.map(\.element)
    }

    private var resultsDisplay: String {
        let path = resultsDirectory.standardizedFileURL.path
        let base = root.standardizedFileURL.path
        return path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
    }

    private func traceabilityPage(into writer: inout SiteWriter) throws {
        let page = SiteIndex.traceabilityPage
        let (rows, totals) = keywordRows()
        let requirements = orderedRequirements.map { requirement -> TraceRequirement in
            let vectors = index.coverage[requirement.id] ?? []
            var lines: [TraceVectorLine] = vectors.enumerated().map { offset, id in
                let verdicts = index.runs.map { run in
                    ResultBadge(name: run.name, verdict: run.verdicts[id] ?? "not run",
                                detail: run.details[id] ?? "\(run.implementation) (\(run.mode))")
                }
                return TraceVectorLine(first: offset == 0, span: vectors.count,
                                       vector: link(from: page, id, index.vectorTarget(id),
                                                    tooltip: index.vectorsByID[id]?.json["description"]?.stringValue),
                                       verdicts: verdicts, exclusionReason: nil, missing: false)
            }
            let status: String
            let label: String
            if !vectors.isEmpty {
                (status, label) = ("vector", "by vector")
            } else if let exclusion = index.excluded[requirement.id] {
                (status, label) = ("excluded", "excluded")
                lines = [TraceVectorLine(first: true, span: 1, vector: nil, verdicts: [],
                                         exclusionReason: exclusion["reason"], missing: false)]
            } else {
                (status, label) = requirement.keyword.isAbsolute ? ("uncovered", "uncovered") : ("reported", "not covered (reported only)")
                lines = [TraceVectorLine(first: true, span: 1, vector: nil, verdicts: [], exclusionReason: nil, missing: true)]
            }
            return TraceRequirement(
                id: requirement.id, anchor: "tr-" + requirement.anchor,
                href: index.requirementTarget(requirement.id).map { SiteIndex.href(from: page, to: $0) } ?? "",
                keyword: requirement.keyword.rawValue, keywordClass: SiteMarkdown.keywordClass(requirement.keyword),
                document: documentLink(from: page, requirement.file), status: status, statusLabel: label, lines: lines,
                text: requirement.text)
        }
        let view = TraceabilityView(
            keywordRows: rows, implementations: implementationViews, hasImplementations: !index.runs.isEmpty,
            implementationNames: index.runs.map(\.name), columnCount: 1 + index.runs.count,
            requirements: requirements, resultsDirectory: resultsDisplay, totals: totals)
        try write(page, title: "Traceability", content: templates.render("traceability", view), script: true,
                  bodyClass: "index-page traceability", into: &writer)
    }

    // MARK: Indexes

    private func errorCodesPage(into writer: inout SiteWriter) throws {
        let page = SiteIndex.errorCodesPage
        var rows: [ErrorCodeRow] = []
        for table in index.spec.tables("errors") {
            let definitionPage = index.pages[table.file]
            let sourceDirectory = table.file.split(separator: "/").dropLast().joined(separator: "/")
            for row in table.rows {
                let code = row["code"]
                let raisedBy = row["raised by"].split(whereSeparator: { $0 == "," || $0 == " " || $0 == ";" }).compactMap { token in
                    link(from: page, String(token), index.documentTarget(String(token), sourceDirectory: sourceDirectory))
                }
                let vectors = (index.vectorsByCode[code] ?? []).compactMap { id in
                    link(from: page, id, index.vectorTarget(id), tooltip: index.vectorsByID[id]?.json["description"]?.stringValue)
                }
                rows.append(ErrorCodeRow(
                    code: code, anchor: SiteIndex.codeAnchor(code), meaning: row["meaning"],
                    definition: link(from: page, "definition", definitionPage.map { $0 + "#errors-" + SiteIndex.keySlug(code) }),
                    raisedBy: raisedBy, raisedByText: raisedBy.isEmpty ? row["raised by"] : "", jsonRPC: row["json-rpc"],
                    vectors: vectors, hasVectors: !vectors.isEmpty))
            }
        }
        try write(page, title: "Error codes", content: templates.render("error-codes", ErrorCodesView(rows: rows, count: rows.count)),
                  script: true, bodyClass: "index-page", into: &writer)
    }

    private func tableIndexPage(kind: String, page: String, heading: String, intro: String,
                                into writer: inout SiteWriter) throws {
        let columns = TableKind.all[kind]?.columns ?? []
        var rows: [TableIndexRow] = []
        var documents: [LinkView] = []
        var ids = PageIDs()
        for table in index.spec.tables(kind) {
            documents.append(documentLink(from: page, table.file))
            for row in table.rows {
                let key = SiteIndex.keySlug(row[columns.first ?? ""])
                let requirementLinks = row["requirement"].matches(of: #/[A-Z]{2,5}-[0-9]{3}/#).compactMap { match in
                    link(from: page, String(match.0), index.requirementTarget(String(match.0)),
                         tooltip: index.requirementTitle(String(match.0)))
                }
                rows.append(TableIndexRow(
                    anchor: ids.unique(key), cells: columns.filter { $0 != "requirement" }.map { row[$0] },
                    requirement: requirementLinks,
                    definition: link(from: page, "definition", index.pages[table.file].map { $0 + "#\(kind)-\(key)" })))
            }
        }
        let view = TableIndexView(heading: heading, kind: kind, intro: intro,
                                  columns: columns.filter { $0 != "requirement" }, rows: rows, hasRows: !rows.isEmpty,
                                  documents: documents)
        try write(page, title: heading, content: templates.render("table-index", view), bodyClass: "index-page",
                  into: &writer)
    }

    private func requirementIndexPage(into writer: inout SiteWriter) throws {
        let page = "requirements.html"
        let rows = orderedRequirements.map { requirement -> RequirementIndexRow in
            let vectors = index.coverage[requirement.id]?.count ?? 0
            let (coverage, coverageClass): (String, String)
            if vectors > 0 {
                (coverage, coverageClass) = ("\(vectors) vector\(vectors == 1 ? "" : "s")", "vector")
            } else if index.excluded[requirement.id] != nil {
                (coverage, coverageClass) = ("excluded", "excluded")
            } else {
                (coverage, coverageClass) = requirement.keyword.isAbsolute ? ("uncovered", "uncovered") : ("not covered", "reported")
            }
            return RequirementIndexRow(
                id: requirement.id,
                href: index.requirementTarget(requirement.id).map { SiteIndex.href(from: page, to: $0) } ?? "",
                keyword: requirement.keyword.rawValue, keywordClass: SiteMarkdown.keywordClass(requirement.keyword),
                document: documentLink(from: page, requirement.file), text: requirement.text, coverage: coverage,
                coverageClass: coverageClass)
        }
        let view = RequirementIndexView(rows: rows, count: rows.count, keywordRows: keywordRows().rows)
        try write(page, title: "Requirement IDs", content: templates.render("requirements", view), script: true,
                  bodyClass: "index-page", into: &writer)
    }

    private func vectorIndexPage(into writer: inout SiteWriter) throws {
        let page = "vectors.html"
        var groups: [VectorGroup] = []
        for document in specDocuments + threatDocuments {
            let vectors = index.spec.vectors.filter { $0.file == document.path }
            guard !vectors.isEmpty else { continue }
            let rows = vectors.map { vector -> VectorIndexRow in
                let codes = ([vector.expectedError].compactMap { $0 } + vector.expectedErrorAnyOf).map { code in
                    link(from: page, code, index.errorTarget(code), tooltip: index.registry[code]?["meaning"])
                        ?? LinkView(text: code, href: "", tooltip: nil)
                }
                let covers = vector.covers.map { id in
                    link(from: page, id, index.requirementTarget(id), tooltip: index.requirementTitle(id))
                        ?? LinkView(text: id, href: "", tooltip: nil)
                }
                return VectorIndexRow(
                    id: vector.id, href: index.vectorTarget(vector.id).map { SiteIndex.href(from: page, to: $0) } ?? "",
                    tooltip: vector.json["description"]?.stringValue, op: vector.op, valid: vector.expectsValid,
                    codes: codes, covers: covers,
                    results: index.runs.map { run in
                        ResultBadge(name: run.name, verdict: run.verdicts[vector.id] ?? "not run",
                                    detail: run.details[vector.id] ?? "\(run.name): \(run.implementation) (\(run.mode))")
                    })
            }
            groups.append(VectorGroup(title: Self.title(of: document), anchor: "doc-" + Spec.documentName(document.path),
                                      document: documentLink(from: page, document.path), count: rows.count,
                                      columnCount: 4 + index.runs.count, rows: rows))
        }
        let view = VectorIndexView(groups: groups, count: groups.map(\.count).reduce(0, +),
                                   implementationNames: index.runs.map(\.name))
        try write(page, title: "Test vectors", content: templates.render("vectors", view), script: true,
                  bodyClass: "index-page", into: &writer)
    }

    // MARK: Conformance how-to

    private func runConformancePage(into writer: inout SiteWriter) throws {
        let page = "run-conformance.html"
        var ids = PageIDs()
        for id in ["run-the-conformance-runner", "how-to", "your-implementation", "results"] { ids.reserve(id) }
        var toc = [TocEntry(title: "How to test your implementation", id: "how-to", children: [], hasChildren: false),
                   TocEntry(title: "Results in this site", id: "results", children: [], hasChildren: false)]
        func embed(_ source: String, _ text: String) throws -> String {
            var renderer = SiteMarkdown(index: index, templates: templates, page: page, source: source)
            renderer.headingShift = 1
            let rendered = try renderer.render(text, ids: &ids)
            toc.append(TocEntry(title: rendered.title, id: rendered.titleID, children: rendered.toc,
                                hasChildren: !rendered.toc.isEmpty))
            return rendered.html
        }
        var protocolBody = ""
        if let conformance = index.spec.documents.first(where: { $0.path == "spec/conformance.md" }) {
            protocolBody = try embed(conformance.path, conformance.source)
        }
        let exampleDirectory = "conformance/examples/python"
        var exampleBody = ""
        if let text = try? String(contentsOf: root.appendingPathComponent(exampleDirectory + "/README.md"), encoding: .utf8) {
            exampleBody = try embed(exampleDirectory + "/README.md", text)
        }
        let files = index.copiedFiles.filter { $0.hasPrefix(exampleDirectory + "/") }.sorted().map { path in
            ExampleFile(name: String(path.dropFirst(exampleDirectory.count + 1)), href: SiteIndex.href(from: page, to: path))
        }
        let view = RunConformanceView(
            protocolBody: protocolBody, exampleBody: exampleBody, hasExample: !exampleBody.isEmpty, exampleFiles: files,
            opsCount: index.spec.rows("ops").count, vectorsIndex: SiteIndex.href(from: page, to: "vectors/index.json"),
            schema: SiteIndex.href(from: page, to: "spec/vector.schema.json"), implementations: implementationViews,
            hasImplementations: !index.runs.isEmpty)
        try write(page, title: "Run the conformance runner", content: templates.render("run-conformance", view),
                  toc: toc, bodyClass: "doc run-conformance", into: &writer)
    }

    // MARK: Home

    private func homePage(into writer: inout SiteWriter) throws {
        let page = "index.html"
        func summaries(_ documents: [MarkdownDocument]) -> [DocumentSummary] {
            documents.compactMap { document in
                guard let target = index.pages[document.path] else { return nil }
                return DocumentSummary(
                    name: URL(fileURLWithPath: document.path).lastPathComponent, href: SiteIndex.href(from: page, to: target),
                    heading: Self.title(of: document),
                    requirements: index.spec.requirements.filter { $0.file == document.path }.count,
                    vectors: index.spec.vectors.filter { $0.file == document.path }.count)
            }
        }
        let spec = index.spec
        let counts = [
            CountView(label: "requirements", value: spec.requirements.count, href: "requirements.html"),
            CountView(label: "test vectors", value: spec.vectors.count, href: "vectors.html"),
            CountView(label: "error codes", value: index.registry.count, href: SiteIndex.errorCodesPage),
            CountView(label: "claims", value: spec.rows("claims").count, href: "claims.html"),
            CountView(label: "media types", value: spec.rows("media-types").count, href: "media-types.html"),
            CountView(label: "conformance runs", value: index.runs.count, href: "run-conformance.html#results"),
        ]
        let view = HomeView(counts: counts, specDocuments: summaries(specDocuments),
                            threatDocuments: summaries(threatDocuments), implementations: implementationViews,
                            hasImplementations: !index.runs.isEmpty, resultsDirectory: resultsDisplay, status: index.status,
                            changelog: index.pages["spec/changelog.md"] ?? "",
                            keywordRows: keywordRows().rows)
        try write(page, title: "MCP agent attestation and enforcement evidence", content: templates.render("index", view),
                  bodyClass: "page-home", into: &writer)
    }
}
