import AttestCore

/// One HTTP response as discovery reads it: the status, the two headers it uses and the body.
public struct DiscoveryResponse: Sendable {
    public var status: Int
    public var location: String?
    public var cacheControl: String?
    public var body: [UInt8]

    public init(status: Int, location: String? = nil, cacheControl: String? = nil, body: [UInt8] = []) {
        self.status = status
        self.location = location
        self.cacheControl = cacheControl
        self.body = body
    }
}

/// Performs one GET for key discovery.
///
/// A conforming transport follows no redirect (discovery follows them itself, to HTTPS
/// only), validates the server's certificate chain and name, refuses a body longer than
/// `maxBytes` with `DISC_TOO_LARGE` without reading the rest, and reports every other
/// failure below HTTP (connection, TLS, timeout) as `DISC_TRANSPORT`.
public protocol DiscoveryTransport: Sendable {
    func get(_ url: String, maxBytes: Int) async throws(AttestError) -> DiscoveryResponse
}
