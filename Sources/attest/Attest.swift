import ArgumentParser
import AttestCore
import AttestOps
import Foundation
import SpecKit

@main
struct Attest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "MCP agent attestation and enforcement evidence: the executable spec and its reference implementation.",
        discussion: CLIExit.discussion,
        subcommands: [Check.self, Vectors.self, Impl.self, Conformance.self, Bench.self, Site.self, WitnessCommand.self,
                      ArtifactCommand.self, MandateCommand.self, LogCommand.self, BundleCommand.self,
                      TokenCommand.self, KeysCommand.self, KeyCommand.self, MCPCommand.self, PortalCommand.self, ReceiptsCommand.self, ConformanceUpstream.self])
}

/// Options shared by the commands that read the spec.
struct SpecLocation: ParsableArguments {
    @Option(help: "Repository root holding spec/ and vectors/.")
    var root: String = "."

    var rootURL: URL { URL(fileURLWithPath: root) }

    func read() throws -> Spec {
        let spec = rootURL.appendingPathComponent("spec").path
        guard CLIFiles.isDirectory(spec) else {
            throw CLIError.io("cannot read \(spec): no such directory; run from the repository, or pass --root")
        }
        return try SpecReader.read(root: rootURL)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the spec against itself and run every vector through the Swift implementation.")

    @OptionGroup var location: SpecLocation
    @Option(name: .customLong("evidence"),
            help: "Directory of a test run's evidence (repeatable): conformance results.json, test code records (*.jsonl), JUnit reports. Checks that every registry code and every threat-model row rests on it.")
    var evidence: [String] = []

    func run() throws {
        let start = Date()
        let spec = try location.read()
        let read = evidence.isEmpty ? nil : Evidence.read(evidence.map { URL(fileURLWithPath: $0) })
        let check = SpecCheck(spec: spec, implementationCodes: ReferenceOps.errorCodes, executor: ReferenceOps(),
                              vectorsDirectory: location.rootURL.appendingPathComponent("vectors"), schemaRoot: location.rootURL,
                              evidence: read)
        print(check.summary(elapsed: Date().timeIntervalSince(start)))
        if !check.passed { throw ExitCode(1) }
    }
}

struct Vectors: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Extract the spec's vectors into vectors/, or check them for drift.")

    @OptionGroup var location: SpecLocation
    @Flag(help: "Regenerate vectors/ from the spec.") var write = false
    @Flag(help: "Fail if vectors/ differs from what extraction produces (the default).") var check = false

    func run() throws {
        let spec = try location.read()
        let directory = location.rootURL.appendingPathComponent("vectors")
        if write {
            try VectorFiles.write(spec, to: directory)
            print("wrote \(spec.vectors.count) vectors in \(Set(spec.vectors.map(\.document)).count) files to vectors/")
            return
        }
        let drift = VectorFiles.drift(spec, in: directory)
        drift.forEach { print($0) }
        if !drift.isEmpty { throw ExitCode(1) }
        print("vectors/: in sync with the spec (\(spec.vectors.count) vectors)")
    }
}

/// The Swift implementation speaking the conformance protocol.
struct Impl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one op of the conformance protocol (request on stdin), or serve JSON lines with --jsonl.")

    @Argument(help: "The op to run.") var op: String?
    @Flag(help: "Read one request per line until end of input.") var jsonl = false

    func run() throws {
        let ops = ReferenceOps()
        if jsonl {
            while let line = readLine(strippingNewline: true) {
                let response: JSONValue
                do {
                    let request = try StrictJSONParser().parse(line)
                    response = ops.execute(op: request["op"]?.stringValue ?? "",
                                           context: request["context"]?.objectValue ?? [:],
                                           input: request["input"]?.objectValue ?? [:]).response
                } catch {
                    response = Outcome.failure("request line: \(error)").response
                }
                // Unbuffered: the runner waits for each line.
                FileHandle.standardOutput.write(Data((response.serialized(pretty: false) + "\n").utf8))
            }
            return
        }
        guard let op else { throw ValidationError("name an op, or pass --jsonl") }
        let input = try CLIFiles.read("-", option: "the request (standard input)")
        let request: JSONValue
        do { request = try StrictJSONParser().parse(input) } catch {
            print(Outcome.failure("request: \(error.message)").response.serialized(pretty: false))
            throw ExitCode(2)
        }
        let outcome = ops.execute(op: op, context: request["context"]?.objectValue ?? [:],
                                  input: request["input"]?.objectValue ?? [:])
        if outcome == .unsupported { throw ExitCode(3) }
        print(outcome.response.serialized(pretty: false))
        if case .failure = outcome { throw ExitCode(2) }
    }
}

