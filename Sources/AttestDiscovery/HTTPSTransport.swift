import AsyncHTTPClient
import AttestCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// The discovery transport over HTTPS, on AsyncHTTPClient: certificate chain and host
/// name validated against the given trust roots, no redirect followed, TLS 1.2 or later,
/// and a body over the limit refused from its `Content-Length` or, without one, as soon
/// as the bytes read pass the limit.
public final class HTTPSDiscoveryTransport: DiscoveryTransport {
    public enum TrustRoots: Sendable {
        /// The system's CA certificates.
        case system
        /// Only the CA certificates in this PEM file (a private PKI, or a test CA).
        case pemFile(String)
    }

    private let client: HTTPClient
    private let deadline: TimeAmount

    public init(trustRoots: TrustRoots = .system, connectTimeout: TimeAmount = .seconds(5),
                deadline: TimeAmount = .seconds(15)) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if case .pemFile(let path) = trustRoots { tls.trustRoots = .file(path) }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: deadline))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.deadline = deadline
    }

    /// Closes the client's connections; call once, after the last fetch.
    public func shutdown() async throws { try await client.shutdown() }

    /// A transport dropped without `shutdown()` still closes its client (a second
    /// shutdown reports an error, which does not matter here).
    deinit { client.shutdown { _ in } }

    public func get(_ url: String, maxBytes: Int) async throws(AttestError) -> DiscoveryResponse {
        try KeySetFetch.requireHTTPS(url, what: "URL")
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: deadline)
        } catch {
            throw AttestError(.discoveryTransport, "GET \(url): \(error)")
        }
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBytes {
            throw AttestError(.discoveryTooLarge, "\(url) announces \(length) bytes; the limit is \(maxBytes)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw AttestError(.discoveryTooLarge, "\(url) sent more than \(maxBytes) bytes")
        } catch {
            throw AttestError(.discoveryTransport, "reading \(url): \(error)")
        }
        return DiscoveryResponse(
            status: Int(response.status.code), location: response.headers.first(name: "Location"),
            cacheControl: response.headers[canonicalForm: "Cache-Control"].map(String.init).joined(separator: ", ").nilIfEmpty,
            body: Array(buffer: body))
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
