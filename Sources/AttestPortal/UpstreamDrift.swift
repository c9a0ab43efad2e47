import AttestCore
import AttestEvidence
import Foundation

/// The drift of one session (portal.md §Drift): the registry code of the observation that
/// began it, and when. Once begun, a session stays in drift until it ends.
public struct SessionDrift: Sendable, Equatable {
    public let code: ErrorCode
    public let since: Int64
}

/// What one session observed of its upstream: the identity measured last, the drift that
/// began (at most one, the first), and the sandbox that answers its calls in phantom mode.
final class UpstreamObservation: @unchecked Sendable {
    private let lock = NSLock()
    private var _identity: JSONValue?
    private var _drift: SessionDrift?
    private let source: (@Sendable () -> JSONValue?)?
    let sandbox: any Sandbox

    /// `source`, when given, is read at each decision instead of the last measurement (an
    /// HTTPS upstream: the identity its last TLS connection presented).
    init(identity: JSONValue?, sandbox: any Sandbox, source: (@Sendable () -> JSONValue?)? = nil) {
        _identity = identity
        self.sandbox = sandbox
        self.source = source
    }

    /// The upstream identity as last measured (nil: not measurable, or the measurement failed).
    var identity: JSONValue? {
        let measured = lock.withLock { _identity }
        return source?() ?? measured
    }
    var drift: SessionDrift? { lock.withLock { _drift } }

    func measured(_ identity: JSONValue?) { lock.withLock { _identity = identity } }

    /// Begins drift with `code`, unless it already began: the first observation stays.
    @discardableResult
    func begin(_ code: ErrorCode, at time: Int64) -> SessionDrift {
        lock.withLock {
            if let _drift { return _drift }
            let drift = SessionDrift(code: code, since: time)
            _drift = drift
            return drift
        }
    }
}

/// How the drift rules of the artifact in force apply to one governed request, decided
/// before the log writer runs (portal.md §Drift).
struct DriftDecision: Sendable {
    /// The code a request that passes step 7 is recorded with; nil: no drift.
    let code: ErrorCode?
    /// In phantom mode, the sandbox's answer; the request is then recorded as `PHANTOM`.
    let phantom: PhantomAnswer?
    /// Whether receipts go back to the client: not under `on_drift: phantom`, before drift
    /// as after, so that their absence tells the agent nothing.
    let returnsReceipts: Bool

    /// A JSON-RPC `result` or `error` object.
    struct PhantomAnswer: Sendable {
        let body: JSONValue
        let isError: Bool
    }
}

extension Portal {
    /// Step 8 under the artifact in force: a pin the observation does not meet. In phantom
    /// mode, when the session is in drift or a pin fails, the sandbox answers here, before
    /// anything is written: the `PHANTOM` receipt commits to its answer. (The session's drift
    /// itself is decided by the log writer's drift state; `upstream.drift` mirrors it.)
    func driftDecision(_ request: JSONObject, params: JSONObject, inForce: Artifact?, upstream: UpstreamObservation?,
                       observed: JSONValue?, toolsDigest: String?, toolList: ToolsDigestCache?, now: Int64) async -> DriftDecision {
        guard let inForce else { return DriftDecision(code: nil, phantom: nil, returnsReceipts: true) }
        let phantomMode = inForce.driftRules?.action == .phantom
        let pinnedTools = inForce.drift?["tools_sha256"]?.stringValue
        var code: ErrorCode?
        if let pinned = inForce.upstream, pinned != (observed ?? .null) { code = .portalUpstreamDrift }
        if code == nil, let pinnedTools, toolsDigest?.isExactly(pinnedTools) != true { code = .portalUpstreamDrift }
        guard phantomMode, code != nil || upstream?.drift != nil else {
            return DriftDecision(code: code, phantom: nil, returnsReceipts: !phantomMode)
        }
        var sent = request
        sent["params"] = .object(stripAttestation(params))
        var answer = await sandbox.answer(sent, tools: toolList?.pinnedList(pinnedTools))
        // The agent sees a tools/list as it would have: filtered to the tools it may call.
        if !answer.isError, request["method"]?.stringValue?.isExactly("tools/list") == true,
           case .object(var result) = answer.body, case .array(let tools)? = result["tools"] {
            result["tools"] = .array(tools.filter { t in t["name"]?.stringValue.map { inForce.tools[ExactString($0)] != nil } ?? false })
            answer = DriftDecision.PhantomAnswer(body: .object(result), isError: false)
        }
        return DriftDecision(code: code, phantom: answer, returnsReceipts: false)
    }

    /// After a receipt is written: one with a drift code began (or continues) the session's
    /// drift, which the observation mirrors for the decisions taken before the writer runs.
    func noteDrift(_ receipt: Receipt, upstream: UpstreamObservation?) {
        guard let upstream, upstream.drift == nil, let text = receipt.code, DriftRules.beginsDrift(text),
              let code = ErrorCode(exactly: text) else { return }
        upstream.begin(code, at: receipt.time)
        logger.warning("drift: the session's calls are \(receipt.decision == .phantom ? "answered by the sandbox" : "denied") from now on",
                       metadata: ["code": "\(text)"])
    }
}
