import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// Cosigning checkpoints (checkpoint.md §Cosignatures): the signing side, which the
/// vectors (verification only) do not exercise.
@Suite("Checkpoint cosignatures")
struct CosignatureTests {
    static let origin = "portal.example/log/vectors"
    static let root = Hex.decode("9ff5845f0b64600c05845e9b79e46ff1677d5d0a62c686d17d07c073afc8f220") ?? []
    static func key(_ byte: UInt8) throws -> Ed25519.PrivateKey { try Ed25519.PrivateKey(seed: [UInt8](repeating: byte, count: 32)) }

    @Test("a cosigner writes the lines of vector ckp-cosigned, and they verify with their timestamps")
    func cosignMatchesVector() throws {
        let log = Checkpoint.Signer(name: Self.origin, key: try Self.key(0xB1))
        let w1 = Cosigner(name: "witness.example/w1", key: try Self.key(0xD1))
        let w2 = Cosigner(name: "witness.example/w2", key: try Self.key(0xD2))
        let checkpoint = Checkpoint(origin: Self.origin, size: 7, root: Self.root)
        var note = checkpoint.signed(by: [log])
        note = try w1.cosign(note: note, time: 1_760_000_100)
        note = try w2.cosign(note: note, time: 1_760_000_160)
        // The note of vector ckp-cosigned, computed independently by the author script.
        #expect(note.utf8.elementsEqual((
            "portal.example/log/vectors\n7\nn/WEXwtkYAwFhF6beeRv8Wd9XQpixobRfQfAc6/I8iA=\n\n"
            + "\u{2014} portal.example/log/vectors wxnI0y801XChdsGgtpsJJNfnR4t/DQ9ZMwO2emAo/AiFfD7lyjb+mNkVihPW+c0KunDzFw62cmGP28Y9tF5u3xcUXAU=\n"
            + "\u{2014} witness.example/w1 2HxiBQAAAABo53hkpog5bAivrFWLB7t/MlvskkcNU8BeIINX6ji8fvl2bfuGIMhlfL4/rsQO5J2XA6RinjyQDaGhBKzuNFPouMMrCQ==\n"
            + "\u{2014} witness.example/w2 WwhoSAAAAABo53igjeJVrDG64PY+aij3yV6ifo80/ug2honMg7EUHGSgerrSdYgySBvNbhQsf9JQnh8p4mc/2pixcgeZsrkh4uMnCQ==\n").utf8))
        #expect(w1.verifier.text.utf8.elementsEqual("witness.example/w1+d87c6205+BG7gkf0oCptoVU+nPFiBJdR9NCXGiia6I2tNrZD5Co+S".utf8))
        let witnesses = [try CosignerVerifier(text: w1.verifier.text), try CosignerVerifier(text: w2.verifier.text)]
        let verified = try Checkpoint.verify(note, trusted: [log.verifier], origin: Self.origin, cosigners: witnesses)
        #expect(verified == checkpoint)
        #expect(try Checkpoint.cosignatures(on: note, witnesses: witnesses)
            == [Cosignature(name: "witness.example/w1", time: 1_760_000_100), Cosignature(name: "witness.example/w2", time: 1_760_000_160)])
    }

    @Test("the log's key cosigning under the log's name does not sign as the log")
    func roleConfusion() throws {
        let key = try Self.key(0xB1)
        let log = Checkpoint.Signer(name: Self.origin, key: key)
        let asWitness = Cosigner(name: Self.origin, key: key)
        let body = Checkpoint(origin: Self.origin, size: 7, root: Self.root).body
        let note = body + "\n" + (try asWitness.signatureLine(body: Array(body.utf8), time: 1_760_000_100))
        // The key IDs of the two roles differ by the type byte alone.
        #expect(log.verifier.keyID != asWitness.verifier.keyID)
        expectCode(.checkpointNoTrustedSignature) {
            try Checkpoint.verify(note, trusted: [log.verifier], origin: Self.origin, cosigners: [asWitness.verifier])
        }
        expectCode(.checkpointNoTrustedSignature) { try Checkpoint.verify(note, trusted: [log.verifier], origin: Self.origin) }
        // The positive control: the same note with the log's own signature line.
        let signed = Checkpoint(origin: Self.origin, size: 7, root: Self.root).signed(by: [log]) + (try asWitness.signatureLine(body: Array(body.utf8), time: 1_760_000_100))
        #expect(try Checkpoint.verify(signed, trusted: [log.verifier], origin: Self.origin, cosigners: [asWitness.verifier]).size == 7)
        #expect(try Checkpoint.cosignatures(on: signed, witnesses: [asWitness.verifier]) == [Cosignature(name: Self.origin, time: 1_760_000_100)])
    }

    @Test("a cosignature altered after signing, and a timestamp beyond 2^63 - 1, are CKP_COSIGNATURE_INVALID; a log key text is no cosigner key")
    func invalidCosignatures() throws {
        let log = Checkpoint.Signer(name: Self.origin, key: try Self.key(0xB1))
        let w1 = Cosigner(name: "witness.example/w1", key: try Self.key(0xD1))
        let note = try w1.cosign(note: Checkpoint(origin: Self.origin, size: 7, root: Self.root).signed(by: [log]), time: 1_760_000_100)
        #expect(try Checkpoint.cosignatures(on: note, witnesses: [w1.verifier]).count == 1)
        let other = try w1.cosign(note: Checkpoint(origin: Self.origin, size: 8, root: Self.root).signed(by: [log]), time: 1_760_000_100)
        let spliced = String(note.split(separator: "\n", omittingEmptySubsequences: false).prefix(5).joined(separator: "\n")) + "\n"
            + String(other.split(separator: "\n", omittingEmptySubsequences: false)[5]) + "\n"
        expectCode(.checkpointCosignatureInvalid) { try Checkpoint.cosignatures(on: spliced, witnesses: [w1.verifier]) }
        expectCode(.checkpointCosignatureInvalid) { try w1.signatureLine(body: Array("a\n".utf8), time: UInt64(Int64.max) + 1) }
        expectCode(.keyInvalid) { try CosignerVerifier(text: NoteVerifier(name: w1.name, key: w1.key.publicKey).text) }
        expectCode(.keyInvalid) { try NoteVerifier(text: w1.verifier.text) }
    }
}
