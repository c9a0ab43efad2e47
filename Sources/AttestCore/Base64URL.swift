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
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x3F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(6 - bits)) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) throws(AttestError) -> [UInt8] {
        try decode(utf8: Array(text.utf8))
    }

    public static func decode(utf8 input: some Collection<UInt8>) throws(AttestError) -> [UInt8] {
        let bytes = Array(input)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(AttestError) -> [UInt8] in try decode(buffer) }
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>) throws(AttestError) -> [UInt8] {
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
