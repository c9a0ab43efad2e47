import ArgumentParser
import Foundation
import SpecKit

struct Site: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the static site: spec pages with vector cards, traceability, indexes, threat model.")

    @OptionGroup var location: SpecLocation
    @Option(help: "Output directory (replaced on each run).") var out: String = "_site"
    @Option(help: "Directory searched recursively for conformance results.json files (default: <root>/.build/evidence/conformance).")
    var results: String?
    @Option(help: "Directory holding templates/ and assets/ (default: <root>/site).") var templates: String?

    func run() throws {
        let start = Date()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.rootURL.appendingPathComponent("spec").path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw ValidationError("\(location.rootURL.standardizedFileURL.path) has no spec/ directory: run `attest site` in the repository, or pass --root PATH-TO-REPOSITORY")
        }
        let results = self.results ?? location.rootURL.appendingPathComponent(".build/evidence/conformance").path
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
