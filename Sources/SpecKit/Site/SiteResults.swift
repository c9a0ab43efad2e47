import AttestCore
import Foundation

/// One conformance run read back from its `results.json`.
struct ImplementationResults: Sendable {
    /// The run's directory relative to the results root, e.g. `swift-jsonl`.
    let name: String
    let implementation: String
    let mode: String
    let verdict: String
    let total: Int
    let pass: Int
    let fail: Int
    let skip: Int
    let expectedFailures: Int
    /// Vector id -> `pass`, `fail` or `skip`.
    let verdicts: [String: String]
    /// Vector id -> the runner's explanation of a failure or skip.
    let details: [String: String]

    /// Every `results.json` under `directory`, sorted by name; unreadable files become warnings.
    static func loadAll(from directory: URL) -> (runs: [ImplementationResults], warnings: [String]) {
        let fm = FileManager.default
        guard let enumerator = fm.enumerator(at: directory, includingPropertiesForKeys: nil) else { return ([], []) }
        let rootPath = directory.standardizedFileURL.path
        var runs: [ImplementationResults] = []
        var warnings: [String] = []
        for case let url as URL in enumerator where url.lastPathComponent == "results.json" {
            let parent = url.deletingLastPathComponent().standardizedFileURL.path
            var name = parent.hasPrefix(rootPath) ? String(parent.dropFirst(rootPath.count)) : parent
            name = name.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if name.isEmpty { name = directory.lastPathComponent }
            do {
                runs.append(try read(url, name: name))
            } catch {
                warnings.append("\(url.path): not a conformance results file (\(error)); ignored")
            }
        }
        return (runs.sorted { $0.name < $1.name }, warnings)
    }

    private static func read(_ url: URL, name: String) throws -> ImplementationResults {
        let parser = StrictJSONParser(limits: .init(maxBytes: 256 << 20, maxDepth: 64))
        let value = try parser.parse(Array(try Data(contentsOf: url)))
        guard let summary = value["summary"]?.objectValue, let vectors = value["vectors"]?.arrayValue else {
            throw SiteError("no \"summary\" object or \"vectors\" array")
        }
        func int(_ key: String) -> Int { Int(summary[key]?.numberValue?.value ?? 0) }
        var verdicts: [String: String] = [:]
        var details: [String: String] = [:]
        for entry in vectors {
            guard let id = entry["id"]?.stringValue, let verdict = entry["verdict"]?.stringValue else {
                throw SiteError("a vector entry without \"id\" or \"verdict\"")
            }
            verdicts[id] = verdict
            if let detail = entry["detail"]?.stringValue { details[id] = detail }
        }
        return ImplementationResults(
            name: name, implementation: value["implementation"]?.stringValue ?? "?",
            mode: value["mode"]?.stringValue ?? "?", verdict: summary["verdict"]?.stringValue ?? "?",
            total: int("vectors"), pass: int("pass"), fail: int("fail"), skip: int("skip"),
            expectedFailures: int("expected_failures"), verdicts: verdicts, details: details)
    }
}
