import AttestCore

/// One decision of the portal (spec/receipt.md). The receipt binds its payload without
/// carrying it: `request` and `response` are salted commitments, so the hash chain and
/// signatures can be checked by any auditor, and a payload disclosed with its salt can
/// be checked against the commitment by those given it.
public struct Receipt: Sendable {
    /// `RESULT` is not a decision but the outcome of a forwarded call: the entry that
    /// completes an `ALLOW` written without a response (receipt.md §Forwarded calls).
    /// `REVOKE` is not a call: the log's record that the operator revoked the artifact or
    /// mandate its `artifact` names (receipt.md §Revocation).
    public enum Decision: String, Sendable, CaseIterable {
        case allow = "ALLOW", deny = "DENY", phantom = "PHANTOM", result = "RESULT", revoke = "REVOKE"
    }

    public static let typeName = "mcp-attest/receipt/v1"
    public static let genesis = [UInt8](repeating: 0, count: 32)
    static let members: [String] = ["type", "log", "seq", "time", "prev", "artifact", "session", "agent", "method",
                                       "tool", "decision", "code", "call", "request", "response", "upstream", "tools_sha256", "shadow", "sig"]
    /// The members of a `REVOKE`: exactly these (receipt.md §Revocation).
    static let revokeMembers: [String] = ["type", "log", "seq", "time", "prev", "artifact", "decision", "sig"]
    /// The codes a `RESULT` may carry.
    public static let resultCodes: [ErrorCode] = [.portalUpstreamFailed, .portalOutcomeUnknown]

    /// The receipt as a JSON object. A receipt read by ``init(canonicalLine:)`` keeps no
    /// object (the hot path of bundle verification never needs it) and rebuilds it here,
    /// members in the order of its line.
    public var json: JSONObject {
        if let object { return object }
        // The canonical bytes were read from a line that parsed, so they parse again.
        var o = JSONObject()
        let parsed = (try? StrictJSONParser().parse(canonical))?.objectValue ?? JSONObject()
        guard isSigned else { return parsed }
        // `sig` goes where JCS order puts it: before the first member that sorts after it.
        let sig: JSONValue = ["alg": "Ed25519", "kid": .string(keyID), "value": .string(Base64URL.encode(signature))]
        var placed = false
        for member in parsed {
            if !placed, Array("sig".utf8).lexicographicallyPrecedes(Array(member.name.utf8)) {
                o["sig"] = sig
                placed = true
            }
            o[member.name] = member.value
        }
        if !placed { o["sig"] = sig }
        return o
    }
    private let object: JSONObject?
    public let log: String
    public let seq: UInt64
    public let time: Int64
    public let prev: [UInt8]
    /// On a `REVOKE`: the digest of the revoked artifact or mandate.
    public let artifact: String
    /// Empty on a `REVOKE`, which has no session.
    public let session: String
    public let tool: String?
    /// Empty on a `REVOKE`, which records no request.
    public let method: String
    /// The verified agent; nil for a request accepted unattested (mcp-binding.md, `optional` policy).
    public let agentSubject: String?
    public let agentKey: String?
    public let decision: Decision
    public let code: String?
    /// On a `RESULT`: the `seq` of the `ALLOW` it completes.
    public let call: UInt64?
    /// On an `ALLOW`: the upstream identity the portal observed when it forwarded.
    public let upstream: JSONValue?
    /// On an `ALLOW`: the base64url SHA-256 of the JCS of the upstream's tool list as the
    /// portal last observed it before forwarding (receipt.md `tools_sha256`).
    public let toolsDigest: String?
    /// On an `ALLOW` forwarded in shadow mode: the registry code the enforcing portal
    /// would have denied the call with (receipt.md `shadow`).
    public let shadow: String?
    /// Absent on a `RESULT`.
    public let requestCommitment: [UInt8]?
    /// Absent on an `ALLOW` written before forwarding (an open call).
    public let responseCommitment: [UInt8]?
    /// An `ALLOW` without a response, completed by a later `RESULT`.
    public var isOpenCall: Bool { decision == .allow && responseCommitment == nil }
    /// Empty on a receipt in its bundle form (``init(bundleJSON:)``), which carries no `sig`.
    public let signature: [UInt8]
    /// Empty on a receipt in its bundle form.
    public let keyID: String
    /// Whether the receipt carries `sig`: a receipt handed out alone does; a receipt line
    /// of a bundle does not (bundle.md §Layout), its checkpoints authenticate it.
    public let isSigned: Bool
    /// JCS of the receipt without `sig`: the signed payload and the chain link preimage.
    public var canonical: [UInt8] { Array(canonicalBytes) }
    let canonicalBytes: ArraySlice<UInt8>
    /// The bytes the signature is over: the `receipt` domain prefix, then ``canonical``.
    var signedMessage: [UInt8] { Self.messagePrefix + canonicalBytes }
    static let messagePrefix = SignatureDomain.receipt.signedBytes([])

