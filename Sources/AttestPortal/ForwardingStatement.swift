import AttestCore
import AttestEvidence

/// The forwarding statement a portal attaches to a `tools/call` it forwards
/// (statement.md §Issuing a statement).
enum ForwardingStatement {
    /// The params as forwarded: any statement member the client sent removed from `_meta`,
    /// and, when the configuration names an audience and the call is a `tools/call`, the
    /// portal's statement for the `ALLOW` set in its place.
    static func params(_ params: JSONObject, method: String, allow: Receipt, configuration: PortalConfiguration) -> JSONObject {
        var params = params
        if case .object(var meta)? = params["_meta"], meta[Statement.metaKey] != nil {
            meta[Statement.metaKey] = nil
            params["_meta"] = .object(meta)
        }
        guard let audience = configuration.statementAudience, method.isExactly("tools/call") else { return params }
        // Signing with a well-formed key does not fail; if the library ever did, the call is
        // forwarded without a statement and a verifying server refuses it (STM_MISSING).
        return (try? Statement.attach(params, log: allow.log, seq: allow.seq, iat: allow.time, audience: audience,
                                      key: configuration.logKey)) ?? params
    }
}
