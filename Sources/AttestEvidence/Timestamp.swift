import AttestCore
import enum Crypto.P256
import Foundation

/// RFC 3161 timestamp tokens over checkpoint notes (checkpoint.md §Timestamp tokens).
///
/// The operator asks a timestamp authority (TSA) to timestamp SHA-256(salt ‖ note) with a
/// 32-byte salt it keeps, so the authority learns nothing about the log; the token's
/// genTime then bounds the times of the receipts the checkpoint covers, like a witness
/// cosignature's timestamp. Verification is in-process and deterministic: the authority's
/// certificate is a trust input, pinned by its issuer and serial number, and only ECDSA
/// P-256 with SHA-256 signatures are verified.
public enum TimestampToken {
    /// The largest response read.
    public static let maxBytes = 65536
    public static let saltLength = 32

    static let oidSignedData: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]
    static let oidTSTInfo: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x04]
    static let oidSHA256: [UInt8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]
    static let oidECDSAWithSHA256: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
    static let oidECPublicKey: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
    static let oidP256: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
    static let oidContentTypeAttribute: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03]
    static let oidMessageDigestAttribute: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04]
    static let oidExtendedKeyUsage: [UInt8] = [0x55, 0x1D, 0x25]
    static let oidTimeStamping: [UInt8] = [0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08]

    /// The message imprint: SHA-256(salt ‖ note bytes).
    public static func imprint(note: [UInt8], salt: [UInt8]) -> [UInt8] {
        SHA256.hash(salt + note)
    }

    /// A DER TimeStampReq (RFC 3161 §2.4.1): version 1, the SHA-256 message imprint, the
    /// nonce (a positive INTEGER of its bytes) and certReq true.
    public static func request(imprint: [UInt8], nonce: [UInt8]) -> [UInt8] {
        let algorithm = der(DERReader.sequence, der(DERReader.oid, oidSHA256) + der(DERReader.null, []))
        let messageImprint = der(DERReader.sequence, algorithm + der(DERReader.octetString, imprint))
        var n = Array(nonce.drop(while: { $0 == 0 }))
        if n.isEmpty || n[0] & 0x80 != 0 { n.insert(0, at: 0) }
        return der(DERReader.sequence, der(DERReader.integer, [1]) + messageImprint + der(DERReader.integer, n)
            + der(DERReader.boolean, [0xFF]))
    }

    static func der(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var n = content.count
            while n > 0 { length.insert(UInt8(n & 0xFF), at: 0); n >>= 8 }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }

    /// The trusted authority's certificate, read before the token (`KEY_INVALID` when it is
    /// not an X.509 certificate of the form read here).
    public struct Certificate: Sendable {
        public let der: [UInt8]
        let issuer: [UInt8]
        let serial: [UInt8]
        let notBefore: Int64
        let notAfter: Int64
        /// The extendedKeyUsage extension: its criticality and its purposes' OID contents.
        let extendedKeyUsage: (critical: Bool, purposes: [[UInt8]])?
        /// The P-256 public key, when the subject key is one.
        let p256: P256.Signing.PublicKey?

        public init(der bytes: [UInt8]) throws(AttestError) {
            guard bytes.count <= TimestampToken.maxBytes else { throw AttestError(.keyInvalid, "TSA certificate over 64 KiB") }
            let code = ErrorCode.keyInvalid
            var outer = DERReader(bytes[...], code: code)
            let certificate = try outer.next(DERReader.sequence)
            try outer.end()
            var c = certificate.reader(code)
            var tbs = try c.next(DERReader.sequence).reader(code)
            _ = try c.algorithm()
            _ = try c.next(DERReader.bitString)
            try c.end()
            _ = try tbs.optional(DERReader.context(0))
            serial = Array(try tbs.next(DERReader.integer).encoded)
            _ = try tbs.algorithm()
            issuer = Array(try tbs.next(DERReader.sequence).encoded)
            var validity = try tbs.next(DERReader.sequence).reader(code)
            notBefore = try DERReader.time(try validity.next(), code: code)
            notAfter = try DERReader.time(try validity.next(), code: code)
            try validity.end()
            _ = try tbs.next(DERReader.sequence)
            var spki = try tbs.next(DERReader.sequence).reader(code)
            let keyAlgorithm = try spki.algorithm()
            let keyBits = try spki.next(DERReader.bitString).value
            try spki.end()
            if keyAlgorithm.oid.elementsEqual(TimestampToken.oidECPublicKey), let curve = keyAlgorithm.parameters,
               curve.tag == DERReader.oid, curve.value.elementsEqual(TimestampToken.oidP256)
            {
                guard keyBits.first == 0, let key = try? P256.Signing.PublicKey(x963Representation: Array(keyBits.dropFirst())) else {
                    throw AttestError(code, "TSA certificate's P-256 key does not decode")
                }
                p256 = key
            } else {
                p256 = nil
            }
            _ = try tbs.optional(0x81)
            _ = try tbs.optional(0x82)
            var usage: (critical: Bool, purposes: [[UInt8]])?
            if let extensions = try tbs.optional(DERReader.context(3)) {
                var wrapper = extensions.reader(code)
                var list = try wrapper.next(DERReader.sequence).reader(code)
                try wrapper.end()
                while !list.isEmpty {
                    var e = try list.next(DERReader.sequence).reader(code)
                    let oid = try e.next(DERReader.oid).value
                    var critical = false
                    if let flag = try e.optional(DERReader.boolean) {
                        guard flag.value.count == 1, flag.value.first == 0xFF else { throw AttestError(code, "extension criticality is not DER TRUE") }
                        critical = true
                    }
                    let value = try e.next(DERReader.octetString).value
                    try e.end()
                    guard oid.elementsEqual(TimestampToken.oidExtendedKeyUsage) else { continue }
                    guard usage == nil else { throw AttestError(code, "TSA certificate has two extendedKeyUsage extensions") }
                    var inner = DERReader(value, code: code)
                    var purposes = try inner.next(DERReader.sequence).reader(code)
                    try inner.end()
                    var found: [[UInt8]] = []
                    while !purposes.isEmpty { found.append(Array(try purposes.next(DERReader.oid).value)) }
                    usage = (critical, found)
                }
            }
            extendedKeyUsage = usage
            try tbs.end()
            der = bytes
        }
    }

    /// Verifies a DER TimeStampResp over `note` with `salt` against the trusted authority
    /// certificate, in the order of checkpoint.md §Timestamp tokens, and returns genTime in
    /// POSIX seconds (a fraction of a second dropped).
    public static func verify(response bytes: [UInt8], note: [UInt8], salt: [UInt8], certificate: Certificate)
        throws(AttestError) -> Int64
    {
        let malformed = ErrorCode.timestampMalformed
        // Step 1: the salt and the response's size.
        guard salt.count == saltLength else { throw AttestError(malformed, "the salt is not 32 bytes") }
        guard bytes.count <= maxBytes else { throw AttestError(malformed, "the response is over 64 KiB") }
        // Step 2: TimeStampResp and its status.
        var outer = DERReader(bytes[...], code: malformed)
        var response = try outer.next(DERReader.sequence).reader(malformed)
        try outer.end()
        var statusInfo = try response.next(DERReader.sequence).reader(malformed)
        let status = try DERReader.smallInteger(try statusInfo.next(), code: malformed)
        guard status == 0 || status == 1 else {
            throw AttestError(.timestampNotGranted, "the authority's status is \(status), not granted")
        }
        // Step 3: the token's structure.
        var contentInfo = try response.next(DERReader.sequence).reader(malformed)
        try response.end()
        guard try contentInfo.next(DERReader.oid).value.elementsEqual(oidSignedData) else {
            throw AttestError(malformed, "the token is not CMS SignedData")
        }
        var explicit = try contentInfo.next(DERReader.context(0)).reader(malformed)
        try contentInfo.end()
        var signedData = try explicit.next(DERReader.sequence).reader(malformed)
        try explicit.end()
        _ = try signedData.next(DERReader.integer)
        _ = try signedData.next(DERReader.set)
        var encapsulated = try signedData.next(DERReader.sequence).reader(malformed)
        guard try encapsulated.next(DERReader.oid).value.elementsEqual(oidTSTInfo) else {
            throw AttestError(malformed, "the encapsulated content is not id-ct-TSTInfo")
        }
        var eContentWrapper = try encapsulated.next(DERReader.context(0)).reader(malformed)
        try encapsulated.end()
        let eContent = try eContentWrapper.next(DERReader.octetString).value
        try eContentWrapper.end()
        _ = try signedData.optional(DERReader.context(0))
        _ = try signedData.optional(DERReader.context(1))
        var signerInfos = try signedData.next(DERReader.set).reader(malformed)
        try signedData.end()
        var signerInfo = try signerInfos.next(DERReader.sequence).reader(malformed)
        guard signerInfos.isEmpty else { throw AttestError(malformed, "the token has more than one signer") }
        _ = try signerInfo.next(DERReader.integer)
        let signerID = try signerInfo.next()
        let digestAlgorithm = try signerInfo.algorithm()
        guard let signedAttributes = try signerInfo.optional(DERReader.context(0)) else {
            throw AttestError(malformed, "the signer has no signed attributes")
        }
        let signatureAlgorithm = try signerInfo.algorithm()
        let signature = try signerInfo.next(DERReader.octetString).value
        _ = try signerInfo.optional(DERReader.context(1))
        try signerInfo.end()

        var tstOuter = DERReader(eContent, code: malformed)
        var tst = try tstOuter.next(DERReader.sequence).reader(malformed)
        try tstOuter.end()
        guard try DERReader.smallInteger(try tst.next(), code: malformed) == 1 else { throw AttestError(malformed, "TSTInfo version is not 1") }
        _ = try tst.next(DERReader.oid)
        var messageImprint = try tst.next(DERReader.sequence).reader(malformed)
        let imprintAlgorithm = try messageImprint.algorithm()
        let hashed = try messageImprint.next(DERReader.octetString).value
        try messageImprint.end()
        _ = try tst.next(DERReader.integer)
        let genTimeElement = try tst.next(DERReader.generalizedTime)
        let genTime = try DERReader.time(genTimeElement, code: malformed)

        // Step 4: the imprint is SHA-256(salt ‖ note).
        guard imprintAlgorithm.oid.elementsEqual(oidSHA256), imprintAlgorithm.plainParameters,
              hashed.elementsEqual(imprint(note: note, salt: salt))
        else { throw AttestError(.timestampImprintMismatch, "the token's message imprint is not SHA-256(salt || note)") }

        // Step 5: the signer is the trusted authority, by issuer and serial number.
        var sid = DERReader(signerID.encoded, code: .timestampSignerUntrusted)
        guard signerID.tag == DERReader.sequence,
              let issuerAndSerial = try? sid.next(DERReader.sequence),
              issuerAndSerial.value.elementsEqual(certificate.issuer + certificate.serial)
        else { throw AttestError(.timestampSignerUntrusted, "the token's signer is not the trusted authority's certificate") }

        // Step 6: the certificate is for timestamping only, critically.
        guard let usage = certificate.extendedKeyUsage, usage.critical, usage.purposes.count == 1,
              usage.purposes[0] == oidTimeStamping
        else { throw AttestError(.timestampCertificateUsage, "the authority's certificate lacks the critical timeStamping extended key usage") }

        // Step 7: genTime within the certificate's validity.
        guard certificate.notBefore <= genTime, genTime <= certificate.notAfter else {
            throw AttestError(.timestampCertificateValidity, "genTime \(genTime) is outside the certificate's validity")
        }

        // Step 8: ECDSA P-256 with SHA-256.
        guard let key = certificate.p256, digestAlgorithm.oid.elementsEqual(oidSHA256), digestAlgorithm.plainParameters,
              signatureAlgorithm.oid.elementsEqual(oidECDSAWithSHA256)
        else { throw AttestError(.timestampAlgorithmUnsupported, "only ECDSA P-256 with SHA-256 is verified") }

        // Step 9: the signed attributes bind the TSTInfo, and the signature over them verifies.
        let invalid = ErrorCode.timestampSignatureInvalid
        var attributes = DERReader(signedAttributes.value, code: invalid)
        var contentType: ArraySlice<UInt8>?
        var digest: ArraySlice<UInt8>?
        var count = 0
        while !attributes.isEmpty, count < 64 {
            count += 1
            guard var attribute = try? attributes.next(DERReader.sequence).reader(invalid),
                  let type = try? attribute.next(DERReader.oid).value,
                  var values = try? attribute.next(DERReader.set).reader(invalid)
            else { throw AttestError(invalid, "a signed attribute is malformed") }
            if type.elementsEqual(oidContentTypeAttribute) || type.elementsEqual(oidMessageDigestAttribute) {
                let isType = type.elementsEqual(oidContentTypeAttribute)
                guard (isType ? contentType : digest) == nil, let value = try? values.next(isType ? DERReader.oid : DERReader.octetString),
                      values.isEmpty
                else { throw AttestError(invalid, "a content-type or message-digest attribute is repeated or malformed") }
                if isType { contentType = value.value } else { digest = value.value }
            }
        }
        guard attributes.isEmpty, let contentType, contentType.elementsEqual(oidTSTInfo), let digest,
              digest.elementsEqual(SHA256.hash(Array(eContent)))
        else { throw AttestError(invalid, "the signed attributes do not carry the TSTInfo's content type and digest") }
        let signedBytes = [DERReader.set] + Array(signedAttributes.encoded.dropFirst())
        guard let ecdsa = try? P256.Signing.ECDSASignature(derRepresentation: Array(signature)),
              key.isValidSignature(ecdsa, for: Data(signedBytes))
        else { throw AttestError(invalid, "the authority's signature does not verify") }
        return genTime
    }
}
