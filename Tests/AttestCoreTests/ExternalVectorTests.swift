import AttestCore
import Foundation
import Testing

@Suite("Third-party vectors")
struct ExternalVectorTests {
    @Test("Wycheproof ed25519_test.json: every verdict")
    func wycheproof() throws {
        let file = try ExternalVectors.json("wycheproof/testvectors_v1/ed25519_test.json")
        var valid = 0, invalid = 0, mismatches: [Int64] = []
        for group in file["testGroups"]!.arrayValue! {
            let key = try Ed25519.PublicKey(raw: hex(group["publicKey"]!["pk"]!.stringValue!))
            for test in group["tests"]!.arrayValue! {
                let expectValid = test["result"]!.stringValue! == "valid"
                let accepted = (try? key.verifyRaw(signature: hex(test["sig"]!.stringValue!),
                                                   message: hex(test["msg"]!.stringValue!))) != nil
                if accepted != expectValid { mismatches.append(test["tcId"]!.integerValue!) }
                if expectValid { valid += 1 } else { invalid += 1 }
            }
        }
        print("Wycheproof Ed25519: \(valid + invalid) tests (\(valid) valid, \(invalid) invalid), \(mismatches.count) mismatches")
        #expect(valid + invalid == 151)
        #expect(valid == 88)
        #expect(mismatches.isEmpty, "tcIds: \(mismatches)")
    }

    @Test("CCTV ed25519vectors.json: verdicts equal libsodium's on all 914")
    func cctv() throws {
        let vectors = try ExternalVectors.json("cctv-ed25519/ed25519vectors.json").arrayValue!
        let verdicts = try ExternalVectors.json("cctv-ed25519/libsodium-verdicts.json")["vectors"]!.arrayValue!
        var expected: [Int64: Bool] = [:]
        for v in verdicts { expected[v["number"]!.integerValue!] = v["libsodium"]!.stringValue! == "accept" }
        let acceptedFlags: Set<String> = ["low_order_component_A", "low_order_component_R"]
        var accepted = 0, mismatches: [Int64] = [], policyMismatches: [Int64] = []
        for v in vectors {
            let number = v["number"]!.integerValue!
            let ok: Bool
            do {
                let key = try Ed25519.PublicKey(raw: hex(v["key"]!.stringValue!))
                try key.verifyRaw(signature: hex(v["sig"]!.stringValue!), message: bytes(v["msg"]!.stringValue!))
                ok = true
            } catch {
                ok = false
            }
            if ok { accepted += 1 }
            if expected[number] != ok { mismatches.append(number) }
            // The documented policy: accept iff the flags are a subset of the low-order-component flags.
            let flags = Set((v["flags"]?.arrayValue ?? []).compactMap(\.stringValue))
            if flags.isSubset(of: acceptedFlags) != ok { policyMismatches.append(number) }
        }
        print("CCTV Ed25519: \(vectors.count) vectors, \(accepted) accepted, \(vectors.count - accepted) rejected, \(mismatches.count) differ from libsodium-verdicts.json")
        #expect(vectors.count == 914)
        #expect(accepted == 43)
        #expect(mismatches.isEmpty, "numbers: \(mismatches)")
        #expect(policyMismatches.isEmpty, "numbers: \(policyMismatches)")
    }

    @Test("RFC 8032 §7.1 TEST 1-3")
    func rfc8032() throws {
        let values = try ExternalVectors.json("rfc-values.json")
        let tests = values["rfc8032_section_7_1"]!.arrayValue!
        for t in tests {
            let key = try Ed25519.PrivateKey(seed: hex(t["secret_key_hex"]!.stringValue!))
            #expect(Hex.encode(key.publicKey.rawRepresentation) == t["public_key_hex"]!.stringValue!)
            let signature = try key.signRaw(hex(t["message_hex"]!.stringValue!))
            #expect(Hex.encode(signature) == t["signature_hex"]!.stringValue!)
            try key.publicKey.verifyRaw(signature: signature, message: hex(t["message_hex"]!.stringValue!))
            // Positive control above, one flipped bit here.
            var tampered = signature
            tampered[0] ^= 1
            expectCode(.signatureInvalid) {
                try key.publicKey.verifyRaw(signature: tampered, message: hex(t["message_hex"]!.stringValue!))
            }
        }
        print("RFC 8032 §7.1: \(tests.count) tests reproduced")
        #expect(tests.count == 3)
    }

