import AttestCore

/// A small deterministic CBOR (RFC 8949) encoder and decoder, for the one CBOR object the
/// protocol exports: a COSE Receipt of one receipt's inclusion (receipt.md §Exporting one
/// receipt's proof).
///
/// Written by hand because no CBOR library is among the Swift packages the project builds
/// from, and because the COSE Receipt needs only a fraction of CBOR: unsigned and negative
/// integers, byte and text strings, arrays, maps, one tag and `null`. The encoder writes
/// the core deterministic encoding (RFC 8949 §4.2.1: preferred, definite-length arguments;
/// map keys in the bytewise order of their encodings). The decoder accepts exactly that
/// encoding and nothing else (no indefinite lengths, floats, other simple values, or
/// arguments longer than needed), within fixed bounds on depth, item count and length, so
/// that no input can trap it or make it allocate without limit.
public indirect enum CBOR: Equatable, Sendable {
    case unsigned(UInt64)
    /// The negative integer `-1 - n`.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Pairs in any order: the encoder sorts them by their keys' encodings.
    case map([(CBOR, CBOR)])
    case tagged(UInt64, CBOR)
    case null

    public static func int(_ value: Int64) -> CBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-(value + 1)))
    }

    public static func == (a: CBOR, b: CBOR) -> Bool { a.encoded == b.encoded }

    // MARK: Encoding

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private static func head(_ major: UInt8, _ argument: UInt64, into out: inout [UInt8]) {
        let m = major << 5
        switch argument {
        case ..<24: out.append(m | UInt8(argument))
        case ..<0x100: out += [m | 24, UInt8(argument)]
        case ..<0x1_0000: out += [m | 25, UInt8(argument >> 8), UInt8(argument & 0xFF)]
        case ..<0x1_0000_0000: out.append(m | 26); out += (0..<4).reversed().map { UInt8((argument >> (8 * $0)) & 0xFF) }
        default: out.append(m | 27); out += (0..<8).reversed().map { UInt8((argument >> (8 * $0)) & 0xFF) }
        }
    }

    private func encode(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let n): Self.head(0, n, into: &out)
        case .negative(let n): Self.head(1, n, into: &out)
        case .bytes(let b): Self.head(2, UInt64(b.count), into: &out); out += b
        case .text(let s): Self.head(3, UInt64(s.utf8.count), into: &out); out += Array(s.utf8)
        case .array(let items):
            Self.head(4, UInt64(items.count), into: &out)
            for item in items { item.encode(into: &out) }
        case .map(let pairs):
            Self.head(5, UInt64(pairs.count), into: &out)
            let sorted = pairs.map { (key: $0.0.encoded, value: $0.1.encoded) }
                .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            for pair in sorted { out += pair.key; out += pair.value }
        case .tagged(let tag, let item): Self.head(6, tag, into: &out); item.encode(into: &out)
        case .null: out.append(0xF6)
        }
    }

    // MARK: Decoding

    /// Bounds of the decoder: nesting depth, items in one array or map, bytes in one string.
    public static let maxDepth = 8
    public static let maxItems = 1024
    public static let maxLength = 1 << 16

    /// The one item `bytes` encode in the deterministic encoding, or nil when they are not
    /// exactly that (trailing bytes, a non-preferred argument, unsorted or repeated map
    /// keys, invalid UTF-8, anything outside the subset above, or past the bounds).
    public static func decode(_ bytes: [UInt8]) -> CBOR? {
        var reader = Reader(bytes: bytes)
        guard let item = reader.item(depth: 0), reader.offset == bytes.count else { return nil }
        return item
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, n <= bytes.count - offset else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        /// The argument of a head, only in its preferred (shortest) form.
        mutating func argument(_ info: UInt8) -> UInt64? {
            let width: Int
            switch info {
            case ..<24: return UInt64(info)
            case 24: width = 1
            case 25: width = 2
            case 26: width = 4
            case 27: width = 8
            default: return nil
            }
            guard let raw = take(width) else { return nil }
            let value = raw.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            let least: UInt64 = switch width { case 1: 24; case 2: 0x100; case 4: 0x1_0000; default: 0x1_0000_0000 }
            return value >= least ? value : nil
        }

        mutating func item(depth: Int) -> CBOR? {
            guard depth <= CBOR.maxDepth, let first = byte() else { return nil }
            let major = first >> 5, info = first & 0x1F
            if major == 7 { return info == 22 ? .null : nil }
            guard let n = argument(info) else { return nil }
            switch major {
            case 0: return .unsigned(n)
            case 1: return .negative(n)
            case 2, 3:
                guard n <= UInt64(CBOR.maxLength), let b = take(Int(n)) else { return nil }
                if major == 2 { return .bytes(b) }
                guard let s = String(validating: b, as: UTF8.self) else { return nil }
                return .text(s)
            case 4:
                guard n <= UInt64(CBOR.maxItems) else { return nil }
                var items: [CBOR] = []
                for _ in 0..<Int(n) {
                    guard let i = item(depth: depth + 1) else { return nil }
                    items.append(i)
                }
                return .array(items)
            case 5:
                guard n <= UInt64(CBOR.maxItems) else { return nil }
                var pairs: [(CBOR, CBOR)] = []
                var previous: [UInt8]? = nil
                for _ in 0..<Int(n) {
                    let start = offset
                    guard let k = item(depth: depth + 1) else { return nil }
                    let key = Array(bytes[start..<offset])
                    // Deterministic: keys strictly increasing in bytewise order (so none repeats).
                    if let previous, !previous.lexicographicallyPrecedes(key) { return nil }
                    previous = key
                    guard let v = item(depth: depth + 1) else { return nil }
                    pairs.append((k, v))
                }
                return .map(pairs)
            case 6:
                guard let i = item(depth: depth + 1) else { return nil }
                return .tagged(n, i)
            default: return nil
            }
        }
    }

    // MARK: Reading

    /// The value of `key` in a map, compared by encoding.
    public subscript(key: CBOR) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public var mapCount: Int? { if case .map(let p) = self { p.count } else { nil } }
    public var arrayValue: [CBOR]? { if case .array(let a) = self { a } else { nil } }
    public var bytesValue: [UInt8]? { if case .bytes(let b) = self { b } else { nil } }
    public var unsignedValue: UInt64? { if case .unsigned(let n) = self { n } else { nil } }
}
