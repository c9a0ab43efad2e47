import AttestCore
import AttestEvidence

/// The op of statement.md: a server's verification of a forwarding statement.
enum StatementOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "statement.verify", document: "statement") { args in
            guard case .object(let params) = try args.value("params") else { throw OpInputError(description: "params is not an object") }
            guard let audience = args.context["audience"]?.stringValue else { throw OpInputError(description: "context audience is not a string") }
            let trusted = try args.contextArray("trusted").map { v in
                guard let s = v.stringValue else { throw OpInputError(description: "a trusted key is not a string") }
                return s
            }
            var cache = StatementReplayCache(capacity: try args.contextLimit("replay_capacity") ?? 100_000)
            for entry in args.context["seen"]?.arrayValue ?? [] {
                guard let log = entry["log"]?.stringValue, let seq = entry["seq"]?.integerValue, let expires = entry["expires"]?.integerValue else {
                    throw OpInputError(description: "a seen entry is not {log, seq, expires}")
                }
                cache.insert(log: log, seq: seq, expires: expires)
            }
            let verifier = StatementVerifier(trusted: trusted, audience: audience,
                                             maxAge: Int64(try args.contextLimit("max_age") ?? 60),
                                             leeway: Int64(try args.contextLimit("leeway") ?? 5), cache: cache)
            let verified = try verifier.verify(params: params, now: Int64(try args.contextLimit("now") ?? 0))
            return ["log": .string(verified.log), "seq": .number(JSONNumber(Double(verified.seq))),
                    "replay_expires": .number(JSONNumber(Double(verified.replayExpires)))]
        },
    ]
}
