/// The closed error registry. The raw values are the stable registry codes; the
/// table in `spec/errors.md` lists exactly these, which `attest check` verifies in
/// both directions.
public enum ErrorCode: String, CaseIterable, Sendable, Codable {
    // Strict JSON (spec/json.md)
    case jsonInvalidUTF8 = "JSON_INVALID_UTF8"
    case jsonByteOrderMark = "JSON_BYTE_ORDER_MARK"
    case jsonSyntax = "JSON_SYNTAX"
    case jsonDuplicateMember = "JSON_DUPLICATE_MEMBER"
    case jsonLoneSurrogate = "JSON_LONE_SURROGATE"
    case jsonNumberOutOfRange = "JSON_NUMBER_OUT_OF_RANGE"
    case jsonTooLarge = "JSON_TOO_LARGE"
    case jsonTooDeep = "JSON_TOO_DEEP"

    // base64url and hex (spec/encoding.md)
    case base64Padding = "B64_PADDING"
    case base64Whitespace = "B64_WHITESPACE"
    case base64InvalidCharacter = "B64_INVALID_CHARACTER"
    case base64InvalidLength = "B64_INVALID_LENGTH"
    case base64NonZeroTrailingBits = "B64_NONZERO_TRAILING_BITS"

    // Signatures and keys (spec/signatures.md, spec/jwk.md)
    case signatureInvalid = "SIG_INVALID"
    case signatureLength = "SIG_LENGTH"
    case keyInvalid = "KEY_INVALID"
    case algorithmUnsupported = "ALG_UNSUPPORTED"
    case jwkMissingMember = "JWK_MISSING_MEMBER"
    case jwkInvalidMember = "JWK_INVALID_MEMBER"
    case jwkUnknownMember = "JWK_UNKNOWN_MEMBER"
    case jwkUnsupportedKeyType = "JWK_UNSUPPORTED_KEY_TYPE"
    case jwkPrivateMaterial = "JWK_PRIVATE_MATERIAL"
    case jwksDuplicateKeyID = "JWKS_DUPLICATE_KID"
    case jwksTooManyKeys = "JWKS_TOO_MANY_KEYS"

    // Merkle trees (spec/merkle.md)
    case merkleIndexOutOfRange = "MRK_INDEX_OUT_OF_RANGE"
    case merkleHashLength = "MRK_HASH_LENGTH"
    case merkleSizeOrder = "MRK_SIZE_ORDER"
    case merkleInclusionInvalid = "MRK_INCLUSION_INVALID"
    case merkleConsistencyInvalid = "MRK_CONSISTENCY_INVALID"
}
