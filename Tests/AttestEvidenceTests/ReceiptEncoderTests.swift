import AttestCore
@testable import AttestEvidence
import TestSupport
import Testing

@Suite("Receipt encoder")
struct ReceiptEncoderTests {
    let key = try! Ed25519.PrivateKey(seed: [UInt8](repeating: 9, count: 32))

    func fields(agent: Bool, tool: Bool, code: Bool) -> ReceiptFields {
        ReceiptFields(log: "portal.example/log/\"quoted\"", seq: 42, time: 1_760_000_123, prev: [UInt8](repeating: 1, count: 32),
                      artifact: "digest", session: "s\u{e9}ssion\n", agent: agent ? ("spiffe://a/b", "jkt") : nil,
                      method: "tools/call", tool: tool ? "search" : nil, decision: code ? .deny : .allow,
                      code: code ? .portalRateLimited : nil, request: [UInt8](repeating: 2, count: 32),
                      response: [UInt8](repeating: 3, count: 32))
    }

    /// The same receipt as a generic JSON object.
    func generic(_ f: ReceiptFields) -> JSONObject {
        var o: JSONObject = [
            "type": .string(Receipt.typeName), "log": .string(f.log), "seq": .number(JSONNumber(Double(f.seq))),
            "time": .number(JSONNumber(Double(f.time))), "prev": .string(Base64URL.encode(f.prev)),
            "artifact": .string(f.artifact), "session": .string(f.session), "method": .string(f.method),
            "decision": .string(f.decision.rawValue), "request": .string(Base64URL.encode(f.request)),
            "response": .string(Base64URL.encode(f.response)),
        ]
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