    public init(json value: JSONValue) throws(AttestError) {
        try self.init(json: value, canonical: nil)
    }

    /// A receipt line of a bundle (bundle.md §Layout): the receipt without `sig`. A line
    /// that carries `sig` is `RCP_MALFORMED`, so a bundle has one verdict whatever the
    /// signature says.
    public init(bundleJSON value: JSONValue) throws(AttestError) {
        try self.init(json: value, canonical: nil, signed: false)
    }

    /// `canonical`, when the caller has just computed it, saves computing it again.
    init(json value: JSONValue, canonical precomputed: [UInt8]?, signed: Bool = true) throws(AttestError) {
        guard case .object(let o) = value else { throw malformed("a receipt is a JSON object") }
        for name in o.names where !Self.members.containsExactly(name) { throw malformed("unknown member \"\(name)\"") }
        if !signed, o["sig"] != nil {
            throw malformed("a receipt line of a bundle carries no \"sig\": the bundle's checkpoints authenticate it")
        }
        guard o["type"]?.stringValue?.isExactly(Self.typeName) == true else { throw malformed("\"type\" is \(Self.typeName)") }
        object = o
        log = try text(o, "log")
        guard let seq = o["seq"]?.integerValue, seq >= 0 else { throw malformed("\"seq\" is a non-negative integer") }
        self.seq = UInt64(seq)
        guard let time = o["time"]?.integerValue, time >= 0 else { throw malformed("\"time\" is an integer in seconds") }
        self.time = time
        prev = try digest(o, "prev")
        artifact = try text(o, "artifact")
        guard let d = o["decision"]?.stringValue, let decision = Decision.allCases.first(where: { $0.rawValue.isExactly(d) }) else {
            throw malformed("\"decision\" is ALLOW, DENY, PHANTOM, RESULT or REVOKE")
        }
        self.decision = decision
        if decision == .revoke {
            // A REVOKE has exactly its members: no session, agent, method, tool, commitments or code.
            for name in o.names where !Self.revokeMembers.containsExactly(name) {
                throw malformed("a REVOKE has no \"\(name)\"")
            }
            (session, agentSubject, agentKey, method, tool, code, call, upstream, toolsDigest, shadow) =
                ("", nil, nil, "", nil, nil, nil, nil, nil, nil)
            (requestCommitment, responseCommitment) = (nil, nil)
        } else {
        session = try text(o, "session")
        if let value = o["agent"] {
            guard let agent = value.objectValue, let sub = agent["sub"]?.stringValue, let jkt = agent["jkt"]?.stringValue,
                  agent.count == 2 else { throw malformed("\"agent\" is {sub, jkt}") }
            agentSubject = sub
            agentKey = jkt
        } else {
            agentSubject = nil
            agentKey = nil
        }
        method = try text(o, "method")
        tool = o["tool"] == nil ? nil : try text(o, "tool")
        guard Self.validMethod(method, tool: tool) else {
            throw malformed("\"method\" is one of receipt.md's methods, and \"tool\" is present exactly on a tools/call")
        }
        code = o["code"] == nil ? nil : try text(o, "code")
        if let value = o["call"] {
            guard let call = value.integerValue, call >= 0 else { throw malformed("\"call\" is a non-negative integer") }
            self.call = UInt64(call)
        } else {
            call = nil
        }
        if let value = o["upstream"] {
            do throws(AttestError) { upstream = try Artifact.upstream(value) } catch { throw malformed("receipt \(error.message)") }
        } else {
            upstream = nil
        }
        if o["tools_sha256"] != nil {
            _ = try digest(o, "tools_sha256")
            toolsDigest = o["tools_sha256"]?.stringValue
        } else {
            toolsDigest = nil
        }
        shadow = o["shadow"] == nil ? nil : try text(o, "shadow")
        requestCommitment = o["request"] == nil ? nil : try digest(o, "request")
        responseCommitment = o["response"] == nil ? nil : try digest(o, "response")
        if let why = Self.formDefect(decision: decision, code: code, call: call, seq: self.seq,
                                     hasUpstream: upstream != nil || toolsDigest != nil, hasShadow: shadow != nil,
                                     hasRequest: requestCommitment != nil, hasResponse: responseCommitment != nil) {
            throw malformed(why)
        }
        }
        if signed {
            guard let sig = o["sig"]?.objectValue, sig.count == 3, sig["alg"]?.stringValue?.isExactly("Ed25519") == true,
                  let kid = sig["kid"]?.stringValue, let value = sig["value"]?.stringValue,
                  let signature = try? Base64URL.decode(value) else {
                throw malformed("\"sig\" is {alg: Ed25519, kid, value}")
            }
            keyID = kid
            self.signature = signature
        } else {
            keyID = ""
            signature = []
        }
        isSigned = signed
        let canonical: [UInt8]
        if let precomputed {
            canonical = precomputed
        } else {
            var unsigned = o
            unsigned["sig"] = nil
            canonical = JCS.canonicalize(.object(unsigned))
        }
        canonicalBytes = canonical[...]
        link = SHA256.hash(canonical)
        leafHash = Merkle.leafHash(link)
    }

