import AttestCore
import Foundation

/// The objects of the protocol that vectors hold, each with its schema in `spec/schemas/`
/// and the structural codes that its document gives for an object of the wrong shape.
///
/// `attest check` validates every object of a valid vector against its schema, and
/// requires that an invalid vector whose object violates its schema expects one of that
/// schema's structural codes: the schemas and the vectors then say the same thing.
public enum ObjectSchemas {
    /// One object found in a vector: where it is, and the schema it must conform to.
    public struct Found: Sendable {
        public let schema: String
        /// A JSON-pointer-like path into the vector's input or context.
        public let path: String
        /// The object; nil when it could not be read (a JWS segment that does not decode).
        public let value: JSONValue?
        /// Why the value could not be read.
        public let unreadable: String?
    }

    /// Schema file -> the codes (exact, or prefixes ending in `_`) with which the documents
    /// reject an object that violates it.
    public static let structuralCodes: [String: [String]] = [
        "jwk.schema.json": ["JWK_"],
        "jwks.schema.json": ["JWK_", "JWKS_"],
        "discovery-metadata.schema.json": ["DISC_METADATA_INVALID", "JSON_"],
        "token-header.schema.json": ["JWS_", "B64_", "JSON_"],
        "operator-attestation-header.schema.json": ["JWS_", "B64_", "JSON_"],
        "proof-header.schema.json": ["JWS_", "B64_", "JSON_", "JWK_"],
        "token-claims.schema.json": ["TOK_CLAIM_", "TOK_AUDIENCE_NOT_STRING", "TOK_CNF_MISSING", "JWS_MALFORMED", "B64_", "JSON_"],
        "operator-attestation-claims.schema.json": ["TOK_CLAIM_", "JWS_MALFORMED", "B64_", "JSON_"],
        "proof-claims.schema.json": ["PRF_CLAIM_", "JWS_MALFORMED", "B64_", "JSON_"],
        "mcp-carrier.schema.json": ["MCP_CARRIER_INVALID", "MCP_MALFORMED_REQUEST"],
        "artifact.schema.json": ["ART_MALFORMED"],
        "mandate.schema.json": ["ART_MALFORMED"],
        "constraint.schema.json": ["ART_MALFORMED"],
        "receipt.schema.json": ["RCP_MALFORMED"],
        "disclosure.schema.json": ["RCP_DISCLOSURE_MALFORMED"],
        "bundle-manifest.schema.json": ["BND_MALFORMED"],
        "bundle-artifact-line.schema.json": ["ART_MALFORMED", "JSON_"],
        "bundle-receipt-line.schema.json": ["RCP_MALFORMED", "JSON_"],
        "bundle-checkpoint-line.schema.json": ["BND_MALFORMED", "CKP_MALFORMED"],
        "checkpoint-note.schema.json": ["CKP_MALFORMED"],
        "bundle-payload-line.schema.json": ["BND_MALFORMED", "RCP_DISCLOSURE_MALFORMED"],
        "statement.schema.json": ["STM_MALFORMED"],
    ]

    public static func isStructural(_ code: String, for schema: String) -> Bool {
        (structuralCodes.first { $0.key.isExactly(schema) }?.value ?? []).contains { entry in
            entry.utf8.last == UInt8(ascii: "_") ? code.utf8.starts(with: entry.utf8) : code.isExactly(entry)
        }
    }

    /// Reads `spec/schemas/*.schema.json` under `root`: the documents, and the files that
    /// do not parse.
    public static func load(root: URL) -> (set: SchemaSet, problems: [Diagnostic]) {
        let directory = root.appendingPathComponent("spec/schemas")
        var documents: [String: JSONValue] = [:]
        var problems: [Diagnostic] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names.sorted() where name.hasSuffix(".schema.json") {
            let display = "spec/schemas/\(name)"
            do {
                let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
                documents[name] = try StrictJSONParser().parse(bytes)
            } catch let error as AttestError {
                problems.append(Diagnostic(.schema, display, 0, "does not parse: \(error.code.rawValue) \(error.message)"))
            } catch {
                problems.append(Diagnostic(.schema, display, 0, "cannot be read: \(error)"))
            }
        }
        return (SchemaSet(documents: documents), problems)
    }

