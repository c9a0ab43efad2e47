/// Citations of outside documents in the prose of the specification: RFCs, BCPs, FIPS
/// publications, NIST special publications, Internet-Drafts, C2SP documents, MCP
/// specification revisions and MCP enhancement proposals (SEPs). Each document lists
/// the ones it cites in its references table (`<!-- table: references -->`), and
/// `attest check` holds the two to each other; the site links every citation.
public enum Citations {
    public struct Citation: Sendable, Equatable {
        /// The reference as its table row names it, e.g. `RFC 9162`, `C2SP signed-note`.
        public let reference: String
        /// A section of it, e.g. `2.1.1`, when the text cites one (`RFC 9162 §2.1.1`).
        public let section: String?
        /// A page of an MCP specification revision, e.g. `basic/lifecycle`, when the text
        /// cites one (`MCP 2025-11-25 basic/lifecycle`).
        public let page: String?
        /// The cited text, section included.
        public let text: String
        /// Character offsets of `text` in the searched string.
        public let range: Range<String.Index>
    }

    nonisolated(unsafe) private static let pattern =
        #/(?<ref>RFC [0-9]{3,5}|BCP [0-9]{1,3}|FIPS [0-9]{2,3}(?:-[0-9])?|NIST SP [0-9]{3}-[0-9]{1,3}[A-Z]?|SEP-[0-9]{1,5}|C2SP [a-z][a-z0-9]*(?:-[a-z0-9]+)*|MCP [0-9]{4}-[0-9]{2}-[0-9]{2}|draft-[a-z0-9]+(?:-[a-z0-9]+)+)(?: (?:§|section )(?<section>[0-9]+(?:\.[0-9]+)*))?/#

    nonisolated(unsafe) private static let mcpPage = #/ ([a-z]+(?:/[a-z][a-z-]*)+)/#

    /// Every citation in `text`, in order.
    public static func find(in text: String) -> [Citation] {
        text.matches(of: pattern).map { match in
            var range = match.range
            var page: String? = nil
            if match.output.ref.hasPrefix("MCP "), let more = text[range.upperBound...].prefixMatch(of: mcpPage) {
                page = String(more.output.1)
                range = range.lowerBound..<more.range.upperBound
            }
            return Citation(reference: String(match.output.ref), section: match.output.section.map(String.init),
                            page: page, text: String(text[range]), range: range)
        }
    }

    /// The address of a section or page of a reference, where the publisher's pages have
    /// one (rfc-editor.org: `#section-N`; an MCP revision: `/<page>`).
    public static func link(_ base: String, section: String?, page: String? = nil) -> String {
        if let page, base.hasPrefix("https://modelcontextprotocol.io/specification/"), !base.contains("#") {
            return base + "/" + page
        }
        guard let section, base.hasPrefix("https://www.rfc-editor.org/rfc/rfc"), !base.contains("#") else { return base }
        return base + "#section-" + section
    }
}
