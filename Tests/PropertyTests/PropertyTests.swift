import AttestCore
import AttestEvidence
import PropertyBased
import Testing

/// Properties of the encodings and of constraint narrowing over random inputs
/// (PropertyBased; a failure prints the seed that reproduces it).
struct PropertyTests {
    @Test func jcsIsIdempotentAndParsesBack() async {
        await propertyCheck(count: 2000, input: JSONGen.value) { value in
            let canonical = JCS.canonicalize(value)
            let reparsed = try? StrictJSONParser(limits: .init(maxBytes: .max)).parse(canonical)
            #expect(reparsed == value, "JCS output parses to another value: \(String(decoding: canonical, as: UTF8.self))")
            if let reparsed { #expect(JCS.canonicalize(reparsed) == canonical) }
        }
    }

    @Test func serializationRoundTripsThroughTheStrictParser() async {
        await propertyCheck(count: 2000, input: JSONGen.value, Gen.bool) { value, pretty in
            let text = value.serialized(pretty: pretty)
            let parsed = try? StrictJSONParser(limits: .init(maxBytes: .max)).parse(text)
            #expect(parsed.map { identical($0, value) } == true, "\(text)")
            #expect(parsed?.serialized(pretty: pretty) == text)
        }
    }

    @Test func base64urlRoundTrips() async {
        await propertyCheck(count: 2000, input: Gen.uint8().array(of: 0...200)) { bytes in
            let text = Base64URL.encode(bytes)
            #expect(text.utf8.count == Base64URL.encodedCount(bytes.count))
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect((try? Base64URL.decode(text)) == bytes)
            #expect(Base64URL.isStrictEncoding(text, ofByteCount: bytes.count))
        }
    }

    /// Any text over the alphabet (and a few bytes outside it) either is rejected or is
    /// the one encoding of what it decodes to.
    @Test func base64urlDecodingIsCanonical() async {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ".utf8)
        let characters = Gen.int(in: 0..<alphabet.count).map { alphabet[$0] }
        await propertyCheck(count: 2000, input: characters.array(of: 0...40)) { text in
            if let bytes = try? Base64URL.decode(utf8: text) {
                #expect(Array(Base64URL.encode(bytes).utf8) == text)
            }
        }
    }

    /// Narrowing soundness: whenever the child is narrower than the parent, every value
    /// the child accepts the parent accepts. Most children are derived by tightening,
    /// and the test fails if too few pairs were narrower to exercise the property.
    @Test func narrowingIsSound() async {
        var narrower = 0, checked = 0, pairs = 0
        await propertyCheck(count: 5000, input: ConstraintGen.pair) { pair in
            pairs += 1
            guard let parent = try? Constraint(json: pair.parent), let child = try? Constraint(json: pair.child),
                  child.isNarrower(than: parent) else { return }
            narrower += 1
            for value in pair.values where child.accepts(value) {
                checked += 1
                #expect(parent.accepts(value), "\(pair): the child accepts \(value.serialized(pretty: false)), the parent does not")
            }
        }
        #expect(narrower * 3 >= pairs, "only \(narrower) of \(pairs) generated pairs were narrower")
        #expect(checked >= narrower, "only \(checked) accepted values checked over \(narrower) narrower pairs")
    }
}

/// Equal as parsed from text: numbers with their source text, members in their order.
func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): true
    case let (.bool(x), .bool(y)): x == y
    case let (.number(x), .number(y)): x.source == y.source && x.value.bitPattern == y.value.bitPattern
    case let (.string(x), .string(y)): Array(x.utf8) == Array(y.utf8)
    case let (.array(x), .array(y)): x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
    case let (.object(x), .object(y)):
        x.count == y.count && zip(x.members, y.members).allSatisfy { $0.name.utf8.elementsEqual($1.name.utf8) && identical($0.value, $1.value) }
    default: false
    }
}