    /// The objects of one vector that have a schema, by op and input member.
    public static func objects(in vector: Vector) -> [Found] {
        let input = vector.input, context = vector.context
        var found: [Found] = []
        func add(_ schema: String, _ path: String, _ value: JSONValue?) {
            if let value { found.append(Found(schema: schema, path: path, value: value, unreadable: nil)) }
        }
        func jws(_ value: JSONValue?, _ path: String, header: String, claims: String) {
            guard let compact = value?.stringValue else { return }
            let segments = compact.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard segments.count == 3 else {
                found.append(Found(schema: header, path: path, value: nil, unreadable: "not three segments"))
                return
            }
            for (index, schema) in [header, claims].enumerated() {
                do throws(AttestError) {
                    let parsed = try StrictJSONParser().parse(try Base64URL.decode(segments[index]))
                    add(schema, "\(path)#\(index == 0 ? "header" : "claims")", parsed)
                } catch {
                    found.append(Found(schema: schema, path: "\(path)#\(index == 0 ? "header" : "claims")", value: nil,
                                       unreadable: "\(error.code.rawValue): \(error.message)"))
                    return
                }
            }
        }
        let token = ("token-header.schema.json", "token-claims.schema.json")
        let operatorAttestation = ("operator-attestation-header.schema.json", "operator-attestation-claims.schema.json")
        let proof = ("proof-header.schema.json", "proof-claims.schema.json")
        func identityContext() {
            for group in ["issuers", "operators"] {
                for (i, entry) in (context[group]?.arrayValue ?? []).enumerated() {
                    add("jwks.schema.json", "context/\(group)/\(i)/jwks", entry["jwks"])
                }
            }
        }
        func carrier(_ request: JSONValue?, _ path: String) {
            guard let meta = request?["params"]?["_meta"], meta.objectValue != nil else { return }
            add("mcp-carrier.schema.json", "\(path)/params/_meta", meta)
            for (name, pair) in [("token", token), ("operator", operatorAttestation), ("proof", proof)] {
                let member = "dev.agent-attestation/\(name)"
                jws(meta[member], "\(path)/params/_meta/\(member)", header: pair.0, claims: pair.1)
            }
        }
        switch vector.op {
        case "jwk.thumbprint":
            add("jwk.schema.json", "input/jwk", input["jwk"])
        case "jwks.parse":
            add("jwks.schema.json", "input/jwks", input["jwks"])
        case "token.issue":
            add("token-claims.schema.json", "input/claims", input["claims"])
        case "token.verify", "operator.verify", "proof.verify":
            identityContext()
            jws(input["token"], "input/token", header: token.0, claims: token.1)
            for name in ["operator_attestation", "attestation"] {
                jws(input[name], "input/\(name)", header: operatorAttestation.0, claims: operatorAttestation.1)
            }
            jws(input["proof"], "input/proof", header: proof.0, claims: proof.1)
        case "request.verify", "mcp.request.verify":
            identityContext()
            carrier(input["request"], "input/request")
        case "keys.discovery":
            // Metadata documents, by their well-known URL; key sets are reached through
            // redirects and refreshes that may fail on purpose, so they are not mapped.
            for member in input["responses"]?.objectValue ?? JSONObject()
                where member.name.utf8.reversed().starts(with: "/.well-known/agent-attestation-issuer".utf8.reversed()) {
                let responses = member.value.arrayValue ?? [member.value]
                for (i, response) in responses.enumerated() {
                    guard let body = response["body"]?.stringValue,
                          let parsed = try? StrictJSONParser().parse(Array(body.utf8)) else { continue }
                    add("discovery-metadata.schema.json", "input/responses/\(member.name)/\(i)/body", parsed)
                }
            }
        case "checkpoint.verify", "checkpoint.successor", "receipt.inclusion":
            for name in ["note", "earlier", "later", "checkpoint"] {
                add("checkpoint-note.schema.json", "input/\(name)", input[name])
            }
            if vector.op == "receipt.inclusion" { add("receipt.schema.json", "input/receipt", input["receipt"]) }
        case "receipt.verify-proof":
            add("receipt.schema.json", "input/receipt", input["receipt"])
        case "receipt.audit":
            add("checkpoint-note.schema.json", "input/checkpoint", input["checkpoint"])
            for (i, held) in (input["receipts"]?.arrayValue ?? []).enumerated() {
                add("receipt.schema.json", "input/receipts/\(i)", held)
            }
        case "artifact.verify":
            // Each element is an artifact or a mandate by its own shape; which kind stands
            // where is a property of the chain (mandate.md: MAN_PARENT_MISSING).
            for (i, item) in (input["chain"]?.arrayValue ?? []).enumerated() {
                add("bundle-artifact-line.schema.json", "input/chain/\(i)", item)
            }
        case "artifact.evaluate":
            add("bundle-artifact-line.schema.json", "input/artifact", input["artifact"])
        case "statement.verify":
            if let statement = input["params"]?["_meta"]?["dev.agent-attestation/statement"] {
                add("statement.schema.json", "input/params/_meta/statement", statement)
            }
        case "receipt.verify", "receipt.disclosure":
            add("receipt.schema.json", "input/receipt", input["receipt"])
            if vector.op == "receipt.disclosure" {
                var disclosure = input
                disclosure["receipt"] = nil
                add("disclosure.schema.json", "input (without receipt)", .object(disclosure))
            }
        case "bundle.verify":
            // Each file is given as the hex of its exact bytes; every line that parses is an
            // object of its file's schema (a line that does not parse is a defect of bytes,
            // which the vector's own code covers).
            for (i, item) in jsonLines(input["artifacts"]).enumerated() {
                add("bundle-artifact-line.schema.json", "input/artifacts line \(i + 1)", item)
            }
            for (l, log) in (input["logs"]?.arrayValue ?? []).enumerated() {
                for (member, schema) in [("receipts", "bundle-receipt-line.schema.json"),
                                         ("checkpoints", "bundle-checkpoint-line.schema.json"),
                                         ("payloads", "bundle-payload-line.schema.json")] {
                    for (i, item) in jsonLines(log[member]).enumerated() {
                        add(schema, "input/logs/\(l)/\(member) line \(i + 1)", item)
                    }
                }
            }
        default:
            break
        }
        return found
    }

