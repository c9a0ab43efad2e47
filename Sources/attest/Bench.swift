import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the benchmarks (build with -c release).")
    func run() throws { throw ValidationError("not yet") }
}
