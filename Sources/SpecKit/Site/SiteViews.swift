import Mustache

// The objects the templates in site/templates/ render. Mustache reads stored
// properties by reflection, so every value a template uses is stored, never computed.
// An optional that is nil makes Mustache look the name up in the enclosing objects, so
// optional members have names no enclosing view uses. The views rendered many times
// per page answer Mustache's lookups directly (MustacheParent) instead of through
// reflection, which is most of the generation time otherwise.

struct LinkView {
    let text: String
    let href: String
    let tooltip: String?
    /// False for a name the site has no page or anchor for: templates show plain text.
    let linked: Bool

    init(text: String, href: String, tooltip: String?) {
        self.text = text
        self.href = href
        self.tooltip = tooltip
        self.linked = !href.isEmpty
    }
}

struct NavItem {
    let label: String
    let href: String
    let current: Bool
    let note: String
}

struct NavGroup {
    let heading: String
    let items: [NavItem]
}

struct TocEntry {
    let title: String
    let id: String
    var children: [TocEntry]
    var hasChildren: Bool
}

struct StatusView {
    let version: String
    let date: String
    let state: String
    let title: String
}

struct LayoutView {
    let title: String
    let root: String
    let nav: [NavItem]
    let content: String
    let sidebar: String
    /// The phone menu's copy of the sidebar (table of contents and documents).
    let menu: String
    let status: StatusView
    let hasSidebar: Bool
    let script: Bool
    let bodyClass: String
}

struct SidebarView {
    let toc: [TocEntry]
    let hasToc: Bool
    let groups: [NavGroup]
    /// Closed on pages that give their width to wide tables.
    let collapsed: Bool
    /// The copy in the narrow-screen menu: lists without disclosure widgets.
    let menu: Bool
    let labelSuffix: String
}

struct DocumentView {
    let title: String
    let body: String
    let source: String
    let status: StatusView
    let isSpec: Bool
    let requirementCount: Int
    let hasRequirements: Bool
    let vectorCount: Int
    let hasVectors: Bool
    let vectorFile: LinkView?
}

struct HeadingView {
    let level: Int
    let id: String
    let inner: String
}

struct TableView {
    let kind: String?
    let html: String
}

struct RowAnchorView {
    let id: String
}

struct ResultBadge {
    let name: String
    let verdict: String
    let detail: String
}

struct RequirementView {
    let id: String
    let anchor: String
    let keyword: String
    let keywordClass: String
    let body: String
    let vectors: [LinkView]
    let vectorLabel: String
    let hasVectors: Bool
    let exclusion: String?
    let uncovered: Bool
    let absolute: Bool
    let traceHref: String
}

struct VectorCardView {
    let id: String
    let anchor: String
    let op: String
    let description: String
    let valid: Bool
    let expectedErrors: [LinkView]
    let anyOf: Bool
    let outputs: [String]
    let hasOutputs: Bool
    let covers: [LinkView]
    let base: LinkView?
    let mutation: String?
    let flags: [String]
    let hasFlags: Bool
    let vectorSource: String?
    let json: String
    let download: LinkView?
    let results: [ResultBadge]
    let hasResults: Bool
    /// The data files the block refers to (conventions.md §Data files), linked.
    let dataFiles: [DataFileView]
    let hasDataFiles: Bool
}

/// One data file of a vector card: its path as the block gives it, a link to the copy in
/// the site, what the reference stands for, its size and its SHA-256.
struct DataFileView {
    let path: String
    let href: String
    /// False when the file was not copied into the site: the path is shown unlinked.
    var linked: Bool { !href.isEmpty }
    let form: String
    let size: String
    let sha256: String
    let shortDigest: String
}

// MARK: Index pages

struct CountView {
    let label: String
    let value: Int
    let href: String
}

struct DocumentSummary {
    let name: String
    let href: String
    let heading: String
    let requirements: Int
    let vectors: Int
}

struct ImplementationView {
    let name: String
    let implementation: String
    /// The command as inline code that breaks only between its words and path parts.
    let implementationHTML: String
    let mode: String
    let verdict: String
    let verdictClass: String
    let total: Int
    let pass: Int
    let fail: Int
    let skip: Int
    let expectedFailures: Int
}

struct HomeView {
    let counts: [CountView]
    let specDocuments: [DocumentSummary]
    let threatDocuments: [DocumentSummary]
    let implementations: [ImplementationView]
    let hasImplementations: Bool
    let resultsDirectory: String
    let status: StatusView
    let changelog: String
    let keywordRows: [KeywordRow]
}

struct KeywordRow {
    let keyword: String
    let total: Int
    let byVector: Int
    let excludedCount: Int
    let uncoveredCount: Int
    let absolute: Bool
    let flagUncovered: Bool

    init(keyword: String, total: Int, byVector: Int, excludedCount: Int, uncoveredCount: Int, absolute: Bool) {
        self.keyword = keyword
        self.total = total
        self.byVector = byVector
        self.excludedCount = excludedCount
        self.uncoveredCount = uncoveredCount
        self.absolute = absolute
        self.flagUncovered = absolute && uncoveredCount > 0
    }
}

struct TraceVectorLine {
    let first: Bool
    let span: Int
    let vector: LinkView?
    let verdicts: [ResultBadge]
    let exclusionReason: String?
    let missing: Bool
}

struct TraceRequirement {
    let id: String
    let anchor: String
    let href: String
    let keyword: String
    let keywordClass: String
    let document: LinkView
    let status: String
    let statusLabel: String
    let lines: [TraceVectorLine]
    let text: String
}

