import AttestCore
import Testing

@Suite("Signature suites")
struct SignatureTests {
    let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")

    @Test("domain separation: a signature for one object type never verifies as another",
          arguments: SignatureAlgorithm.allCases)
    func domainSeparation(_ algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.privateKey(seed: seed)
        let payload = bytes(#"{"seq":1}"#)
        let signature = try key.sign(payload, domain: .receipt)
        try key.verifyingKey.verify(signature: signature, payload: payload, domain: .receipt)
        for other in [SignatureDomain.artifact, .mandate, .bundle, .operatorAttestation] {
            expectCode(.signatureInvalid, "\(other.rawValue)") {
                try key.verifyingKey.verify(signature: signature, payload: payload, domain: other)
            }
        }
        // The bare payload, without the domain prefix, does not verify either.
        expectCode(.signatureInvalid) { try key.verifyingKey.verifyRaw(signature: signature, message: payload) }
    }

    @Test("signed bytes layout")
    func signedBytes() {
        #expect(SignatureDomain.receipt.signedBytes(bytes("x")) == bytes("MCP-ATTEST-v1:receipt") + [0] + bytes("x"))
    }

    @Test("wrong lengths have their own codes", arguments: SignatureAlgorithm.allCases)
    func lengths(_ algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.privateKey(seed: seed)
        let signature = try key.signRaw(bytes("m"))
        #expect(signature.count == algorithm.signatureLength)
        try key.verifyingKey.verifyRaw(signature: signature, message: bytes("m"))
        expectCode(.signatureLength) { try key.verifyingKey.verifyRaw(signature: signature + [0], message: bytes("m")) }
        expectCode(.signatureLength) { try key.verifyingKey.verifyRaw(signature: Array(signature.dropLast()), message: bytes("m")) }
        expectCode(.keyInvalid) { try algorithm.publicKey(raw: Array(key.verifyingKey.rawRepresentation.dropLast())) }
        expectCode(.keyInvalid) { try algorithm.privateKey(seed: Array(seed.dropLast())) }
    }

    @Test("ML-DSA-65: deterministic keys from a seed, randomized signatures that verify")
    func mldsa() throws {
        let a = try MLDSA65Suite.PrivateKey(seed: seed)
        let b = try MLDSA65Suite.PrivateKey(seed: seed)
        #expect(a.publicKey.rawRepresentation == b.publicKey.rawRepresentation)
        #expect(a.publicKey.rawRepresentation.count == 1952)
        let s1 = try a.signRaw(bytes("m"))
        try b.publicKey.verifyRaw(signature: s1, message: bytes("m"))
        expectCode(.signatureInvalid) { try b.publicKey.verifyRaw(signature: s1, message: bytes("n")) }
    }
}

@Suite("JWK and JWKS")
struct JWKTests {
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

    func parse(_ json: String) throws -> JWK { try JWK(json: StrictJSONParser().parse(json)) }

    @Test("strict member checks, each with a passing control")
    func strictMembers() throws {
        let good = try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)"}"#)
        #expect(good.thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        _ = try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","use":"sig","alg":"Ed25519","key_ops":["verify"]}"#)
        expectCode(.jwkMissingMember) { try parse(#"{"kty":"OKP","crv":"Ed25519"}"#) }
        expectCode(.jwkUnsupportedKeyType) { try parse(#"{"kty":"OKP","crv":"X25519","x":"\#(x)"}"#) }
        expectCode(.jwkUnsupportedKeyType) { try parse(#"{"kty":"EC","crv":"P-256","x":"\#(x)"}"#) }
        expectCode(.jwkUnknownMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","x5u":"https://a"}"#) }
        expectCode(.jwkPrivateMaterial) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"\#(x)"}"#) }
        expectCode(.jwkInvalidMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","kid":"other"}"#) }
        expectCode(.jwkInvalidMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","alg":"EdDSA"}"#) }
        expectCode(.jwkInvalidMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","use":"enc"}"#) }
        expectCode(.jwkInvalidMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)=="}"#) }
        expectCode(.jwkInvalidMember) { try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x.dropLast(2))"}"#) }
    }

    @Test("ML-DSA-65 keys as AKP JWKs round-trip with their thumbprint")
    func akp() throws {
        let key = try MLDSA65Suite.PrivateKey(seed: [UInt8](repeating: 7, count: 32))
        let jwk = JWK(key: key.publicKey)
        let parsed = try JWK(json: jwk.jsonValue)
        #expect(parsed.thumbprint == jwk.thumbprint)
        #expect(parsed.key.rawRepresentation == key.publicKey.rawRepresentation)
        #expect(jwk.jsonValue["kty"] == "AKP")
    }

    @Test("JWKS: duplicate kid and size limit")
    func jwks() throws {
        let one = try parse(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)"}"#)
        let set = try JWKS(keys: [one])
        #expect(set.key(id: one.thumbprint) != nil)
        #expect(set.key(id: "nope") == nil)
        expectCode(.jwksDuplicateKeyID) { try JWKS(keys: [one, one]) }
        let many = try (0..<65).map { i in JWK(key: try Ed25519.PrivateKey(seed: [UInt8](repeating: UInt8(i), count: 32)).publicKey) }
        _ = try JWKS(keys: Array(many.prefix(64)))
        expectCode(.jwksTooManyKeys) { try JWKS(keys: many) }
        expectCode(.jwkUnknownMember) { try JWKS(json: ["keys": [], "extra": 1]) }
    }
}
