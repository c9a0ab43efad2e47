import AttestCore
import AttestIdentity

/// The MCP revision under which a server processes a request (spec/mcp-binding.md, eras).
public struct MCPEra: Sendable, Equatable, CustomStringConvertible {
    public let protocolVersion: String

    /// The same revision: the same code points.
    public static func == (a: MCPEra, b: MCPEra) -> Bool { a.protocolVersion.isExactly(b.protocolVersion) }

    public init(_ protocolVersion: String) { self.protocolVersion = protocolVersion }

    /// The first stateless revision: no `initialize`, version and capabilities in every request.
    public static let stateless = MCPEra("2026-07-28")
    /// The last revision that negotiates once in `initialize`.
    public static let handshake = MCPEra("2025-11-25")

    /// Revisions are dates, so they order as their bytes do.
    public var isStateless: Bool { !(ExactString(protocolVersion) < ExactString(MCPEra.stateless.protocolVersion)) }
    public var description: String { protocolVersion }
}

/// What verifying one JSON-RPC message decided.
public enum MCPVerdict: Sendable {
    /// Not a governed request (another method, a notification, a response): forwarded untouched.
    case notGoverned
    /// Governed, carrying nothing, accepted under policy `optional`.
    case unattested
    case attested(VerifiedToken, VerifiedProof)

    public var identity: VerifiedToken? {
        if case .attested(let token, _) = self { return token }
        return nil
    }
}

/// The MCP binding of attestation tokens and proofs (spec/mcp-binding.md) on raw JSON-RPC.
public enum MCPBinding {
    public static let extensionID = "dev.agent-attestation/v1"
    /// The one JSON-RPC error code of every rejection; the registry code travels in `error.data`.
    public static let errorCode = -31000
    public static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    public static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    /// Method names are matched by code points.
    public static let defaultGoverned: Set<ExactString> = ["tools/call"]

    // MARK: Verifying

    /// Verifies a request received as bytes: the strict parser of spec/json.md first, so
    /// the object verified is the object every conforming parser sees.
    public static func verify(_ bytes: some Collection<UInt8>, era: MCPEra, policy: RequestPolicy,
                              verifier: Verifier, now: Int64, replayStore: some ReplayStore,
                              governed: Set<ExactString> = defaultGoverned) throws(AttestError) -> MCPVerdict {
        try verify(try StrictJSONParser().parse(bytes), era: era, policy: policy, verifier: verifier, now: now,
                   replayStore: replayStore, governed: governed)
    }

    /// Verifies one parsed JSON-RPC message, checks in the order of spec/mcp-binding.md.
    public static func verify(_ message: JSONValue, era: MCPEra, policy: RequestPolicy,
                              verifier: Verifier, now: Int64, replayStore: some ReplayStore,
                              governed: Set<ExactString> = defaultGoverned) throws(AttestError) -> MCPVerdict {
        guard let (request, params) = try governedRequest(message, governed: governed) else { return .notGoverned }
        let meta = params["_meta"]?.objectValue ?? [:]
        for name in Carrier.all where meta[name] != nil && meta[name]?.stringValue == nil {
            throw AttestError(.mcpCarrierInvalid, "params._meta[\"\(name)\"] is not a string")
        }
        if era.isStateless {
            guard meta[protocolVersionKey] == .string(era.protocolVersion) else {
                throw AttestError(.mcpProtocolVersionMismatch,
                                  "params._meta[\"\(protocolVersionKey)\"] is not \(era.protocolVersion)")
            }
            let carries = Carrier.all.contains { meta[$0] != nil }
            if carries, meta[clientCapabilitiesKey]?["extensions"]?[extensionID]?.objectValue == nil {
                throw AttestError(.mcpExtensionUndeclared,
                                  "the request carries attestation but its client capabilities do not declare \(extensionID)")
            }
        }
        switch try verifier.verifyRequest(request, policy: policy, now: now, replayStore: replayStore) {
        case .unattested: return .unattested
        case .attested(let token, let proof): return .attested(token, proof)
        }
    }

    /// The request and its params when `message` is a governed request; nil when it is
    /// another message.
    static func governedRequest(_ message: JSONValue, governed: Set<ExactString>) throws(AttestError)
        -> (request: JSONObject, params: JSONObject)? {
        guard case .object(let object) = message, object["jsonrpc"] == "2.0" else {
            throw AttestError(.mcpMalformedRequest, "the message is not a JSON-RPC 2.0 object")
        }
        guard let method = object["method"]?.stringValue, let id = object["id"], isGoverned(method, governed) else {
            return nil
        }
        guard isRequestID(id) else {
            throw AttestError(.mcpMalformedRequest, "the request id is neither a string nor an integer")
        }
        guard case .object(let params)? = object["params"] else {
            throw AttestError(.mcpMalformedRequest, "the request has no params object")
        }
        if let meta = params["_meta"], meta.objectValue == nil {
            throw AttestError(.mcpMalformedRequest, "params._meta is not an object")
        }
        return (object, params)
    }

    /// Whether `method` is governed: one of `governed`, or canonically equivalent to one.
    /// Every other name is compared by code points; this one test is wider on purpose,
    /// because it decides whether a message is verified at all: a dispatcher that compares
    /// method names as Swift strings would run `"\u{212A}/call"` as `"K/call"`, so that
    /// spelling is verified too (and its proof's `mth` is compared exactly).
    public static func isGoverned(_ method: String, _ governed: Set<ExactString>) -> Bool {
        governed.contains(ExactString(method)) || governed.contains { $0.value == method }
    }

