import AttestCore
import AttestEvidence

extension Portal {
    /// How a denied governed request is answered when its code is a drift code
    /// (artifact.md §Upstream identity and drift): `on_drift` of the artifact in force.
    public enum DriftResponse: Sendable, Equatable {
        /// A `DENY` receipt with the code and the denial error.
        case deny(ErrorCode)
        /// A `PHANTOM` receipt with the code, answered from a sandbox, never the upstream.
        case phantom(ErrorCode)
    }

    /// The answer to a request denied with `code` under `inForce`: nil when `code` is no
    /// drift code (`PTL_BEHAVIOUR_DRIFT`, `PTL_UPSTREAM_DRIFT`), else `.phantom` when the
    /// artifact's `on_drift` is `phantom` and `.deny` otherwise. A portal without a sandbox
    /// writes a `DENY` for both, which asks less of the agent than `phantom`, never more.
    public static func driftResponse(_ code: ErrorCode, _ inForce: Artifact) -> DriftResponse? {
        guard DriftRules.beginsDrift(code.rawValue) else { return nil }
        return inForce.driftRules?.action == .phantom ? .phantom(code) : .deny(code)
    }
}

extension Portal {
    /// Tells the portal that a session will send no further request (it was closed, timed
    /// out, or was the context of one stateless request), so that its drift state is
    /// dropped: a session in drift is remembered only as long as it can still ask.
    public func endSession(_ session: String) { writer.endSession(session) }
}
