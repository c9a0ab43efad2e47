import AttestCore
import Foundation

/// What a test run leaves behind, read by `attest check --evidence DIR`: the registry
/// codes and threat-model rows of the spec may claim only what this shows.
///
/// An evidence directory holds, at any depth:
/// - `results.json`: a conformance run (`attest conformance --out`, or `--portal-out` for
///   the portal scenarios). A vector or scenario counts only when its verdict is `pass`;
///   the code it observed is the `error` the implementation answered with.
/// - `*.jsonl`: code observations written by tests (Tests/TestSupport/Evidence.swift,
///   Tests/python/evidence.py), one object per line:
///   `{"scope": …, "test": …, "code": …}`; `code` may be null for a test that records
///   that it ran a check with no code.
/// - `*.xml`: JUnit reports of the test runners (`swift test --xunit-output`, pytest
///   `--junitxml`): which tests passed, failed or were skipped.
///
/// A test is named `SCOPE: NAME`: for a Swift test the scope is its test module
/// (`AttestPortalTests`) and the name its function's base name; for a Python test the
/// scope is its file (`Tests/python/test_portal_faults.py`) and the name its function.
public struct Evidence: Sendable {
    public struct TestID: Hashable, Sendable, Comparable, CustomStringConvertible {
        public let scope: String
        public let name: String
        public init(scope: String, name: String) { self.scope = scope; self.name = name }
        public var description: String { "\(scope): \(name)" }
        public static func < (a: TestID, b: TestID) -> Bool { a.description < b.description }
    }

    /// Vector and scenario ids that passed in at least one run.
    public internal(set) var passedVectors: Set<String> = []
    /// Vector id -> the codes the implementation answered with where the vector passed.
    public internal(set) var observedCodes: [String: Set<String>] = [:]
    /// Test -> the codes it recorded (an empty set: it recorded a check without a code).
    public internal(set) var testCodes: [TestID: Set<String>] = [:]
    public internal(set) var passedTests: Set<TestID> = []
    /// Tests a JUnit report shows failed, errored or skipped: they count as no evidence.
    public internal(set) var unpassedTests: Set<TestID> = []
    /// Files read, relative to their directory, with what each held.
    public internal(set) var sources: [String] = []
    public internal(set) var problems: [String] = []

    public init() {}

    /// True when the test recorded a code or passed in a JUnit report, and no report
    /// shows it failed or skipped.
    public func hasTest(_ id: TestID) -> Bool {
        !unpassedTests.contains(id) && (passedTests.contains(id) || testCodes[id] != nil)
    }

    /// Reads every evidence file under the directories.
    public static func read(_ directories: [URL]) -> Evidence {
        var evidence = Evidence()
        let fm = FileManager.default
        for directory in directories {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue,
                  let enumerator = fm.enumerator(at: directory, includingPropertiesForKeys: nil) else {
                evidence.problems.append("\(directory.path): not a directory")
                continue
            }
            var files: [URL] = []
            for case let url as URL in enumerator { files.append(url) }
            for url in files.sorted(by: { $0.path < $1.path }) {
                let name = url.lastPathComponent
                do {
                    if name == "results.json" {
                        try evidence.readResults(url)
                    } else if name.hasSuffix(".jsonl") {
                        try evidence.readRecords(url)
                    } else if name.hasSuffix(".xml") && name != "junit.xml" {
                        // junit.xml is the conformance runner's own report (its results.json is read).
                        try evidence.readJUnit(url)
                    } else {
                        continue
                    }
                    evidence.sources.append(url.path)
                } catch {
                    evidence.problems.append("\(url.path): \(error)")
                }
            }
        }
        return evidence
    }

    struct Malformed: Error, CustomStringConvertible { let description: String }

    static var parser: StrictJSONParser { StrictJSONParser(limits: .init(maxBytes: 256 << 20, maxDepth: 64)) }

    mutating func readResults(_ url: URL) throws {
        let value = try Self.parser.parse(Array(try Data(contentsOf: url)))
        guard let vectors = value["vectors"]?.arrayValue else { throw Malformed(description: "no \"vectors\" array") }
        for entry in vectors {
            guard let id = entry["id"]?.stringValue, let verdict = entry["verdict"]?.stringValue else {
                throw Malformed(description: "a vector entry without \"id\" or \"verdict\"")
            }
            guard verdict == "pass" else { continue }
            passedVectors.insert(id)
            if let code = entry["error"]?.stringValue { observedCodes[id, default: []].insert(code) }
        }
    }

