import AttestCore

/// Verification of an artifact and its chain of sub-mandates (spec/mandate.md): the
/// root is signed by a trusted policy authority, each mandate by the subject key of
/// its parent, and each mandate only narrows its parent.
public enum MandateChain {
    /// Chains deeper than this are refused (mandate.md).
    public static let maxDepth = 16

    /// Verifies `chain` (root first) and returns the effective (last) artifact.
    public static func verify(_ chain: [Artifact], trustedAuthorities: Set<ExactString>) throws(AttestError) -> Artifact {
        guard let root = chain.first, let leaf = chain.last else {
            throw AttestError(.mandateParentMissing, "empty artifact chain")
        }
        guard chain.count <= maxDepth else { throw AttestError(.artifactMalformed, "mandate chain deeper than \(maxDepth)") }
        guard root.kind == .artifact else {
            throw AttestError(.mandateParentMissing, "chain starts with a mandate whose parent is absent")
        }
        let signer = try root.verifySignature()
        guard trustedAuthorities.contains(ExactString(signer.thumbprint)) else {
            throw AttestError(.artifactSignerUntrusted, "artifact \(root.id) is signed by untrusted key \(signer.thumbprint)")
        }
        for (parent, child) in zip(chain, chain.dropFirst()) {
            try checkDerivation(child, of: parent)
        }
        return leaf
    }

    /// Orders a set of artifacts into the chain that ends at `leafDigest`.
    public static func chain(endingAt leafDigest: String, from artifacts: [ExactString: Artifact]) throws(AttestError) -> [Artifact] {
        var chain: [Artifact] = []
        var digest: String? = leafDigest
        while let d = digest {
            guard let a = artifacts[ExactString(d)] else {
                throw AttestError(.mandateParentMissing, "artifact \(d) is not in the bundle")
            }
            chain.append(a)
            guard chain.count <= maxDepth else { throw AttestError(.artifactMalformed, "mandate chain deeper than \(maxDepth)") }
            digest = a.parent
        }
        return chain.reversed()
    }

    /// The narrowing steps of mandate.md, in order.
    public static func checkDerivation(_ child: Artifact, of parent: Artifact) throws(AttestError) {
        guard child.kind == .mandate, let named = child.parent, named.isExactly(parent.digest) else {
            throw AttestError(.mandateParentMissing, "mandate \(child.id) does not name \(parent.id) as its parent")
        }
        let signer = try child.verifySignature()
        guard signer.thumbprint.isExactly(parent.subjectKey) else {
            throw AttestError(.mandateSignerNotSubject, "mandate \(child.id) is not signed by the subject key of \(parent.id)")
        }
        guard child.notBefore >= parent.notBefore, child.notAfter <= parent.notAfter else {
            throw AttestError(.mandateWidensValidity, "mandate \(child.id) is valid outside its parent's window")
        }
        for origin in child.logOrigins where !parent.logOrigins.contains(origin) {
            throw AttestError(.mandateLogMismatch, "mandate \(child.id) writes to log \(origin), which its parent does not name")
        }
        let tools = child.tools.keys.sorted()
        for name in tools where parent.tools[name] == nil {
            throw AttestError(.mandateWidensTools, "mandate \(child.id) allows tool \(name), which its parent does not")
        }
        for name in tools {
            guard let mine = child.tools[name], let theirs = parent.tools[name] else { continue }
            try checkArguments(mine, narrows: theirs, tool: name)
        }
        for name in tools {
            guard let mine = child.tools[name], let theirs = parent.tools[name] else { continue }
            guard narrows(mine.rateLimit, theirs.rateLimit) else {
                throw AttestError(.mandateWidensRateLimit, "mandate \(child.id) raises the rate limit of \(name)")
            }
        }
        guard narrows(child.rateLimit, parent.rateLimit) else {
            throw AttestError(.mandateWidensRateLimit, "mandate \(child.id) raises the overall rate limit")
        }
        // A pin the parent has is kept as it is; one the parent lacks may be added.
        if let pinned = parent.upstream, child.upstream != pinned {
            throw AttestError(.mandateWidensConstraint, "mandate \(child.id) drops or changes its parent's upstream")
        }
        // The parent's drift action and tool-list pin are kept; its sequences and burst stay
        // in force under the mandate (artifact.md §Evaluation), which may only add its own.
        if let pinned = parent.driftRules {
            guard let mine = child.driftRules, mine.action == pinned.action,
                  mine.toolsDigest.map({ ExactString($0) }) == pinned.toolsDigest.map({ ExactString($0) }) else {
                throw AttestError(.mandateWidensConstraint, "mandate \(child.id) drops or changes its parent's on_drift or tools_sha256")
            }
        }
    }

    static func checkArguments(_ child: Artifact.ToolPolicy, narrows parent: Artifact.ToolPolicy, tool: ExactString) throws(AttestError) {
        func widened(_ why: String) -> AttestError { AttestError(.mandateWidensConstraint, "tool \(tool): \(why)") }
        for name in parent.arguments.keys.sorted() {
            guard let constraint = parent.arguments[name], let mine = child.arguments[name] else {
                throw widened("drops the constraint on \(name)")
            }
            guard mine.isNarrower(than: constraint) else { throw widened("widens the constraint on \(name)") }
        }
        guard parent.required.isSubset(of: child.required) else { throw widened("drops a required argument") }
        for name in child.arguments.keys.sorted() where parent.arguments[name] == nil && !parent.additionalArguments {
            throw widened("constrains \(name), which its parent does not allow at all")
        }
        if child.additionalArguments && !parent.additionalArguments { throw widened("allows additional arguments") }
    }

    /// A limit of at most m′ calls per w′ seconds narrows m per w when m′ ≤ m and w′ ≥ w.
    static func narrows(_ child: Artifact.RateLimit?, _ parent: Artifact.RateLimit?) -> Bool {
        guard let parent else { return true }
        guard let child else { return false }
        return child.max <= parent.max && child.window >= parent.window
    }
}
