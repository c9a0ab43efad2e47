import AttestCore

/// Ops of the core documents: json, encoding, signatures, keys.
enum CoreOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "json.parse", document: "json") { args in
            let value = try parser(args).parse(try args.hex("data"))
            return ["canonical": .string(Hex.encode(JCS.canonicalize(value)))]
        },
        .init(name: "jcs.canonicalize", document: "json") { args in
            let canonical = JCS.canonicalize(try parser(args).parse(try args.hex("data")))
            return ["canonical": .string(Hex.encode(canonical)), "sha256": .string(Hex.encode(SHA256.hash(canonical)))]
        },
        .init(name: "base64url.decode", document: "encoding") { args in
            ["bytes": .string(Hex.encode(try Base64URL.decode(try args.string("encoded"))))]
        },
        .init(name: "base64url.encode", document: "encoding") { args in
            ["encoded": .string(Base64URL.encode(try args.hex("bytes")))]
        },
        .init(name: "sha256.digest", document: "signatures") { args in
            ["digest": .string(Hex.encode(SHA256.hash(try args.hex("data"))))]
        },
        .init(name: "signature.verify", document: "signatures") { args in
            let algorithm = try algorithm(args)
            let key = try algorithm.publicKey(raw: try args.hex("public_key"))
            let message = try args.hex("message")
            let signature = try args.hex("signature")
            if let domain = try args.optionalString("domain") {
                try key.verify(signature: signature, payload: message, domain: SignatureDomain(rawValue: domain))
            } else {
                try key.verifyRaw(signature: signature, message: message)
            }
            return [:]
        },
        .init(name: "signature.sign", document: "signatures") { args in
            let key = try algorithm(args).privateKey(seed: try args.hex("seed"))
            let message = try args.hex("message")
            let signedBytes = try args.optionalString("domain").map { SignatureDomain(rawValue: $0).signedBytes(message) } ?? message
            let signature = try key.signRaw(signedBytes)
            return [
                "public_key": .string(Hex.encode(key.verifyingKey.rawRepresentation)),
                "signature": .string(Hex.encode(signature)),
                "signed_bytes": .string(Hex.encode(signedBytes)),
            ]
        },
        .init(name: "jwk.thumbprint", document: "keys") { args in
            let jwk = try JWK(json: try args.value("jwk"))
            return [
                "thumbprint": .string(jwk.thumbprint),
                "canonical": .string(Hex.encode(JCS.canonicalize(JWK.thumbprintMembers(of: jwk.key)))),
            ]
        },
        .init(name: "jwks.parse", document: "keys") { args in
            let set = try JWKS(json: try args.value("jwks"))
            return ["kids": .array(set.keys.map { .string($0.thumbprint) })]
        },
    ]

    static func parser(_ args: OpArguments) throws -> StrictJSONParser {
        var limits = StrictJSONParser.Limits.default
        if let maxBytes = try args.contextLimit("max_bytes") { limits.maxBytes = maxBytes }
        if let maxDepth = try args.contextLimit("max_depth") { limits.maxDepth = maxDepth }
        return StrictJSONParser(limits: limits)
    }

    static func algorithm(_ args: OpArguments) throws -> SignatureAlgorithm {
        let name = try args.string("alg")
        guard let algorithm = SignatureAlgorithm(exactly: name) else {
            throw AttestError(.algorithmUnsupported, "signature algorithm \"\(name)\" is not supported")
        }
        return algorithm
    }
}
