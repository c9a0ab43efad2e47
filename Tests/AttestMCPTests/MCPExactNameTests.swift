import AttestCore
import AttestIdentity
@testable import AttestMCP
import Testing

/// Method names and request ids by code points: a spelling with U+212A KELVIN SIGN for a
/// `K` is canonically equivalent (Swift's `==` says equal) but another name.
@Suite struct MCPExactNameTests {
    static let now: Int64 = 1_780_000_000
    static let kelvinMethod = "tools/\u{212A}ill"

    static func request(_ method: String, attachedBy attester: MCPAttester? = nil) throws -> JSONValue {
        let message: JSONValue = ["jsonrpc": "2.0", "id": 1, "method": .string(method), "params": ["name": "x"]]
        return try attester?.attach(to: message, era: .handshake, issuedAt: now, proofID: "prf-exact",
                                    governed: [ExactString(method)]) ?? message
    }

    static func verdict(_ message: JSONValue, governed: Set<ExactString>) throws -> MCPVerdict {
        let gate = try MCPFixture.gate()
        return try MCPBinding.verify(message, era: .handshake, policy: .required, verifier: gate.verifier, now: now,
                                     replayStore: InMemoryReplayStore(), governed: governed)
    }

    @Test func aCanonicallyEquivalentMethodIsGovernedNotPassedThrough() throws {
        #expect(Self.kelvinMethod == "tools/Kill" && !Self.kelvinMethod.isExactly("tools/Kill"))
        let governed: Set<ExactString> = ["tools/Kill"]
        // Controls: another method passes untouched; the governed one without a token is refused.
        guard case .notGoverned = try Self.verdict(try Self.request("tools/list"), governed: governed) else {
            Issue.record("tools/list is not governed"); return
        }
        expectCode(.proofTokenMissing) { try Self.verdict(try Self.request("tools/Kill"), governed: governed) }
        // The equivalent spelling is refused the same way: a dispatcher comparing names as Swift
        // strings would run it as tools/Kill.
        expectCode(.proofTokenMissing) { try Self.verdict(try Self.request(Self.kelvinMethod), governed: governed) }
    }

    @Test func aProofForOneSpellingDoesNotCoverTheOther() throws {
        let attester = MCPAttester(token: try MCPFixture.token(now: Self.now), key: MCPFixture.agent, audience: MCPFixture.audience)
        let governed: Set<ExactString> = ["tools/Kill", ExactString(Self.kelvinMethod)]
        guard case .attested = try Self.verdict(try Self.request("tools/Kill", attachedBy: attester), governed: governed) else {
            Issue.record("the request as signed is not attested"); return
        }
        guard case .object(var respelled) = try Self.request("tools/Kill", attachedBy: attester) else {
            Issue.record("attach returned no object"); return
        }
        respelled["method"] = .string(Self.kelvinMethod)
        expectCode(.proofMethodMismatch) { try Self.verdict(.object(respelled), governed: governed) }
    }

    @Test func requestIDsThatAreOnlyEquivalentKeepTheirOwnVerdicts() {
        #expect(key(JSONValue.string("K")) == key(JSONValue.string("K")))
        #expect(key(JSONValue.string("K")) != key(JSONValue.string("\u{212A}")))
        #expect(key(JSONValue.string("1")) != key(JSONValue.number(JSONNumber(1))))
    }

    @Test func replayStoreOutagesAnswer503LikeAFullStore() {
        #expect(MCPBinding.httpStatus(for: .proofReplayStoreFull).status == 503)
        #expect(MCPBinding.httpStatus(for: .proofReplayStoreUnavailable).status == 503)
        #expect(MCPBinding.httpStatus(for: .proofReplay).status == 401)
    }
}

private func expectCode<T>(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) {
    do {
        _ = try body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as AttestError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