    /// The fields of a receipt already checked by ``init(canonicalLine:cache:)``.
    init(log: String, seq: UInt64, time: Int64, prev: [UInt8], artifact: String, session: String, tool: String?, method: String,
         agentSubject: String?, agentKey: String?, decision: Decision, code: String?, call: UInt64?, upstream: JSONValue?,
         toolsDigest: String? = nil, shadow: String? = nil,
         requestCommitment: [UInt8]?, responseCommitment: [UInt8]?, signature: [UInt8], keyID: String, isSigned: Bool,
         canonical: ArraySlice<UInt8>) {
        object = nil
        self.log = log
        self.seq = seq
        self.time = time
        self.prev = prev
        self.artifact = artifact
        self.session = session
        self.tool = tool
        self.method = method
        self.agentSubject = agentSubject
        self.agentKey = agentKey
        self.decision = decision
        self.code = code
        self.call = call
        self.upstream = upstream
        self.toolsDigest = toolsDigest
        self.shadow = shadow
        self.requestCommitment = requestCommitment
        self.responseCommitment = responseCommitment
        self.signature = signature
        self.keyID = keyID
        self.isSigned = isSigned
        canonicalBytes = canonical
        link = canonical.withUnsafeBytes { SHA256.hash($0) }
        leafHash = Merkle.leafHash(link)
    }

    /// The chain link of this receipt, which the next receipt's `prev` names; also the
    /// receipt's Merkle leaf data.
    public let link: [UInt8]
    public let leafHash: MerkleHash

    public func verifySignature(_ key: Ed25519.PublicKey) throws(AttestError) {
        guard isSigned, signature.count == Ed25519.signatureLength,
              key.isValid(signature: signature, message: signedMessage) else {
            throw AttestError(.receiptSignatureInvalid, "receipt \(seq): signature does not verify with the log key")
        }
    }

