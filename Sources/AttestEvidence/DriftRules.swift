import AttestCore

/// An artifact's `drift` member (spec/artifact.md §Upstream identity and drift): what the
/// portal does when a session drifts (`on_drift`), the pinned tool list, and the
/// behavioural rules whose firing begins drift: ordered sequences of tools and a burst
/// bound, both over the allowed `tools/call`s of one session.
public struct DriftRules: Sendable {
    /// `tools` called in this order, not necessarily one after the other, every matched
    /// call with time in (t − window, t] where t is the time of the call of the last tool.
    public struct Sequence: Sendable, Equatable {
        public let tools: [ExactString]
        public let window: Int64
    }

    /// `max` allowed calls already in (t − window, t] make the next call fire.
    public struct Burst: Sendable, Equatable {
        public let max: Int64
        public let window: Int64
    }

    /// What a drift receipt records: a `DENY`, or a `PHANTOM` answered from a sandbox.
    public enum Action: Sendable, Equatable { case deny, phantom }

    public let action: Action
    public let toolsDigest: String?
    public let sequences: [Sequence]
    public let burst: Burst?

    /// Bounds that keep a session's drift state small whatever the signer wrote.
    public static let maxSequences = 64
    public static let maxSequenceTools = 16
    public static let maxBurst: Int64 = 10_000

    /// The longest window of the rules: state older than this can no longer fire one.
    public var horizon: Int64 { max(sequences.map(\.window).max() ?? 0, burst?.window ?? 0) }
    public var hasRules: Bool { !sequences.isEmpty || burst != nil }

    /// Reads `{"on_drift": "deny" | "phantom", "tools_sha256"?, "sequences"?, "burst"?}`.
    public init(json value: JSONValue) throws(AttestError) {
        guard let o = value.objectValue else { throw malformed("\"drift\" is an object") }
        for name in o.names where !["on_drift", "tools_sha256", "sequences", "burst"].containsExactly(name) {
            throw malformed("\"drift\" has unknown member \"\(name)\"")
        }
        guard let on = o["on_drift"]?.stringValue else { throw malformed("\"on_drift\" is deny or phantom") }
        if on.isExactly("deny") {
            action = .deny
        } else if on.isExactly("phantom") {
            action = .phantom
        } else {
            throw malformed("\"on_drift\" is deny or phantom")
        }
        if let t = o["tools_sha256"] {
            guard let s = t.stringValue, let bytes = try? Base64URL.decode(s), bytes.count == 32 else {
                throw malformed("\"tools_sha256\" is the base64url of 32 bytes")
            }
            toolsDigest = s
        } else {
            toolsDigest = nil
        }
        var sequences: [Sequence] = []
        if let s = o["sequences"] {
            guard let rules = s.arrayValue, !rules.isEmpty, rules.count <= Self.maxSequences else {
                throw malformed("\"sequences\" is an array of 1 to \(Self.maxSequences) rules")
            }
            for rule in rules {
                guard let r = rule.objectValue, r.count == 2, let list = r["tools"]?.arrayValue,
                      list.count >= 2, list.count <= Self.maxSequenceTools,
                      let window = r["window"]?.integerValue, window > 0 else {
                    throw malformed("a sequence is exactly {\"tools\": 2 to \(Self.maxSequenceTools) names, \"window\": seconds > 0}")
                }
                var tools: [ExactString] = []
                for item in list {
                    guard let name = item.stringValue, !name.isEmpty else { throw malformed("a sequence's tool is a non-empty string") }
                    tools.append(ExactString(name))
                }
                sequences.append(Sequence(tools: tools, window: window))
            }
        }
        self.sequences = sequences
        if let b = o["burst"] {
            guard let r = b.objectValue, r.count == 2, let max = r["max"]?.integerValue, max >= 1, max <= Self.maxBurst,
                  let window = r["window"]?.integerValue, window > 0 else {
                throw malformed("\"burst\" is exactly {\"max\": 1 to \(Self.maxBurst), \"window\": seconds > 0}")
            }
            burst = Burst(max: max, window: window)
        } else {
            burst = nil
        }
    }

