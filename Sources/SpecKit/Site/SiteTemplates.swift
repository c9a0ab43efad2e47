import Foundation
import Mustache

/// A problem that stops site generation.
public struct SiteError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The Mustache templates of `site/templates/`, loaded synchronously (the library's
/// directory initialiser is async, and the CLI is not).
struct SiteTemplates: Sendable {
    private let library: MustacheLibrary

    init(directory: URL) throws {
        var library = MustacheLibrary()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        guard names.contains(where: { $0.hasSuffix(".mustache") }) else {
            throw SiteError("no *.mustache templates in \(directory.path)")
        }
        for name in names.sorted() where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            do {
                try library.register(text, named: String(name.dropLast(".mustache".count)))
            } catch {
                throw SiteError("template \(name): \(error)")
            }
        }
        self.library = library
    }

    func render(_ template: String, _ object: Any) throws -> String {
        guard let text = library.render(object, withTemplate: template) else {
            throw SiteError("missing template \(template).mustache")
        }
        return text
    }
}
