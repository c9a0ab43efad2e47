import AttestCore
import Foundation

/// The data files of the vectors (conventions.md §Data files): an input too large to
/// read in its vector block lives in a file under `spec/data/<document>/<vector-id>/`,
/// and the block holds a reference in its place,
/// `{"$file": "data/<document>/<vector-id>/<name>", "as": "json" | "text" | "hex", "sha256": "<hex>"}`.
/// The reader replaces each reference by the file's content in the form `as` names, so
/// the extracted vectors, the runner and every implementation see whole inputs.
public struct DataFiles: Sendable {
    /// Each regular file under `spec/data`, by its path relative to `spec/` (`data/...`).
    public private(set) var files: [String: [UInt8]]
    /// Entries under `spec/data` that are not regular files, or could not be read.
    public private(set) var problems: [Diagnostic]

    /// The directory, relative to `spec/`, that holds every data file.
    public static let directory = "data"
    /// Limits on what a walk of `spec/data` reads, so that a stray file cannot make the
    /// checker read without end.
    public static let maxFileBytes = 64 << 20
    public static let maxFiles = 100_000
    public static let maxDepth = 16
    public static let maxPathBytes = 512

    public init(files: [String: [UInt8]] = [:]) {
        self.files = files
        self.problems = []
    }

    /// Reads every file under `<specDirectory>/data`, without following symbolic links.
    public static func load(specDirectory: URL) -> DataFiles {
        var store = DataFiles()
        let fm = FileManager.default
        let top = specDirectory.appendingPathComponent(directory)
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: top.path, isDirectory: &isDirectory) else { return store }
        func problem(_ path: String, _ message: String) {
            store.problems.append(Diagnostic(.vector, "spec/\(path)", 0, message))
        }
        var pending: [(path: String, depth: Int)] = [(directory, 0)]
        while let (path, depth) = pending.popLast() {
            let url = specDirectory.appendingPathComponent(path)
            guard let names = try? fm.contentsOfDirectory(atPath: url.path) else {
                problem(path, "data directory cannot be read")
                continue
            }
            for name in names.sorted() {
                let child = path + "/" + name
                let childURL = url.appendingPathComponent(name)
                let type = (try? fm.attributesOfItem(atPath: childURL.path))?[.type] as? FileAttributeType
                switch type {
                case .typeDirectory?:
                    if depth + 1 >= maxDepth {
                        problem(child, "data directory nested deeper than \(maxDepth) levels")
                    } else {
                        pending.append((child, depth + 1))
                    }
                case .typeRegular?:
                    guard store.files.count < maxFiles else {
                        problem(child, "more than \(maxFiles) data files")
                        return store
                    }
                    let size = ((try? fm.attributesOfItem(atPath: childURL.path))?[.size] as? NSNumber)?.intValue ?? 0
                    guard size <= maxFileBytes, let data = fm.contents(atPath: childURL.path), data.count <= maxFileBytes else {
                        problem(child, "data file larger than \(maxFileBytes) bytes, or unreadable")
                        continue
                    }
                    store.files[child] = [UInt8](data)
                default:
                    problem(child, "not a regular file or directory (a symbolic link, FIFO or device is refused)")
                }
            }
        }
        return store
    }
}

/// One reference of a vector block to a data file.
public struct DataFileReference: Sendable, Equatable {
    public enum Form: String, Sendable, CaseIterable {
        /// The file is one JSON text; the reference stands for its value.
        case json
        /// The file is UTF-8 text; the reference stands for a string of exactly its content.
        case text
        /// The reference stands for the lowercase hex of the file's bytes.
        case hex
    }

    /// The path as written, relative to `spec/`.
    public let path: String
    public let form: Form
    /// The SHA-256 of the file's bytes, lowercase hex, as written.
    public let sha256: String
    /// The file's size in bytes (0 when it is missing).
    public let size: Int

    public init(path: String, form: Form, sha256: String, size: Int) {
        self.path = path
        self.form = form
        self.sha256 = sha256
        self.size = size
    }

