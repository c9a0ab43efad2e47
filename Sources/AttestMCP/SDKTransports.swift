import AttestCore
import AttestIdentity
import Foundation
import Logging
import MCP

// Helpers for the MCP Swift SDK 0.12.1, which speaks only the handshake era. Both are
// transport wrappers because the SDK re-encodes `_meta` and arguments through its `Value`
// type (strings starting with "data:", 1.0 -> 1, "/" -> "\/"): a proof must be made and
// checked over the bytes on the wire, which only a transport sees. They also make up for
// what the SDK's types lack: `capabilities.extensions` in `initialize`, and `error.data`.

/// Seconds since the epoch, from the system clock.
public typealias MCPClock = @Sendable () -> Int64

public let systemClock: MCPClock = { Int64(Date().timeIntervalSince1970) }

/// A client transport that declares the extension in `initialize` and attaches token and a
/// fresh proof to every governed request it sends.
public actor AttestingClientTransport: Transport {
    public nonisolated let logger: Logger
    private let inner: any Transport
    private let attester: MCPAttester
    private let clock: MCPClock
    private let governed: Set<ExactString>
    private var era = MCPEra.handshake
    private var rejections: [ExactString: ErrorCode] = [:]

    public init(wrapping inner: any Transport, attester: MCPAttester, clock: @escaping MCPClock = systemClock,
                governed: Set<ExactString> = MCPBinding.defaultGoverned) {
        self.inner = inner
        self.attester = attester
        self.clock = clock
        self.governed = governed
        self.logger = Logger(label: "attest.mcp.client")
    }

    public func connect() async throws { try await inner.connect() }
    public func disconnect() async { await inner.disconnect() }

    public func send(_ data: Data) async throws {
        guard case .object(var message) = try StrictJSONParser().parse(Array(data)) else {
            return try await inner.send(data)
        }
        if message["method"] == "initialize", case .object(var params)? = message["params"] {
            var capabilities = params["capabilities"]?.objectValue ?? [:]
            var extensions = capabilities["extensions"]?.objectValue ?? [:]
            extensions[MCPBinding.extensionID] = .object([:])
            capabilities["extensions"] = .object(extensions)
            params["capabilities"] = .object(capabilities)
            message["params"] = .object(params)
            return try await inner.send(Data(JSONValue.object(message).serialized(pretty: false).utf8))
        }
        let attached = try attester.attach(to: .object(message), era: era, issuedAt: clock(),
                                           proofID: MCPAttester.randomProofID(), governed: governed)
        try await inner.send(Data(attached.serialized(pretty: false).utf8))
    }

    public func receive() -> AsyncThrowingStream<Data, Swift.Error> {
        let inner = inner
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await data in await inner.receive() {
                        self.observe(data)
                        continuation.yield(data)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The registry code of a rejected request, which the SDK's `MCPError` does not carry.
    public func rejection(forRequestID id: String) -> ErrorCode? { rejections[ExactString(id)] }

    private func observe(_ data: Data) {
        guard let message = try? StrictJSONParser().parse(Array(data)) else { return }
        if let version = message["result"]?["protocolVersion"]?.stringValue, message["result"]?["capabilities"] != nil {
            era = MCPEra(version)
        }
        if message["error"]?["code"]?.integerValue == Int64(MCPBinding.errorCode),
           let code = message["error"]?["data"]?["code"]?.stringValue.flatMap(ErrorCode.init(exactly:)),
           let id = message["id"] {
            rejections[key(id)] = code
        }
    }
}

/// What a server transport decides about governed requests.
public struct MCPGate: Sendable {
    public let verifier: Verifier
    public let policy: RequestPolicy
    public let replayStore: any ReplayStore
    public let clock: MCPClock
    public let governed: Set<ExactString>
    /// Where the issuers' keys come from when they are discovered; nil: the verifier's own.
    public let keySource: (any IssuerKeySource)?

    public init(verifier: Verifier, policy: RequestPolicy, replayStore: any ReplayStore,
                clock: @escaping MCPClock = systemClock, governed: Set<ExactString> = MCPBinding.defaultGoverned,
                keySource: (any IssuerKeySource)? = nil) {
        self.verifier = verifier
        self.policy = policy
        self.replayStore = replayStore
        self.clock = clock
        self.governed = governed
        self.keySource = keySource
    }

    /// The server's settings object for the extension, advertised in its capabilities.
    public var advertisement: JSONValue {
        ["audience": .string(verifier.configuration.audience), "policy": .string(policy.rawValue)]
    }

    /// An `initialize` result with the extension advertised in its capabilities, as bytes to send,
    /// and the revision it negotiated; nil for any other message. The SDK's `Server.Capabilities`
    /// has no `extensions`, so the advertisement is added to the outgoing message.
    func advertising(in message: JSONObject) -> (Data, MCPEra)? {
        guard case .object(var result)? = message["result"], let version = result["protocolVersion"]?.stringValue,
              case .object(var capabilities)? = result["capabilities"] else { return nil }
        var extensions = capabilities["extensions"]?.objectValue ?? [:]
        extensions[MCPBinding.extensionID] = advertisement
        capabilities["extensions"] = .object(extensions)
        result["capabilities"] = .object(capabilities)
        var message = message
        message["result"] = .object(result)
        return (Data(JSONValue.object(message).serialized(pretty: false).utf8), MCPEra(version))
    }

    /// Verifies a request at the gate's clock. With a key source, the key the carried
    /// token names is refreshed first, and the request is verified against the issuers'
    /// key sets as they are then.
    public func verify(_ bytes: [UInt8], era: MCPEra) async throws(AttestError) -> MCPVerdict {
        try await verify(try StrictJSONParser().parse(bytes), era: era)
    }

    /// The same, for a message already parsed with the strict parser.
    public func verify(_ message: JSONValue, era: MCPEra) async throws(AttestError) -> MCPVerdict {
        let now = clock()
        var verifier = self.verifier
        if let keySource {
            // The carried token is read before verification only to find its key.
            if let token = message["params"]?["_meta"]?[Carrier.token]?.stringValue {
                await keySource.refresh(forToken: token, now: now)
            }
            verifier.configuration.issuers = VerifierConfiguration.byIssuer(await keySource.trustedIssuers(now: now))
        }
        let deferred = DeferredReplayStore()
        let verdict = try MCPBinding.verify(message, era: era, policy: policy, verifier: verifier, now: now,
                                            replayStore: deferred, governed: governed)
        // The pair is recorded with `await`, so that a store that blocks on I/O (SQLite)
        // holds no thread of the cooperative pool. Recording is the last step of verifying
        // a proof (spec/proof.md, step 12), so doing it after `verify` changes no verdict.
        for pair in deferred.pairs {
            try await replayStore.insertAsync(issuer: pair.issuer, tokenID: pair.tokenID, expires: pair.expires, now: pair.now)
        }
        return verdict
    }

    /// The header an attesting server adds to a forwarded request to name its verdict
    /// (any copy a client sends is removed first).
    static let verdictHeader = "Agent-Attestation-Request"
}

/// Collects the pairs one synchronous verification records, for the caller to record them
/// in the real store afterwards (the gate; the portal, in its log writer's transaction).
public final class DeferredReplayStore: ReplayStore, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(issuer: String, tokenID: String, expires: Int64, now: Int64)] = []

    public init() {}

    public var pairs: [(issuer: String, tokenID: String, expires: Int64, now: Int64)] { lock.withLock { recorded } }

    public func insert(issuer: String, tokenID: String, expires: Int64, now: Int64) throws(AttestError) {
        lock.withLock { recorded.append((issuer, tokenID, expires, now)) }
    }
}

