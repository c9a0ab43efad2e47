import AttestCore
import AttestIdentity
import Foundation
import Testing
import TestSupport

@Suite("Attestation tokens")
struct TokenTests {
    @Test("positive control: an issued token verifies and names the identity")
    func positive() throws {
        let token = try Fixture.token()
        let verified = try Fixture.verifier().verify(Presentation(token: token), now: Fixture.now)
        #expect(verified.issuer == Fixture.issuerURL)
        #expect(verified.agent == Fixture.agentIdentity)
        #expect(verified.algorithm == .ed25519)
        #expect(verified.keyID == Fixture.provider.verifyingKey.thumbprint)
    }

    @Test("each defect yields its own code")
    func negatives() throws {
        let verifier = try Fixture.verifier()
        let now = Fixture.now
        func check(_ code: ErrorCode, _ token: String, _ what: Comment) {
            expectCode(code, what) { try verifier.verify(Presentation(token: token), now: now) }
        }
        check(.tokenAudienceMismatch, try Fixture.token(Fixture.claims(audience: "https://other.example/mcp")), "audience")
        check(.tokenExpired, try Fixture.token(Fixture.claims(issuedAt: now - 4000, expiresAt: now - 61)), "expired")
        check(.tokenIssuedInFuture, try Fixture.token(Fixture.claims(issuedAt: now + 61, expiresAt: now + 3000)), "iat")
        check(.tokenLifetimeExceeded, try Fixture.token(Fixture.claims(issuedAt: now - 10, expiresAt: now - 10 + 86_401)), "lifetime")
        check(.tokenKeyIDUnknown, try Fixture.token(key: Fixture.attacker), "unknown kid")
        check(.tokenSignatureInvalid, try Fixture.tamper(try Fixture.token()) { $0["agent"] = ["safety_level": "elevated"] }, "tampered")
        check(.jwsMalformed, "a.b", "two segments")
        check(.jwsTooLarge, String(repeating: "a", count: 8193), "size")
    }

    @Test("EdDSA: rejected by default with its own code, accepted with an Ed25519 key under the legacy option")
    func eddsa() throws {
        let header = Base64URL.encode(JCS.canonicalize(["alg": "EdDSA", "typ": "agent-attestation+jwt",
                                                        "kid": .string(Fixture.provider.verifyingKey.thumbprint)]))
        let payload = Base64URL.encode(JCS.canonicalize(.object(Fixture.claims().jsonObject)))
        let input = header + "." + payload
        let token = input + "." + Base64URL.encode(try Fixture.provider.signRaw(Array(input.utf8)))
        expectCode(.jwsAlgorithmDeprecated) { try Fixture.verifier().verify(Presentation(token: token), now: Fixture.now) }
        let verified = try Fixture.verifier(legacyEdDSA: true).verify(Presentation(token: token), now: Fixture.now)
        #expect(verified.algorithm == .legacyEdDSA)
    }

    @Test("operator attestation policy: required, verified, bound to the token")
    func operatorPolicy() throws {
        let token = try Fixture.token()
        let operators = [TrustedOperator(issuer: Fixture.operatorURL, keys: try JWKS(keys: [JWK(key: Fixture.operatorKey.verifyingKey)]))]
        let verifier = Verifier(configuration: try Fixture.configuration()) {
            RequireOperatorAttestation(operators: operators)
        }
        let attestation = try OperatorAttestation.issue(token: token, operatorID: Fixture.operatorURL, deployment: "acme-support-prod",
                                                        issuedAt: Fixture.now - 10, key: Fixture.operatorKey)
        let verified = try verifier.verify(Presentation(token: token, operatorAttestation: attestation), now: Fixture.now)
        #expect(verified.operatorAttestation?.operatorID == Fixture.operatorURL)
        expectCode(.operatorAttestationMissing) { try verifier.verify(Presentation(token: token), now: Fixture.now) }
        let other = try Fixture.token(Fixture.claims(tokenID: "tok-2"))
        expectCode(.operatorBindingMismatch) {
            try verifier.verify(Presentation(token: other, operatorAttestation: attestation), now: Fixture.now)
        }
        let forged = try OperatorAttestation.issue(token: token, operatorID: Fixture.operatorURL, deployment: "acme-support-prod",
                                                   issuedAt: Fixture.now - 10, key: Fixture.attacker)
        expectCode(.operatorUntrusted) {
            try verifier.verify(Presentation(token: token, operatorAttestation: forged), now: Fixture.now)
        }
        // Without the policy the same verifier configuration ignores the attestation.
        #expect(try Fixture.verifier().verify(Presentation(token: token), now: Fixture.now).operatorAttestation == nil)
    }

    @Test("determinism: same inputs, same verdict, whatever the system clock says")
    func determinism() throws {
        let verifier = try Fixture.verifier()
        let tokens = [try Fixture.token(), try Fixture.token(Fixture.claims(audience: "https://x.example")), "x.y.z"]
        for token in tokens {
            let first = verifier.result(Presentation(token: token), now: Fixture.now)
            for _ in 0..<3 {
                let again = verifier.result(Presentation(token: token), now: Fixture.now)
                switch (first, again) {
                case let (.success(a), .success(b)): #expect(a.tokenHash == b.tokenHash && a.agent == b.agent)
                case let (.failure(a), .failure(b)): #expect(a.code == b.code)
                default: Issue.record("verdict changed for \(token)")
                }
            }
        }
        // A token valid at `now` is judged at `now`, not at the machine's time: the
        // same token one day later is expired.
        let token = try Fixture.token()
        #expect((try? verifier.verify(Presentation(token: token), now: Fixture.now)) != nil)
        expectCode(.tokenExpired) { try verifier.verify(Presentation(token: token), now: Fixture.now + 86_400) }
    }

    @Test("issuance is reproducible: JCS header and payload, deterministic Ed25519")
    func reproducibleIssue() throws {
        #expect(try Fixture.token() == Fixture.token())
    }
}
