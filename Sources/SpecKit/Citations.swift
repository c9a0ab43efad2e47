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
        /// The cited text, section included.
        public let text: String
        /// Character offsets of `text` in the searched string.
        public let range: Range<String.Index>
    }

    nonisolated(unsafe) private static let pattern =
        #/(?<ref>RFC [0-9]{3,5}|BCP [0-9]{1,3}|FIPS [0-9]{2,3}(?:-[0-9])?|NIST SP [0-9]{3}-[0-9]{1,3}[A-Z]?|SEP-[0-9]{1,5}|C2SP [a-z][a-z0-9]*(?:-[a-z0-9]+)*|MCP [0-9]{4}-[0-9]{2}-[0-9]{2}|draft-[a-z0-9]+(?:-[a-z0-9]+)+)(?: (?:§|section )(?<section>[0-9]+(?:\.[0-9]+)*))?/#

    /// Every citation in `text`, in order.
    public static func find(in text: String) -> [Citation] {
        text.matches(of: pattern).map { match in
            Citation(reference: String(match.output.ref), section: match.output.section.map(String.init),
                     text: String(match.output.0), range: match.range)
        }
    }

    /// The address of a section of a reference, where the publisher's pages have one
    /// (rfc-editor.org: `#section-N`).
    public static func link(_ base: String, section: String?) -> String {
        guard let section, base.hasPrefix("https://www.rfc-editor.org/rfc/rfc"), !base.contains("#") else { return base }
        return base + "#section-" + section
    }
}