    mutating func readRecords(_ url: URL) throws {
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let record = try Self.parser.parse(Array(line.utf8))
            guard let scope = record["scope"]?.stringValue, let test = record["test"]?.stringValue, !scope.isEmpty, !test.isEmpty else {
                throw Malformed(description: "line \(index + 1): no \"scope\" or \"test\"")
            }
            let id = TestID(scope: scope, name: test)
            var codes = testCodes[id] ?? []
            if let code = record["code"]?.stringValue { codes.insert(code) }
            testCodes[id] = codes
        }
    }

    /// JUnit XML as the Swift and Python test runners write it: one `<testcase>` per test,
    /// with a `<failure>`, `<error>` or `<skipped>` child unless it passed.
    mutating func readJUnit(_ url: URL) throws {
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        var rest = Substring(text)
        while let open = rest.range(of: "<testcase") {
            rest = rest[open.upperBound...]
            guard let tagEnd = rest.firstIndex(of: ">") else { throw Malformed(description: "unterminated <testcase") }
            let attributes = rest[rest.startIndex..<tagEnd]
            let selfClosing = attributes.hasSuffix("/")
            rest = rest[rest.index(after: tagEnd)...]
            var passed = true
            if !selfClosing {
                guard let close = rest.range(of: "</testcase>") else { throw Malformed(description: "unterminated <testcase>") }
                let body = rest[rest.startIndex..<close.lowerBound]
                passed = !(body.contains("<failure") || body.contains("<error") || body.contains("<skipped"))
                rest = rest[close.upperBound...]
            }
            guard let classname = Self.attribute("classname", in: attributes), let name = Self.attribute("name", in: attributes),
                  let id = Self.junitTest(classname: classname, name: name) else { continue }
            if passed { passedTests.insert(id) } else { unpassedTests.insert(id) }
        }
    }

    static func attribute(_ name: String, in tag: Substring) -> String? {
        guard let start = tag.range(of: " \(name)=\"") else { return nil }
        let value = tag[start.upperBound...]
        guard let end = value.firstIndex(of: "\"") else { return nil }
        return String(value[value.startIndex..<end])
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// `AttestPortalTests.PortalDurabilityTests` / `unwritableStoreForwardsNothing()`, or
    /// `Tests.python.test_portal_faults` / `test_kill[3]`.
    static func junitTest(classname: String, name: String) -> TestID? {
        let parts = classname.split(separator: ".").map(String.init)
        guard let first = parts.first else { return nil }
        if first == "Tests", parts.count >= 3 {
            return TestID(scope: parts.prefix(3).joined(separator: "/") + ".py", name: baseName(name))
        }
        // pytest with Tests/python as its root directory names the module alone.
        if first.hasPrefix("test_") {
            return TestID(scope: "Tests/python/\(first).py", name: baseName(name))
        }
        return TestID(scope: first, name: baseName(name))
    }

    /// A function's base name: `f(x:)` -> `f`, `test_a[1]` -> `test_a`.
    public static func baseName(_ name: String) -> String {
        String(name.prefix { $0 != "(" && $0 != "[" }).trimmingCharacters(in: .whitespaces)
    }

    /// The tests a `tests` cell names: `-`, or items separated by `;`, each
    /// `PATH: NAME[, NAME…]` where PATH is `Tests/<Module>[/<File>.swift]` or
    /// `Tests/python/<file>.py`. Returns nil for a cell that does not have this form.
    public static func citations(_ cell: String) -> [TestID]? {
        let trimmed = cell.trimmingCharacters(in: .whitespaces)
        if trimmed == "-" || trimmed.isEmpty { return [] }
        var ids: [TestID] = []
        for item in trimmed.split(separator: ";") {
            let parts = item.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let path = parts[0].trimmingCharacters(in: .whitespaces)
            let components = path.split(separator: "/").map(String.init)
            guard components.count >= 2, components[0] == "Tests" else { return nil }
            let scope: String
            if components[1] == "python" {
                guard components.count == 3, path.hasSuffix(".py") else { return nil }
                scope = path
            } else {
                guard components.count == 2 || (components.count == 3 && path.hasSuffix(".swift")) else { return nil }
                scope = components[1]
            }
            for name in parts[1].split(separator: ",") {
                let n = name.trimmingCharacters(in: .whitespaces)
                guard !n.isEmpty, n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
                ids.append(TestID(scope: scope, name: n))
            }
        }
        return ids
    }
}
