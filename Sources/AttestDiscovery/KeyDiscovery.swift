import AttestCore
import AttestIdentity

/// Issuer metadata and key-set discovery (spec/keys.md, "Issuer metadata and key
/// discovery"): keeps each configured issuer's key set fresh and hands the verifier
/// a trust configuration. Verification itself never fetches; call `prepare(token:now:)`
/// (or `lookup`) first, then verify against `trustedIssuers(now:)`.
///
/// Only configured issuers are ever fetched, at their well-known URL; nothing a token
/// names is fetched. Concurrent lookups of one issuer share one refresh.
public actor KeyDiscovery: IssuerKeySource {
    public struct Issuer: Sendable {
        public let issuer: String
        public let trustDomains: [String]

        public init(issuer: String, trustDomains: some Sequence<String>) {
            self.issuer = issuer
            self.trustDomains = Array(trustDomains)
        }
    }

    /// What one lookup did: the URLs it requested, whether the key is now usable, and
    /// what went wrong (a failed fetch, a pause, an untrusted issuer, an unknown key).
    public struct Lookup: Sendable, Equatable {
        public let fetched: [String]
        public let found: Bool
        public let error: AttestError?
    }

    /// Keyed by the exact issuer URL: a token's `iss` selects an issuer only when it is the
    /// same code points (TOK-021, KEY-023).
    private let issuers: [ExactString: Issuer]
    private let fetch: KeySetFetch
    private var states: [ExactString: IssuerKeyState] = [:]
    private var refreshes: [ExactString: Task<(fetched: [String], error: AttestError?), Never>] = [:]

    public init(issuers: [Issuer], transport: any DiscoveryTransport, policy: DiscoveryPolicy = .init()) throws(AttestError) {
        for issuer in issuers { try KeySetFetch.requireHTTPS(issuer.issuer, what: "issuer URL") }
        self.issuers = Dictionary(issuers.map { (ExactString($0.issuer), $0) }, uniquingKeysWith: { first, _ in first })
        self.fetch = KeySetFetch(transport: transport, policy: policy)
    }

    /// Makes the key `kid` of `issuer` usable if the rules allow a fetch for it.
    public func lookup(issuer: String, kid: String, now: Int64) async -> Lookup {
        let issuer = ExactString(issuer)
        guard let configured = issuers[issuer] else {
            return Lookup(fetched: [], found: false,
                          error: AttestError(.tokenIssuerUntrusted, "issuer \"\(issuer)\" is not configured; it is not fetched"))
        }
        var fetched: [String] = []
        var failure: AttestError?
        let state = states[issuer, default: IssuerKeyState()]
        if let running = refreshes[issuer] {
            failure = await running.value.error
        } else if state.refreshDue(kid: kid, now: now, policy: fetch.policy) {
            if state.paused(now: now) {
                failure = AttestError(.discoveryCircuitOpen, "fetches of \(issuer) are paused until \(state.pauseUntil)")
            } else {
                (fetched, failure) = await refresh(issuer: issuer, url: configured.issuer, now: now)
            }
        }
        if states[issuer]?.usableKeys(now: now)?.key(id: kid) != nil {
            return Lookup(fetched: fetched, found: true, error: failure)
        }
        return Lookup(fetched: fetched, found: false,
                      error: failure ?? AttestError(.tokenKeyIDUnknown, "kid \(kid) is not in the key set of \(issuer)"))
    }

    /// Looks up the key a token names, reading its `iss` and `kid` before verification.
    /// Returns nil for a token that does not parse: verification reports why.
    public func prepare(token: String, now: Int64) async -> Lookup? {
        guard let jws = try? CompactJWS.parse(token, as: .token, acceptLegacyEdDSA: true),
              let iss = jws.payload["iss"]?.stringValue, let kid = jws.keyID else { return nil }
        return await lookup(issuer: iss, kid: kid, now: now)
    }

    public func refresh(forToken token: String, now: Int64) async {
        _ = await prepare(token: token, now: now)
    }

    /// The trust configuration at `now`: every configured issuer with its usable key
    /// set, or with no keys once its set's cache lifetime has ended.
    public func trustedIssuers(now: Int64) -> [TrustedIssuer] {
        issuers.sorted { $0.key < $1.key }.map { key, issuer in
            let keys = states[key]?.usableKeys(now: now) ?? KeyDiscovery.noKeys
            return TrustedIssuer(issuer: issuer.issuer, keys: keys, trustDomains: issuer.trustDomains)
        }
    }

    /// When the issuer's current key set stops being usable, or nil before any success.
    public func keySetExpiry(issuer: String) -> Int64? {
        guard let state = states[ExactString(issuer)], state.keys != nil else { return nil }
        return state.freshUntil
    }

    private static let noKeys = try! JWKS(keys: [])  // trap-free: no keys, so no duplicate kid and none too many

    /// Fetches the set; the state changes on the actor before the task ends, so every
    /// lookup waiting on the same refresh sees its result.
    private func refresh(issuer: ExactString, url: String, now: Int64) async -> (fetched: [String], error: AttestError?) {
        states[issuer, default: IssuerKeyState()].attempted(now: now)
        let fetch = self.fetch
        let task = Task { () -> (fetched: [String], error: AttestError?) in
            var fetched: [String] = []
            var failure: AttestError?
            do throws(AttestError) {
                let result = try await fetch.run(issuer: url, fetched: &fetched)
                states[issuer, default: IssuerKeyState()].succeeded(keys: result.keys, lifetime: result.lifetime, now: now)
            } catch {
                states[issuer, default: IssuerKeyState()].failed(now: now, policy: fetch.policy)
                failure = error
            }
            refreshes[issuer] = nil
            return (fetched, failure)
        }
        refreshes[issuer] = task
        return await task.value
    }
}
