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
    public var request: [UInt8]
    public var response: [UInt8]

    public init(log: String, seq: UInt64, time: Int64, prev: [UInt8], artifact: String, session: String,
                agent: (sub: String, jkt: String)?, method: String, tool: String?, decision: Receipt.Decision,
                code: ErrorCode?, request: [UInt8], response: [UInt8]) {
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
        self.request = request
        self.response = response
    }

    /// JCS of the receipt without `sig`, members in UTF-16 order:
    /// agent, artifact, code, decision, log, method, prev, request, response, seq,
    /// session, time, tool, type. With `signature`, `sig` goes between session and time.
    func encode(signature: (kid: String, value: [UInt8])? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(640)
        func member(_ name: StaticString, _ first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ s: String) { JCS.writeString(s, into: &out) }
        out.append(UInt8(ascii: "{"))
        var first = true
        if let agent {
            member("agent", true)
            out.append(UInt8(ascii: "{"))
            member("jkt", true); string(agent.jkt)
            member("sub"); string(agent.sub)
            out.append(UInt8(ascii: "}"))
            first = false
        }
        member("artifact", first); string(artifact)
        if let code { member("code"); string(code.rawValue) }
        member("decision"); string(decision.rawValue)
        member("log"); string(log)
        member("method"); string(method)
        member("prev"); string(Base64URL.encode(prev))
        member("request"); string(Base64URL.encode(request))
        member("response"); string(Base64URL.encode(response))
        member("seq"); out.append(contentsOf: String(seq).utf8)
        member("session"); string(session)
        if let signature {
            member("sig")
            out.append(UInt8(ascii: "{"))
            member("alg", true); string("Ed25519")
            member("kid"); string(signature.kid)
            member("value"); string(Base64URL.encode(signature.value))
            out.append(UInt8(ascii: "}"))
        }
        member("time"); out.append(contentsOf: String(time).utf8)
        if let tool { member("tool"); string(tool) }
        member("type"); string(Receipt.typeName)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Signs the receipt and returns its log line (the canonical form of the whole signed
    /// receipt), its link and its leaf hash.
    public func sign(with key: Ed25519.PrivateKey) throws(AttestError) -> (line: [UInt8], link: [UInt8], leafHash: MerkleHash) {
        let canonical = encode()
        let signature = try key.sign(canonical, domain: .receipt)
        let link = SHA256.hash(canonical)
        return (encode(signature: (key.publicKey.thumbprint, signature)), link, Merkle.leafHash(link))
    }
}
