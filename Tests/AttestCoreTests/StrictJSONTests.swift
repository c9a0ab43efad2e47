import AttestCore
import Testing

/// One defect per case: `defective` is rejected with `code`, and `control`, which
/// differs from it only by that defect, is accepted.
struct RejectionCase: CustomTestStringConvertible, Sendable {
    let name: String
    let code: ErrorCode
    let defective: [UInt8]
    let control: [UInt8]
    var testDescription: String { "\(code.rawValue): \(name)" }

    init(_ name: String, _ code: ErrorCode, _ defective: [UInt8], _ control: [UInt8]) {
        self.name = name
        self.code = code
        self.defective = defective
        self.control = control
    }

    init(_ name: String, _ code: ErrorCode, _ defective: String, _ control: String) {
        self.init(name, code, Array(defective.utf8), Array(control.utf8))
    }
}

let smallLimits = StrictJSONParser.Limits(maxBytes: 17, maxDepth: 3)

let jsonCases: [RejectionCase] = [
    RejectionCase("input over max_bytes", .jsonTooLarge, #"{"a":"0123456789"}"#, #"{"a":"012345678"}"#),
    RejectionCase("byte-order mark", .jsonByteOrderMark, [0xEF, 0xBB, 0xBF] + Array("{}".utf8), Array("{}".utf8)),
    RejectionCase("overlong encoding of '/'", .jsonInvalidUTF8, [0x22, 0xC0, 0xAF, 0x22], [0x22, 0x2F, 0x22]),
    RejectionCase("truncated 2-byte sequence", .jsonInvalidUTF8, [0x22, 0xC3, 0x22], [0x22, 0xC3, 0xA9, 0x22]),
    RejectionCase("stray continuation byte", .jsonInvalidUTF8, [0x22, 0x80, 0x22], [0x22, 0x41, 0x22]),
    RejectionCase("code point above U+10FFFF", .jsonInvalidUTF8, [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
                  [0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22]),
    RejectionCase("UTF-8-encoded surrogate", .jsonLoneSurrogate, [0x22, 0xED, 0xA0, 0x80, 0x22],
                  [0x22, 0xED, 0x9F, 0xBF, 0x22]),
    RejectionCase("escaped lone high surrogate", .jsonLoneSurrogate, #""\ud800""#, #""\ud800\udc00""#),
    RejectionCase("escaped lone low surrogate", .jsonLoneSurrogate, #""\udc00x""#, #""\u00e9x""#),
    RejectionCase("high surrogate then non-surrogate escape", .jsonLoneSurrogate, #""\ud800\u0041""#, #""\ud800\udfff""#),
    RejectionCase("duplicate member name", .jsonDuplicateMember, #"{"a":1,"a":2}"#, #"{"a":1,"b":2}"#),
    RejectionCase("duplicate member name spelled with an escape", .jsonDuplicateMember,
                  #"{"a":1,"\u0061":2}"#, #"{"a":1,"\u0062":2}"#),
    RejectionCase("number above the double range", .jsonNumberOutOfRange, "1e309", "1e308"),
    RejectionCase("negative number below the double range", .jsonNumberOutOfRange, "-1.8e308", "-1.7e308"),
    RejectionCase("number that underflows to zero", .jsonNumberOutOfRange, "1e-400", "0e-400"),
    RejectionCase("nesting deeper than max_depth", .jsonTooDeep, "[[[[]]]]", "[[[]]]"),
    RejectionCase("trailing comma", .jsonSyntax, "[1,]", "[1]"),
    RejectionCase("leading zero", .jsonSyntax, "01", "1"),
    RejectionCase("unescaped control character", .jsonSyntax, "\"a\u{01}\"", "\"a\\u0001\""),
    RejectionCase("data after the value", .jsonSyntax, "{} {}", "{}  "),
    RejectionCase("NaN literal", .jsonSyntax, "NaN", "0"),
    RejectionCase("single-quoted string", .jsonSyntax, "'a'", "\"a\""),
    RejectionCase("invalid escape", .jsonSyntax, #""\x41""#, #""\u0041""#),
    RejectionCase("vertical tab as whitespace", .jsonSyntax, "\u{0B}1", " 1"),
]

@Suite("Strict JSON")
struct StrictJSONTests {
    @Test("each rejection has its own code, and its control is accepted", arguments: jsonCases)
    func rejection(_ c: RejectionCase) throws {
        let limits = (c.code == .jsonTooLarge || c.code == .jsonTooDeep) ? smallLimits : .default
        let parser = StrictJSONParser(limits: limits)
        expectCode(c.code, "\(c.name)") { try parser.parse(c.defective) }
        #expect(throws: Never.self, "control for \(c.name)") { try parser.parse(c.control) }
    }

    @Test("every strict-JSON code has a case")
    func everyCodeCovered() {
        // JSON_NUMBER_INEXACT is raised where a governed value is used (proof.md,
        // artifact.md), not by the parser, which accepts every I-JSON number.
        let jsonCodes = ErrorCode.allCases.filter { $0.rawValue.hasPrefix("JSON_") && $0 != .jsonNumberInexact }
        #expect(Set(jsonCases.map(\.code)) == Set(jsonCodes))
    }

    @Test("a literal is exact when it denotes the value of its double's JCS form (json.md §Exact numbers)")
    func exactNumbers() throws {
        let exact = ["0", "-0", "0.0", "1.0", "1e2", "100", "0.1", "1e20", "100000000000000000000", "1.5E-7", "-12.50",
                     "9007199254740992e0", "0e99999999999999999999", "5e-324", "1.7976931348623157e308"]
        let inexact = ["100000000000000008191", "100000000000000000000.4", "0.30000000000000001", "9007199254740993",
                       "1.00000000000000001", "4.9e-324", "123456789012345678", "123456789012345678e-18"]
        for text in exact {
            let n = try #require(StrictJSONParser().parse(text).numberValue)
            #expect(n.isExact, "\(text) is exact")
        }
        for text in inexact {
            let n = try #require(StrictJSONParser().parse(text).numberValue)
            #expect(!n.isExact, "\(text) is not exact")
        }
        let nested = try StrictJSONParser().parse(#"{"a":[1,{"b":2.0,"c":100000000000000008191}],"d":3}"#)
        #expect(nested.firstInexactNumber?.source == "100000000000000008191")
        #expect(try StrictJSONParser().parse(#"{"a":[1,{"b":2.0}]}"#).firstInexactNumber == nil)
    }

    @Test("an integer is a number whose double is whole and within ±2^53 (json.md §Integers)")
    func integers() throws {
        let integers: [(String, Int64)] = [("7", 7), ("7.0", 7), ("7e0", 7), ("70e-1", 7), ("0.0", 0), ("-0", 0), ("-0.0e5", 0),
                                           ("1.78e9", 1_780_000_000), ("9007199254740992", 9_007_199_254_740_992),
                                           ("-9007199254740992", -9_007_199_254_740_992), ("9.007199254740992e15", 9_007_199_254_740_992),
                                           ("9007199254740993", 9_007_199_254_740_992), ("7.00000000000000001", 7),
                                           ("1780000000.0000000001", 1_780_000_000)]
        for (text, n) in integers {
            #expect(try StrictJSONParser().parse(text).integerValue == n, "\(text) is the integer \(n)")
        }
        let others = ["7.5", "9007199254740994", "-9007199254740994", "0.1", "\"7\"", "true", "null"]
        for text in others {
            let value = try? StrictJSONParser().parse(text)
            #expect(value?.integerValue == nil, "\(text) is not an integer")
        }
    }

    @Test("member order is kept and numbers expose their source text")
    func orderAndNumbers() throws {
        let value = try StrictJSONParser().parse(#"{"b":1.50,"a":-0,"c":1E2}"#)
        #expect(value.objectValue!.names == ["b", "a", "c"])
        #expect(value["b"]!.numberValue!.source == "1.50")
        #expect(value["b"]!.numberValue!.value == 1.5)
        #expect(value["c"]!.numberValue!.value == 100)
        #expect(String(decoding: JCS.canonicalize(value), as: UTF8.self) == #"{"a":0,"b":1.5,"c":100}"#)
    }

    @Test("names differing only by Unicode normalization are distinct")
    func normalizationDistinct() throws {
        let value = try StrictJSONParser().parse(#"{"\u00e9":1,"e\u0301":2}"#)
        #expect(value.objectValue!.count == 2)
        #expect(JSONValue.string("\u{e9}") != JSONValue.string("e\u{301}"))
    }

    @Test("duplicate detection in large objects")
    func largeObjectDuplicates() throws {
        let members = (0..<40).map { "\"k\($0)\":\($0)" }
        _ = try StrictJSONParser().parse("{" + members.joined(separator: ",") + "}")
        expectCode(.jsonDuplicateMember) {
            try StrictJSONParser().parse("{" + (members + ["\"k17\":0"]).joined(separator: ",") + "}")
        }
    }

    @Test("the order of checks is fixed: size before BOM before UTF-8 before grammar")
    func checkOrder() {
        // Oversized and with a BOM: size wins.
        expectCode(.jsonTooLarge) {
            try StrictJSONParser(limits: .init(maxBytes: 4)).parse([0xEF, 0xBB, 0xBF] + Array("[1,2]".utf8))
        }
        // A syntax error before invalid UTF-8: the UTF-8 check of the whole input wins.
        expectCode(.jsonInvalidUTF8) { try StrictJSONParser().parse(Array("[,".utf8) + [0xFF]) }
        // Duplicate member before a bad number: document order wins.
        expectCode(.jsonDuplicateMember) { try StrictJSONParser().parse(#"{"a":1,"a":1e999}"#) }
    }
}

let base64Cases: [RejectionCase] = [
    RejectionCase("padding", .base64Padding, "Zm9vYg==", "Zm9vYg"),
    RejectionCase("whitespace", .base64Whitespace, "Zm9v Yg", "Zm9vYg"),
    RejectionCase("line feed", .base64Whitespace, "Zm9v\nYg", "Zm9vYg"),
    RejectionCase("standard-alphabet '+'", .base64InvalidCharacter, "a+8", "a-8"),
    RejectionCase("standard-alphabet '/'", .base64InvalidCharacter, "a/8", "a_8"),
    RejectionCase("a single trailing character", .base64InvalidLength, "Zm9vY", "Zm9vYg"),
    RejectionCase("non-zero trailing bits (2 unused)", .base64NonZeroTrailingBits, "Zh", "Zg"),
    RejectionCase("non-zero trailing bits (4 unused)", .base64NonZeroTrailingBits, "Zm9vYh", "Zm9vYg"),
]

@Suite("base64url")
struct Base64URLTests {
    @Test("each rejection has its own code, and its control is accepted", arguments: base64Cases)
    func rejection(_ c: RejectionCase) throws {
        expectCode(c.code, "\(c.name)") { try Base64URL.decode(utf8: c.defective) }
        #expect(throws: Never.self) { try Base64URL.decode(utf8: c.control) }
    }

    @Test("every base64url code has a case")
    func everyCodeCovered() {
        #expect(Set(base64Cases.map(\.code)) == Set(ErrorCode.allCases.filter { $0.rawValue.hasPrefix("B64_") }))
    }

    @Test("round trip at every length 0...66")
    func roundTrip() throws {
        for n in 0...66 {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64URL.encode(data)
            #expect(!encoded.contains("="))
            #expect(try Base64URL.decode(encoded) == data)
        }
        #expect(Base64URL.encode(Array("foobar".utf8)) == "Zm9vYmFy")
    }
}