    /// Builds and signs a receipt from its fields (everything but `sig`).
    public static func sign(_ fields: JSONObject, key: Ed25519.PrivateKey) throws(AttestError) -> Receipt {
        var o = fields
        o["type"] = .string(typeName)
        o["sig"] = nil
        let canonical = JCS.canonicalize(.object(o))
        let signature = try key.sign(canonical, domain: .receipt)
        o["sig"] = ["alg": "Ed25519", "kid": .string(key.publicKey.thumbprint), "value": .string(Base64URL.encode(signature))]
        return try Receipt(json: .object(o), canonical: canonical)
    }

    /// SHA-256("MCP-ATTEST-v1:commitment" ‖ 0x00 ‖ salt ‖ JCS(payload)).
    public static func commitment(salt: [UInt8], payload: JSONValue) -> [UInt8] {
        var input = commitmentPrefix
        input.reserveCapacity(commitmentPrefix.count + salt.count + 256)
        input.append(contentsOf: salt)
        JCS.write(payload, into: &input)
        return SHA256.hash(input)
    }

    private static let commitmentPrefix = Array("MCP-ATTEST-v1:commitment".utf8) + [0]

    /// The methods a receipt may record: the requests a portal can govern (receipt.md
    /// §Methods). A `tools/call` receipt names its tool; no other receipt does.
    public static let methods: [String] = [
        "tools/call", "tools/list", "resources/list", "resources/templates/list", "resources/read",
        "prompts/list", "prompts/get", "completion/complete",
    ]
    public static let toolCall = "tools/call"

    static func validMethod(_ method: String, tool: String?) -> Bool {
        methods.containsExactly(method) && method.isExactly(toolCall) == (tool != nil)
    }

    /// Which members a receipt carries for its decision (receipt.md RCP-003, RCP-016 to
    /// RCP-018): why the combination is malformed, or nil. Shared by both readers.
    static func formDefect(decision: Decision, code: String?, call: UInt64?, seq: UInt64, hasUpstream: Bool,
                           hasShadow: Bool = false, hasRequest: Bool, hasResponse: Bool) -> String? {
        switch decision {
        case .allow:
            if code != nil { return "an ALLOW carries no code" }
            if !hasRequest { return "an ALLOW commits to its request" }
        case .deny, .phantom:
            if code == nil { return "a DENY or PHANTOM receipt carries a code" }
            if !hasRequest || !hasResponse { return "a DENY or PHANTOM commits to its request and its response" }
        case .result:
            if let code, !resultCodes.contains(where: { $0.rawValue.isExactly(code) }) {
                return "a RESULT's code is PTL_UPSTREAM_FAILED or PTL_OUTCOME_UNKNOWN"
            }
            if hasRequest { return "a RESULT has no request" }
            if !hasResponse { return "a RESULT commits to its response" }
            guard let call, call < seq else { return "a RESULT names, in \"call\", the seq of an earlier ALLOW" }
        case .revoke:
            return nil  // its members are checked by name: exactly `revokeMembers`
        }
        if decision != .result && call != nil { return "only a RESULT has \"call\"" }
        if decision != .allow && hasUpstream { return "only an ALLOW has \"upstream\" or \"tools_sha256\"" }
        if decision != .allow && hasShadow { return "only an ALLOW has \"shadow\"" }
        return nil
    }

    /// Whether this receipt records a `tools/call`.
    public var isToolCall: Bool { method.isExactly(Self.toolCall) }