struct Conformance: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the spec's vectors against any implementation through the conformance protocol.")

    @OptionGroup var location: SpecLocation
    @Option(help: "Command that runs the implementation; the op (or --jsonl) is appended.") var impl: String?
    @Option(help: "Command that starts a portal on stdio; the configuration path, --, and the upstream command are appended (portal.md §Conformance scenarios).")
    var portal: String?
    @Flag(help: "Keep one process alive and stream one request per line.") var jsonl = false
    @Option(name: .customLong("document"), help: "Only vectors of this document (repeatable).") var documents: [String] = []
    @Option(name: .customLong("op"), help: "Only vectors of this op (repeatable).") var ops: [String] = []
    @Option(help: "Expected-failures baseline (JSON).") var baseline: String?
    @Option(name: .customLong("allow-unsupported"),
            help: "An op the implementation may leave unsupported (repeatable); any other unsupported op fails the run.")
    var allowUnsupported: [String] = []
    @Option(help: "Seconds allowed per vector.") var timeout: Double = 10
    @Option(help: "Directory for results.json, junit.xml and summary.md.") var out: String = ".build/evidence/conformance"
    @Option(name: .customLong("portal-out"), help: "With --portal: directory for the scenarios' results.json (none unless given).")
    var portalOut: String?

    func validate() throws {
        try requireRange(timeout, 0.001...86_400, "--timeout", "seconds per vector")
        if let impl, impl.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--impl is a command, not empty") }
        if let portal, portal.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--portal is a command, not empty") }
        guard !out.isEmpty else { throw ValidationError("--out is a directory, not empty") }
        if let baseline, baseline.isEmpty { throw ValidationError("--baseline is a file, not empty") }
    }

    func run() throws {
        let spec = try location.read()
        if let portal { return try runPortal(portal, spec: spec) }
        guard let impl else { throw ValidationError("give --impl (vectors) or --portal (portal scenarios)") }
        let tabledOps = Set(spec.rows("ops").map { $0["op"].trimmingCharacters(in: CharacterSet(charactersIn: "`")) })
        for op in allowUnsupported where !tabledOps.contains(op) {
            throw ValidationError("--allow-unsupported \(op): not an op of the ops table (spec/conformance.md)")
        }
        let vectors = spec.vectors.filter {
            (documents.isEmpty || documents.contains($0.document)) && (ops.isEmpty || ops.contains($0.op))
        }
        if let baseline { _ = try CLIFiles.read(baseline, option: "--baseline") }
        let expected: Set<String>
        do { expected = try baseline.map { try ConformanceRun.loadBaseline(URL(fileURLWithPath: $0)) } ?? [] } catch {
            throw CLIError.rejected("--baseline \(baseline ?? ""): \(describeError(error))")
        }
        let executor: OpExecutor
        var jsonlExecutor: JSONLinesExecutor? = nil
        if jsonl {
            jsonlExecutor = try JSONLinesExecutor(command: impl, timeout: timeout)
            executor = jsonlExecutor!
        } else {
            executor = PerProcessExecutor(command: impl, timeout: timeout)
        }
        let run = ConformanceRun(spec: spec, vectors: vectors, executor: executor, implementation: impl,
                                 mode: jsonl ? "jsonl" : "per-process", baseline: expected,
                                 allowUnsupported: Set(allowUnsupported))
        jsonlExecutor?.close()
        try run.write(to: URL(fileURLWithPath: out), requirements: spec.requirements)
        let rate = Double(run.results.count) / max(run.seconds, 1e-9)
        print("conformance (\(run.mode)): \(impl)")
        print("  \(run.results.count) vectors: \(run.count("pass")) pass, \(run.count("fail")) fail, \(run.count("skip")) skip"
              + String(format: " in %.2f s (%.0f vectors/s)", run.seconds, rate))
        for r in run.results {
            if case .fail(let why) = r.verdict { print("  \(r.expectedFailure ? "expected-fail" : "FAIL") \(r.vector.id): \(why)") }
        }
        for id in run.staleBaselineEntries { print("  STALE baseline entry \(id): it passes or no longer exists; remove it") }
        if !run.allowedUnsupported.isEmpty {
            print("  allowed unsupported: \(run.allowedUnsupported.joined(separator: ", "))")
        }
        for r in run.disallowedSkips { print("  UNSUPPORTED \(r.vector.id): op \(r.vector.op) is not allowed to be unsupported") }
        for op in run.staleAllowances { print("  STALE --allow-unsupported \(op): no vector of it was skipped; remove it") }
        print("  reports: \(out)/results.json, junit.xml, summary.md")
        print("  verdict: \(run.passed ? "PASS" : "FAIL")")
        if !run.passed { throw ExitCode(1) }
    }

    private func runPortal(_ command: String, spec: Spec) throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let runner = PortalConformance(portalCommand: command, upstreamExecutable: URL(fileURLWithPath: executable).resolvingSymlinksInPath().path)
        let start = Date()
        var failed = 0
        var entries: [JSONValue] = []
        print("portal conformance: \(command)")
        for scenario in spec.scenarios {
            let outcome = runner.run(scenario.json)
            var entry: JSONObject = ["id": .string(scenario.id), "document": .string(scenario.document), "op": "portal",
                                     "covers": .array(scenario.covers.map { .string($0) }),
                                     "verdict": .string(outcome.failure == nil ? "pass" : "fail")]
            if let why = outcome.failure {
                failed += 1
                entry["detail"] = .string(why)
                print("  FAIL \(outcome.id): \(why)")
            }
            entries.append(.object(entry))
        }
        let seconds = Date().timeIntervalSince(start)
        let passed = failed == 0 && !spec.scenarios.isEmpty
        print(String(format: "  %d scenarios: %d pass, %d fail in %.1f s", spec.scenarios.count, spec.scenarios.count - failed, failed, seconds))
        if let portalOut {
            // The same shape as a vector run's results.json: `attest check --evidence` reads
            // a passed scenario as evidence for the codes its steps expect.
            let results: JSONValue = [
                "implementation": .string(command), "mode": "portal",
                "summary": [
                    "vectors": .number(JSONNumber(spec.scenarios.count)),
                    "pass": .number(JSONNumber(spec.scenarios.count - failed)), "fail": .number(JSONNumber(failed)),
                    "skip": .number(JSONNumber(0)), "expected_failures": .number(JSONNumber(0)),
                    "seconds": .number(JSONNumber((seconds * 1000).rounded() / 1000)),
                    "verdict": .string(passed ? "PASS" : "FAIL"),
                ],
                "vectors": .array(entries),
            ]
            let directory = URL(fileURLWithPath: portalOut)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(results.serialized(pretty: true).utf8).write(to: directory.appendingPathComponent("results.json"))
            print("  report: \(portalOut)/results.json")
        }
        print("  verdict: \(passed ? "PASS" : "FAIL")")
        if !passed { throw ExitCode(1) }
    }
}

/// The scripted upstream of the portal scenarios (hidden: the runner starts it).
struct ConformanceUpstream: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conformance-upstream", shouldDisplay: false)
    @Option(help: "Comma-separated tool names.") var tools: String = ""
    @Option(help: "File to append each received request to.") var calls: String

    func validate() throws {
        guard !calls.isEmpty else { throw ValidationError("--calls is a file, not empty") }
    }

    func run() throws {
        ScriptedUpstream.run(tools: tools.split(separator: ",").map(String.init), callsFile: calls)
    }
}
