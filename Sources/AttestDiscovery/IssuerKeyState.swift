import AttestCore

/// What a verifier remembers of one issuer's key set: the last good set and until when
/// it may be used, when it last tried to fetch, and its failure count and pause.
/// Times are seconds since the epoch, always passed in.
struct IssuerKeyState: Sendable {
    private(set) var keys: JWKS?
    private(set) var freshUntil: Int64 = .min
    private(set) var lastAttempt: Int64?
    private(set) var consecutiveFailures = 0
    private(set) var pauseUntil: Int64 = .min
    private var pause: Int64 = 0

    /// The set, while its cache lifetime lasts; afterwards the issuer has no keys.
    func usableKeys(now: Int64) -> JWKS? { now < freshUntil ? keys : nil }

    /// A refresh is due when there is no usable set, or when the set lacks `kid` and the
    /// last fetch began at least the refetch interval ago.
    func refreshDue(kid: String, now: Int64, policy: DiscoveryPolicy) -> Bool {
        guard let keys = usableKeys(now: now) else { return true }
        guard keys.key(id: kid) == nil else { return false }
        guard let lastAttempt else { return true }
        return now - lastAttempt >= policy.unknownKeyRefetchInterval
    }

    func paused(now: Int64) -> Bool { now < pauseUntil }

    mutating func attempted(now: Int64) { lastAttempt = now }

    mutating func succeeded(keys: JWKS, lifetime: Int64, now: Int64) {
        self.keys = keys
        freshUntil = now + lifetime
        consecutiveFailures = 0
        pause = 0
    }

    /// A failed refresh changes no key; from the configured count of consecutive
    /// failures on, each one pauses fetching, twice as long as the pause before.
    mutating func failed(now: Int64, policy: DiscoveryPolicy) {
        consecutiveFailures += 1
        guard consecutiveFailures >= policy.failuresBeforePause else { return }
        pause = pause == 0 ? policy.firstPause : min(pause * 2, policy.maxPause)
        pauseUntil = now + pause
    }
}
