import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// RFC 3161 timestamp tokens (checkpoint.md §Timestamp tokens): the request the operator
/// sends, and the bounded DER reader under every truncation and byte flip of the fixed
/// token of Tests/fixtures/timestamp/ (the vectors cover each verification step).
@Suite("Checkpoint timestamp tokens")
struct TimestampTests {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/fixtures/timestamp")
    static func file(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: data.appendingPathComponent(name))) }

    @Test("the request is a DER TimeStampReq: version 1, SHA-256 of salt and note, a positive nonce, certReq true")
    func request() throws {
        let note = Array("origin\n1\nroot\n\n".utf8), salt = [UInt8](repeating: 7, count: 32)
        let imprint = TimestampToken.imprint(note: note, salt: salt)
        #expect(imprint == SHA256.hash(salt + note))
        let der = TimestampToken.request(imprint: imprint, nonce: [0x80, 1, 2, 3, 4, 5, 6, 7])
        var outer = DERReader(der[...], code: .timestampMalformed)
        var request = try outer.next(DERReader.sequence).reader(.timestampMalformed)
        try outer.end()
        #expect(try DERReader.smallInteger(try request.next(), code: .timestampMalformed) == 1)
        var messageImprint = try request.next(DERReader.sequence).reader(.timestampMalformed)
        let algorithm = try messageImprint.algorithm()
        #expect(Array(algorithm.oid) == TimestampToken.oidSHA256 && algorithm.plainParameters)
        #expect(Array(try messageImprint.next(DERReader.octetString).value) == imprint)
        #expect(Array(try request.next(DERReader.integer).value) == [0, 0x80, 1, 2, 3, 4, 5, 6, 7])
        #expect(Array(try request.next(DERReader.boolean).value) == [0xFF])
        try request.end()
    }

    @Test("every truncation and every byte flip of the fixed token verifies to the same time or fails with a TSA code, never traps")
    func mutations() throws {
        let reply = try Self.file("reply.tsr"), note = try Self.file("note.txt"), salt = try Self.file("salt.bin")
        let certificate = try TimestampToken.Certificate(der: try Self.file("tsa.der"))
        let genTime = try TimestampToken.verify(response: reply, note: note, salt: salt, certificate: certificate)
        var codes = Set<String>()
        func check(_ bytes: [UInt8]) {
            do {
                #expect(try TimestampToken.verify(response: bytes, note: note, salt: salt, certificate: certificate) == genTime)
            } catch {
                #expect(error.code.rawValue.hasPrefix("TSA_"))
                codes.insert(error.code.rawValue)
            }
        }
        for length in 0..<reply.count { check(Array(reply.prefix(length))) }
        for i in reply.indices {
            var flipped = reply
            flipped[i] ^= 0xFF
            check(flipped)
        }
        #expect(codes.contains("TSA_MALFORMED") && codes.contains("TSA_SIGNATURE_INVALID"))
    }

    @Test("DER times: UTCTime years 1950 to 2049, GeneralizedTime with a fraction dropped, invalid dates refused")
    func times() throws {
        func time(_ tag: UInt8, _ text: String) throws(AttestError) -> Int64 {
            let value = Array(text.utf8)
            return try DERReader.time(.init(tag: tag, value: value[...], encoded: value[...]), code: .timestampMalformed)
        }
        #expect(try time(DERReader.utcTime, "500101000000Z") == -631_152_000)
        #expect(try time(DERReader.utcTime, "491231235959Z") == 2_524_607_999)
        #expect(try time(DERReader.generalizedTime, "20261207165338Z") == 1_796_662_418)
        #expect(try time(DERReader.generalizedTime, "20261207165338.25Z") == 1_796_662_418)
        #expect(try time(DERReader.generalizedTime, "20240229000000Z") == 1_709_164_800)
        for bad in ["20230229000000Z", "20261207165338", "20261207165360Z", "20261207165338.Z", "20261207165338.50Z", "2026120716533Z"] {
            expectCode(.timestampMalformed, "\(bad)") { try time(DERReader.generalizedTime, bad) }
        }
    }
}