    /// The lines of a file given as hex that parse as JSON (empty lines and lines that do not parse are left out).
    private static func jsonLines(_ value: JSONValue?) -> [JSONValue] {
        guard let hex = value?.stringValue, let bytes = Hex.decode(hex) else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap {
            try? StrictJSONParser().parse(Array($0))
        }
    }

    /// An ordering vector (its id has `-order-`) combines two defects on purpose, to show
    /// which check comes first; its code may be that of the earlier, non-structural check.
    public static func isOrderingVector(_ vector: Vector) -> Bool {
        vector.id.utf8.split(separator: UInt8(ascii: "-")).contains { $0.elementsEqual("order".utf8) }
    }

    /// Checks the schema set and every vector's objects against it (see the type's
    /// documentation), returning the disagreements.
    public static func check(_ spec: Spec, schemas: SchemaSet) -> [Diagnostic] {
        var problems: [Diagnostic] = []
        for problem in schemas.problems() {
            problems.append(Diagnostic(.schema, "spec/schemas", 0, problem))
        }
        for name in structuralCodes.keys.sorted() where schemas.root(name) == nil {
            problems.append(Diagnostic(.schema, "spec/schemas/\(name)", 0, "the schema file is missing"))
        }
        guard problems.isEmpty else { return problems }
        for vector in spec.vectors {
            // The violated objects of this vector, with their first violation.
            var violated: [(Found, String)] = []
            for object in objects(in: vector) {
                let violations: [String]
                if let value = object.value {
                    violations = schemas.validate(value, against: object.schema)
                } else {
                    violations = ["\(object.path) cannot be read: \(object.unreadable ?? "")"]
                }
                guard let first = violations.first else { continue }
                if vector.expectsValid {
                    problems.append(Diagnostic(.schema, vector.file, vector.line,
                        "valid vector \(vector.id): \(object.path) violates \(object.schema): \(first)"))
                } else {
                    violated.append((object, first))
                }
            }
            // An invalid vector that violates a schema expects a structural code of one of
            // the violated schemas (a token that is a proof violates both header and claims).
            guard !violated.isEmpty, !isOrderingVector(vector) else { continue }
            let codes = [vector.expectedError].compactMap { $0 } + vector.expectedErrorAnyOf
            if !violated.contains(where: { v in codes.contains { isStructural($0, for: v.0.schema) } }) {
                let what = violated.map { "\($0.0.path) violates \($0.0.schema) (\($0.1))" }.joined(separator: "; ")
                let structural = Set(violated.flatMap { structuralCodes[$0.0.schema] ?? [] }).sorted().joined(separator: ", ")
                problems.append(Diagnostic(.schema, vector.file, vector.line,
                    "invalid vector \(vector.id) expects \(codes.joined(separator: " or ")), not a structural code (\(structural)), but \(what)"))
            }
        }
        return problems
    }
}