    /// Checks a disclosed payload against this receipt (receipt.md §Payload commitments
    /// and disclosure), in order: the commitments (`RCP_COMMITMENT_MISMATCH`), the tool a
    /// `tools/call` request names (`RCP_COMMITMENT_MISMATCH`), and for a `DENY` that the
    /// response is the denial carrying the receipt's code (`RCP_EFFECT_MISMATCH`).
    public func check(_ disclosure: Disclosure) throws(AttestError) {
        // The shape: exactly the payloads this receipt commits to, and no credential.
        guard (disclosure.request != nil) == (requestCommitment != nil),
              (disclosure.response != nil) == (responseCommitment != nil) else {
            throw AttestError(.receiptDisclosureMalformed, "receipt \(seq): a \(decision.rawValue)"
                + (isOpenCall ? " without a response" : "") + " discloses exactly "
                + [requestCommitment.map { _ in "request, request_salt" }, responseCommitment.map { _ in "response, response_salt" }]
                    .compactMap { $0 }.joined(separator: ", "))
        }
        if let request = disclosure.request, let name = Disclosure.carrierMember(request) {
            throw AttestError(.receiptDisclosureMalformed, "receipt \(seq): the disclosed request's _meta holds the credential \(name)")
        }
        if let request = disclosure.request, let salt = disclosure.requestSalt,
           Self.commitment(salt: salt, payload: request) != requestCommitment {
            throw AttestError(.receiptCommitmentMismatch, "receipt \(seq): disclosed request does not match its commitment")
        }
        if let response = disclosure.response, let salt = disclosure.responseSalt,
           Self.commitment(salt: salt, payload: response) != responseCommitment {
            throw AttestError(.receiptCommitmentMismatch, "receipt \(seq): disclosed response does not match its commitment")
        }
        if let tool, let request = disclosure.request {
            guard let name = request["name"]?.stringValue, name.isExactly(tool) else {
                throw AttestError(.receiptCommitmentMismatch, "receipt \(seq): the disclosed request does not call \(tool)")
            }
        }
        if decision == .deny || decision == .result, let code, let error = disclosure.response {
            guard error["code"]?.integerValue == Disclosure.denialCode, let carried = error["data"]?["code"]?.stringValue,
                  carried.isExactly(code) else {
                throw AttestError(.receiptEffectMismatch,
                                  "receipt \(seq): a \(decision.rawValue) with \(code), but the disclosed response is not that denial")
            }
        }
    }
}

/// A disclosed payload of one receipt, each payload with the salt of its commitment:
/// the request params and the response (result or error) of most receipts; only the
/// request of an `ALLOW` without a response (an open call); only the response of a `RESULT`.
public struct Disclosure: Sendable {
    public let request: JSONValue?
    public let requestSalt: [UInt8]?
    public let response: JSONValue?
    public let responseSalt: [UInt8]?

    /// The JSON-RPC error code of every rejection (mcp-binding.md), which a `DENY`'s response carries.
    public static let denialCode: Int64 = -31000
    static let members = ["request", "request_salt", "response", "response_salt"]

    /// The extension identifier a denial's `data` names (mcp-binding.md).
    public static let extensionIdentifier = "dev.agent-attestation/v1"

    /// The members of `params._meta` that carry credentials (mcp-binding.md; the same
    /// names as `Carrier.all` of AttestIdentity): never committed to, never disclosed.
    public static let carrierMembers = ["dev.agent-attestation/token", "dev.agent-attestation/proof",
                                        "dev.agent-attestation/operator"]

    /// The JSON-RPC error object of a rejection with `code`: what a `DENY`'s response commits to.
    public static func denial(_ code: ErrorCode, _ message: String) -> JSONValue {
        ["code": .number(JSONNumber(Double(denialCode))), "message": .string("\(code.rawValue): \(message)"),
         "data": ["code": .string(code.rawValue), "extension": .string(extensionIdentifier)]]
    }

    /// `params` as a receipt commits to it: without the carrier members of `_meta`
    /// (`_meta` itself stays, emptied or not).
    public static func withoutCarriers(_ params: JSONValue) -> JSONValue {
        guard case .object(var o) = params, case .object(var meta)? = o["_meta"],
              meta.names.contains(where: { carrierMembers.containsExactly($0) }) else { return params }
        for name in carrierMembers { meta[name] = nil }
        o["_meta"] = .object(meta)
        return .object(o)
    }

