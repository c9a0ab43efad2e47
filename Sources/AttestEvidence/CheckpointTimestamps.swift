import AttestCore

/// The optional `timestamps` member of a bundle checkpoint line (bundle.md §Timestamp
/// authorities): RFC 3161 responses over the line's note, each with the salt it was
/// requested with (checkpoint.md §Timestamp tokens).
enum CheckpointTimestamps {
    /// The most timestamps one checkpoint line may carry.
    static let maxTimestamps = 16

    /// The member's shape (`BND_MALFORMED`): an array of at most 16 objects, each exactly
    /// `{token, salt}` with base64url text. Nil member: no timestamps.
    static func parse(_ value: JSONValue?) throws(AttestError) -> [(token: [UInt8], salt: [UInt8])] {
        guard let value else { return [] }
        guard let items = value.arrayValue, items.count <= maxTimestamps else {
            throw AttestError(.bundleMalformed, "timestamps is an array of at most \(maxTimestamps) {token, salt}")
        }
        var stamps: [(token: [UInt8], salt: [UInt8])] = []
        for item in items {
            guard let o = item.objectValue, o.count == 2, let token = o["token"]?.stringValue, let salt = o["salt"]?.stringValue,
                  let tokenBytes = try? Base64URL.decode(token), let saltBytes = try? Base64URL.decode(salt),
                  tokenBytes.count <= TimestampToken.maxBytes
            else { throw AttestError(.bundleMalformed, "a timestamp is {token, salt}, each base64url, the token at most 64 KiB") }
            stamps.append((tokenBytes, saltBytes))
        }
        return stamps
    }

    /// The genTime of each timestamp, verified over `note` under one of the trusted
    /// authority certificates; none when no certificate is given (the timestamps are then
    /// ignored). A timestamp that verifies under none of them fails with the code of the
    /// certificate whose verification got furthest: a certificate that the signer
    /// identifier names when there is one (steps 1 to 4 give the same code under each).
    static func verify(_ stamps: [(token: [UInt8], salt: [UInt8])], note: String,
                       certificates: [TimestampToken.Certificate]) throws(AttestError) -> [Int64] {
        guard !certificates.isEmpty else { return [] }
        let bytes = Array(note.utf8)
        var times: [Int64] = []
        for stamp in stamps {
            var failure: AttestError?
            var time: Int64?
            for certificate in certificates {
                do {
                    time = try TimestampToken.verify(response: stamp.token, note: bytes, salt: stamp.salt, certificate: certificate)
                    break
                } catch {
                    if failure == nil || failure?.code == .timestampSignerUntrusted { failure = error }
                }
            }
            guard let time else {
                throw failure ?? AttestError(.timestampSignerUntrusted, "no trusted authority certificate")
            }
            times.append(time)
        }
        return times
    }
}
