import AttestCore
import CCmarkGFM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Renders one Markdown source for the site with cmark-gfm. Everything the site adds to
/// the Markdown happens here, on the syntax tree before rendering, never on the HTML text:
/// - headings get GitHub-style ids (and feed the table of contents);
/// - requirement paragraphs become requirement blocks with the requirement's anchor;
/// - `json vector` blocks become vector cards;
/// - every row of a pragma table gets an anchor `<kind>-<first cell>`;
/// - requirement IDs, vector ids, registry codes and `*.md` names in text and code spans
///   become links when they exist;
/// - relative links to Markdown become links to the pages, links to files the site does
///   not carry lose their link (their text stays).
struct SiteMarkdown {
    struct Rendered {
        let html: String
        let title: String
        let titleID: String
        let toc: [TocEntry]
    }

    let index: SiteIndex
    let templates: SiteTemplates
    /// The page being written, e.g. `spec/json.html`.
    let page: String
    /// The Markdown's path in the repository, e.g. `spec/json.md`.
    let source: String
    /// Added to every heading level, for a document embedded under a page's own heading.
    var headingShift = 0

    private var sourceDirectory: String {
        source.split(separator: "/").dropLast().joined(separator: "/")
    }

    nonisolated(unsafe) private static let requirementPrefix = #/^\[([A-Z]{2,5}-[0-9]{3})\]\s*/#
    nonisolated(unsafe) private static let requirementID = #/^[A-Z]{2,5}-[0-9]{3}$/#
    nonisolated(unsafe) private static let word = #/[A-Za-z0-9_][A-Za-z0-9_.\-]*/#
    nonisolated(unsafe) private static let pragma = #/^<!--\s*table:\s*([a-z0-9-]+)\s*-->\s*$/#

