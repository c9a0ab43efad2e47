import ArgumentParser
import Foundation
import SpecKit

struct Site: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the static site: spec pages with vector cards, traceability, indexes, threat model.")

    @OptionGroup var location: SpecLocation
    @Option(help: "Output directory (replaced on each run).") var out: String = "_site"
    @Option(help: "Directory searched recursively for conformance results.json files.")
    var results: String = ".build/evidence/conformance"
    @Option(help: "Directory holding templates/ and assets/ (default: <root>/site).") var templates: String?

    func run() throws {
        let start = Date()
        let generator = SiteGenerator(root: location.rootURL, siteDirectory: templates.map { URL(fileURLWithPath: $0) },
                                      resultsDirectory: URL(fileURLWithPath: results))
        let report: SiteGenerator.Report
        do {
            report = try generator.generate(into: URL(fileURLWithPath: out))
        } catch let error as SiteError {
            throw ValidationError(error.description)
        }
        for warning in report.warnings { print("warning: \(warning)") }
        let runs = report.implementations.isEmpty ? "none found in \(results)" : report.implementations.joined(separator: ", ")
        print("site: \(report.pages.count) pages, \(report.files) files in \(out)/; conformance results: \(runs)")
        print(String(format: "site: generated in %.2f s", Date().timeIntervalSince(start)))
    }
}
