import AttestCore
import AttestEvidence
import Foundation

/// The witness document's op: the add-checkpoint algorithm as a function of the witness's
/// records, the request body, the time and its key (spec/witness.md).
enum WitnessOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "witness.add-checkpoint", document: "witness") { args in
            guard let logTexts = args.context["logs"]?.arrayValue, let name = args.context["witness_name"]?.stringValue,
                  let seedText = args.context["witness_seed"]?.stringValue, let seed = Hex.decode(seedText) else {
                throw OpInputError(description: "context needs logs, witness_name and witness_seed")
            }
            let logs = try logTexts.map { v throws(AttestError) in try NoteVerifier(text: v.stringValue ?? "") }
            var records: [[UInt8]: WitnessRecord] = [:]
            for entry in try args.array("records") {
                guard let origin = entry["origin"]?.stringValue, let size = entry["size"]?.integerValue, size >= 0,
                      let root = entry["root"]?.stringValue.flatMap(Hex.decode) else {
                    throw OpInputError(description: "a record is {origin, size, root}")
                }
                records[Array(origin.utf8)] = WitnessRecord(size: UInt64(size), root: root)
            }
            let time = try args.unsigned("time")
            guard time <= Cosignature.maxTime else { throw OpInputError(description: "time is above 2^63 - 1") }
            let (request, accepted) = try WitnessAlgorithm.verify(Array(try args.string("request").utf8), logs: logs)
            let checkpoint = accepted.checkpoint
            try WitnessAlgorithm.check(request, checkpoint, against: records[Array(checkpoint.origin.utf8)] ?? .empty)
            let cosigner = Cosigner(name: name, key: try Ed25519.PrivateKey(seed: seed))
            let line = try cosigner.signatureLine(body: accepted.body, time: time)
            return ["cosignature": .string(line),
                    "record": ["origin": .string(checkpoint.origin), "size": .number(JSONNumber(Double(checkpoint.size))),
                               "root": .string(Hex.encode(checkpoint.root))]]
        },
    ]
}
