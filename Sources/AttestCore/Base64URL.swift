/// base64url without padding (RFC 4648 §5, as JOSE uses it: RFC 7515 §2).
///
/// Decoding accepts exactly one encoding per byte string: it rejects padding,
/// whitespace, characters outside the alphabet, a length that no byte string has
/// (4k+1), and non-zero bits in the last character's unused low bits, which would
/// otherwise give one token several spellings.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        // Generic callers from other modules reach the unspecialized body, which would
        // iterate through protocol witnesses; contiguous inputs go to the buffer loop.
        if let text = bytes.withContiguousStorageIfAvailable({ encode(buffer: $0) }) { return text }
        return Array(bytes).withUnsafeBufferPointer { encode(buffer: $0) }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { encode(buffer: $0) }
    }

    /// The length of the unpadded base64url text of `byteCount` bytes.
    public static func encodedCount(_ byteCount: Int) -> Int {
        byteCount / 3 * 4 + (byteCount % 3 == 0 ? 0 : byteCount % 3 + 1)
    }

    public static func encode(buffer input: UnsafeBufferPointer<UInt8>) -> String {
        let outCount = encodedCount(input.count)
        if outCount == 0 { return "" }
        return String(unsafeUninitializedCapacity: outCount) { out in encode(input, into: out) }
    }

    /// Writes the text of `input` into the first `encodedCount(input.count)` bytes of
    /// `out`, three bytes to four characters at a time (the last one or two bytes give
    /// two or three characters, no padding); returns that count.
    @discardableResult
    public static func encode(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let n = input.count
        return alphabet.withUnsafeBufferPointer { a in
            var i = 0, o = 0
            while i + 3 <= n {
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 0x3F)]
                out[o + 2] = a[Int(v >> 6 & 0x3F)]
                out[o + 3] = a[Int(v & 0x3F)]
                i += 3
                o += 4
            }
            if n - i == 1 {
                let v = UInt32(input[i]) << 16
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 0x3F)]
                o += 2
            } else if n - i == 2 {
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 0x3F)]
                out[o + 2] = a[Int(v >> 6 & 0x3F)]
                o += 3
            }
            return o
        }
    }

    public static func decode(_ text: String) throws(AttestError) -> [UInt8] {
        var text = text
        let result = text.withUTF8 { buffer in Result { () throws(AttestError) in try decode(buffer: buffer) } }
        return try result.get()
    }

    public static func decode(utf8 input: some Collection<UInt8>) throws(AttestError) -> [UInt8] {
        if let result = input.withContiguousStorageIfAvailable({ buffer in Result { () throws(AttestError) in try decode(buffer: buffer) } }) {
            return try result.get()
        }
        let bytes = Array(input)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(AttestError) -> [UInt8] in try decode(buffer: buffer) }
    }

    /// Decodes strictly. A well-formed input takes the four-characters-at-a-time loop;
    /// anything it refuses goes through the character-by-character loop, which finds
    /// the first defect in the fixed order (character, then length, then trailing bits).
    public static func decode(buffer input: UnsafeBufferPointer<UInt8>) throws(AttestError) -> [UInt8] {
        if input.count % 4 != 1, let out = decodeWellFormed(input) { return out }
        return try decodeChecked(input)
    }

    /// Whether `text` is the strict base64url of exactly `byteCount` bytes, without
    /// decoding it.
    public static func isStrictEncoding(_ text: String, ofByteCount byteCount: Int) -> Bool {
        var text = text
        return text.withUTF8 { input in
            let n = input.count
            guard n % 4 != 1, n / 4 * 3 + max(n % 4 - 1, 0) == byteCount else { return false }
            return decodeTable.withUnsafeBufferPointer { table in
                var bad: UInt8 = 0
                for c in input { bad |= table[Int(c)] }
                guard bad & 0xC0 == 0, n % 4 != 0 else { return bad & 0xC0 == 0 }
                let last = table[Int(input[n - 1])]
                return last & (n % 4 == 2 ? 0x0F : 0x03) == 0
            }
        }
    }

    /// The decoding of a well-formed input, or nil if any character is outside the
    /// alphabet or the last character's unused bits are not zero (the caller has
    /// excluded a 4k+1 length).
    private static func decodeWellFormed(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let n = input.count
        let outCount = n / 4 * 3 + max(n % 4 - 1, 0)
        var valid = true
        let out = decodeTable.withUnsafeBufferPointer { t in
            [UInt8](unsafeUninitializedCapacity: outCount) { o, initialized in
                // Alphabet values are below 64; 0xFF marks any other byte, so one OR of
                // every looked-up value tells whether all were in the alphabet.
                var bad: UInt8 = 0
                var i = 0, w = 0
                while i + 4 <= n {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])], d = t[Int(input[i + 3])]
                    bad |= a | b | c | d
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    o[w] = UInt8(truncatingIfNeeded: v >> 16)
                    o[w + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    o[w + 2] = UInt8(truncatingIfNeeded: v)
                    i += 4
                    w += 3
                }
                if n - i == 2 {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                    bad |= a | b | (b & 0x0F == 0 ? 0 : 0xFF)
                    o[w] = a << 2 | b >> 4
                    w += 1
                } else if n - i == 3 {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])]
                    bad |= a | b | c | (c & 0x03 == 0 ? 0 : 0xFF)
                    o[w] = a << 2 | b >> 4
                    o[w + 1] = b << 4 | c >> 2
                    w += 2
                }
                initialized = w
                valid = bad & 0xC0 == 0
            }
        }
        return valid ? out : nil
    }

    private static func decodeChecked(_ input: UnsafeBufferPointer<UInt8>) throws(AttestError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: input.count * 3 / 4)
        var written = 0
        var buffer: UInt32 = 0
        var bits = 0
        try decodeTable.withUnsafeBufferPointer { (table) throws(AttestError) in
            try out.withUnsafeMutableBufferPointer { (output) throws(AttestError) in
                for index in 0..<input.count {
                    let c = input[index]
                    let v = table[Int(c)]
                    if v == 0xFF {
                        switch c {
                        case UInt8(ascii: "="): throw AttestError(.base64Padding, "padding '=' at offset \(index)")
                        case 0x20, 0x09, 0x0A, 0x0D: throw AttestError(.base64Whitespace, "whitespace at offset \(index)")
                        default: throw AttestError(.base64InvalidCharacter, "byte 0x\(String(c, radix: 16)) at offset \(index) is not in the base64url alphabet")
                        }
                    }
                    buffer = (buffer << 6 | UInt32(v)) & 0xFFFFFF
                    bits += 6
                    if bits >= 8 {
                        bits -= 8
                        output[written] = UInt8((buffer >> UInt32(bits)) & 0xFF)
                        written += 1
                    }
                }
            }
        }
        if input.count % 4 == 1 {
            throw AttestError(.base64InvalidLength, "length \(input.count) leaves a single trailing character")
        }
        if bits > 0 && buffer & ((1 << UInt32(bits)) - 1) != 0 {
            throw AttestError(.base64NonZeroTrailingBits, "the unused low bits of the last character are not zero")
        }
        out.removeLast(out.count - written)
        return out
    }
}

/// Lowercase hexadecimal, used by vectors and reports. Decoding accepts either case.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Returns nil on an odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
