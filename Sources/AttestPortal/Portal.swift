import AttestCore
import AttestEvidence
import AttestIdentity
import AttestMCP
import Foundation
import GRDB
import Logging

/// A policy enforcement point between an MCP client and an MCP server (spec/portal.md).
///
/// The portal decides every governed request against the sealed artifact of the verified
/// agent (and the mandate chain the agent presents), writes the decision to its receipt
/// log durably before it forwards anything, and writes the outcome durably before the
/// client sees it. The transports (``StdioPortal``, ``HTTPPortal``) only move messages;
/// every decision is taken here, in the order portal.md fixes.
public final class Portal: Sendable {
    public let configuration: PortalConfiguration
    /// What the portal observed of its upstream, in the shape of an artifact's `upstream`.
    public let upstreamIdentity: JSONValue?
    /// What answers the governed calls of a session in phantom mode (portal.md §Drift).
    let sandbox: any Sandbox
    let store: PortalStore
    let writer: LogWriter
    let metrics = PortalMetrics()
    let logger: Logger
    let clock: @Sendable () -> Int64
    /// The root artifacts enforced now: the configuration's, until a policy reload.
    let enforced: Locked<[Artifact]>
    private let mandateCache: MandateCache
    private let verifier: Verifier
    private let checkpoints: CheckpointState
    /// The state replicas share, when configured (opened by ``recover()``).
    private let shared = Locked<SharedStateGate?>(nil)

