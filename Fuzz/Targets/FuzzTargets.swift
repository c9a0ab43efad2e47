import AttestCore

/// An oracle the input violated: the code under test contradicted itself or a rule it
/// states. Thrown rather than trapped, so a regression test reports it as a failure;
/// the libFuzzer entry point turns it into a crash.
public struct OracleFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The fuzz targets: each takes arbitrary bytes, must never trap or hang, and throws
/// ``OracleFailure`` when an oracle is violated. The libFuzzer executables
/// (`Fuzz/Main`) and `FuzzRegressionTests` call the same functions.
public enum FuzzTargets {
    public typealias Target = @Sendable ([UInt8]) throws(OracleFailure) -> Void

    public static let all: [(name: String, run: Target)] = [
        ("json", json), ("jcs", jcs), ("base64url", base64url), ("jws", jws), ("token", token),
        ("checkpoint", checkpoint), ("receipt-line", receiptLine), ("bundle", bundle),
        ("artifact", artifact), ("constraint", constraint), ("portal-framing", portalFraming),
    ]

    public static func named(_ name: String) -> Target? { all.first { $0.name == name }?.run }

    /// The body of `LLVMFuzzerTestOneInput`.
    public static func fuzz(_ target: Target, _ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        do {
            try target(input)
        } catch {
            fatalError("oracle violated: \(error)")
        }
        return 0
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(OracleFailure) {
    if !condition { throw OracleFailure(message()) }
}

/// The input cut at every `separator` byte, at most `limit` parts (the last keeps the rest).
func parts(_ data: [UInt8], separator: UInt8, limit: Int) -> [[UInt8]] {
    data.split(separator: separator, maxSplits: limit - 1, omittingEmptySubsequences: false).map(Array.init)
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// `bytes` with every occurrence of `placeholder` replaced, so that an input can name
/// values the fuzzer cannot compute (hashes, thumbprints, keys) and still reach the
/// checks behind them.
func substitute(_ bytes: [UInt8], _ replacements: [(String, String)]) -> [UInt8] {
    var out = bytes
    for (placeholder, value) in replacements {
        let p = Array(placeholder.utf8), v = Array(value.utf8)
        var result: [UInt8] = []
        var i = 0
        while i < out.count {
            if i + p.count <= out.count, out[i..<(i + p.count)].elementsEqual(p) {
                result.append(contentsOf: v)
                i += p.count
            } else {
                result.append(out[i])
                i += 1
            }
        }
        out = result
    }
    return out
}

/// Structural identity: like `==`, but numbers must keep their source text and object
/// members their order (what a serialize-and-parse round trip must preserve).
func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case let (.bool(x), .bool(y)): return x == y
    case let (.number(x), .number(y)): return x.source == y.source && x.value.bitPattern == y.value.bitPattern
    case let (.string(x), .string(y)): return Array(x.utf8) == Array(y.utf8)
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
    case let (.object(x), .object(y)):
        return x.count == y.count && zip(x.members, y.members).allSatisfy {
            Array($0.name.utf8) == Array($1.name.utf8) && identical($0.value, $1.value)
        }
    default: return false
    }
}

/// Every value inside `value`, itself included, depth first, at most `limit`.
func allValues(_ value: JSONValue, limit: Int = 256) -> [JSONValue] {
    var out: [JSONValue] = []
    var stack = [value]
    while let v = stack.popLast(), out.count < limit {
        out.append(v)
        switch v {
        case .array(let items): stack.append(contentsOf: items.reversed())
        case .object(let o): stack.append(contentsOf: o.members.map(\.value).reversed())
        default: break
        }
    }
    return out
}
