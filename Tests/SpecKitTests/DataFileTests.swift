import AttestCore
import AttestOps
import Foundation
import SpecKit
import Testing

/// Data files (conventions.md §Data files): a vector input held in a file under
/// spec/data and referenced from its block by path, form and SHA-256.
@Suite("data files of vectors")
struct DataFileTests {
    static let content = Array("7b7d".utf8)
    static let path = "data/fixture/fix-valid/data.txt"

    static func reference(path: String = path, form: String = "text", digest: String? = nil) -> String {
        let sha = digest ?? Hex.encode(SHA256.hash(content))
        return #"{"$file":"\#(path)","as":"\#(form)","sha256":"\#(sha)"}"#
    }

    /// The fixture with fix-valid's `data` given by `reference`.
    static func markdown(_ reference: String) -> String {
        fixture.replacingOccurrences(of: #""input":{"data":"7b7d"}"#, with: #""input":{"data":"# + reference + "}")
    }

    static func check(_ markdown: String, files: [String: [UInt8]]) -> SpecCheck {
        let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: markdown)],
                                   dataFiles: DataFiles(files: files))
        return SpecCheck(spec: spec, implementationCodes: ["JSON_SYNTAX", "JSON_TOO_DEEP"], executor: ReferenceOps(),
                         vectorsDirectory: nil)
    }

    @Test("a reference resolves to the file's content, and extraction is as if it were inline (positive control)")
    func resolves() throws {
        let markdown = Self.markdown(Self.reference())
        #expect(markdown != fixture)
        let c = Self.check(markdown, files: [Self.path: Self.content])
        #expect(c.passed, "\(c.diagnostics)")
        let vector = try #require(c.spec.vectors.first)
        #expect(vector.input["data"]?.stringValue == "7b7d")
        #expect(vector.dataFiles == [DataFileReference(path: Self.path, form: .text, sha256: Hex.encode(SHA256.hash(Self.content)), size: 4)])
        let inline = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: fixture)])
        #expect(VectorFiles.render(c.spec) == VectorFiles.render(inline))
    }

    @Test("the three forms: json, text, hex")
    func forms() throws {
        let json = Array(#"{"a": [1, 2.50]}"#.utf8)
        let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: Self.markdown(
            #"{"$file":"data/fixture/fix-valid/d.json","as":"json","sha256":""# + Hex.encode(SHA256.hash(json)) + #""}"#))],
            dataFiles: DataFiles(files: ["data/fixture/fix-valid/d.json": json]))
        #expect(spec.diagnostics.isEmpty, "\(spec.diagnostics)")
        #expect(spec.vectors.first?.input["data"]?.serialized(pretty: false) == #"{"a":[1,2.50]}"#)
        let bytes: [UInt8] = [0x0D, 0x0A, 0xFF]
        let hex = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: Self.markdown(
            #"{"$file":"data/fixture/fix-valid/d.bin","as":"hex","sha256":""# + Hex.encode(SHA256.hash(bytes)) + #""}"#))],
            dataFiles: DataFiles(files: ["data/fixture/fix-valid/d.bin": bytes]))
        #expect(hex.diagnostics.isEmpty, "\(hex.diagnostics)")
        #expect(hex.vectors.first?.input["data"]?.stringValue == "0d0aff")
        // The same bytes are not UTF-8, so they cannot be text.
        let text = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: Self.markdown(
            #"{"$file":"data/fixture/fix-valid/d.bin","as":"text","sha256":""# + Hex.encode(SHA256.hash(bytes)) + #""}"#))],
            dataFiles: DataFiles(files: ["data/fixture/fix-valid/d.bin": bytes]))
        #expect(text.diagnostics.contains { $0.message.contains("is not UTF-8") })
    }

    @Test("a missing data file")
    func missing() {
        expectProblem(Self.check(Self.markdown(Self.reference()), files: [:]), .vector, "spec/data/fixture/fix-valid/data.txt is missing")
    }

    @Test("a digest that does not match the file")
    func digestMismatch() {
        let c = Self.check(Self.markdown(Self.reference(digest: String(repeating: "0", count: 64))), files: [Self.path: Self.content])
        #expect(c.diagnostics.contains { $0.kind == .vector && $0.message.contains("has SHA-256") && $0.message.contains("not the 0000") },
                "\(c.diagnostics)")
    }

    @Test("a data file no vector refers to")
    func unreferenced() {
        let c = Self.check(fixture, files: ["data/fixture/fix-gone/data.txt": Self.content])
        expectProblem(c, .vector, "data file referenced by no vector")
        #expect(c.diagnostics.first?.file == "spec/data/fixture/fix-gone/data.txt")
    }

    @Test("paths that escape spec/data or leave the vector's directory, and malformed references")
    func paths() {
        for path in ["data/../../etc/passwd", "data/fixture/fix-valid/../fix-invalid/data.txt", "/etc/passwd",
                     "data/fixture/fix-invalid/data.txt", "data/other/fix-valid/data.txt", "data/fixture/fix-valid",
                     "data/fixture/fix-valid//data.txt", "data/fixture/fix-valid/da ta.txt"] {
            let c = Self.check(Self.markdown(Self.reference(path: path)), files: [Self.path: Self.content])
            #expect(c.diagnostics.contains { $0.message.contains("is not a path of plain components") }, "\(path): \(c.diagnostics)")
        }
        let noDigest = Self.markdown(#"{"$file":"\#(Self.path)","as":"text"}"#)
        #expect(Self.check(noDigest, files: [Self.path: Self.content]).diagnostics.contains { $0.message.contains("is not {") })
        let otherForm = Self.markdown(Self.reference(form: "base64"))
        #expect(Self.check(otherForm, files: [Self.path: Self.content]).diagnostics.contains { $0.message.contains("is not {") })
    }

    @Test("loading spec/data refuses symbolic links and reads regular files")
    func load() throws {
        let fm = FileManager.default
        let spec = fm.temporaryDirectory.appendingPathComponent("datafiles-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: spec) }
        let dir = spec.appendingPathComponent("data/fixture/fix-valid")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(Self.content).write(to: dir.appendingPathComponent("data.txt"))
        var store = DataFiles.load(specDirectory: spec)
        #expect(store.files == [Self.path: Self.content])
        #expect(store.problems.isEmpty)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("link.txt").path, withDestinationPath: "/etc/hostname")
        store = DataFiles.load(specDirectory: spec)
        #expect(store.files.count == 1)
        #expect(store.problems.map(\.file) == ["spec/data/fixture/fix-valid/link.txt"])
    }
}