    @Test("RFC 8037 Appendix A: key, thumbprint, JWS")
    func rfc8037() throws {
        let values = try ExternalVectors.json("rfc-values.json")
        let entries = Dictionary(uniqueKeysWithValues: values["rfc8037_appendix_a"]!.arrayValue!.map {
            ($0["id"]!.stringValue!, $0)
        })
        // A.1: the private JWK's d derives x.
        let a1 = entries["rfc8037-A.1"]!["jwk"]!
        let key = try Ed25519.PrivateKey(seed: Base64URL.decode(a1["d"]!.stringValue!))
        #expect(Base64URL.encode(key.publicKey.rawRepresentation) == a1["x"]!.stringValue!)
        // A.1 as a public JWK is refused: it carries "d".
        expectCode(.jwkPrivateMaterial) { try JWK(json: a1) }
        // A.2 / A.3: public JWK and its thumbprint.
        let jwk = try JWK(json: entries["rfc8037-A.2"]!["jwk"]!)
        let a3 = entries["rfc8037-A.3"]!
        #expect(String(decoding: JCS.canonicalize(JWK.thumbprintMembers(of: jwk.key)), as: UTF8.self)
                == a3["canonical_json"]!.stringValue!)
        #expect(jwk.thumbprint == a3["thumbprint"]!.stringValue!)
        #expect(jwk.thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        // A.4: signing the JWS signing input reproduces the signature; A.5: it verifies.
        let a4 = entries["rfc8037-A.4"]!
        let signingInput = bytes(a4["signing_input"]!.stringValue!)
        #expect(Base64URL.encode(try Base64URL.decode(a4["protected_header_b64u"]!.stringValue!))
                == a4["protected_header_b64u"]!.stringValue!)
        let signature = try key.signRaw(signingInput)
        #expect(Base64URL.encode(signature) == a4["signature_b64u"]!.stringValue!)
        let compact = entries["rfc8037-A.5"]!["jws_compact"]!.stringValue!
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.count == 3)
        try jwk.key.verifyRaw(signature: Base64URL.decode(parts[2]),
                              message: bytes(parts[0] + "." + parts[1]))
        print("RFC 8037 Appendix A: A.1-A.5 reproduced")
    }

    @Test("cyberphone JCS input/output pairs, byte for byte")
    func jcsPairs() throws {
        let names = ["arrays", "french", "structures", "unicode", "values", "weird"]
        for name in names {
            let input = try ExternalVectors.bytes("jcs/testdata/input/\(name).json")
            let expected = try ExternalVectors.bytes("jcs/testdata/output/\(name).json")
            let expectedHex = String(decoding: try ExternalVectors.bytes("jcs/testdata/outhex/\(name).txt"), as: UTF8.self)
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).joined()
            let canonical = try JCS.canonicalize(json: input)
            #expect(canonical == expected, "\(name)")
            #expect(Hex.encode(canonical) == expectedHex, "\(name) (outhex)")
        }
        print("JCS pairs: \(names.count) of \(names.count) reproduced byte for byte")
    }

    @Test("ES6 number file: 100,000 doubles format exactly; regenerated file hashes to the published value")
    func jcsNumbers() throws {
        let file = try ExternalVectors.bytes("jcs/es6testfile100k.txt")
        var regenerated: [UInt8] = []
        regenerated.reserveCapacity(file.count)
        var lines = 0, mismatches = 0
        for line in file.split(separator: 0x0A) {
            let comma = line.firstIndex(of: UInt8(ascii: ","))!
            let bitsText = String(decoding: line[line.startIndex..<comma], as: UTF8.self)
            let expected = String(decoding: line[(comma + 1)...], as: UTF8.self)
            let value = Double(bitPattern: UInt64(bitsText, radix: 16)!)
            let formatted = JCS.format(value)
            if formatted != expected {
                mismatches += 1
                if mismatches < 10 { Issue.record("\(bitsText): got \(formatted), expected \(expected)") }
            }
            regenerated.append(contentsOf: bitsText.utf8)
            regenerated.append(UInt8(ascii: ","))
            regenerated.append(contentsOf: formatted.utf8)
            regenerated.append(0x0A)
            lines += 1
        }
        let digest = Hex.encode(SHA256.hash(regenerated))
        let published = "22776e6d4b49fa294a0d0f349268e5c28808fe7e0cb2bcbe28f63894e494d4c7"
        print("ES6 numbers: \(lines) lines, \(mismatches) mismatches; regenerated SHA-256 \(digest) (published \(published))")
        #expect(lines == 100_000)
        #expect(mismatches == 0)
        #expect(digest == published)
    }
}
