import AttestCore
import Foundation

/// Reads the third-party vectors kept in `Tests/ExternalVectors/`, refusing any file
/// whose SHA-256 differs from `SHA256SUMS`, so a test never runs against a silently
/// changed vector file.
public enum ExternalVectors {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ExternalVectors")

    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }

    private static let pinned: [String: String] = {
        guard let text = try? String(contentsOf: root.appendingPathComponent("SHA256SUMS"), encoding: .utf8) else { return [:] }
        var map: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let path = parts[1].trimmingCharacters(in: .whitespaces)
            map[path.hasPrefix("./") ? String(path.dropFirst(2)) : path] = String(parts[0])
        }
        return map
    }()

    public static func bytes(_ path: String) throws -> [UInt8] {
        let data = Array(try Data(contentsOf: root.appendingPathComponent(path)))
        guard let expected = pinned[path] else { throw Mismatch(description: "\(path) is not listed in SHA256SUMS") }
        guard Hex.encode(SHA256.hash(data)) == expected else {
            throw Mismatch(description: "\(path) differs from its SHA256SUMS entry")
        }
        return data
    }

    public static func json(_ path: String) throws -> JSONValue {
        try StrictJSONParser(limits: .init(maxBytes: 16 << 20, maxDepth: 16)).parse(try bytes(path))
    }

    /// Paths (relative to the root) of the files under `directory` with the given suffix, sorted.
    public static func files(under directory: String, suffix: String = ".json") -> [String] {
        pinned.keys.filter { $0.hasPrefix(directory + "/") && $0.hasSuffix(suffix) }.sorted()
    }
}

public func hex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { fatalError("bad hex in test: \(s)") }
    return b
}

public func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
