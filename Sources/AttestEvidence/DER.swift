import AttestCore

/// A small, bounded reader of DER (ITU-T X.690) for the few structures of RFC 3161
/// timestamp tokens, CMS SignedData and X.509 certificates that checkpoint.md §Timestamp
/// tokens reads.
///
/// It is its own rather than a general ASN.1 library because verification reads only a
/// fixed path through those structures, field by field, and keeps the exact encoded bytes
/// of each element (the signed attributes are verified over their own DER, and names and
/// serial numbers are compared as bytes). It never recurses on its own: each caller reads
/// one level at a time, so nesting depth is bounded by the code, and every length is
/// checked against the bytes that remain, so no input makes it read out of bounds or trap.
/// Only definite, minimally encoded lengths of at most four bytes and single-byte tags are
/// accepted; anything else fails with the caller's code.
struct DERReader {
    struct Element {
        /// The identifier octet: class, constructed bit and tag number (below 31).
        let tag: UInt8
        /// The contents octets.
        let value: ArraySlice<UInt8>
        /// The whole encoding: identifier, length and contents.
        let encoded: ArraySlice<UInt8>

        func reader(_ code: ErrorCode) -> DERReader { DERReader(value, code: code) }
    }

    static let sequence: UInt8 = 0x30
    static let set: UInt8 = 0x31
    static let integer: UInt8 = 0x02
    static let octetString: UInt8 = 0x04
    static let null: UInt8 = 0x05
    static let oid: UInt8 = 0x06
    static let bitString: UInt8 = 0x03
    static let boolean: UInt8 = 0x01
    static let utcTime: UInt8 = 0x17
    static let generalizedTime: UInt8 = 0x18
    /// A context-specific, constructed tag [n].
    static func context(_ n: UInt8) -> UInt8 { 0xA0 | n }

    private(set) var rest: ArraySlice<UInt8>
    let code: ErrorCode

    init(_ bytes: ArraySlice<UInt8>, code: ErrorCode) {
        rest = bytes
        self.code = code
    }

    var isEmpty: Bool { rest.isEmpty }

    func fail(_ why: String) -> AttestError { AttestError(code, why) }

    /// The next element, whatever its tag.
    mutating func next() throws(AttestError) -> Element {
        let start = rest.startIndex
        guard let tag = rest.first else { throw fail("DER ends where an element was expected") }
        guard tag & 0x1F != 0x1F else { throw fail("DER tag of more than one byte") }
        var i = start + 1
        guard i < rest.endIndex else { throw fail("DER element without a length") }
        let first = rest[i]
        i += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...4).contains(count), rest.endIndex - i >= count else { throw fail("DER length indefinite, too long or cut") }
            guard rest[i] != 0 else { throw fail("DER length not minimal") }
            for _ in 0..<count {
                length = length << 8 | Int(rest[i])
                i += 1
            }
            guard length >= 0x80 else { throw fail("DER length not minimal") }
        }
        guard rest.endIndex - i >= length else { throw fail("DER element longer than its enclosing bytes") }
        let value = rest[i..<(i + length)]
        let encoded = rest[start..<(i + length)]
        rest = rest[(i + length)...]
        return Element(tag: tag, value: value, encoded: encoded)
    }

    /// The next element, which must have `tag`.
    mutating func next(_ tag: UInt8) throws(AttestError) -> Element {
        let e = try next()
        guard e.tag == tag else { throw fail("DER tag \(e.tag) where \(tag) was expected") }
        return e
    }

    /// The next element when it has `tag`; nil, consuming nothing, otherwise.
    mutating func optional(_ tag: UInt8) throws(AttestError) -> Element? {
        guard rest.first == tag else { return nil }
        return try next(tag)
    }

    /// Fails unless every byte was read.
    func end() throws(AttestError) {
        guard rest.isEmpty else { throw fail("DER has bytes after its last element") }
    }

    /// An AlgorithmIdentifier: its OID's contents and whether its parameters are absent or NULL.
    mutating func algorithm() throws(AttestError) -> (oid: ArraySlice<UInt8>, plainParameters: Bool, parameters: Element?) {
        var r = try next(Self.sequence).reader(code)
        let oid = try r.next(Self.oid).value
        var parameters: Element?
        if !r.isEmpty { parameters = try r.next() }
        try r.end()
        let plain = parameters == nil || (parameters?.tag == Self.null && parameters?.value.isEmpty == true)
        return (oid, plain, parameters)
    }

    /// A small non-negative INTEGER (at most 31 bits).
    static func smallInteger(_ e: Element, code: ErrorCode) throws(AttestError) -> Int {
        guard e.tag == integer, (1...4).contains(e.value.count), let first = e.value.first, first & 0x80 == 0 else {
            throw AttestError(code, "DER INTEGER is not a small non-negative number")
        }
        return e.value.reduce(0) { $0 << 8 | Int($1) }
    }

    /// POSIX seconds of a UTCTime (years 1950 to 2049) or GeneralizedTime in the DER forms
    /// RFC 5280 and RFC 3161 use: `Z` always, seconds always, a GeneralizedTime optionally
    /// with a fraction of a second, which is dropped.
    static func time(_ e: Element, code: ErrorCode) throws(AttestError) -> Int64 {
        let text = Array(e.value)
        let digits: Int
        switch e.tag {
        case utcTime: digits = 12
        case generalizedTime: digits = 14
        default: throw AttestError(code, "not a UTCTime or GeneralizedTime")
        }
        guard text.count >= digits + 1, text.count <= digits + 12, text.last == UInt8(ascii: "Z"),
              text.prefix(digits).allSatisfy({ (0x30...0x39).contains($0) })
        else { throw AttestError(code, "time is not digits followed by Z") }
        let fraction = text[digits..<(text.count - 1)]
        if !fraction.isEmpty {
            guard e.tag == generalizedTime, fraction.count >= 2, fraction.first == UInt8(ascii: "."),
                  fraction.dropFirst().allSatisfy({ (0x30...0x39).contains($0) }), fraction.last != UInt8(ascii: "0")
            else { throw AttestError(code, "time has a malformed fraction of a second") }
        }
        func number(_ from: Int, _ count: Int) -> Int64 {
            text[from..<(from + count)].reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        }
        var year: Int64
        var i: Int
        if e.tag == utcTime {
            year = number(0, 2)
            year += year >= 50 ? 1900 : 2000
            i = 2
        } else {
            year = number(0, 4)
            i = 4
        }
        let month = number(i, 2), day = number(i + 2, 2), hour = number(i + 4, 2), minute = number(i + 6, 2), second = number(i + 8, 2)
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), day >= 1, day <= monthDays[Int(month) - 1], hour < 24, minute < 60, second < 60 else {
            throw AttestError(code, "time is not a valid date and time")
        }
        // Days from 1970-01-01 in the proleptic Gregorian calendar (civil-from-days inverse).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86400 + hour * 3600 + minute * 60 + second
    }
}