    /// The first carrier member the `_meta` of `request` holds, if any.
    static func carrierMember(_ request: JSONValue) -> String? {
        request["_meta"]?.objectValue?.names.first(where: { carrierMembers.containsExactly($0) })
    }

    /// Both payloads: the disclosure of a `DENY`, a `PHANTOM` or an `ALLOW` with its response.
    public init(request: JSONValue, requestSalt: [UInt8], response: JSONValue, responseSalt: [UInt8]) {
        self.request = request
        self.requestSalt = requestSalt
        self.response = response
        self.responseSalt = responseSalt
    }

    /// The request only: the disclosure of an `ALLOW` without a response.
    public init(request: JSONValue, requestSalt: [UInt8]) {
        self.request = request
        self.requestSalt = requestSalt
        response = nil
        responseSalt = nil
    }

    /// The response only: the disclosure of a `RESULT`.
    public init(response: JSONValue, responseSalt: [UInt8]) {
        request = nil
        requestSalt = nil
        self.response = response
        self.responseSalt = responseSalt
    }

    /// The disclosure as a JSON object (a bundle's payload line adds `seq`).
    public var json: JSONObject {
        var o = JSONObject()
        if let request, let requestSalt {
            o["request"] = request
            o["request_salt"] = .string(Base64URL.encode(requestSalt))
        }
        if let response, let responseSalt {
            o["response"] = response
            o["response_salt"] = .string(Base64URL.encode(responseSalt))
        }
        return o
    }

    /// Reads a disclosure: each payload with its salt, salts the base64url of 32 bytes,
    /// nothing else but `extra` (a bundle's payload line also has `seq`), at least one
    /// payload (`RCP_DISCLOSURE_MALFORMED`). Which payloads a receipt needs is checked
    /// against the receipt by ``Receipt/check(_:)``.
    public init(json o: JSONObject, extra: [String] = []) throws(AttestError) {
        func malformed(_ why: String) -> AttestError { AttestError(.receiptDisclosureMalformed, "disclosed payload: \(why)") }
        for name in o.names where !Self.members.containsExactly(name) && !extra.containsExactly(name) {
            throw malformed("unknown member \"\(name)\"")
        }
        func salt(_ name: String) throws(AttestError) -> [UInt8] {
            guard let text = o[name]?.stringValue, let bytes = try? Base64URL.decode(text), bytes.count == 32 else {
                throw malformed("\"\(name)\" is the base64url of 32 bytes")
            }
            return bytes
        }
        let request = o["request"], response = o["response"]
        guard request != nil || response != nil || o["request_salt"] != nil || o["response_salt"] != nil else {
            throw malformed("nothing is disclosed")
        }
        self.request = request
        self.response = response
        // A salt without its payload, or a payload without its salt, is malformed alike.
        requestSalt = request != nil || o["request_salt"] != nil ? try salt("request_salt") : nil
        responseSalt = response != nil || o["response_salt"] != nil ? try salt("response_salt") : nil
        guard (request == nil) == (requestSalt == nil), (response == nil) == (responseSalt == nil) else {
            throw malformed("each payload is disclosed with its salt")
        }
    }
}

private func malformed(_ message: String) -> AttestError { AttestError(.receiptMalformed, message) }

private func text(_ o: JSONObject, _ name: String) throws(AttestError) -> String {
    guard let s = o[name]?.stringValue, !s.isEmpty else { throw malformed("\"\(name)\" is a non-empty string") }
    return s
}

private func digest(_ o: JSONObject, _ name: String) throws(AttestError) -> [UInt8] {
    guard let s = o[name]?.stringValue, let d = try? Base64URL.decode(s), d.count == 32 else {
        throw malformed("\"\(name)\" is a base64url SHA-256 digest")
    }
    return d
}