    func render(_ markdown: String, ids: inout PageIDs) throws -> Rendered {
        try MarkdownDocument.withParser(markdown) { parser, document in
            cmark_consolidate_text_nodes(document)

            var headings: [OpaquePointer] = []
            var paragraphs: [(OpaquePointer, Requirement)] = []
            var vectorBlocks: [(OpaquePointer, Vector)] = []
            var tables: [OpaquePointer] = []
            var links: [OpaquePointer] = []
            var texts: [OpaquePointer] = []
            var codes: [OpaquePointer] = []
            let vectorsAtLine = Dictionary(index.spec.vectors.filter { $0.file == source }.map { ($0.line, $0) },
                                           uniquingKeysWith: { a, _ in a })

            let iterator = cmark_iter_new(document)!
            defer { cmark_iter_free(iterator) }
            while true {
                let event = cmark_iter_next(iterator)
                if event == CMARK_EVENT_DONE { break }
                guard event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iterator) else { continue }
                switch Self.type(node) {
                case "heading": headings.append(node)
                case "paragraph":
                    if let requirement = requirement(of: node) { paragraphs.append((node, requirement)) }
                case "code_block":
                    if Self.fenceInfo(node) == "json vector",
                       let vector = vectorsAtLine[Int(cmark_node_get_start_line(node))] {
                        vectorBlocks.append((node, vector))
                    }
                case "table": tables.append(node)
                case "link": links.append(node)
                case "text": if !Self.hasAncestor(node, in: ["link", "image", "heading"]) { texts.append(node) }
                case "code": if !Self.hasAncestor(node, in: ["link", "image", "heading"]) { codes.append(node) }
                default: break
                }
            }

            for (_, requirement) in paragraphs { ids.reserve(requirement.anchor) }
            for (_, vector) in vectorBlocks { ids.reserve(vector.anchor) }

            for link in links { rewriteLink(link) }
            for (node, _) in paragraphs {
                // Drop the leading "[ID]": the requirement block shows the ID as its anchor link.
                if let first = cmark_node_first_child(node), Self.type(first) == "text" {
                    let text = Self.literal(first)
                    if let match = text.firstMatch(of: Self.requirementPrefix) {
                        cmark_node_set_literal(first, String(text[match.range.upperBound...]))
                    }
                }
            }
            for table in tables { try anchorRows(of: table, ids: &ids) }
            for text in texts { linkify(text: text) }
            for code in codes { linkify(code: code) }

            for (node, requirement) in paragraphs {
                try replace(node, with: templates.render("requirement", requirementView(requirement, body: Self.html(of: node))))
            }
            for (node, vector) in vectorBlocks {
                try replace(node, with: templates.render("vector-card", vectorCard(vector, json: Self.literal(node))))
            }
            for table in tables {
                try replace(table, with: templates.render("table", TableView(kind: pragmaKind(of: table), html: Self.html(of: table))))
            }
            var title = ""
            var titleID = ""
            var toc: [TocEntry] = []
            for heading in headings {
                let level = Int(cmark_node_get_heading_level(heading))
                let text = Self.plainText(heading)
                let id = ids.unique(SiteIndex.headingSlug(text))
                if level == 1 && title.isEmpty { (title, titleID) = (text, id) }
                if level == 2 {
                    toc.append(TocEntry(title: text, id: id, children: [], hasChildren: false))
                } else if level == 3, !toc.isEmpty {
                    toc[toc.count - 1].children.append(TocEntry(title: text, id: id, children: [], hasChildren: false))
                    toc[toc.count - 1].hasChildren = true
                }
                let rendered = Self.html(of: heading)
                let inner: String
                if let open = rendered.firstIndex(of: ">"), let close = rendered.range(of: "</h", options: .backwards) {
                    inner = String(rendered[rendered.index(after: open)..<close.lowerBound])
                } else {
                    inner = rendered
                }
                try replace(heading, with: templates.render("heading", HeadingView(level: min(level + headingShift, 6), id: id, inner: inner)))
            }

            let options = CMARK_OPT_UNSAFE | CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES
            guard let html = cmark_render_html(document, options, cmark_parser_get_syntax_extensions(parser)) else {
                throw SiteError("cmark-gfm could not render \(source)")
            }
            defer { free(html) }
            return Rendered(html: String(cString: html), title: title, titleID: titleID, toc: toc)
        }
    }

    // MARK: Requirements and vectors

    private func requirement(of paragraph: OpaquePointer) -> Requirement? {
        guard let first = cmark_node_first_child(paragraph), Self.type(first) == "text",
              let match = Self.literal(first).firstMatch(of: Self.requirementPrefix),
              let requirement = index.requirementsByID[String(match.1)], requirement.file == source else { return nil }
        return requirement
    }

    private func requirementView(_ requirement: Requirement, body: String) -> RequirementView {
        let vectors = (index.coverage[requirement.id] ?? []).compactMap { id in
            index.vectorTarget(id).map { LinkView(text: id, href: SiteIndex.href(from: page, to: $0), tooltip: nil) }
        }
        let exclusion = index.excluded[requirement.id].map { $0["reason"] }
        return RequirementView(
            id: requirement.id, anchor: requirement.anchor, keyword: requirement.keyword.rawValue,
            keywordClass: Self.keywordClass(requirement.keyword), body: body, vectors: vectors,
            vectorLabel: vectors.count == 1 ? "1 vector" : "\(vectors.count) vectors", hasVectors: !vectors.isEmpty, exclusion: vectors.isEmpty ? exclusion : nil,
            uncovered: vectors.isEmpty && exclusion == nil, absolute: requirement.keyword.isAbsolute,
            traceHref: SiteIndex.href(from: page, to: SiteIndex.traceabilityPage + "#tr-" + requirement.anchor))
    }

    static func keywordClass(_ keyword: Keyword) -> String {
        switch keyword {
        case .must, .mustNot, .required, .shall, .shallNot: return "must"
        case .should, .shouldNot, .recommended, .notRecommended: return "should"
        case .may, .optional: return "may"
        }
    }

    func vectorCard(_ vector: Vector, json: String) -> VectorCardView {
        func link(_ text: String, _ target: String?, tooltip: String? = nil) -> LinkView? {
            target.map { LinkView(text: text, href: SiteIndex.href(from: page, to: $0), tooltip: tooltip) }
        }
        let codes = [vector.expectedError].compactMap { $0 } + vector.expectedErrorAnyOf
        let errors = codes.map { code in
            link(code, index.errorTarget(code), tooltip: index.registry[code]?["meaning"])
                ?? LinkView(text: code, href: "", tooltip: nil)
        }
        let covers = vector.covers.map { id in
            link(id, index.requirementTarget(id), tooltip: index.requirementTitle(id))
                ?? LinkView(text: id, href: "", tooltip: nil)
        }
        let outputs = vector.expected["output"]?.objectValue?.names ?? []
        let flags = vector.json["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let file = "vectors/\(vector.document).json"
        let dataFiles = vector.dataFiles.map { data in
            let target = "spec/" + data.path
            return DataFileView(
                path: data.path,
                href: index.copiedFiles.contains(target) ? SiteIndex.href(from: page, to: target) : "",
                form: data.form.rawValue, size: Self.byteCount(data.size), sha256: data.sha256,
                shortDigest: String(data.sha256.prefix(12)))
        }
        let results = index.runs.map { run in
            ResultBadge(name: run.name, verdict: run.verdicts[vector.id] ?? "not run",
                        detail: run.details[vector.id] ?? "\(run.implementation) (\(run.mode))")
        }
        return VectorCardView(
            id: vector.id, anchor: vector.anchor, op: vector.op,
            description: vector.json["description"]?.stringValue ?? "", valid: vector.expectsValid,
            expectedErrors: errors, anyOf: !vector.expectedErrorAnyOf.isEmpty, outputs: outputs,
            hasOutputs: !outputs.isEmpty, covers: covers,
            base: vector.base.map { link($0, index.vectorTarget($0)) ?? LinkView(text: $0, href: "", tooltip: nil) },
            mutation: vector.json["mutation"]?.stringValue, flags: flags, hasFlags: !flags.isEmpty,
            vectorSource: Self.describe(vector.json["source"]), json: json.trimmingCharacters(in: .newlines),
            download: index.copiedFiles.contains(file)
                ? LinkView(text: file, href: SiteIndex.href(from: page, to: file), tooltip: nil) : nil,
            results: results, hasResults: !results.isEmpty,
            dataFiles: dataFiles, hasDataFiles: !dataFiles.isEmpty)
    }

    /// A byte count for people: bytes below 10 KiB, then KiB or MiB with one decimal.
    static func byteCount(_ n: Int) -> String {
        if n < 10 * 1024 { return n == 1 ? "1 byte" : "\(n) bytes" }
        if n < 1024 * 1024 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return String(format: "%.1f MiB", Double(n) / (1024 * 1024))
    }

    /// `source` may be a string or an object (RFC section, third-party file and test id).
    private static func describe(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if let text = value.stringValue { return text }
        if let object = value.objectValue {
            return object.map { member in "\(member.name): \(member.value.stringValue ?? member.value.serialized(pretty: false))" }
                .joined(separator: "; ")
        }
        return value.serialized(pretty: false)
    }

    // MARK: Tables

    private func pragmaKind(of table: OpaquePointer) -> String? {
        guard let previous = cmark_node_previous(table), Self.type(previous) == "html_block",
              let match = Self.literal(previous).trimmingCharacters(in: .whitespacesAndNewlines).wholeMatch(of: Self.pragma)
        else { return nil }
        return String(match.1)
    }

    private func anchorRows(of table: OpaquePointer, ids: inout PageIDs) throws {
        guard let kind = pragmaKind(of: table) else { return }
        var row = cmark_node_first_child(table)
        while let current = row {
            if Self.type(current) == "table_row", let cell = cmark_node_first_child(current) {
                let id = ids.unique(kind + "-" + SiteIndex.keySlug(Self.plainText(cell)))
                let anchor = cmark_node_new(CMARK_NODE_HTML_INLINE)!
                cmark_node_set_literal(anchor, try templates.render("row-anchor", RowAnchorView(id: id)))
                cmark_node_prepend_child(cell, anchor)
            }
            row = cmark_node_next(current)
        }
    }

    // MARK: Links

    private func rewriteLink(_ link: OpaquePointer) {
        let url = cmark_node_get_url(link).map { String(cString: $0) } ?? ""
        if url.isEmpty || url.hasPrefix("#") || url.hasPrefix("//") || url.hasPrefix("/") { return }
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/") { return }  // has a scheme
        let hash = url.firstIndex(of: "#")
        let path = hash.map { String(url[..<$0]) } ?? url
        let fragment = hash.map { String(url[$0...]) } ?? ""
        let target = SiteIndex.normalize(sourceDirectory + "/" + path)
        if let page = index.pages[target] {
            cmark_node_set_url(link, SiteIndex.href(from: self.page, to: page + fragment))
        } else if index.copiedFiles.contains(target) {
            cmark_node_set_url(link, SiteIndex.href(from: self.page, to: target + fragment))
        } else {
            // The site does not carry the target: keep the text, drop the link.
            while let child = cmark_node_first_child(link) {
                cmark_node_unlink(child)
                cmark_node_insert_before(link, child)
            }
            cmark_node_unlink(link)
            cmark_node_free(link)
        }
    }

    /// Where a word of the text points, if it names something the site has.
    private func target(of word: String) -> (target: String, tooltip: String?)? {
        if word.wholeMatch(of: Self.requirementID) != nil, let target = index.requirementTarget(word) {
            return (target, index.requirementTitle(word))
        }
        if let target = index.errorTarget(word) { return (target, index.registry[word]?["meaning"]) }
        if let target = index.vectorTarget(word) { return (target, index.vectorsByID[word]?.json["description"]?.stringValue) }
        if word.hasSuffix(".md"), let target = index.documentTarget(word, sourceDirectory: sourceDirectory) {
            return (target, nil)
        }
        return nil
    }

    private func linkify(text node: OpaquePointer) {
        let text = Self.literal(node)
        var pieces: [(String, (target: String, tooltip: String?)?)] = []
        var position = text.startIndex
        for match in text.matches(of: Self.word) {
            var word = String(match.0)
            while let last = word.last, last == "." || last == "-" { word.removeLast() }
            guard let found = target(of: word) else { continue }
            let end = text.index(match.range.lowerBound, offsetBy: word.count)
            if position < match.range.lowerBound { pieces.append((String(text[position..<match.range.lowerBound]), nil)) }
            pieces.append((word, found))
            position = end
        }
        guard !pieces.isEmpty else { return }
        if position < text.endIndex { pieces.append((String(text[position...]), nil)) }
        for (piece, found) in pieces {
            let textNode = cmark_node_new(CMARK_NODE_TEXT)!
            cmark_node_set_literal(textNode, piece)
            if let found {
                let link = makeLink(found.target, tooltip: found.tooltip)
                cmark_node_append_child(link, textNode)
                cmark_node_insert_before(node, link)
            } else {
                cmark_node_insert_before(node, textNode)
            }
        }
        cmark_node_unlink(node)
        cmark_node_free(node)
    }

    private func linkify(code node: OpaquePointer) {
        guard let found = target(of: Self.literal(node).trimmingCharacters(in: .whitespaces)) else { return }
        let link = makeLink(found.target, tooltip: found.tooltip)
        cmark_node_insert_before(node, link)
        cmark_node_unlink(node)
        cmark_node_append_child(link, node)
    }

    private func makeLink(_ target: String, tooltip: String?) -> OpaquePointer {
        let link = cmark_node_new(CMARK_NODE_LINK)!
        cmark_node_set_url(link, SiteIndex.href(from: page, to: target))
        if let tooltip { cmark_node_set_title(link, tooltip) }
        return link
    }

    // MARK: Tree helpers

    private func replace(_ node: OpaquePointer, with html: String) throws {
        let block = cmark_node_new(CMARK_NODE_HTML_BLOCK)!
        cmark_node_set_literal(block, html.hasSuffix("\n") ? html : html + "\n")
        guard cmark_node_replace(node, block) == 1 else {
            cmark_node_free(block)
            throw SiteError("\(source):\(cmark_node_get_start_line(node)): could not replace a \(Self.type(node)) node")
        }
        cmark_node_free(node)
    }

    private static func html(of node: OpaquePointer) -> String {
        guard let html = cmark_render_html(node, CMARK_OPT_UNSAFE | CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES, nil) else {
            return ""
        }
        defer { free(html) }
        return String(cString: html)
    }

    private static func type(_ node: OpaquePointer) -> String { String(cString: cmark_node_get_type_string(node)) }

    private static func literal(_ node: OpaquePointer) -> String {
        cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
    }

    private static func fenceInfo(_ node: OpaquePointer) -> String {
        (cmark_node_get_fence_info(node).map { String(cString: $0) } ?? "").trimmingCharacters(in: .whitespaces)
    }

    private static func hasAncestor(_ node: OpaquePointer, in types: Set<String>) -> Bool {
        var current = cmark_node_parent(node)
        while let parent = current {
            if types.contains(type(parent)) { return true }
            current = cmark_node_parent(parent)
        }
        return false
    }

    /// Text and code-span content of an inline container, soft breaks as spaces.
    static func plainText(_ node: OpaquePointer) -> String {
        var text = ""
        var child = cmark_node_first_child(node)
        while let current = child {
            switch type(current) {
            case "text", "code": text += literal(current)
            case "softbreak", "linebreak": text += " "
            case "html_inline": break
            default: text += plainText(current)
            }
            child = cmark_node_next(current)
        }
        return text
    }
}
