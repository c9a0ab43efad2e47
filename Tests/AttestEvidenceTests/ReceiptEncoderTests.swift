import AttestCore
@testable import AttestEvidence
import TestSupport
import Testing

@Suite("Receipt encoder")
struct ReceiptEncoderTests {
    let key = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 9, count: 32))

    /// Receipt fields with every optional member present or absent; unless `ascii`, the
    /// log and session names need escapes and hold a non-ASCII character.
    func fields(agent: Bool, tool: Bool, code: Bool, ascii: Bool = false) -> ReceiptFields {
        ReceiptFields(log: ascii ? "portal.example/log" : "portal.example/log/\"quoted\"", seq: ascii ? 7 : 42,
                      time: 1_760_000_123, prev: [UInt8](repeating: 1, count: 32),
                      artifact: "digest", session: ascii ? "session-1" : "s\u{e9}ssion\n", agent: agent ? ("spiffe://a/b", "jkt") : nil,
                      method: tool ? "tools/call" : "tools/list", tool: tool ? "search" : nil, decision: code ? .deny : .allow,
                      code: code ? .portalRateLimited : nil, request: [UInt8](repeating: 2, count: 32),
                      response: [UInt8](repeating: 3, count: 32))
    }

    /// The same receipt as a generic JSON object.
    func generic(_ f: ReceiptFields) -> JSONObject {
        var o: JSONObject = [
            "type": .string(Receipt.typeName), "log": .string(f.log), "seq": .number(JSONNumber(Double(f.seq))),
            "time": .number(JSONNumber(Double(f.time))), "prev": .string(Base64URL.encode(f.prev)),
            "artifact": .string(f.artifact), "session": .string(f.session), "method": .string(f.method),
            "decision": .string(f.decision.rawValue), 
        ]
        if let r = f.request { o["request"] = .string(Base64URL.encode(r)) }
        if let r = f.response { o["response"] = .string(Base64URL.encode(r)) }
        if let c = f.call { o["call"] = .number(JSONNumber(Double(c))) }
        if let u = f.upstream { o["upstream"] = u }
        if let a = f.agent { o["agent"] = ["sub": .string(a.sub), "jkt": .string(a.jkt)] }
        if let t = f.tool { o["tool"] = .string(t) }
        if let c = f.code { o["code"] = .string(c.rawValue) }
        return o
    }

    @Test("encoded bytes equal the generic JCS form, for every optional member present or absent",
          arguments: [(true, true, false), (false, true, false), (true, false, true), (false, false, true)])
    func matchesJCS(_ options: (Bool, Bool, Bool)) throws {
        let f = fields(agent: options.0, tool: options.1, code: options.2)
        #expect(f.encode() == JCS.canonicalize(.object(generic(f))))
        let signed = try f.sign(with: key)
        let receipt = try Receipt(json: try StrictJSONParser().parse(signed.line))
        #expect(signed.line == JCS.canonicalize(.object(receipt.json)))
        #expect(receipt.canonical == f.encode())
        #expect(receipt.link == signed.link)
        #expect(receipt.leafHash == signed.leafHash)
        try receipt.verifySignature(key.publicKey)
        #expect(receipt.keyID == key.publicKey.thumbprint)
    }
}

@Suite("Canonical receipt line reader")
struct ReceiptLineReaderTests {
    let key = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 9, count: 32))

    func asciiFields(agent: Bool, tool: Bool, code: Bool) -> ReceiptFields {
        ReceiptEncoderTests().fields(agent: agent, tool: tool, code: code, ascii: true)
    }

    func direct(_ line: [UInt8], maxBytes: Int = 1 << 20) -> Receipt? {
        Receipt.read(canonicalLine: line[...], maxBytes: maxBytes, cache: Receipt.StringCache())
    }

    @Test("a line the encoder writes reads to the same receipt as the strict parser gives",
          arguments: [(true, true, false), (false, true, false), (true, false, true), (false, false, true)])
    func sameAsGeneric(_ options: (Bool, Bool, Bool)) throws {
        let signed = try asciiFields(agent: options.0, tool: options.1, code: options.2).sign(with: key)
        let generic = try Receipt(json: try StrictJSONParser().parse(signed.line))
        let fast = try #require(direct(signed.line))
        #expect(JSONValue.object(fast.json).serialized(pretty: false) == JSONValue.object(generic.json).serialized(pretty: false))
        #expect(fast.canonical == generic.canonical)
        #expect(fast.link == generic.link && fast.leafHash == generic.leafHash)
        try fast.verifySignature(key.publicKey)
    }

    @Test("any line not in the encoder's exact form is left to the strict parser")
    func fallsBack() throws {
        let signed = try asciiFields(agent: true, tool: true, code: false).sign(with: key)
        let text = String(decoding: signed.line, as: UTF8.self)
        #expect(direct(signed.line) != nil, "positive control")
        #expect(direct(signed.line, maxBytes: signed.line.count - 1) == nil, "over the parser's size limit")
        let variants = [
            text.replacingOccurrences(of: "{\"agent\"", with: "{ \"agent\""),            // whitespace
            text.replacingOccurrences(of: "\"seq\":7", with: "\"seq\":7.0"),            // not the shortest number
            text.replacingOccurrences(of: "\"session-1\"", with: "\"session\\u002d1\""), // an escape
            text.replacingOccurrences(of: "\"session-1\"", with: "\"s\u{e9}ssion\""),    // non-ASCII
            text.replacingOccurrences(of: "\"method\":\"tools/call\",", with: ""),       // a member missing
        ]
        for variant in variants {
            #expect(variant != text)
            #expect(direct(Array(variant.utf8)) == nil, "\(variant)")
        }
        let escaped = try ReceiptEncoderTests().fields(agent: true, tool: true, code: false).sign(with: key)
        #expect(direct(escaped.line) == nil, "the encoder's own escaped, non-ASCII line takes the generic path")
        #expect(try Receipt(json: try StrictJSONParser().parse(escaped.line)).link == escaped.link)
    }
}