    static func isRequestID(_ id: JSONValue) -> Bool {
        if case .string = id { return true }
        return id.integerValue != nil
    }

    // MARK: Rejecting

    /// The JSON-RPC error response for a rejection; `id` is null when the request's id is unknown.
    public static func errorResponse(id: JSONValue?, error: AttestError) -> JSONObject {
        let code = error.code.rawValue
        return ["jsonrpc": "2.0", "id": id ?? .null,
                "error": ["code": .number(JSONNumber(errorCode)), "message": .string("\(code): \(error.message)"),
                          "data": ["code": .string(code), "extension": .string(extensionID)]]]
    }

    /// The HTTP status and `WWW-Authenticate` challenge of a rejection on Streamable HTTP.
    public static func httpStatus(for code: ErrorCode) -> (status: Int, challenge: String?) {
        let area = code.rawValue.prefix { $0 != "_" }
        func challenge(_ error: String) -> String { "AgentAttestation error=\"\(error)\", code=\"\(code.rawValue)\"" }
        switch ExactString(String(area)) {
        case "MCP", "JSON": return (400, nil)
        case "PTL": return (403, challenge("access_denied"))
        default:
            if code == .proofReplayStoreFull || code == .proofReplayStoreUnavailable { return (503, nil) }
            if code == .proofTokenMissing { return (401, challenge("attestation_required")) }
            return (401, challenge("invalid_attestation"))
        }
    }

    /// The id of a message, if it has a valid one (for error responses).
    public static func requestID(of message: JSONValue) -> JSONValue? {
        guard let id = message["id"], isRequestID(id) else { return nil }
        return id
    }
}

/// An agent's attestation material, attached to each governed request.
public struct MCPAttester: Sendable {
    public let token: String
    public let operatorAttestation: String?
    public let key: any SigningKey
    /// The server the token and proofs are for (the token's `aud`).
    public let audience: String

    public init(token: String, operatorAttestation: String? = nil, key: any SigningKey, audience: String) {
        self.token = token
        self.operatorAttestation = operatorAttestation
        self.key = key
        self.audience = audience
    }

    /// Attaches token and a fresh proof to a governed request; other messages come back unchanged.
    /// In a stateless era the request also declares the extension in its client capabilities,
    /// before the proof is made, so the proof covers the declaration.
    public func attach(to message: JSONValue, era: MCPEra, issuedAt: Int64, proofID: String,
                       governed: Set<ExactString> = MCPBinding.defaultGoverned) throws(AttestError) -> JSONValue {
        guard case (var request, var params)? = try MCPBinding.governedRequest(message, governed: governed) else { return message }
        var meta = params["_meta"]?.objectValue ?? [:]
        for name in Carrier.all { meta[name] = nil }
        if era.isStateless {
            if let version = meta[MCPBinding.protocolVersionKey] {
                guard version == .string(era.protocolVersion) else {
                    throw AttestError(.mcpProtocolVersionMismatch, "the request is for another protocol version than \(era)")
                }
            } else {
                meta[MCPBinding.protocolVersionKey] = .string(era.protocolVersion)
            }
            var capabilities = meta[MCPBinding.clientCapabilitiesKey]?.objectValue ?? [:]
            var extensions = capabilities["extensions"]?.objectValue ?? [:]
            if extensions[MCPBinding.extensionID]?.objectValue == nil { extensions[MCPBinding.extensionID] = .object([:]) }
            capabilities["extensions"] = .object(extensions)
            meta[MCPBinding.clientCapabilitiesKey] = .object(capabilities)
        }
        meta[Carrier.token] = .string(token)
        if let operatorAttestation { meta[Carrier.operatorAttestation] = .string(operatorAttestation) }
        params["_meta"] = .object(meta)
        guard let method = request["method"]?.stringValue else {
            throw AttestError(.mcpMalformedRequest, "the request has no string method")
        }
        let proof = try Proof.issue(method: method, params: params, audience: audience,
                                    token: token, issuedAt: issuedAt, tokenID: proofID, key: key)
        meta[Carrier.proof] = .string(proof)
        params["_meta"] = .object(meta)
        request["params"] = .object(params)
        return .object(request)
    }

    /// Attaches to a request given as bytes, with a random `jti`, returning the bytes to send.
    public func attach(_ bytes: some Collection<UInt8>, era: MCPEra, now: Int64,
                       governed: Set<ExactString> = MCPBinding.defaultGoverned) throws(AttestError) -> [UInt8] {
        let message = try StrictJSONParser().parse(bytes)
        let attached = try attach(to: message, era: era, issuedAt: now, proofID: Self.randomProofID(), governed: governed)
        return Array(attached.serialized(pretty: false).utf8)
    }

    /// 128 random bits, base64url (spec/proof.md, PRF-025).
    public static func randomProofID() -> String {
        Base64URL.encode(SecureRandom.bytes(16))
    }
}

extension ErrorCode {
    /// The registry code spelled exactly `name`.
    public init?(exactly name: String) {
        guard let code = ErrorCode(rawValue: name), code.rawValue.isExactly(name) else { return nil }
        self = code
    }
}