    /// Whether a code written in a `DENY` or `PHANTOM` receipt begins the drift of its session.
    public static func beginsDrift(_ code: String) -> Bool {
        code.isExactly(ErrorCode.portalBehaviourDrift.rawValue) || code.isExactly(ErrorCode.portalUpstreamDrift.rawValue)
    }
}

/// The drift of the sessions of one log (artifact.md §Evaluation, steps 0 and 7): for each
/// session, the code its drift began with, or the state its rules need. Both the portal
/// and the bundle verifier keep one per log and feed it the log's entries in order, so
/// times never decrease.
///
/// A rule counts the allowed calls of the session decided under its artifact or under a
/// mandate derived from it, as rate limits do. For a sequence of n tools the state is, for
/// each k < n − 1, the latest start time of a match of its first k + 1 tools: a call fires
/// the rule when the match of the first n − 1 tools that started last started inside the
/// window (times do not decrease, so every later call of the match is inside it too). For
/// a burst it is the times of the last `max` allowed calls. A decision therefore costs a
/// constant per rule, and a session holds at most 15 times per sequence and `max` per burst.
/// A session whose allowed calls are all older than the longest window of its rules can fire
/// none: its state is dropped; a session in drift keeps only the code.
public struct DriftTracker: Sendable {
    private var sessions: [ExactString: SessionDrift] = [:]
    /// Sessions to look at again when their state may have expired, in order of recording.
    private var expiries: [(time: Int64, session: ExactString)] = []
    private var head = 0

    public init() {}

    /// Step 0: the code the session's drift began with, or nil when it is not in drift.
    public func began(session: String) -> ErrorCode? { sessions[ExactString(session)]?.began }

    /// Number of sessions holding state (rules or a drift code).
    public var count: Int { sessions.count }
    /// Entries waiting in the queue of expiries: at most about one per session.
    var pendingExpiries: Int { expiries.count - head }

    /// Step 7: whether a `tools/call` of `tool` at `time` fires a rule of `chain` (the
    /// artifact in force and its ancestors) for the session. Nothing is recorded.
    public mutating func fires(chain: [Artifact], session: String, tool: String, time: Int64) -> Bool {
        expire(before: time)
        guard chain.contains(where: { $0.driftRules?.hasRules == true }) else { return false }
        let name = ExactString(tool)
        let state = sessions[ExactString(session)]
        for a in chain {
            guard let rules = a.driftRules, rules.hasRules else { continue }
            let rs = state?.rules[ExactString(a.digest)]
            for (i, rule) in rules.sequences.enumerated() where rule.tools[rule.tools.count - 1] == name {
                if let start = rs?.prefixes[i].last, let start, start > time - rule.window { return true }
            }
            if let burst = rules.burst, let recent = rs?.recent, recent.count >= Int(burst.max),
               recent[recent.count - Int(burst.max)] > time - burst.window {
                return true
            }
        }
        return false
    }

    /// Records an allowed `tools/call` against the rules of every artifact of `chain`.
    public mutating func recordAllowed(chain: [Artifact], session: String, tool: String, time: Int64) {
        let key = ExactString(session)
        guard sessions[key]?.began == nil else { return }
        var horizon: Int64 = 0
        for a in chain { if let rules = a.driftRules, rules.hasRules { horizon = max(horizon, rules.horizon) } }
        guard horizon > 0 else { return }
        let name = ExactString(tool)
        var state = sessions.removeValue(forKey: key) ?? SessionDrift()
        for a in chain {
            guard let rules = a.driftRules, rules.hasRules else { continue }
            let digest = ExactString(a.digest)
            var rs = state.rules.removeValue(forKey: digest) ?? RuleState(rules)
            for (i, rule) in rules.sequences.enumerated() {
                // From the longest prefix down, so one call extends each match at most once.
                var k = rule.tools.count - 2
                while k >= 1 {
                    if rule.tools[k] == name, let start = rs.prefixes[i][k - 1] {
                        rs.prefixes[i][k] = max(rs.prefixes[i][k] ?? start, start)
                    }
                    k -= 1
                }
                if rule.tools[0] == name { rs.prefixes[i][0] = time }
            }
            if let burst = rules.burst {
                rs.recent.append(time)
                if rs.recent.count > Int(burst.max) * 2 { rs.recent.removeFirst(rs.recent.count - Int(burst.max)) }
            }
            state.rules[digest] = rs
        }
        state.expires = max(state.expires, time + horizon)
        // One pending look per session: memory grows with the sessions, not with the calls.
        if !state.scheduled {
            state.scheduled = true
            expiries.append((state.expires, key))
        }
        sessions[key] = state
    }

