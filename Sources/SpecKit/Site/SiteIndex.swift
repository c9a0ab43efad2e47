import Foundation

/// What every page needs to know about the whole site: where each requirement, vector,
/// error code and document lives, and the conformance results. Targets are site paths
/// (`spec/json.html#json-001`); ``href(from:to:)`` makes them relative to a page.
struct SiteIndex {
    static let errorCodesPage = "error-codes.html"
    static let traceabilityPage = "traceability.html"

    let spec: Spec
    let coverage: [String: [String]]
    let excluded: [String: TableRow]
    let registry: [String: TableRow]
    let requirementsByID: [String: Requirement]
    let vectorsByID: [String: Vector]
    /// Portal scenarios (portal.md), which cover requirements as vectors do but have no card.
    let scenariosByID: [String: Vector]
    let runs: [ImplementationResults]
    /// Markdown source path -> page path, for every rendered document.
    let pages: [String: String]
    /// Repository paths copied verbatim into the site.
    let copiedFiles: Set<String>
    /// Error code -> ids of the vectors that expect it.
    let vectorsByCode: [String: [String]]
    /// Reference (`RFC 9162`) -> its link and title, from every references table.
    let references: [String: (link: String, title: String)]
    /// The specification's version, date and status (the first row of the versions table).
    let status: StatusView

    init(spec: Spec, runs: [ImplementationResults], copiedFiles: Set<String>) {
        let check = SpecCheck(spec: spec, implementationCodes: nil, executor: nil, vectorsDirectory: nil)
        self.spec = spec
        self.coverage = check.coverage
        self.excluded = check.excluded
        self.registry = check.registry
        self.requirementsByID = Dictionary(spec.requirements.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.vectorsByID = Dictionary(spec.vectors.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.scenariosByID = Dictionary(spec.scenarios.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.runs = runs
        self.copiedFiles = copiedFiles
        var pages: [String: String] = [:]
        for document in spec.documents {
            pages[document.path] = String(document.path.dropLast(".md".count)) + ".html"
        }
        self.pages = pages
        var byCode: [String: [String]] = [:]
        for vector in spec.vectors {
            for code in [vector.expectedError].compactMap({ $0 }) + vector.expectedErrorAnyOf {
                byCode[code, default: []].append(vector.id)
            }
        }
        self.vectorsByCode = byCode
        var references: [String: (link: String, title: String)] = [:]
        for row in spec.rows("references") where references[row["reference"]] == nil {
            references[row["reference"]] = (row["link"], row["title"])
        }
        self.references = references
        if let current = spec.rows("versions").first {
            self.status = StatusView(version: current["version"], date: current["date"], state: current["status"],
                                     title: "Specification version \(current["version"]), \(current["date"]): \(current["status"])")
        } else {
            self.status = StatusView(version: "unversioned", date: "undated", state: "no versions table",
                                     title: "The specification has no versions table (changelog.md)")
        }
    }

    // MARK: Targets

    func requirementTarget(_ id: String) -> String? {
        guard let requirement = requirementsByID[id], let page = pages[requirement.file] else { return nil }
        return page + "#" + requirement.anchor
    }

    func vectorTarget(_ id: String) -> String? {
        if let scenario = scenariosByID[id], vectorsByID[id] == nil {
            return pages[scenario.file]  // the document that holds the scenario
        }
        guard let vector = vectorsByID[id], let page = pages[vector.file] else { return nil }
        return page + "#" + vector.anchor
    }

    func errorTarget(_ code: String) -> String? {
        registry[code] == nil ? nil : Self.errorCodesPage + "#" + Self.codeAnchor(code)
    }

    static func codeAnchor(_ code: String) -> String { "code-" + code.lowercased() }

    func requirementTitle(_ id: String) -> String? {
        requirementsByID[id].map { "\($0.id) (\($0.keyword.rawValue)): \($0.text)" }
    }

    /// The page of a document named the way tables name them (`json.md`, or a path
    /// relative to `sourceDirectory` or to the repository root).
    func documentTarget(_ name: String, sourceDirectory: String) -> String? {
        for candidate in [Self.normalize(sourceDirectory + "/" + name), Self.normalize(name),
                          Self.normalize("spec/" + name), Self.normalize("threat-model/" + name)] {
            if let page = pages[candidate] { return page }
        }
        return nil
    }

    // MARK: Paths

    /// `a/./b/../c` -> `a/c`; nil when the path climbs out of the repository.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() } else { return "../" }; continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// A link from the page at `page` to the site path `target` (which may carry a fragment).
    static func href(from page: String, to target: String) -> String {
        let hash = target.firstIndex(of: "#")
        let path = hash.map { String(target[..<$0]) } ?? target
        let fragment = hash.map { String(target[$0...]) } ?? ""
        if path == page && !fragment.isEmpty { return fragment }
        let from = page.split(separator: "/").dropLast()
        let to = path.split(separator: "/")
        var common = 0
        while common < from.count, common < to.count - 1, from[from.startIndex + common] == to[common] { common += 1 }
        let up = Array(repeating: "..", count: from.count - common)
        return (up + to[common...].map(String.init)).joined(separator: "/") + fragment
    }

    /// The prefix that leads from `page` back to the site root (`""` or `"../"`).
    static func root(of page: String) -> String {
        String(repeating: "../", count: page.split(separator: "/").count - 1)
    }

    /// GitHub's heading anchors: lowercase, letters, digits, `-` and `_` kept, spaces to `-`.
    static func headingSlug(_ text: String) -> String {
        var slug = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || character == "-" || character == "_" {
                slug.append(character)
            } else if character == " " {
                slug.append("-")
            }
        }
        return slug.isEmpty ? "section" : slug
    }

    /// Letters and digits kept, every other run of characters one `-`.
    static func keySlug(_ text: String) -> String {
        var slug = ""
        for character in text.lowercased() {
            if (character.isLetter || character.isNumber) && character.isASCII {
                slug.append(character)
            } else if !slug.isEmpty && slug.last != "-" {
                slug.append("-")
            }
        }
        while slug.last == "-" { slug.removeLast() }
        return slug.isEmpty ? "row" : slug
    }
}

/// The ids used on one page, so that headings never take a requirement's or vector's id
/// and repeated headings get GitHub's `-1`, `-2` suffixes.
struct PageIDs {
    private(set) var used: Set<String> = []

    mutating func reserve(_ id: String) { used.insert(id) }

    mutating func unique(_ base: String) -> String {
        var id = base
        var n = 0
        while used.contains(id) { n += 1; id = "\(base)-\(n)" }
        used.insert(id)
        return id
    }
}