    public static let receiptsKey = "dev.agent-attestation/receipts"
    public static let mandatesKey = "dev.agent-attestation/mandates"
    /// The methods the portal governs: every request a receipt can record (receipt.md).
    static let governed: Set<ExactString> = Set(Receipt.methods.map { ExactString($0) })
    /// Requests forwarded untouched (portal.md §What is governed). Any other request the
    /// portal does not know is refused with -32601, so that no method it cannot decide
    /// reaches the upstream.
    static let forwarded: [String] = ["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                                       "subscriptions/listen", "initialize", "server/discover"]

    /// Opens the store, rebuilds the rate state, closes the calls a previous run left open
    /// (recovery, portal.md §Durability) and is then ready to decide.
    public init(configuration: PortalConfiguration, upstreamIdentity: JSONValue?,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                logger: Logger = Logger(label: "attest.portal")) throws(AttestError) {
        self.configuration = configuration
        self.upstreamIdentity = upstreamIdentity
        sandbox = configuration.sandboxCommand.map {
            CommandSandbox(command: $0, maxMessageBytes: configuration.limits.maxMessageBytes,
                           timeout: .seconds(configuration.limits.upstreamTimeoutSeconds))
        } ?? BuiltinSandbox()
        self.clock = clock
        self.logger = logger
        enforced = Locked(configuration.artifacts)
        verifier = Verifier(configuration: configuration.verifierConfiguration)
        store = try PortalStore(directory: configuration.store)
        try store.bind(origin: configuration.origin, keyThumbprint: configuration.logKey.publicKey.thumbprint)
        let head = try store.loadHead()
        var engine = PolicyEngine()
        try store.keep(configuration.artifacts)
        let known = try store.artifacts()
        mandateCache = MandateCache()
        var chains: [ExactString: [Artifact]] = [:]
        for a in configuration.artifacts { chains[ExactString(a.digest)] = [a] }
        let everything = known
        let byDigest = Dictionary(everything.map { (ExactString($0.digest), $0) }, uniquingKeysWith: { a, _ in a })
        let longest = everything.map { a in max(a.rateLimit?.window ?? 0, a.tools.values.map { $0.rateLimit?.window ?? 0 }.max() ?? 0) }.max() ?? 0
        for call in try store.allowedCalls(since: head.lastTime - longest) {
            let key = ExactString(call.artifact)
            if chains[key] == nil, let chain = try? MandateChain.chain(endingAt: call.artifact, from: byDigest) { chains[key] = chain }
            guard let chain = chains[key] else { continue }
            engine.recordAllowed(chain: chain, tool: call.tool, time: call.time)
        }
        writer = LogWriter(queue: store.queue,
                           state: LogWriter.State(size: head.size, lastLink: head.lastLink, lastTime: head.lastTime, engine: engine),
                           tree: head.tree, metrics: metrics)
        let last = try store.lastCheckpoint()
        checkpoints = CheckpointState(size: last.size, time: last.time == 0 ? clock() : last.time)
        let writer = writer
        witnesses = configuration.witnesses.isEmpty ? nil : WitnessSubmitter(endpoints: configuration.witnesses, store: store, logger: logger) { from, to in
            writer.withTree { tree, _ in tree.consistencyProof(from: Int(from), to: Int(to)).map(\.bytes) }
        }
    }

    /// Sends each new checkpoint to the configured witnesses (spec/witness.md), off the call path.
    let witnesses: WitnessSubmitter?

    /// Closes every call a previous run forwarded without recording its outcome, with a
    /// RESULT carrying `PTL_OUTCOME_UNKNOWN`, and checkpoints. Call once before serving.
    public func recover() async throws(AttestError) {
        if let location = configuration.sharedState, shared.value == nil {
            shared.value = try await SharedStateGate.open(location)
        }
        let open = try store.openCalls()
        for allow in open {
            let response = Disclosure.denial(.portalOutcomeUnknown, "the portal stopped before it recorded this call's outcome")
            _ = try await writeResult(for: allow, response: response, code: .portalOutcomeUnknown)
        }
        if !open.isEmpty { logger.warning("recovery closed forwarded calls without a recorded outcome", metadata: ["calls": "\(open.count)"]) }
        try await checkpoint(force: false)
        // `checkpoint.seconds` holds while the portal is idle too.
        let seconds = configuration.checkpointSeconds
        timer.set(Task { [weak self] in
            while (try? await Task.sleep(for: .seconds(seconds))) != nil {
                guard let self else { return }
                await self.checkpointIfDue()
            }
        })
        let store = store
        timer.set(Task.detached {
            while (try? await Task.sleep(for: .seconds(1))) != nil { store.checkpointWAL() }
        })
    }

    private let timer = TimerBox()

    /// Uses `state` as the shared state from now on (tests substitute a store that fails).
    func useSharedState(_ state: any SharedState) { shared.value = SharedStateGate(state) }

    // MARK: Deciding

    /// What the portal does with a governed request.
    public enum Admission: Sendable {
        /// Forward this request (credentials removed) upstream; complete the call with its response.
        case forward(JSONObject, Call)
        /// Answer the client with this message; nothing is forwarded.
        case reply(JSONObject)
    }

    /// An allowed call, forwarded and not yet answered.
    public struct Call: Sendable {
        public let allow: Receipt
        let allowLine: JSONValue
        /// For `tools/list`: the tools the artifact in force allows, to filter the result.
        let visibleTools: [ExactString: Artifact.ToolPolicy]?
        let started: ContinuousClock.Instant
        /// False under `on_drift: phantom` (portal.md §Receipts returned to the client).
        var returnsReceipts = true
    }

    /// Whether a client request is governed, forwarded untouched, or unknown.
    public enum Kind: Sendable { case governed, forwarded, unknown }

    public static func kind(of method: String) -> Kind {
        if MCPBinding.isGoverned(method, governed) { return .governed }
        return forwarded.containsExactly(method) ? .forwarded : .unknown
    }

    /// Decides a governed request (portal.md §Deciding, steps 2 to 7). `session` is the
    /// MCP session (or the stateless request context) the receipt names.
    public func admit(_ request: JSONObject, era: MCPEra, session: String,
                      tools: @Sendable (Bool) async -> String? = { _ in nil }) async -> Admission {
        await admit(request, era: era, session: session, tools: tools, upstream: nil, toolList: nil)
    }

    /// Decides a governed request of a session that observes its upstream (`upstream`) and
    /// its tool lists (`toolList`): the drift rules of portal.md §Drift apply.
    func admit(_ request: JSONObject, era: MCPEra, session: String, tools: @Sendable (Bool) async -> String?,
               upstream: UpstreamObservation?, toolList: ToolsDigestCache?) async -> Admission {
        let started = ContinuousClock.now
        let id = request["id"]
        let method = request["method"]?.stringValue ?? ""
        func refuse(_ error: AttestError) -> Admission {
            metrics.decided(method: method, code: error.code.rawValue)
            logger.info("refused", metadata: ["method": "\(method)", "code": "\(error.code.rawValue)"])
            return .reply(MCPBinding.errorResponse(id: id, error: error))
        }
        // Steps 2 and 3: era rules and request verification; the proof is recorded in step 6.
        let now = clock()
        let deferred = DeferredReplayStore()
        let token: VerifiedToken, proof: VerifiedProof
        do {
            switch try MCPBinding.verify(.object(request), era: era, policy: .required, verifier: verifier, now: now,
                                         replayStore: deferred, governed: Self.governed) {
            case .attested(let t, let p): (token, proof) = (t, p)
            case .unattested, .notGoverned:
                return refuse(AttestError(.proofTokenMissing, "the request carries no attestation token"))
            }
        } catch { return refuse(error) }
        metrics.verified(in: ContinuousClock.now - started)
        // Step 4: the method is one a receipt records, spelled exactly.
        guard Receipt.methods.containsExactly(method), case .object(let params)? = request["params"] else {
            return refuse(AttestError(.mcpMalformedRequest, "the method \"\(method)\" is not spelled as a governed method"))
        }
        // Step 5: the artifact in force (computed here, applied after the proof is recorded).
        let chain = Result { () throws(AttestError) -> [Artifact] in try self.chain(for: token, params: params, now: now) }
        let tool = method.isExactly(Receipt.toolCall) ? params["name"]?.stringValue : nil
        if method.isExactly(Receipt.toolCall), tool == nil {
            return refuse(AttestError(.mcpMalformedRequest, "a tools/call names its tool in params.name"))
        }
        // The upstream's tool list: fetched when the artifact in force pins it, else as last seen.
        let pinsTools = (try? chain.get())?.last?.drift?["tools_sha256"] != nil
        // A session in drift sends the upstream nothing, not even a tool-list fetch of the portal's own.
        let toolsDigest = await tools(pinsTools && upstream?.drift == nil)
        let recorded = stripCredentials(params)
        let pair = deferred.pairs.last
        let agent = (sub: token.subject, jkt: token.claims.confirmationKeyThumbprint)
        // Step 8's observation, and in phantom mode the sandbox's answer, before the writer runs.
        let observed = upstream != nil ? upstream?.identity : upstreamIdentity
        let drift = await driftDecision(request, params: params, inForce: (try? chain.get())?.last, upstream: upstream,
                                        observed: observed, toolsDigest: toolsDigest, toolList: toolList, now: now)

        // Step 6 with replicas: the proof is recorded in the shared replay store first.
        let sharedState = shared.value
        if configuration.sharedState != nil, sharedState == nil {
            return refuse(AttestError(.proofReplayStoreUnavailable, "the shared state is not open"))
        }
        if let sharedState, let pair {
            do {
                try await sharedState.recordProof(issuer: pair.issuer, tokenID: pair.tokenID, expires: pair.expires, now: pair.now)
            } catch { return refuse(error) }
        }
        // Revocations held by the shared state, asked on every request (portal.md §Revocation).
        let sharedRevoked = await sharedRevocations(of: try? chain.get(), gate: sharedState)
        var outcome: Result<(Receipt, JSONValue, [Artifact]), AttestError> = .failure(AttestError(.portalReceiptWriteFailed, "not decided"))
        do {
            try await writer.submit { state, db in
                // Step 6: the proof is recorded, then the chain applies, then the evaluation.
                if sharedState == nil, let pair, let refusal = try SQLiteReplayStore.recordInTransaction(
                    db, issuer: pair.issuer, tokenID: pair.tokenID, expires: pair.expires, now: pair.now, capacity: 1_000_000) {
                    outcome = .failure(AttestError(refusal, refusal == .proofReplay
                        ? "proof jti \(pair.tokenID) was already accepted" : "the replay store is full"))
                    return
                }
                let artifacts: [Artifact], revokedInShared: [String]
                switch (chain, sharedRevoked) {
                case (.failure(let error), _), (_, .failure(let error)):
                    outcome = .failure(error)
                    return
                case (.success(let c), .success(let r)): (artifacts, revokedInShared) = (c, r)
                }
                // Step 7: a revoked digest of the chain gets its REVOKE entry first, then the denial.
                let revoked = try self.recordRevocations(of: artifacts, shared: revokedInShared, state: &state, db)
                var time = max(self.clock(), state.lastTime)
                guard let inForce = artifacts.last else { return }
                var code: ErrorCode? = revoked ? .portalArtifactRevoked : nil
                let quarantined = state.drift.began(session: session) != nil
                if code == nil, let tool {
                    code = state.engine.evaluate(chain: artifacts, session: session, drift: &state.drift, tool: tool,
                                                 arguments: params["arguments"] ?? .object([:]), time: time)
                } else if code == nil, let began = state.drift.began(session: session),
                          inForce.driftRules?.action != .phantom || (time >= inForce.notBefore && time < inForce.notAfter) {
                    // Under on_drift phantom the policy's own step (the window) comes first (artifact.md step 0).
                    code = began
                } else if code == nil, time < inForce.notBefore || time >= inForce.notAfter {
                    code = .portalOutsideValidity
                }
                // Step 8: a pin the observed upstream (identity or tool list) does not meet.
                let later: ErrorCode? = code == nil ? drift.code : nil
                // With replicas, the rate steps are decided by the shared state, at the call's count time,
                // and before a drift rule the call fires (evaluation step 7 comes after the rate steps).
                let fired = !quarantined && code == .portalBehaviourDrift
                // A call of a session in drift under on_drift phantom that the policy allows is answered
                // from the sandbox, and counted like an allowed call so that the limits do not give it away.
                let phantomQuarantine = quarantined && code.map { DriftRules.beginsDrift($0.rawValue) } == true
                    && inForce.driftRules?.action == .phantom
                if code == nil || fired || phantomQuarantine, let tool, let sharedState {
                    let (shared, at) = Self.countShared(sharedState, chain: artifacts, tool: tool, time: time,
                                                        record: (later == nil && !fired) || phantomQuarantine)
                    time = at
                    if let shared { code = shared }
                }
                if code == nil { code = later }
                state.drift.record(chain: artifacts, session: session, tool: tool, time: time, code: code)
                // A drift code under on_drift phantom: the sandbox's answer, asked before the writer
                // ran, is recorded as PHANTOM (without one, a DENY: portal.md §Drift).
                var phantom = code.flatMap { c in Self.driftResponse(c, inForce) == .phantom(c) ? drift.phantom : nil }
                var fields = self.fields(state: state, time: time, artifact: inForce.digest, session: session, agent: agent,
                                         method: method, tool: tool)
                // Shadow mode: a call enforcement denies is forwarded, and recorded as such.
                let shadow = self.shadowing(code)
                if let shadow {
                    fields["shadow"] = .string(shadow.rawValue)
                    code = nil
                    phantom = nil
                }
                let requestSalt = Self.salt()
                fields["request"] = .string(Base64URL.encode(Receipt.commitment(salt: requestSalt, payload: .object(recorded))))
                var payload: JSONObject = ["request": .object(recorded), "request_salt": .string(Base64URL.encode(requestSalt))]
                let response: JSONValue?
                if let code {
                    // A PHANTOM commits to the sandbox's answer, a DENY to the rejection.
                    let denial = phantom?.body ?? Disclosure.denial(code, Self.denialMessage(code))
                    let responseSalt = Self.salt()
                    fields["decision"] = .string((phantom != nil ? Receipt.Decision.phantom : .deny).rawValue)
                    if phantom != nil, let tool { state.engine.recordAllowed(chain: artifacts, tool: tool, time: time) }
                    fields["code"] = .string(code.rawValue)
                    fields["response"] = .string(Base64URL.encode(Receipt.commitment(salt: responseSalt, payload: denial)))
                    payload["response"] = denial
                    payload["response_salt"] = .string(Base64URL.encode(responseSalt))
                    response = denial
                } else {
                    fields["decision"] = .string(Receipt.Decision.allow.rawValue)
                    if let identity = observed { fields["upstream"] = identity }
                    if let toolsDigest { fields["tools_sha256"] = .string(toolsDigest) }
                    if let tool, shadow == nil { state.engine.recordAllowed(chain: artifacts, tool: tool, time: time) }
                    response = nil
                }
                let receipt = try self.append(fields, payload: .object(payload), state: &state, db)
                if code == nil {
                    try db.cachedStatement(sql: "INSERT INTO open_calls (seq) VALUES (?)").execute(arguments: [Int64(receipt.seq)])
                    if let tool, shadow == nil {
                        try db.cachedStatement(sql: "INSERT INTO allowed_calls (seq, time, artifact, tool) VALUES (?, ?, ?, ?)")
                            .execute(arguments: [Int64(receipt.seq), time, inForce.digest, tool])
                    }
                }
                for m in artifacts where m.kind == .mandate { try PortalStore.keep(m, db) }
                outcome = .success((receipt, response ?? .null, artifacts))
                if receipt.seq % 64 == 0 {
                    self.metrics.replayStore(entries: try SQLiteReplayStore.count(db))
                    self.metrics.open(calls: try Int.fetchOne(db, sql: "SELECT count(*) FROM open_calls") ?? 0)
                }
            }
        } catch {
            // Step 7 failed: nothing was recorded, so nothing is forwarded (RCP-010).
            logger.error("the receipt log cannot be written", metadata: ["code": "\(error.code.rawValue)"])
            return refuse(AttestError(.portalReceiptWriteFailed, "the decision could not be recorded durably; the call was not forwarded"))
        }
        await checkpointIfDue()
        switch outcome {
        case .failure(let error):
            return refuse(error)
        case .success(let (receipt, response, artifacts)):
            noteDrift(receipt, upstream: upstream)
            let line = JSONValue.object(receipt.json)
            if receipt.decision == .phantom {
                metrics.decided(method: method, code: receipt.code)
                metrics.answered(in: ContinuousClock.now - started)
                logger.notice("phantom", metadata: ["method": "\(method)", "code": "\(receipt.code ?? "")", "seq": "\(receipt.seq)"])
                return .reply(["jsonrpc": "2.0", "id": id ?? .null, drift.phantom?.isError == true ? "error" : "result": response])
            }
            if receipt.decision == .deny {
                metrics.decided(method: method, code: receipt.code)
                metrics.answered(in: ContinuousClock.now - started)
                logger.info("denied", metadata: ["method": "\(method)", "code": "\(receipt.code ?? "")", "seq": "\(receipt.seq)"])
                let reply: JSONObject = ["jsonrpc": "2.0", "id": id ?? .null, "error": response]
                return .reply(drift.returnsReceipts ? Self.withReceipts(reply, [line]) : reply)
            }
            metrics.decided(method: method, code: nil)
            var forwarded = request
            forwarded["params"] = .object(ForwardingStatement.params(stripAttestation(params), method: method, allow: receipt,
                                                                     configuration: configuration))
            let visible = method.isExactly("tools/list") ? artifacts.last?.tools : nil
            return .forward(forwarded, Call(allow: receipt, allowLine: line, visibleTools: visible, started: started,
                                            returnsReceipts: drift.returnsReceipts))
        }
    }

    /// Records the upstream's response to an allowed call, then returns what the client
    /// receives: the response with both receipts in its `_meta` (or `error.data`).
    public func complete(_ call: Call, response message: JSONObject) async -> JSONObject {
        var message = message
        let isError = message["error"] != nil
        var body = message[isError ? "error" : "result"] ?? .null
        if let visible = call.visibleTools, !isError, case .object(var result) = body, case .array(let tools)? = result["tools"] {
            result["tools"] = .array(tools.filter { tool in tool["name"]?.stringValue.map { visible[ExactString($0)] != nil } ?? false })
            body = .object(result)
        }
        body = Self.removingReceipts(body, isError: isError)
        do {
            let result = try await writeResult(for: call.allow, response: body, code: nil)
            message[isError ? "error" : "result"] = body
            metrics.answered(in: ContinuousClock.now - call.started)
            return call.returnsReceipts ? Self.withReceipts(message, [call.allowLine, .object(result.json)]) : message
        } catch {
            logger.error("the outcome of a forwarded call cannot be recorded", metadata: ["seq": "\(call.allow.seq)"])
            return MCPBinding.errorResponse(id: message["id"], error: AttestError(.portalReceiptWriteFailed,
                "the call was forwarded but its outcome could not be recorded durably; it is withheld"))
        }
    }

    /// The upstream failed before answering an allowed call: the failure is recorded and
    /// returned to the client as a rejection with `PTL_UPSTREAM_FAILED`.
    public func fail(_ call: Call, id: JSONValue?, reason: String) async -> JSONObject {
        let denial = Disclosure.denial(.portalUpstreamFailed, reason)
        do {
            let result = try await writeResult(for: call.allow, response: denial, code: .portalUpstreamFailed)
            metrics.decided(method: call.allow.method, code: ErrorCode.portalUpstreamFailed.rawValue)
            let reply: JSONObject = ["jsonrpc": "2.0", "id": id ?? .null, "error": denial]
            return call.returnsReceipts ? Self.withReceipts(reply, [call.allowLine, .object(result.json)]) : reply
        } catch {
            return MCPBinding.errorResponse(id: id, error: AttestError(.portalReceiptWriteFailed, "\(reason); the failure could not be recorded"))
        }
    }

    /// An `initialize` or `server/discover` result with the extension advertised (MCP-004).
    public func advertising(_ message: JSONObject) -> JSONObject {
        guard case .object(var result)? = message["result"] else { return message }
        var capabilities = result["capabilities"]?.objectValue ?? [:]
        var extensions = capabilities["extensions"]?.objectValue ?? [:]
        extensions[MCPBinding.extensionID] = ["audience": .string(configuration.audience), "policy": "required"]
        capabilities["extensions"] = .object(extensions)
        result["capabilities"] = .object(capabilities)
        var message = message
        message["result"] = .object(result)
        return message
    }

    // MARK: Checkpoints

    /// Signs a checkpoint of the log when `checkpoint.every` receipts or `checkpoint.seconds`
    /// have passed since the last (or always, with `force`, when the log grew).
    public func checkpoint(force: Bool) async throws(AttestError) {
        let origin = configuration.origin, key = configuration.logKey, now = clock()
        let due = checkpoints.due(every: configuration.checkpointEvery, seconds: configuration.checkpointSeconds, now: now)
        let signed = Locked<(UInt64, String)?>(nil)
        try await writer.submit { state, db in
            let last = try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints") ?? 0
            // The receipts committed before this batch: the tree holds exactly those.
            let size = UInt64(self.writer.withTreeUnlocked { $0.size })
            guard size > UInt64(last), force || due(size) else { return }
            let (root, proof) = self.writer.withTreeUnlocked { tree in
                (tree.root(size: Int(size)), last > 0 ? tree.consistencyProof(from: Int(last), to: Int(size)) : [])
            }
            let note = Checkpoint(origin: origin, size: size, root: root.bytes).signed(by: [Checkpoint.Signer(name: origin, key: key)])
            var entry: JSONObject = ["note": .string(note)]
            if !proof.isEmpty { entry["consistency"] = .array(proof.map { .string(Base64URL.encode($0.bytes)) }) }
            try db.execute(sql: "INSERT INTO checkpoints (size, time, line) VALUES (?, ?, ?)",
                           arguments: [Int64(size), now, Data(JSONValue.object(entry).serialized(pretty: false).utf8)])
            self.checkpoints.record(size: size, time: now)
            signed.value = (size, note)
        }
        if let witnesses, let (size, note) = signed.value { witnesses.submit(size: size, note: note) }
    }

    func checkpointIfDue() async {
        let now = clock()
        let size = writer.withTree { _, state in state.size }
        if checkpoints.due(every: configuration.checkpointEvery, seconds: configuration.checkpointSeconds, now: now)(size) {
            try? await checkpoint(force: false)
        }
    }

    /// Writes a final checkpoint and stops the writer (graceful drain).
    public func close() async {
        timer.cancel()
        try? await checkpoint(force: true)
        if let witnesses { await witnesses.idle(atMost: .seconds(5)) }
        writer.stop()
        await shared.take()?.close()
    }

    /// The rate steps of a call the portal's own state allows, decided by the shared state
    /// (portal.md §Replicas): the code they deny with, if any, and the time the receipt
    /// records, the call's count time. A store that cannot decide denies the call with
    /// `PRF_REPLAY_STORE_UNAVAILABLE`; the call is then recorded, as denied, and not forwarded.
    static func countShared(_ shared: SharedStateGate, chain: [Artifact], tool: String, time: Int64,
                            record: Bool) -> (ErrorCode?, Int64) {
        let limits = SharedLimit.limits(chain: chain, tool: tool)
        guard !limits.isEmpty, let inForce = chain.last else { return (nil, time) }
        do {
            switch try shared.count(limits, earliest: time, deadline: inForce.notAfter, record: record) {
            case .counted(let at): return (nil, at)
            case .limited(let at): return (.portalRateLimited, at)
            case .expired(let at): return (.portalOutsideValidity, at)
            }
        } catch {
            return (.proofReplayStoreUnavailable, time)
        }
    }

    // MARK: Internals

    private func writeResult(for allow: Receipt, response: JSONValue, code: ErrorCode?) async throws(AttestError) -> Receipt {
        var written: Receipt?
        try await writer.submit { state, db in
            let time = max(self.clock(), state.lastTime)
            var fields = self.fields(state: state, time: time, artifact: allow.artifact, session: allow.json["session"]?.stringValue ?? "-",
                                     agent: allow.agentSubject.flatMap { s in allow.agentKey.map { (s, $0) } },
                                     method: allow.method, tool: allow.tool)
            fields["decision"] = .string(Receipt.Decision.result.rawValue)
            fields["call"] = .number(JSONNumber(Double(allow.seq)))
            if let code { fields["code"] = .string(code.rawValue) }
            let salt = Self.salt()
            fields["response"] = .string(Base64URL.encode(Receipt.commitment(salt: salt, payload: response)))
            let payload: JSONValue = ["response": response, "response_salt": .string(Base64URL.encode(salt))]
            written = try self.append(fields, payload: payload, state: &state, db)
            try db.cachedStatement(sql: "DELETE FROM open_calls WHERE seq = ?").execute(arguments: [Int64(allow.seq)])
        }
        guard let written else { throw AttestError(.portalReceiptWriteFailed, "the result was not written") }
        return written
    }

    private func fields(state: LogWriter.State, time: Int64, artifact: String, session: String, agent: (sub: String, jkt: String)?,
                        method: String, tool: String?) -> JSONObject {
        var fields: JSONObject = [
            "log": .string(configuration.origin), "seq": .number(JSONNumber(Double(state.size))),
            "time": .number(JSONNumber(Double(time))), "prev": .string(Base64URL.encode(state.lastLink)),
            "artifact": .string(artifact), "session": .string(session), "method": .string(method),
        ]
        if let agent { fields["agent"] = ["sub": .string(agent.sub), "jkt": .string(agent.jkt)] }
        if let tool { fields["tool"] = .string(tool) }
        return fields
    }

    /// Signs `fields` as the next receipt, stores it with its payload, and advances the head.
    func append(_ fields: JSONObject, payload: JSONValue?, state: inout LogWriter.State, _ db: Database) throws -> Receipt {
        let receipt = try Receipt.sign(fields, key: configuration.logKey)
        let line = Array(JSONValue.object(receipt.json).serialized(pretty: false).utf8)
        try PortalStore.insert(receipt, line: line, payload: payload, db)
        state.size += 1
        state.lastLink = receipt.link
        state.lastTime = receipt.time
        state.pendingLeaves.append(receipt.leafHash)
        return receipt
    }

    /// The chain of artifacts a call is decided under: the root artifact of the agent, or
    /// the chain of the mandates it presents (portal.md §Mandates).
    private func chain(for token: VerifiedToken, params: JSONObject, now: Int64) throws(AttestError) -> [Artifact] {
        let sub = token.subject, jkt = token.claims.confirmationKeyThumbprint
        guard let carried = params["_meta"]?[Self.mandatesKey] else {
            guard let artifact = enforced.value.first(where: { $0.subject.isExactly(sub) && $0.subjectKey.isExactly(jkt) }) else {
                throw AttestError(.portalNoArtifact, "no artifact has \(sub) with this key as its subject")
            }
            return [artifact]
        }
        guard case .array(let list) = carried, !list.isEmpty, list.count < MandateChain.maxDepth else {
            throw AttestError(.mcpCarrierInvalid, "params._meta[\"\(Self.mandatesKey)\"] is an array of 1 to \(MandateChain.maxDepth - 1) mandates")
        }
        var mandates: [Artifact] = []
        for value in list {
            let mandate = try mandateCache.parse(value)
            guard mandate.kind == .mandate else {
                throw AttestError(.artifactMalformed, "params._meta[\"\(Self.mandatesKey)\"] holds an artifact, not a mandate")
            }
            mandates.append(mandate)
        }
        guard let parent = mandates.first?.parent, let root = enforced.value.first(where: { $0.digest.isExactly(parent) }) else {
            throw AttestError(.mandateParentMissing, "the first mandate's parent is not an artifact of this portal")
        }
        for (a, b) in zip(mandates, mandates.dropFirst()) where b.parent?.isExactly(a.digest) != true {
            throw AttestError(.mandateParentMissing, "mandate \(b.id) does not derive from the mandate before it")
        }
        let chain = [root] + mandates
        let leaf = try MandateChain.verify(chain, trustedAuthorities: configuration.authorities)
        guard leaf.subject.isExactly(sub), leaf.subjectKey.isExactly(jkt) else {
            throw AttestError(.portalSubjectMismatch, "the agent \(sub) is not the subject of the last mandate")
        }
        return chain
    }

    static func denialMessage(_ code: ErrorCode) -> String {
        switch code {
        case .portalOutsideValidity: return "the call is outside the artifact's validity window"
        case .portalToolNotAllowed: return "the artifact does not allow this tool"
        case .portalConstraintViolated: return "an argument is missing, unknown or outside its constraint"
        case .portalRateLimited: return "the call exceeds a rate limit of the artifact"
        case .portalUpstreamDrift: return "the upstream differs from the artifact's pin"
        case .portalBehaviourDrift: return "the session's calls fired a drift rule of the artifact"
        case .jsonNumberInexact: return "an argument holds a number literal that is not exact"
        default: return code.rawValue
        }
    }

    /// The params as recorded: the credentials (token, proof, operator attestation) removed
    /// from `_meta`, so that a disclosed payload never hands anyone a usable credential.
    func stripCredentials(_ params: JSONObject) -> JSONObject {
        guard case .object(var meta)? = params["_meta"] else { return params }
        for name in Carrier.all { meta[name] = nil }
        var params = params
        params["_meta"] = .object(meta)
        return params
    }

    /// The params as forwarded: every member of this extension removed from `_meta`.
    func stripAttestation(_ params: JSONObject) -> JSONObject {
        guard case .object(var meta)? = params["_meta"] else { return params }
        for name in Carrier.all + [Self.mandatesKey] { meta[name] = nil }
        var params = params
        params["_meta"] = .object(meta)
        return params
    }

    /// A response with the receipts added where the client finds them: `result._meta` or `error.data`.
    static func withReceipts(_ message: JSONObject, _ receipts: [JSONValue]) -> JSONObject {
        var message = message
        if case .object(var error)? = message["error"] {
            var data = error["data"]?.objectValue ?? [:]
            guard error["data"] == nil || error["data"]?.objectValue != nil else { return message }
            data[receiptsKey] = .array(receipts)
            error["data"] = .object(data)
            message["error"] = .object(error)
        } else if case .object(var result)? = message["result"] {
            var meta = result["_meta"]?.objectValue ?? [:]
            meta[receiptsKey] = .array(receipts)
            result["_meta"] = .object(meta)
            message["result"] = .object(result)
        }
        return message
    }

    /// An upstream cannot plant receipts: any member under the receipts key is removed
    /// before the response is committed to.
    static func removingReceipts(_ body: JSONValue, isError: Bool) -> JSONValue {
        guard case .object(var o) = body else { return body }
        let container = isError ? "data" : "_meta"
        if case .object(var inner)? = o[container], inner[receiptsKey] != nil {
            inner[receiptsKey] = nil
            o[container] = .object(inner)
        }
        return .object(o)
    }

    /// 32 bytes from the system generator (RCP-006).
    static func salt() -> [UInt8] { SecureRandom.bytes(32) }
}

extension LogWriter {
    /// The tree as it stands inside a job (the writer thread holds no lock while it runs jobs).
    func withTreeUnlocked<T>(_ body: (MerkleTree) -> T) -> T { body(tree) }
}

/// Mandates already parsed and verified, by their JCS bytes, so that an agent presenting
/// the same chain on every call costs one parse.
final class MandateCache: @unchecked Sendable {
    private let lock = NSLock()
    private var parsed: [ExactString: Artifact] = [:]