struct TraceabilityView {
    let keywordRows: [KeywordRow]
    let implementations: [ImplementationView]
    let hasImplementations: Bool
    let implementationNames: [String]
    let columnCount: Int
    let requirements: [TraceRequirement]
    let resultsDirectory: String
    let totals: KeywordRow
}

struct ErrorCodeRow {
    let code: String
    let anchor: String
    let meaning: String
    let definition: LinkView?
    let raisedBy: [LinkView]
    let raisedByText: String
    let jsonRPC: String
    let vectors: [LinkView]
    let hasVectors: Bool
}

struct ErrorCodesView {
    let rows: [ErrorCodeRow]
    let count: Int
}

struct TableIndexRow {
    let anchor: String
    let cells: [String]
    let requirement: [LinkView]
    let definition: LinkView?
}

struct TableIndexView {
    let heading: String
    let kind: String
    let intro: String
    let columns: [String]
    let rows: [TableIndexRow]
    let hasRows: Bool
    let documents: [LinkView]
}

struct RequirementIndexRow {
    let id: String
    let href: String
    let keyword: String
    let keywordClass: String
    let document: LinkView
    let text: String
    let coverage: String
    let coverageClass: String
}

struct RequirementIndexView {
    let rows: [RequirementIndexRow]
    let count: Int
    let keywordRows: [KeywordRow]
}

struct VectorIndexRow {
    let id: String
    let href: String
    let tooltip: String?
    let op: String
    let valid: Bool
    let codes: [LinkView]
    let covers: [LinkView]
    let results: [ResultBadge]
}

struct VectorGroup {
    let title: String
    let anchor: String
    let document: LinkView
    let count: Int
    let columnCount: Int
    let rows: [VectorIndexRow]
}

struct VectorIndexView {
    let groups: [VectorGroup]
    let count: Int
    let implementationNames: [String]
}

extension VectorIndexRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        case "href": return href
        case "tooltip": return tooltip
        case "op": return op
        case "valid": return valid
        case "codes": return codes
        case "covers": return covers
        case "results": return results
        default: return nil
        }
    }
}

struct ExampleFile {
    let name: String
    let href: String
}

struct RunConformanceView {
    let protocolBody: String
    let exampleBody: String
    let hasExample: Bool
    let exampleFiles: [ExampleFile]
    let opsCount: Int
    let vectorsIndex: String
    let schema: String
    let implementations: [ImplementationView]
    let hasImplementations: Bool
}

// MARK: Direct lookups

extension LinkView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "text": return text
        case "href": return href
        case "tooltip": return tooltip
        case "linked": return linked
        default: return nil
        }
    }
}

extension ResultBadge: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": return self.name
        case "verdict": return verdict
        case "detail": return detail
        default: return nil
        }
    }
}

extension VectorCardView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        case "anchor": return anchor
        case "op": return op
        case "description": return description
        case "valid": return valid
        case "expectedErrors": return expectedErrors
        case "anyOf": return anyOf
        case "outputs": return outputs
        case "hasOutputs": return hasOutputs
        case "covers": return covers
        case "base": return base
        case "mutation": return mutation
        case "flags": return flags
        case "hasFlags": return hasFlags
        case "vectorSource": return vectorSource
        case "json": return json
        case "download": return download
        case "results": return results
        case "hasResults": return hasResults
        case "dataFiles": return dataFiles
        case "hasDataFiles": return hasDataFiles
        default: return nil
        }
    }
}

extension DataFileView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "path": return path
        case "href": return href
        case "linked": return linked
        case "form": return form
        case "size": return size
        case "sha256": return sha256
        case "shortDigest": return shortDigest
        default: return nil
        }
    }
}

extension RequirementView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        case "anchor": return anchor
        case "keyword": return keyword
        case "keywordClass": return keywordClass
        case "body": return body
        case "vectors": return vectors
        case "vectorLabel": return vectorLabel
        case "hasVectors": return hasVectors
        case "exclusion": return exclusion
        case "uncovered": return uncovered
        case "absolute": return absolute
        case "traceHref": return traceHref
        default: return nil
        }
    }
}

extension HeadingView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "level": return level
        case "id": return id
        case "inner": return inner
        default: return nil
        }
    }
}

extension TableView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "kind": return kind
        case "html": return html
        default: return nil
        }
    }
}

extension RowAnchorView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        default: return nil
        }
    }
}

extension TraceVectorLine: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "first": return first
        case "span": return span
        case "vector": return vector
        case "verdicts": return verdicts
        case "exclusionReason": return exclusionReason
        case "missing": return missing
        default: return nil
        }
    }
}

extension TraceRequirement: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        case "anchor": return anchor
        case "href": return href
        case "keyword": return keyword
        case "keywordClass": return keywordClass
        case "document": return document
        case "status": return status
        case "statusLabel": return statusLabel
        case "lines": return lines
        case "text": return text
        default: return nil
        }
    }
}

extension RequirementIndexRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": return id
        case "href": return href
        case "keyword": return keyword
        case "keywordClass": return keywordClass
        case "document": return document
        case "text": return text
        case "coverage": return coverage
        case "coverageClass": return coverageClass
        default: return nil
        }
    }
}

extension ErrorCodeRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "code": return code
        case "anchor": return anchor
        case "meaning": return meaning
        case "definition": return definition
        case "raisedBy": return raisedBy
        case "raisedByText": return raisedByText
        case "jsonRPC": return jsonRPC
        case "vectors": return vectors
        case "hasVectors": return hasVectors
        default: return nil
        }
    }
}

extension NavItem: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": return label
        case "href": return href
        case "current": return current
        case "note": return note
        default: return nil
        }
    }
}

extension TocEntry: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": return title
        case "id": return id
        case "children": return children
        case "hasChildren": return hasChildren
        default: return nil
        }
    }
}
