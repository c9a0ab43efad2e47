import AttestCore

/// The receipt a portal writes, encoded straight to its canonical form.
///
/// The members of a receipt are fixed, so their JCS order is too; writing them in that
/// order skips building a generic JSON object and sorting it on the hot path of the
/// portal. `ReceiptEncoderTests` checks the bytes against `JCS.canonicalize` of the same
/// receipt, and every receipt read back goes through the generic ``Receipt`` parser.
public struct ReceiptFields: Sendable {
    public var log: String
    public var seq: UInt64
    public var time: Int64
    public var prev: [UInt8]
    public var artifact: String
    public var session: String
    public var agent: (sub: String, jkt: String)?
    public var method: String
    public var tool: String?
    public var decision: Receipt.Decision
    public var code: ErrorCode?
    /// A `RESULT`'s: the `seq` of the `ALLOW` it completes.
    public var call: UInt64?
    /// Absent on a `RESULT`.
    public var request: [UInt8]?
    /// Absent on an `ALLOW` written before forwarding.
    public var response: [UInt8]?
    /// An `ALLOW`'s observed upstream identity (the shape of an artifact's `upstream`).
    public var upstream: JSONValue?

    public init(log: String, seq: UInt64, time: Int64, prev: [UInt8], artifact: String, session: String,
                agent: (sub: String, jkt: String)?, method: String, tool: String?, decision: Receipt.Decision,
                code: ErrorCode?, call: UInt64? = nil, request: [UInt8]?, response: [UInt8]?, upstream: JSONValue? = nil) {
        self.log = log
        self.seq = seq
        self.time = time
        self.prev = prev
        self.artifact = artifact
        self.session = session
        self.agent = agent
        self.method = method
        self.tool = tool
        self.decision = decision
        self.code = code
        self.call = call
        self.request = request
        self.response = response
        self.upstream = upstream
    }

    /// JCS of the receipt without `sig`, members in UTF-16 order:
    /// agent, artifact, call, code, decision, log, method, prev, request, response, seq,
    /// session, time, tool, type, upstream. With `signature`, `sig` goes between session and time.
    func encode(signature: (kid: String, value: [UInt8])? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(640)
        encode(into: &out, signature: signature)
        return out
    }

    /// Appends the canonical form to `out` and returns the offset in `out` of the
    /// `,"time"` member, where `sig` goes.
    @discardableResult
    func encode(into out: inout [UInt8], signature: (kid: String, value: [UInt8])? = nil) -> Int {
        func member(_ name: StaticString, _ first: Bool = false, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        var first = true
        if let agent {
            member("agent", true, &out)
            out.append(UInt8(ascii: "{"))
            member("jkt", true, &out); JCS.writeString(agent.jkt, into: &out)
            member("sub", false, &out); JCS.writeString(agent.sub, into: &out)
            out.append(UInt8(ascii: "}"))
            first = false
        }
        member("artifact", first, &out); JCS.writeString(artifact, into: &out)
        if let call { member("call", false, &out); Self.writeDecimal(call, into: &out) }
        if let code { member("code", false, &out); JCS.writeString(code.rawValue, into: &out) }
        member("decision", false, &out); JCS.writeString(decision.rawValue, into: &out)
        member("log", false, &out); JCS.writeString(log, into: &out)
        member("method", false, &out); JCS.writeString(method, into: &out)
        // base64url needs no JSON escaping: its characters are written as they are.
        member("prev", false, &out); Self.writeBase64URL(prev, into: &out)
        if let request { member("request", false, &out); Self.writeBase64URL(request, into: &out) }
        if let response { member("response", false, &out); Self.writeBase64URL(response, into: &out) }
        member("seq", false, &out); Self.writeDecimal(seq, into: &out)
        member("session", false, &out); JCS.writeString(session, into: &out)
        if let signature { Self.writeSignature(signature.kid, signature.value, into: &out) }
        let timeOffset = out.count
        member("time", false, &out)
        if time < 0 { out.append(UInt8(ascii: "-")) }
        Self.writeDecimal(time.magnitude, into: &out)
        if let tool { member("tool", false, &out); JCS.writeString(tool, into: &out) }
        member("type", false, &out); JCS.writeString(Receipt.typeName, into: &out)
        if let upstream { member("upstream", false, &out); JCS.write(upstream, into: &out) }
        out.append(UInt8(ascii: "}"))
        return timeOffset
    }

    /// `,"sig":{"alg":"Ed25519","kid":…,"value":…}`.
    private static func writeSignature(_ kid: String, _ value: [UInt8], into out: inout [UInt8]) {
        let head: StaticString = ",\"sig\":{\"alg\":\"Ed25519\",\"kid\":"
        out.append(contentsOf: UnsafeBufferPointer(start: head.utf8Start, count: head.utf8CodeUnitCount))
        JCS.writeString(kid, into: &out)
        let valueName: StaticString = ",\"value\":"
        out.append(contentsOf: UnsafeBufferPointer(start: valueName.utf8Start, count: valueName.utf8CodeUnitCount))
        writeBase64URL(value, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// The JSON string of the unpadded base64url of `bytes` (the text of `Base64URL.encode`).
    static func writeBase64URL(_ bytes: [UInt8], into out: inout [UInt8]) {
        let count = Base64URL.encodedCount(bytes.count)
        out.append(UInt8(ascii: "\""))
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { buffer in
                Base64URL.encode(input, into: UnsafeMutableBufferPointer(rebasing: buffer[start..<start + count]))
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The decimal digits of `value` (what `String(value)` spells).
    static func writeDecimal(_ value: UInt64, into out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var v = value, k = 20
            repeat {
                k -= 1
                digits[k] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[k..<20]))
        }
    }

    /// Signs the receipt and returns its log line (the canonical form of the whole signed
    /// receipt), its link and its leaf hash.
    ///
    /// The canonical form is written once, after the `receipt` domain prefix, so the
    /// signed bytes need no copy; the line is that form with `sig` spliced in before
    /// `time`, which is where JCS puts it.
    public func sign(with key: Ed25519.PrivateKey) throws(AttestError) -> (line: [UInt8], link: [UInt8], leafHash: MerkleHash) {
        let prefix = Receipt.messagePrefix.count
        var message = Receipt.messagePrefix
        message.reserveCapacity(prefix + 640)
        let timeOffset = encode(into: &message)
        let signature = try key.signRaw(message)
        let link = message.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[prefix...])) }
        var line: [UInt8] = []
        line.reserveCapacity(message.count - prefix + 160)
        line.append(contentsOf: message[prefix..<timeOffset])
        Self.writeSignature(key.publicKey.thumbprint, signature, into: &line)
        line.append(contentsOf: message[timeOffset...])
        return (line, link, Merkle.leafHash(link))
    }
}
