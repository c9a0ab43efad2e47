import AttestCore
import Foundation

/// One refresh of an issuer's key set: its metadata, then the key set the metadata
/// names, each with the checks of spec/keys.md in their fixed order.
struct KeySetFetch: Sendable {
    static let metadataPath = "/.well-known/agent-attestation-issuer"
    static let tokenType = "agent-attestation+jwt"

    let transport: any DiscoveryTransport
    let policy: DiscoveryPolicy

    /// The well-known metadata URL of an issuer: the issuer URL without a trailing `/`,
    /// then the metadata path.
    static func metadataURL(issuer: String) -> String {
        (issuer.utf8.last == UInt8(ascii: "/") ? String(decoding: issuer.utf8.dropLast(), as: UTF8.self) : issuer) + metadataPath
    }

    /// Fetches the key set; `fetched` receives every URL requested, redirects included,
    /// also when the refresh fails.
    func run(issuer: String, fetched: inout [String]) async throws(AttestError) -> (keys: JWKS, lifetime: Int64) {
        try Self.requireHTTPS(issuer, what: "issuer URL")
        let metadataResponse = try await get(Self.metadataURL(issuer: issuer), limit: policy.maxMetadataBytes, fetched: &fetched)
        let jwksURI = try Self.checkMetadata(try StrictJSONParser().parse(metadataResponse.body), issuer: issuer)
        let keySetResponse = try await get(jwksURI, limit: policy.maxKeySetBytes, fetched: &fetched)
        let keys = try JWKS(json: try StrictJSONParser().parse(keySetResponse.body))
        return (keys, policy.cacheLifetime(cacheControl: keySetResponse.cacheControl))
    }

    /// The metadata checks in order: an object; `issuer` a string equal to the issuer
    /// URL; `jwks_uri` a string naming an HTTPS URL; `token_types` an array of strings
    /// holding the token type. Returns `jwks_uri`.
    static func checkMetadata(_ value: JSONValue, issuer: String) throws(AttestError) -> String {
        guard case .object(let metadata) = value else {
            throw AttestError(.discoveryMetadataInvalid, "issuer metadata is not a JSON object")
        }
        guard case .string(let named)? = metadata["issuer"] else {
            throw AttestError(.discoveryMetadataInvalid, "issuer metadata has no string \"issuer\"")
        }
        guard named.isExactly(issuer) else {
            throw AttestError(.discoveryIssuerMismatch, "metadata fetched for \(issuer) names issuer \(named)")
        }
        guard case .string(let jwksURI)? = metadata["jwks_uri"] else {
            throw AttestError(.discoveryMetadataInvalid, "issuer metadata has no string \"jwks_uri\"")
        }
        try requireHTTPS(jwksURI, what: "jwks_uri")
        guard case .array(let types)? = metadata["token_types"],
              types.allSatisfy({ $0.stringValue != nil }), types.contains(.string(tokenType)) else {
            throw AttestError(.discoveryMetadataInvalid, "issuer metadata \"token_types\" is not an array of strings holding \(tokenType)")
        }
        return jwksURI
    }

    static func requireHTTPS(_ url: String, what: String) throws(AttestError) {
        guard let parsed = URL(string: url), parsed.scheme?.isExactly("https") == true, let host = parsed.host, !host.isEmpty else {
            throw AttestError(.discoveryNotHTTPS, "\(what) \(url) is not an https URL")
        }
    }

    /// One document: follows at most `maxRedirects` redirects, each to an HTTPS URL,
    /// and accepts status 200 only.
    private func get(_ start: String, limit: Int, fetched: inout [String]) async throws(AttestError) -> DiscoveryResponse {
        var url = start
        var redirects = 0
        while true {
            fetched.append(url)
            let response = try await transport.get(url, maxBytes: limit)
            guard response.body.count <= limit else {
                throw AttestError(.discoveryTooLarge, "\(url) returned \(response.body.count) bytes; the limit is \(limit)")
            }
            switch response.status {
            case 200:
                return response
            case 301, 302, 303, 307, 308:
                guard redirects < policy.maxRedirects else {
                    throw AttestError(.discoveryRedirectLimit, "\(start) redirects more than \(policy.maxRedirects) times")
                }
                guard let location = response.location,
                      let target = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString else {
                    throw AttestError(.discoveryHTTPStatus, "\(url) answered \(response.status) without a usable Location")
                }
                try Self.requireHTTPS(target, what: "redirect target")
                redirects += 1
                url = target
            default:
                throw AttestError(.discoveryHTTPStatus, "\(url) answered \(response.status)")
            }
        }
    }
}
