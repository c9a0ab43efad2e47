import AttestIdentity

/// The numbers of spec/keys.md's discovery rules. The defaults are the specified values;
/// tests shorten them only where a rule says a verifier may.
public struct DiscoveryPolicy: Sendable {
    /// Bounds and default of a key set's cache lifetime, in seconds (KEY-015).
    public var minCacheLifetime: Int64 = 300
    public var maxCacheLifetime: Int64 = 86_400
    public var defaultCacheLifetime: Int64 = 3_600
    /// Least time between two fetches of an issuer's set caused by unknown `kid`s (KEY-016).
    public var unknownKeyRefetchInterval: Int64 = 60
    /// Size limits of the two documents, in bytes (KEY-014).
    public var maxMetadataBytes = 16 * 1024
    public var maxKeySetBytes = 64 * 1024
    /// Redirects followed per document; each must lead to an HTTPS URL.
    public var maxRedirects = 3
    /// Consecutive failed refreshes that pause an issuer's fetches, the first pause and
    /// its ceiling, in seconds; each further failure doubles the pause.
    public var failuresBeforePause = 3
    public var firstPause: Int64 = 30
    public var maxPause: Int64 = 600

    public init() {}

    /// The cache lifetime a key-set response grants: the first `max-age` directive of its
    /// `Cache-Control` clamped to the bounds, the minimum for `no-store` or `no-cache`,
    /// and the default when the header is absent or its first `max-age` is not digits.
    public func cacheLifetime(cacheControl: String?) -> Int64 {
        guard let header = cacheControl else { return defaultCacheLifetime }
        var lifetime: Int64?
        var sawMaxAge = false
        for directive in header.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1)
            // Names compare without regard to ASCII case only: Unicode case mapping would
            // make names of other letters equal to these.
            let name = parts.first.map { $0.trimmingSpaces() } ?? ""
            if ASCII.equalIgnoringCase(name, "no-store") || ASCII.equalIgnoringCase(name, "no-cache") { return minCacheLifetime }
            guard ASCII.equalIgnoringCase(name, "max-age"), !sawMaxAge else { continue }
            sawMaxAge = true
            let value = parts.count == 2 ? parts[1].trimmingSpaces() : ""
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { continue }
            lifetime = Int64(value) ?? maxCacheLifetime  // more digits than Int64 holds: beyond any bound
        }
        guard let lifetime else { return defaultCacheLifetime }
        return min(max(lifetime, minCacheLifetime), maxCacheLifetime)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
