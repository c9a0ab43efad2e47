import AttestCore
import AttestEvidence
import Foundation
import GRDB

/// Where a portal learns of revocations (portal.md §Revocation): the digests of artifacts
/// and mandates the operator revoked. Digests are compared by their UTF-8 bytes.
///
/// Both operations fail closed: a store that cannot be read throws, and the portal then
/// refuses the request rather than decide it without knowing whether its chain is revoked.
public protocol RevocationStore: Sendable {
    /// Records that `digest` is revoked from `time` on (once: revoking it again changes nothing).
    func revoke(digest: String, time: Int64) async throws(AttestError)
    /// Those of `digests` that are revoked, in their order.
    func revoked(among digests: [String]) async throws(AttestError) -> [String]
}

/// The portal's own store holds revocations too: a single portal needs no shared state,
/// and `attest portal revoke --store` writes here while the portal runs.
extension PortalStore: RevocationStore {
    public func revoke(digest: String, time: Int64) async throws(AttestError) {
        do {
            try await queue.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO revocations (digest, time) VALUES (?, ?)", arguments: [Data(digest.utf8), time])
            }
        } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot record the revocation: \(error)")
        }
    }

    public func revoked(among digests: [String]) async throws(AttestError) -> [String] {
        do { return try await queue.read { db in try Self.revoked(among: digests, db) } } catch {
            throw AttestError(.portalReceiptWriteFailed, "the store cannot be read: \(error)")
        }
    }

    static func revoked(among digests: [String], _ db: Database) throws -> [String] {
        try digests.filter { digest in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM revocations WHERE digest = ?"), arguments: [Data(digest.utf8)]) ?? false
        }
    }
}

extension Portal {
    // MARK: Revocation

    /// The digests of `chain` that the shared state holds as revoked (portal.md §Revocation),
    /// asked on every governed request before it is decided; empty without a shared state.
    func sharedRevocations(of chain: [Artifact]?, gate: SharedStateGate?) async -> Result<[String], AttestError> {
        guard let gate, let chain else { return .success([]) }
        do { return .success(try await gate.revoked(among: chain.map(\.digest))) } catch { return .failure(error) }
    }

    /// Inside the log writer, before a request under `chain` is decided: the digests of the
    /// chain revoked in the portal's store or in `shared`; each that this log has not
    /// recorded yet gets its `REVOKE` entry now, ahead of the decision. Returns whether the
    /// chain holds a revoked digest.
    func recordRevocations(of chain: [Artifact], shared: [String], state: inout LogWriter.State, _ db: Database) throws -> Bool {
        let digests = chain.map(\.digest)
        var revoked = try PortalStore.revoked(among: digests, db)
        for digest in shared where !revoked.contains(where: { $0.isExactly(digest) }) { revoked.append(digest) }
        for digest in revoked {
            let key = Data(digest.utf8)
            let logged = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM logged_revocations WHERE digest = ?"), arguments: [key]) ?? false
            if logged { continue }
            let time = max(clock(), state.lastTime)
            let fields: JSONObject = [
                "log": .string(configuration.origin), "seq": .number(JSONNumber(Double(state.size))),
                "time": .number(JSONNumber(Double(time))), "prev": .string(Base64URL.encode(state.lastLink)),
                "artifact": .string(digest), "decision": .string(Receipt.Decision.revoke.rawValue),
            ]
            let receipt = try append(fields, payload: nil, state: &state, db)
            try db.execute(sql: "INSERT INTO logged_revocations (digest, seq) VALUES (?, ?)", arguments: [key, Int64(receipt.seq)])
            logger.notice("revocation recorded in the log", metadata: ["artifact": "\(digest)", "seq": "\(receipt.seq)"])
        }
        return !revoked.isEmpty
    }

    // MARK: Shadow mode

    /// In shadow mode, the code a call that enforcement denies is forwarded with (portal.md
    /// §Shadow mode); nil when the call is denied as usual. Never shadowed: a revoked chain,
    /// an upstream that is not the pinned one (ART-006), and a shared state that cannot
    /// decide (POR-016): shadow mode relaxes the policy, not what may be forwarded to.
    func shadowing(_ code: ErrorCode?) -> ErrorCode? {
        guard configuration.shadow, let code else { return nil }
        switch code {
        case .portalArtifactRevoked, .portalUpstreamDrift, .proofReplayStoreUnavailable: return nil
        default: return code
        }
    }

    // MARK: Policy reload

    /// Replaces the root artifacts the portal enforces, without a restart (portal.md
    /// §Policy reload): the new set is checked as a configuration is (POR-013), kept in the
    /// store beside every artifact before it (a bundle export holds both), and decides
    /// every request from the next one on. A set that fails the checks changes nothing.
    public func reload(artifacts: [Artifact]) throws(PortalConfigurationError) {
        var candidate = configuration
        candidate.artifacts = artifacts
        try candidate.validate()
        do { try store.keep(artifacts) } catch {
            throw PortalConfigurationError("the reloaded artifacts cannot be kept in the store: \(error.message)")
        }
        enforced.value = artifacts
        logger.notice("policy reloaded", metadata: ["artifacts": "\(artifacts.map(\.digest).joined(separator: " "))"])
    }
}