    func parse(_ value: JSONValue) throws(AttestError) -> Artifact {
        let key = ExactString(String(decoding: JCS.canonicalize(value), as: UTF8.self))
        if let hit = lock.withLock({ parsed[key] }) { return hit }
        let artifact = try Artifact(json: value)
        lock.withLock {
            if parsed.count >= 4096 { parsed.removeAll() }
            parsed[key] = artifact
        }
        return artifact
    }
}

/// When the last checkpoint was signed.
final class CheckpointState: @unchecked Sendable {
    private let lock = NSLock()
    private var size: UInt64
    private var time: Int64

    init(size: UInt64, time: Int64) {
        self.size = size
        self.time = time
    }

    func due(every: Int, seconds: Int, now: Int64) -> (UInt64) -> Bool {
        let (size, time) = lock.withLock { (self.size, self.time) }
        return { current in current > size && (current - size >= UInt64(every) || now - time >= Int64(seconds)) }
    }

    func record(size: UInt64, time: Int64) { lock.withLock { (self.size, self.time) = (size, time) } }
}

/// The checkpoint timer's task, cancelled when the portal closes.
final class TimerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Task<Void, Never>] = []
    func set(_ task: Task<Void, Never>) { lock.withLock { tasks.append(task) } }
    func cancel() { lock.withLock { for t in tasks { t.cancel() } } }
}