    public static let memberName = "$file"
    public static let members = ["$file", "as", "sha256"]
}

/// Resolution of the references in one vector.
struct DataFileResolver {
    let store: DataFiles
    let document: String
    let vectorID: String
    private(set) var references: [DataFileReference] = []
    private(set) var problems: [String] = []

    init(store: DataFiles, document: String, vectorID: String) {
        self.store = store
        self.document = document
        self.vectorID = vectorID
    }

    nonisolated(unsafe) static let digestPattern = #/^[0-9a-f]{64}$/#

    /// Whether every component of `path` is made of `A-Z a-z 0-9 . _ -`, none empty, `.`
    /// or `..`, and the path lies in the vector's own directory, `data/<document>/<id>/`.
    func wellFormed(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= DataFiles.maxPathBytes else { return false }
        let components = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for c in components {
            guard !c.isEmpty, !c.elementsEqual(".".utf8), !c.elementsEqual("..".utf8) else { return false }
            for b in c {
                switch b {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    continue
                default:
                    return false
                }
            }
        }
        let prefix = [DataFiles.directory, document, vectorID]
        guard components.count > prefix.count else { return false }
        for (component, expected) in zip(components, prefix) where !component.elementsEqual(expected.utf8) { return false }
        return true
    }

    /// `value` with every reference replaced by what it stands for. A reference that
    /// cannot be resolved is left in place and recorded as a problem.
    mutating func resolve(_ value: JSONValue, depth: Int = 0) -> JSONValue {
        guard depth < StrictJSONParser.Limits.depthCeiling else { return value }
        switch value {
        case .object(let object):
            if object.contains(DataFileReference.memberName) { return reference(object) ?? value }
            var out = JSONObject()
            for member in object.members { out[member.name] = resolve(member.value, depth: depth + 1) }
            return .object(out)
        case .array(let elements):
            return .array(elements.map { resolve($0, depth: depth + 1) })
        default:
            return value
        }
    }

    private mutating func reference(_ object: JSONObject) -> JSONValue? {
        let path = object[DataFileReference.memberName]?.stringValue ?? ""
        guard object.count == DataFileReference.members.count, DataFileReference.members.allSatisfy(object.contains),
              let formName = object["as"]?.stringValue,
              let form = DataFileReference.Form.allCases.first(where: { sameCodeUnits($0.rawValue, formName) }),
              let digest = object["sha256"]?.stringValue, digest.wholeMatch(of: Self.digestPattern) != nil else {
            problems.append("data file reference \(JSONValue.object(object).serialized(pretty: false)) is not {\"$file\", \"as\": json, text or hex, \"sha256\": 64 lowercase hex digits}")
            return nil
        }
        guard wellFormed(path) else {
            problems.append("data file path \"\(path)\" is not a path of plain components under data/\(document)/\(vectorID)/ (it must not escape spec/data)")
            return nil
        }
        guard let bytes = store.files[path] else {
            problems.append("data file spec/\(path) is missing")
            references.append(DataFileReference(path: path, form: form, sha256: digest, size: 0))
            return nil
        }
        references.append(DataFileReference(path: path, form: form, sha256: digest, size: bytes.count))
        let actual = Hex.encode(SHA256.hash(bytes))
        guard Array(actual.utf8) == Array(digest.utf8) else {
            problems.append("data file spec/\(path) has SHA-256 \(actual), not the \(digest) its reference gives")
            return nil
        }
        switch form {
        case .hex:
            return .string(Hex.encode(bytes))
        case .text:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                problems.append("data file spec/\(path) is not UTF-8, so it cannot be given as text")
                return nil
            }
            return .string(text)
        case .json:
            do {
                return try StrictJSONParser(limits: .init(maxBytes: DataFiles.maxFileBytes, maxDepth: 64)).parse(bytes)
            } catch {
                problems.append("data file spec/\(path) is not one JSON text: \(error.message)")
                return nil
            }
        }
    }
}
