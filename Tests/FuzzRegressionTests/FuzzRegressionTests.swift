import AttestFuzzTargets
import Foundation
import Testing

/// Replays every saved fuzz input through the same target function the fuzzer ran:
/// the crashes found so far (Fuzz/regressions/<target>/) and the seed corpus
/// (Fuzz/corpus/<target>/). Each must pass every oracle of its target.
struct FuzzRegressionTests {
    static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let directory = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func replay(target: String) throws {
        let run = try #require(FuzzTargets.named(target))
        let files = Self.inputs("regressions", target) + Self.inputs("corpus", target)
        #expect(!files.isEmpty, "no saved input for fuzz-\(target)")
        for file in files {
            let input = Array(try Data(contentsOf: file))
            do {
                try run(input)
            } catch {
                Issue.record("\(file.lastPathComponent): \(error)")
            }
        }
    }
}
