import AttestCore
import Foundation
import Testing

/// Reads the third-party vectors kept in `Tests/ExternalVectors/`.
enum ExternalVectors {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ExternalVectors")

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    /// Loads a file after checking its SHA-256 against the pinned value, so a test never
    /// runs against a silently changed vector file.
    static func json(_ path: String, sha256: String) throws -> JSONValue {
        let data = try bytes(path)
        #expect(Hex.encode(SHA256.hash(data)) == sha256, "\(path) differs from the pinned copy")
        return try StrictJSONParser(limits: .init(maxBytes: 16 << 20, maxDepth: 16)).parse(data)
    }
}

func hex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { fatalError("bad hex in test: \(s)") }
    return b
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Asserts that `body` throws an AttestError with exactly `code`.
func expectCode<T>(_ code: ErrorCode, _ what: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> T) {
    do {
        let value = try body()
        Issue.record("expected \(code.rawValue), got success: \(value) \(what.map { "(\($0))" } ?? "")",
                     sourceLocation: sourceLocation)
    } catch let error as AttestError {
        #expect(error.code == code, "\(what.map { "\($0): " } ?? "")\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected AttestError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