/// A server transport that verifies every governed request on the raw bytes it receives.
///
/// A rejected request never reaches the SDK: the transport answers it with the binding's
/// error response (code -31000, registry code in `error.data`). An accepted one is
/// forwarded unchanged, and its handler reads the verified identity with
/// `attestation(in: Server.currentHandlerContext)`; the raw request reaches the handler
/// through the SDK's `HTTPContextProviding` hook, the one per-request channel it offers.
public actor AttestingServerTransport: Transport, HTTPContextProviding {
    public nonisolated let logger: Logger
    private let inner: any Transport
    private let gate: MCPGate
    private var era = MCPEra.handshake
    private var verdicts: [ExactString: MCPVerdict] = [:]
    private var raw: [ExactString: Data] = [:]
    /// The extension settings the client declared in `initialize` (nil: not declared).
    public private(set) var clientDeclaration: JSONValue?

    public init(wrapping inner: any Transport, gate: MCPGate) {
        self.inner = inner
        self.gate = gate
        self.logger = Logger(label: "attest.mcp.server")
    }

    public func connect() async throws { try await inner.connect() }
    public func disconnect() async { await inner.disconnect() }

    public func send(_ data: Data) async throws {
        guard case .object(let message)? = try? StrictJSONParser().parse(Array(data)) else {
            return try await inner.send(data)
        }
        if let id = message["id"], message["method"] == nil {
            verdicts[key(id)] = nil
            raw[key(id)] = nil
        }
        if let (advertised, negotiated) = gate.advertising(in: message) {
            era = negotiated
            return try await inner.send(advertised)
        }
        try await inner.send(data)
    }

    public func receive() -> AsyncThrowingStream<Data, Swift.Error> {
        let inner = inner
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await data in await inner.receive() {
                        if let forward = try await self.admit(data) { continuation.yield(forward) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The verdict on the request a handler is running for (nil outside a governed request).
    public func attestation(in context: Server.HandlerContext?) -> MCPVerdict? {
        guard let requestKey = context?.httpContext?.header(MCPGate.verdictHeader) else { return nil }
        return verdicts[ExactString(requestKey)]
    }

    public func httpRequestContext(for id: ID) async -> HTTPRequest? {
        let requestKey = key(id)
        guard let body = raw[requestKey] else { return nil }
        return HTTPRequest(method: "POST", headers: [MCPGate.verdictHeader: requestKey.value], body: body)
    }

    /// The bytes to hand to the SDK, or nil when the transport answered the message itself.
    private func admit(_ data: Data) async throws -> Data? {
        let bytes = Array(data)
        let message: JSONValue
        do {
            message = try StrictJSONParser().parse(bytes)
        } catch {
            try await reject(id: nil, error)
            return nil
        }
        if message["method"] == "initialize", let params = message["params"] {
            clientDeclaration = params["capabilities"]?["extensions"]?[MCPBinding.extensionID]
        }
        do {
            let verdict = try await gate.verify(message, era: era)
            if case .notGoverned = verdict { return data }
            // A governed request has an id (mcp-binding.md, step 3).
            guard let id = message["id"] else { return data }
            let requestKey = key(id)
            verdicts[requestKey] = verdict
            raw[requestKey] = data
            return data
        } catch {
            try await reject(id: MCPBinding.requestID(of: message), error)
            return nil
        }
    }

    private func reject(id: JSONValue?, _ error: AttestError) async throws {
        let response = MCPBinding.errorResponse(id: id, error: error)
        try await inner.send(Data(JSONValue.object(response).serialized(pretty: false).utf8))
    }
}

/// One key per JSON-RPC id, so that the string "1" and the number 1 stay apart, and so do
/// two string ids that are only canonically equivalent (`"K"` and `"\u{212A}"`).
func key(_ id: JSONValue) -> ExactString { ExactString(JSONValue.array([id]).serialized(pretty: false)) }

func key(_ id: ID) -> ExactString {
    switch id {
    case .string(let s): return key(JSONValue.string(s))
    case .number(let n): return key(JSONValue.number(JSONNumber(n)))
    }
}
