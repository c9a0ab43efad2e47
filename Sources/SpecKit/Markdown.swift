import CCmarkGFM
import Foundation

/// A spec document read with cmark-gfm (the table extension attached), reduced to the
/// blocks the spec machinery cares about, each with its source line.
///
/// cmark-gfm is used, not a Swift Markdown package, because GFM tables are part of the
/// spec format and the site must render exactly what is checked.
public struct MarkdownDocument: Sendable {
    public enum Block: Sendable {
        case heading(level: Int, text: String, line: Int)
        /// A paragraph (also inside list items and block quotes). `prose` leaves out
        /// code spans; `text` keeps them, without the backticks.
        case paragraph(text: String, prose: String, line: Int)
        case html(String, line: Int)
        case code(info: String, literal: String, line: Int)
        case table(header: [String], rows: [[String]], rowLines: [Int], proseCells: [String], line: Int)
    }

    public let path: String
    public let source: String
    public let blocks: [Block]

    public init(path: String, source: String) {
        self.path = path
        self.source = source
        self.blocks = MarkdownDocument.parse(source)
    }

    public init(contentsOf url: URL, displayPath: String) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        self.init(path: displayPath, source: text)
    }

    /// Renders Markdown to HTML with cmark-gfm (tables, unsafe HTML kept: the sources
    /// are the project's own spec files).
    public static func renderHTML(_ markdown: String) -> String {
        withParser(markdown) { parser, document in
            let options = CMARK_OPT_UNSAFE | CMARK_OPT_GITHUB_PRE_LANG
            guard let html = cmark_render_html(document, options, cmark_parser_get_syntax_extensions(parser)) else {
                return ""
            }
            defer { free(html) }
            return String(cString: html)
        }
    }

    /// Parses `markdown` with the GFM extensions the spec uses and hands the parser and
    /// the document to `body`, freeing both afterwards.
    static func withParser<T>(_ markdown: String, _ body: (OpaquePointer, OpaquePointer) throws -> T) rethrows -> T {
        cmark_gfm_core_extensions_ensure_registered()
        let parser = cmark_parser_new(CMARK_OPT_DEFAULT | CMARK_OPT_UNSAFE)!
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough", "autolink"] {
            if let ext = cmark_find_syntax_extension(name) { cmark_parser_attach_syntax_extension(parser, ext) }
        }
        cmark_parser_feed(parser, markdown, markdown.utf8.count)
        let document = cmark_parser_finish(parser)!
        defer { cmark_node_free(document) }
        return try body(parser, document)
    }

    private static func parse(_ markdown: String) -> [Block] {
        withParser(markdown) { _, document in
            var blocks: [Block] = []
            collect(document, into: &blocks)
            return blocks
        }
    }

    private static func typeString(_ node: OpaquePointer) -> String {
        String(cString: cmark_node_get_type_string(node))
    }

    private static func collect(_ node: OpaquePointer, into blocks: inout [Block]) {
        var child = cmark_node_first_child(node)
        while let current = child {
            let line = Int(cmark_node_get_start_line(current))
            switch typeString(current) {
            case "heading":
                let (text, _) = inlineText(current)
                blocks.append(.heading(level: Int(cmark_node_get_heading_level(current)), text: text, line: line))
            case "paragraph":
                let (text, prose) = inlineText(current)
                blocks.append(.paragraph(text: text, prose: prose, line: line))
            case "html_block":
                blocks.append(.html(literal(current), line: line))
            case "code_block":
                let info = cmark_node_get_fence_info(current).map { String(cString: $0) } ?? ""
                blocks.append(.code(info: info.trimmingCharacters(in: .whitespaces), literal: literal(current), line: line))
            case "table":
                var header: [String] = []
                var rows: [[String]] = []
                var rowLines: [Int] = []
                var proseCells: [String] = []
                var row = cmark_node_first_child(current)
                while let r = row {
                    var cells: [String] = []
                    var cell = cmark_node_first_child(r)
                    while let c = cell {
                        let (text, prose) = inlineText(c)
                        cells.append(text.trimmingCharacters(in: .whitespaces))
                        proseCells.append(prose)
                        cell = cmark_node_next(c)
                    }
                    if typeString(r) == "table_header" {
                        header = cells.map { $0.lowercased() }
                    } else {
                        rows.append(cells)
                        rowLines.append(Int(cmark_node_get_start_line(r)))
                    }
                    row = cmark_node_next(r)
                }
                blocks.append(.table(header: header, rows: rows, rowLines: rowLines, proseCells: proseCells, line: line))
            case "list", "item", "block_quote":
                collect(current, into: &blocks)
            default:
                break
            }
            child = cmark_node_next(current)
        }
    }

    private static func literal(_ node: OpaquePointer) -> String {
        cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
    }

    /// The text of an inline container: (`text` with code spans' content, `prose` without).
    private static func inlineText(_ node: OpaquePointer) -> (String, String) {
        var text = ""
        var prose = ""
        func walk(_ n: OpaquePointer) {
            var child = cmark_node_first_child(n)
            while let c = child {
                switch typeString(c) {
                case "text":
                    let s = literal(c)
                    text += s
                    prose += s
                case "code":
                    text += literal(c)
                    prose += " "
                case "softbreak", "linebreak":
                    text += " "
                    prose += " "
                case "html_inline":
                    break
                default:
                    walk(c)
                }
                child = cmark_node_next(c)
            }
        }
        walk(node)
        return (text, prose)
    }
}
