import AttestCore

/// Verification of an artifact and its chain of sub-mandates (spec/mandate.md): the
/// root is signed by a trusted policy authority, each mandate by the subject key of
/// its parent, and each mandate only narrows its parent.
public enum MandateChain {
    /// Verifies `chain` (root first) and returns the effective (last) artifact.
    public static func verify(_ chain: [Artifact], trustedAuthorities: Set<String>) throws(AttestError) -> Artifact {
        guard let root = chain.first else { throw AttestError(.mandateParentMissing, "empty artifact chain") }
        guard root.kind == .artifact else {
            throw AttestError(.mandateParentMissing, "chain starts with a mandate whose parent is absent")
        }
        let signer = try root.verifySignature()
        guard trustedAuthorities.contains(signer.thumbprint) else {
            throw AttestError(.artifactSignerUntrusted, "artifact \(root.id) is signed by untrusted key \(signer.thumbprint)")
        }
        for (parent, child) in zip(chain, chain.dropFirst()) {
            try checkDerivation(child, of: parent)
        }
        return chain.last!
    }

    /// Orders a set of artifacts into the chain that ends at `leafDigest`.
    public static func chain(endingAt leafDigest: String, from artifacts: [String: Artifact]) throws(AttestError) -> [Artifact] {
        var chain: [Artifact] = []
        var digest: String? = leafDigest
        while let d = digest {
            guard let a = artifacts[d] else {
                throw AttestError(.mandateParentMissing, "artifact \(d) is not in the bundle")
            }
            chain.insert(a, at: 0)
            guard chain.count <= 16 else { throw AttestError(.artifactMalformed, "mandate chain deeper than 16") }
            digest = a.parent
        }
        return chain
    }

    public static func checkDerivation(_ child: Artifact, of parent: Artifact) throws(AttestError) {
        guard child.kind == .mandate, child.parent == parent.digest else {
            throw AttestError(.mandateParentMissing, "mandate \(child.id) does not name \(parent.id) as its parent")
        }
        let signer: JWK
        do { signer = try child.verifySignature() } catch { throw error }
        guard signer.thumbprint == parent.subjectKey else {
            throw AttestError(.mandateSignerNotSubject, "mandate \(child.id) is not signed by the subject key of \(parent.id)")
        }
        guard child.notBefore >= parent.notBefore, child.notAfter <= parent.notAfter else {
            throw AttestError(.mandateWidensValidity, "mandate \(child.id) is valid outside its parent's window")
        }
        guard child.logOrigin == parent.logOrigin else {
            throw AttestError(.mandateLogMismatch, "mandate \(child.id) writes to another log than its parent")
        }
        for name in child.tools.keys.sorted() where parent.tools[name] == nil {
            throw AttestError(.mandateWidensTools, "mandate \(child.id) allows tool \(name), which its parent does not")
        }
        for name in child.tools.keys.sorted() {
            try checkArguments(child.tools[name]!, narrows: parent.tools[name]!, tool: name)
        }
        for name in child.tools.keys.sorted() where !narrows(child.tools[name]!.rateLimit, parent.tools[name]!.rateLimit) {
            throw AttestError(.mandateWidensRateLimit, "mandate \(child.id) raises the rate limit of \(name)")
        }
        guard narrows(child.rateLimit, parent.rateLimit) else {
            throw AttestError(.mandateWidensRateLimit, "mandate \(child.id) raises the overall rate limit")
        }
        let fields = ["upstream", "drift"]
        for field in fields where child.json[field] != nil && child.json[field] != parent.json[field] {
            throw AttestError(.mandateWidensConstraint, "mandate \(child.id) changes \(field)")
        }
    }

    static func checkArguments(_ child: Artifact.ToolPolicy, narrows parent: Artifact.ToolPolicy, tool: String) throws(AttestError) {
        func widened(_ why: String) -> AttestError { AttestError(.mandateWidensConstraint, "tool \(tool): \(why)") }
        if child.additionalArguments && !parent.additionalArguments { throw widened("allows additional arguments") }
        guard parent.required.isSubset(of: child.required) else { throw widened("drops a required argument") }
        for (name, constraint) in parent.arguments {
            guard let mine = child.arguments[name] else { throw widened("drops the constraint on \(name)") }
            guard mine.isNarrower(than: constraint) else { throw widened("widens the constraint on \(name)") }
        }
        for name in child.arguments.keys where parent.arguments[name] == nil && !parent.additionalArguments {
            throw widened("constrains \(name), which its parent does not allow at all")
        }
    }

    /// A limit of at most m′ calls per w′ seconds narrows m per w when m′ ≤ m and w′ ≥ w.
    static func narrows(_ child: Artifact.RateLimit?, _ parent: Artifact.RateLimit?) -> Bool {
        guard let parent else { return true }
        guard let child else { return false }
        return child.max <= parent.max && child.window >= parent.window
    }
}

/// The decision procedure of the portal (spec/artifact.md §Evaluation), with the rate
/// state it needs. The bundle verifier replays receipts through it.
public struct PolicyEngine: Sendable {
    public let artifact: Artifact
    private var allowedByTool: [String: [Int64]] = [:]
    private var allowed: [Int64] = []

    /// The longest rate window of the artifact: allowed calls older than this never count again.
    private let horizon: Int64

    public init(artifact: Artifact) {
        self.artifact = artifact
        horizon = max(artifact.rateLimit?.window ?? 0, artifact.tools.values.compactMap { $0.rateLimit?.window }.max() ?? 0)
    }

    /// The code a call must be denied with, or nil to allow it. `arguments` is nil when
    /// the payload is not disclosed; the constraint step is then skipped.
    public func evaluate(tool: String, arguments: JSONObject?, time: Int64) -> ErrorCode? {
        guard time >= artifact.notBefore, time < artifact.notAfter else { return .portalOutsideValidity }
        guard let policy = artifact.tools[tool] else { return .portalToolNotAllowed }
        if let arguments {
            for name in policy.required where arguments[name] == nil { return .portalConstraintViolated }
            for member in arguments {
                if let constraint = policy.arguments[member.name] {
                    if !constraint.accepts(member.value) { return .portalConstraintViolated }
                } else if !policy.additionalArguments {
                    return .portalConstraintViolated
                }
            }
        }
        if let limit = policy.rateLimit, Self.count(allowedByTool[tool] ?? [], time, limit.window) >= limit.max {
            return .portalRateLimited
        }
        if let limit = artifact.rateLimit, Self.count(allowed, time, limit.window) >= limit.max {
            return .portalRateLimited
        }
        return nil
    }

    /// Records an allowed call. Denied calls consume nothing.
    public mutating func recordAllowed(tool: String, time: Int64) {
        allowedByTool[tool, default: []].append(time)
        allowed.append(time)
        Self.prune(&allowedByTool[tool]!, before: time - horizon)
        Self.prune(&allowed, before: time - horizon)
    }

    static func count(_ times: [Int64], _ now: Int64, _ window: Int64) -> Int {
        times.reduce(0) { $0 + (($1 > now - window && $1 <= now) ? 1 : 0) }
    }

    static func prune(_ times: inout [Int64], before horizon: Int64) {
        if let first = times.firstIndex(where: { $0 > horizon }), first > 64 { times.removeFirst(first) }
    }
}
