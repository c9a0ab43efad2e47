import AttestCore

/// The decision procedure of the portal (spec/artifact.md §Evaluation) with the rate
/// state it needs. The bundle verifier replays receipts through it.
///
/// A call is decided under a chain of artifacts (root first, the artifact in force
/// last) and counts against the rate limits of every artifact of the chain, so that
/// deriving mandates never multiplies a budget (mandate.md). Rate state is one sliding
/// window per limit, holding only the allowed calls inside it, so a decision costs
/// amortized constant time per limit whatever the artifact says, as long as calls are
/// decided in order of time (as a log is).
public struct PolicyEngine: Sendable {
    private var windows: [WindowKey: SlidingWindow] = [:]
    /// Window entries examined so far: the cost the scaling test bounds.
    private(set) var steps = 0

    public init() {}

    /// The code the call must be denied with, or nil to allow it. `arguments` is nil
    /// when the request is not disclosed; the argument steps are then skipped.
    public mutating func evaluate(chain: [Artifact], tool: String, arguments: JSONValue?, time: Int64) -> ErrorCode? {
        guard let artifact = chain.last else { return .portalToolNotAllowed }
        guard time >= artifact.notBefore, time < artifact.notAfter else { return .portalOutsideValidity }
        let name = ExactString(tool)
        guard let policy = artifact.tools[name] else { return .portalToolNotAllowed }
        if let arguments {
            if arguments.firstInexactNumber != nil { return .jsonNumberInexact }
            if !Self.satisfies(arguments, policy) { return .portalConstraintViolated }
        }
        return rateLimited(chain: chain, tool: name, time: time) ? .portalRateLimited : nil
    }

    /// Steps 5 and 6: whether a limit of the tool, then an artifact-wide limit, of the
    /// artifact in force or of an ancestor is already reached at `time`.
    mutating func rateLimited(chain: [Artifact], tool name: ExactString, time: Int64) -> Bool {
        for a in chain.reversed() {
            if let limit = a.tools[name]?.rateLimit, count(WindowKey(a.digest, name), limit, at: time) >= limit.max {
                return true
            }
        }
        for a in chain.reversed() {
            if let limit = a.rateLimit, count(WindowKey(a.digest, nil), limit, at: time) >= limit.max {
                return true
            }
        }
        return false
    }

    /// Records an allowed call against every limit of the chain. Denied calls consume nothing.
    public mutating func recordAllowed(chain: [Artifact], tool: String, time: Int64) {
        let name = ExactString(tool)
        for a in chain {
            if let limit = a.tools[name]?.rateLimit { windows[WindowKey(a.digest, name), default: SlidingWindow(limit)].record(time) }
            if let limit = a.rateLimit { windows[WindowKey(a.digest, nil), default: SlidingWindow(limit)].record(time) }
        }
    }

    /// Step 3 and 4: `arguments` is an object, with every required argument, every
    /// constrained argument within its constraint, and no other unless allowed.
    static func satisfies(_ arguments: JSONValue, _ policy: Artifact.ToolPolicy) -> Bool {
        guard let given = arguments.objectValue else { return false }
        for name in policy.required where !given.contains(name.value) { return false }
        for member in given {
            if let constraint = policy.arguments[ExactString(member.name)] {
                if !constraint.accepts(member.value) { return false }
            } else if !policy.additionalArguments {
                return false
            }
        }
        return true
    }

    private mutating func count(_ key: WindowKey, _ limit: Artifact.RateLimit, at time: Int64) -> Int64 {
        let (count, examined) = windows[key, default: SlidingWindow(limit)].count(at: time)
        steps += examined
        return count
    }
}

private struct WindowKey: Hashable, Sendable {
    let artifact: ExactString
    let tool: ExactString?

    init(_ artifact: String, _ tool: ExactString?) {
        self.artifact = ExactString(artifact)
        self.tool = tool
    }
}

/// The allowed calls of one limit that are still inside its window, oldest first.
private struct SlidingWindow: Sendable {
    let window: Int64
    private var times: [Int64] = []
    private var head = 0

    init(_ limit: Artifact.RateLimit) { window = limit.window }

    /// The allowed calls with time in (t − window, t]. Calls at or before t − window
    /// leave the window for good, since later questions ask about later times.
    mutating func count(at time: Int64) -> (count: Int64, examined: Int) {
        let floor = time - window
        var examined = 1
        while head < times.count, times[head] <= floor {
            head += 1
            examined += 1
        }
        if head >= 1024, head * 2 >= times.count {
            examined += times.count - head
            times.removeFirst(head)
            head = 0
        }
        var end = times.count
        while end > head, times[end - 1] > time {
            end -= 1
            examined += 1
        }
        return (Int64(end - head), examined)
    }

    mutating func record(_ time: Int64) { times.append(time) }
}