    /// Begins the drift of a session (a rule fired, or a `DENY`/`PHANTOM` with a drift code
    /// was written): every later request of the session is refused with `code`. The first
    /// code stays.
    public mutating func begin(session: String, code: ErrorCode) {
        let key = ExactString(session)
        if sessions[key]?.began != nil { return }
        var state = SessionDrift()
        state.began = code
        sessions[key] = state
    }

    /// Forgets a session that will have no further request (closed, or a request context
    /// of its own): neither its rules' state nor its drift matters any more.
    public mutating func end(session: String) { sessions[ExactString(session)] = nil }

    /// Drops the state of sessions whose every recorded call is outside every window now.
    private mutating func expire(before time: Int64) {
        while head < expiries.count, expiries[head].time <= time {
            let entry = expiries[head]
            head += 1
            guard let s = sessions[entry.session], s.began == nil else { continue }
            if s.expires <= time {
                sessions[entry.session] = nil
            } else {
                // Calls recorded since extended the session's state: look again then.
                expiries.append((s.expires, entry.session))
            }
        }
        if head >= 1024, head * 2 >= expiries.count {
            expiries.removeFirst(head)
            head = 0
        }
    }
}

private struct SessionDrift: Sendable {
    var began: ErrorCode?
    var rules: [ExactString: RuleState] = [:]
    /// When every recorded call is outside every window of the session's rules.
    var expires: Int64 = 0
    /// Whether the session has an entry in the tracker's queue of expiries.
    var scheduled = false
}

/// The state of one artifact's rules for one session.
private struct RuleState: Sendable {
    /// Per sequence rule of n tools, n − 1 entries: the latest start of a match of the first k + 1 tools.
    var prefixes: [[Int64?]]
    /// The times of the latest allowed calls, at least the last `burst.max` of them.
    var recent: [Int64] = []

    init(_ rules: DriftRules) { prefixes = rules.sequences.map { Array(repeating: nil, count: $0.tools.count - 1) } }
}

private func malformed(_ message: String) -> AttestError { AttestError(.artifactMalformed, message) }

extension PolicyEngine {
    /// artifact.md §Evaluation for a `tools/call` of a session: step 0 (the session is not
    /// in drift), steps 1 to 6, then step 7 (the call fires no drift rule). Nothing is
    /// recorded: call ``DriftTracker/record(chain:session:tool:time:code:)`` and
    /// ``recordAllowed(chain:tool:time:)`` with the decision.
    public mutating func evaluate(chain: [Artifact], session: String, drift: inout DriftTracker, tool: String,
                                  arguments: JSONValue?, time: Int64) -> ErrorCode? {
        if let began = drift.began(session: session) {
            // Under on_drift phantom, step 0 comes after step 6: what the policy denies is
            // denied as before the drift, so the sandbox answers only what it allows.
            guard chain.last?.driftRules?.action == .phantom else { return began }
            return evaluate(chain: chain, tool: tool, arguments: arguments, time: time) ?? began
        }
        if let code = evaluate(chain: chain, tool: tool, arguments: arguments, time: time) { return code }
        return drift.fires(chain: chain, session: session, tool: tool, time: time) ? .portalBehaviourDrift : nil
    }
}

extension DriftTracker {
    /// Records a decision of a governed request of `session`: an allowed `tools/call`
    /// (`code` nil) counts towards the rules; a denial with a drift code begins drift.
    public mutating func record(chain: [Artifact], session: String, tool: String?, time: Int64, code: ErrorCode?) {
        if let code {
            if DriftRules.beginsDrift(code.rawValue) { begin(session: session, code: code) }
        } else if let tool {
            recordAllowed(chain: chain, session: session, tool: tool, time: time)
        }
    }
}
