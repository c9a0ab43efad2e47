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

    // Issuer metadata and key-set discovery (spec/keys.md)
    case discoveryNotHTTPS = "DISC_NOT_HTTPS"
    case discoveryTransport = "DISC_TRANSPORT"
    case discoveryHTTPStatus = "DISC_HTTP_STATUS"
    case discoveryRedirectLimit = "DISC_REDIRECT_LIMIT"
    case discoveryTooLarge = "DISC_TOO_LARGE"
    case discoveryMetadataInvalid = "DISC_METADATA_INVALID"
    case discoveryIssuerMismatch = "DISC_ISSUER_MISMATCH"
    case discoveryCircuitOpen = "DISC_CIRCUIT_OPEN"

    // Merkle trees (spec/merkle.md)
    case merkleIndexOutOfRange = "MRK_INDEX_OUT_OF_RANGE"
    case merkleHashLength = "MRK_HASH_LENGTH"
    case merkleSizeOrder = "MRK_SIZE_ORDER"
    case merkleInclusionInvalid = "MRK_INCLUSION_INVALID"
    case merkleConsistencyInvalid = "MRK_CONSISTENCY_INVALID"

    // Checkpoints (spec/checkpoint.md)
    case checkpointMalformed = "CKP_MALFORMED"
    case checkpointOriginMismatch = "CKP_ORIGIN_MISMATCH"
    case checkpointNoTrustedSignature = "CKP_NO_TRUSTED_SIGNATURE"
    case checkpointSignatureInvalid = "CKP_SIGNATURE_INVALID"
    case checkpointRollback = "CKP_ROLLBACK"
    case checkpointEquivocation = "CKP_EQUIVOCATION"

    // Artifacts and mandates (spec/artifact.md, spec/mandate.md)
    case artifactMalformed = "ART_MALFORMED"
    case artifactSignatureInvalid = "ART_SIGNATURE_INVALID"
    case artifactSignerUntrusted = "ART_SIGNER_UNTRUSTED"
    case mandateSignatureInvalid = "MAN_SIGNATURE_INVALID"
    case mandateSignerNotSubject = "MAN_SIGNER_NOT_SUBJECT"
    case mandateParentMissing = "MAN_PARENT_MISSING"
    case mandateWidensValidity = "MAN_WIDENS_VALIDITY"
    case mandateWidensTools = "MAN_WIDENS_TOOLS"
    case mandateWidensConstraint = "MAN_WIDENS_CONSTRAINT"
    case mandateWidensRateLimit = "MAN_WIDENS_RATE_LIMIT"
    case mandateLogMismatch = "MAN_LOG_MISMATCH"

    // Receipts (spec/receipt.md)
    case receiptMalformed = "RCP_MALFORMED"
    case receiptSignatureInvalid = "RCP_SIGNATURE_INVALID"
    case receiptKeyUntrusted = "RCP_KEY_UNTRUSTED"
    case receiptLogMismatch = "RCP_LOG_MISMATCH"
    case receiptSequenceGap = "RCP_SEQUENCE_GAP"
    case receiptSequenceDuplicate = "RCP_SEQUENCE_DUPLICATE"
    case receiptChainBroken = "RCP_CHAIN_BROKEN"
    case receiptTimeRegression = "RCP_TIME_REGRESSION"
    case receiptCommitmentMismatch = "RCP_COMMITMENT_MISMATCH"

    // Evidence bundles (spec/bundle.md)
    case bundleMalformed = "BND_MALFORMED"
    case bundleLogUntrusted = "BND_LOG_UNTRUSTED"
    case bundleRootMismatch = "BND_ROOT_MISMATCH"
    case bundleSizeMismatch = "BND_SIZE_MISMATCH"
    case bundleFutureReceipt = "BND_FUTURE_RECEIPT"
    case bundleNoCheckpoint = "BND_NO_CHECKPOINT"

    // Portal decisions (spec/artifact.md §Evaluation; raised in DENY receipts and by bundle re-evaluation)
    case portalOutsideValidity = "PTL_OUTSIDE_VALIDITY"
    case portalToolNotAllowed = "PTL_TOOL_NOT_ALLOWED"
    case portalConstraintViolated = "PTL_CONSTRAINT_VIOLATED"
    case portalRateLimited = "PTL_RATE_LIMITED"
    case portalSubjectMismatch = "PTL_SUBJECT_MISMATCH"
    case portalUpstreamDrift = "PTL_UPSTREAM_DRIFT"
    case portalReceiptWriteFailed = "PTL_RECEIPT_WRITE_FAILED"

    // Tokens (spec/token.md): the compact JWS envelope, attestation tokens, operator attestations
    case jwsTooLarge = "JWS_TOO_LARGE"
    case jwsMalformed = "JWS_MALFORMED"
    case jwsAlgorithmNotAllowed = "JWS_ALG_NOT_ALLOWED"
    case jwsAlgorithmDeprecated = "JWS_ALG_DEPRECATED"
    case jwsAlgorithmKeyMismatch = "JWS_ALG_KEY_MISMATCH"
    case jwsTypeMissing = "JWS_TYP_MISSING"
    case jwsTypeInvalid = "JWS_TYP_INVALID"
    case jwsCritUnsupported = "JWS_CRIT_UNSUPPORTED"
    case jwsHeaderUnsupported = "JWS_HEADER_UNSUPPORTED"
    case jwsKeyMissing = "JWS_KEY_MISSING"
    case tokenClaimMissing = "TOK_CLAIM_MISSING"
    case tokenClaimInvalid = "TOK_CLAIM_INVALID"
    case tokenIssuerUntrusted = "TOK_ISSUER_UNTRUSTED"
    case tokenKeyIDUnknown = "TOK_KID_UNKNOWN"
    case tokenSignatureInvalid = "TOK_SIGNATURE_INVALID"
    case tokenAudienceNotString = "TOK_AUDIENCE_NOT_STRING"
    case tokenAudienceMismatch = "TOK_AUDIENCE_MISMATCH"
    case tokenExpired = "TOK_EXPIRED"
    case tokenNotYetValid = "TOK_NOT_YET_VALID"
    case tokenIssuedInFuture = "TOK_IAT_IN_FUTURE"
    case tokenLifetimeExceeded = "TOK_LIFETIME_EXCEEDED"
    case tokenSubjectDomainMismatch = "TOK_SUBJECT_DOMAIN_MISMATCH"
    case tokenConfirmationMissing = "TOK_CNF_MISSING"
    case operatorAttestationMissing = "TOK_OPERATOR_MISSING"
    case operatorUntrusted = "TOK_OPERATOR_UNTRUSTED"
    case operatorSignatureInvalid = "TOK_OPERATOR_SIGNATURE_INVALID"
    case operatorBindingMismatch = "TOK_OPERATOR_BINDING_MISMATCH"

    // Proofs (spec/proof.md)
    case proofTokenMissing = "PRF_TOKEN_MISSING"
    case proofMissing = "PRF_MISSING"
    case proofKeyMismatch = "PRF_KEY_MISMATCH"
    case proofSignatureInvalid = "PRF_SIGNATURE_INVALID"
    case proofClaimMissing = "PRF_CLAIM_MISSING"
    case proofClaimInvalid = "PRF_CLAIM_INVALID"
    case proofTokenHashMismatch = "PRF_TOKEN_HASH_MISMATCH"
    case proofMethodMismatch = "PRF_METHOD_MISMATCH"
    case proofAudienceMismatch = "PRF_AUDIENCE_MISMATCH"
    case proofParamsHashMismatch = "PRF_PARAMS_HASH_MISMATCH"
    case proofIssuedInFuture = "PRF_IAT_IN_FUTURE"
    case proofStale = "PRF_STALE"
    case proofReplay = "PRF_REPLAY"
    case proofReplayStoreFull = "PRF_REPLAY_STORE_FULL"

    // MCP binding (spec/mcp-binding.md)
    case mcpMalformedRequest = "MCP_MALFORMED_REQUEST"
    case mcpCarrierInvalid = "MCP_CARRIER_INVALID"
    case mcpProtocolVersionMismatch = "MCP_PROTOCOL_VERSION_MISMATCH"
    case mcpExtensionUndeclared = "MCP_EXTENSION_UNDECLARED"
}
