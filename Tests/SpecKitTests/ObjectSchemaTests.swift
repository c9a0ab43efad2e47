import AttestCore
import AttestEvidence
import AttestOps
import Foundation
import SpecKit
import Testing

/// The object schemas of `spec/schemas/` and the Swift implementation agree: each
/// schema-guided mutation of an object from a valid vector (a required member dropped,
/// an unknown member added where none is allowed, a member of the wrong JSON type, an
/// integer out of range, base64url of the wrong decoded length, a value outside an
/// enumeration, a string too short or too long) is rejected by the schema and by the
/// implementation, with one of the structural codes of the object's document; the
/// unmutated object passes both.
@Suite struct ObjectSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load() throws -> (Spec, SchemaSet) {
        let spec = try SpecReader.read(root: root)
        let (schemas, problems) = ObjectSchemas.load(root: root)
        #expect(problems.isEmpty, "\(problems)")
        return (spec, schemas)
    }

    @Test("every schema is well-formed for the supported subset, and an unsupported keyword is an error")
    func wellFormed() throws {
        let (_, schemas) = try Self.load()
        #expect(schemas.documents.count >= 19)
        #expect(schemas.problems().isEmpty, "\(schemas.problems())")
        let broken = SchemaSet(documents: ["x.schema.json": ["type": "object", "if": ["required": ["a"]]]])
        #expect(broken.problems() == ["x.schema.json: unsupported keyword \"if\""])
        let badRef = SchemaSet(documents: ["x.schema.json": ["$ref": "#/$defs/missing"]])
        #expect(badRef.problems().count == 1)
    }

    @Test("patterns: anchors, classes, counted repetition, alternation, by code points")
    func patterns() throws {
        let b32 = try SchemaPattern("^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
        #expect(b32.matches(String(repeating: "A", count: 42) + "E"))
        #expect(!b32.matches(String(repeating: "A", count: 42) + "F"))  // non-zero unused bits
        #expect(!b32.matches(String(repeating: "A", count: 43) + "E"))
        #expect(!b32.matches(String(repeating: "A", count: 41) + "\u{212A}" + "E"))
        let any = try SchemaPattern("^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$")
        #expect(any.matches("") && any.matches("AAAA") && any.matches("AAAAAQ") && !any.matches("AAAAA") && !any.matches("AAAAAB"))
        #expect(try SchemaPattern("^https://").matches("https://x"))
        #expect(try SchemaPattern("b+").matches("abbc"))  // unanchored: matches anywhere
        #expect(throws: AttestError.self) { try SchemaPattern("(?=a)") }
        #expect(throws: AttestError.self) { try SchemaPattern("\\w") }
    }

    @Test("strings compare by code points: a KELVIN SIGN is not K")
    func codePoints() {
        let set = SchemaSet(documents: ["k.schema.json": ["enum": ["OKP"]]])
        #expect(set.conforms("OKP", to: "k.schema.json"))
        #expect(!set.conforms("O\u{212A}P", to: "k.schema.json"))
        let length = SchemaSet(documents: ["l.schema.json": ["type": "string", "maxLength": 1]])
        #expect(!length.conforms("e\u{301}", to: "l.schema.json"))  // two scalars, one grapheme
    }

    @Test("the checker reports a valid vector whose object violates its schema, and an invalid one that expects a non-structural code")
    func checkerDisagreements() throws {
        let (_, set) = try Self.load()
        func vector(_ id: String, _ jwk: String, _ expected: String, _ extra: String = "") -> String {
            """
            ```json vector
            {"id":"\(id)","op":"jwk.thumbprint","description":"d","covers":["FIX-001"],"input":{"jwk":\(jwk)},
             "expected":\(expected)\(extra)}
            ```

            """
        }
        let invalid = #"{"result":"invalid","error":"JSON_SYNTAX"}"#
        let base = #","base":"fix-jwk","mutation":"x removed""#
        let markdown = "# Fixture\n\n"
            + vector("fix-jwk", #"{"kty":"OKP","crv":"Ed25519","x":"short"}"#, #"{"result":"valid"}"#)
            + vector("fix-jwk-bad", #"{"kty":"OKP","crv":"Ed25519"}"#, invalid, base)
            + vector("fix-jwk-structural", #"{"kty":"OKP","crv":"Ed25519"}"#, #"{"result":"invalid","error":"JWK_MISSING_MEMBER"}"#, base)
            + vector("fix-order-jwk", #"{"kty":"OKP","crv":"Ed25519"}"#, invalid, base)
        let spec = SpecReader.read(documents: [MarkdownDocument(path: "spec/fixture.md", source: markdown)])
        #expect(spec.vectors.count == 4)
        let problems = ObjectSchemas.check(spec, schemas: set).map(\.message)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.first?.hasPrefix("valid vector fix-jwk: input/jwk violates jwk.schema.json") == true, "\(problems)")
        #expect(problems.last?.hasPrefix("invalid vector fix-jwk-bad expects JSON_SYNTAX, not a structural code (JWK_)") == true, "\(problems)")
    }

    @Test("the checkpoint note pattern accepts the valid vectors' notes and rejects the malformed ones")
    func checkpointNotes() throws {
        let (spec, set) = try Self.load()
        var valid = 0
        for vector in spec.vectors where vector.op == "checkpoint.verify" {
            guard let note = vector.input["note"] else { continue }
            let conforms = set.conforms(note, to: "checkpoint-note.schema.json")
            if vector.expectsValid { valid += 1 }
            if vector.expectsValid || vector.expectedError == "CKP_MALFORMED" {
                #expect(conforms == vector.expectsValid, "\(vector.id)")
            }
        }
        #expect(valid >= 3)
    }

    // MARK: Mutations

    struct Mutation {
        let what: String
        let value: JSONValue
    }

    /// Schema-guided mutations of `value`, at most `depth` objects deep.
    static func mutations(of value: JSONValue, schema: JSONValue, document: String, in set: SchemaSet,
                          path: String = "", depth: Int = 0) -> [Mutation] {
        let applicable = set.applicable(schema, document: document, to: value)
        var result: [Mutation] = []
        // Leaf mutations of the value itself.
        for (s, _) in applicable {
            if let type = s["type"]?.stringValue {
                let wrong: JSONValue = switch type {
                case "string": 7
                case "integer", "number": "7"
                case "object": .array([])
                case "array": .object(JSONObject())
                default: "true"
                }
                result.append(Mutation(what: "\(path): \(type) replaced by \(wrong.typeName)", value: wrong))
            }
            if s["type"]?.stringValue == "integer" {
                if let minimum = s["minimum"]?.integerValue, minimum > -9_007_199_254_740_992 {
                    result.append(Mutation(what: "\(path): below the minimum", value: .number(JSONNumber(Int(minimum) - 1))))
                }
                if let maximum = s["maximum"]?.integerValue, maximum < 9_007_199_254_740_990 {
                    result.append(Mutation(what: "\(path): above the maximum", value: .number(JSONNumber(Int(maximum) + 1))))
                } else if s["maximum"]?.integerValue == 9_007_199_254_740_992 {
                    result.append(Mutation(what: "\(path): above 2^53", value: .number(JSONNumber(9_007_199_254_740_994))))
                }
            }
            if let pattern = s["pattern"]?.stringValue, pattern.contains("{42}") {
                result.append(Mutation(what: "\(path): base64url of 33 bytes", value: .string(String(repeating: "A", count: 44))))
                result.append(Mutation(what: "\(path): base64url of 31 bytes", value: .string(String(repeating: "A", count: 42))))
            }
            if s["enum"]?.arrayValue?.allSatisfy({ $0.stringValue != nil }) == true || s["const"]?.stringValue != nil {
                result.append(Mutation(what: "\(path): outside the enumeration", value: "x-outside-enum"))
            }
            if let minimum = s["minLength"]?.integerValue, minimum > 0, value.stringValue != nil {
                result.append(Mutation(what: "\(path): empty", value: ""))
            }
            if let maximum = s["maxLength"]?.integerValue, maximum < 4096, value.stringValue != nil {
                result.append(Mutation(what: "\(path): too long", value: .string(String(repeating: "a", count: Int(maximum) + 1))))
            }
            if let maximum = s["maxItems"]?.integerValue, maximum < 100, let items = value.arrayValue, let first = items.first {
                result.append(Mutation(what: "\(path): too many items",
                                       value: .array(items + Array(repeating: first, count: Int(maximum) + 1 - items.count))))
            }
        }
        guard depth < 4 else { return result }
        if let object = value.objectValue {
            var required: [String] = []
            for (s, _) in applicable { required += s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            for name in object.names where required.containsExactly(name) {
                var o = object
                o[name] = nil
                result.append(Mutation(what: "\(path)/\(name) dropped", value: .object(o)))
            }
            if applicable.contains(where: { if case .bool(false)? = $0.0["additionalProperties"] { true } else { false } }) {
                var o = object
                o["x-unknown"] = 1
                result.append(Mutation(what: "\(path): unknown member added", value: .object(o)))
            }
            for member in object {
                guard let pair = applicable.lazy.compactMap({ (s, d) -> (JSONValue, String)? in
                    if let p = s["properties"]?[member.name] { return (p, d) }
                    if let a = s["additionalProperties"], a.objectValue != nil { return (a, d) }
                    return nil
                }).first else { continue }
                let (sub, subDocument) = pair
                for m in mutations(of: member.value, schema: sub, document: subDocument, in: set,
                                   path: "\(path)/\(member.name)", depth: depth + 1) {
                    var o = object
                    o[member.name] = m.value
                    result.append(Mutation(what: m.what, value: .object(o)))
                }
            }
        } else if let items = value.arrayValue, let first = items.first {
            let prefix = applicable.compactMap { $0.0["prefixItems"]?.arrayValue?.first }.first
            let itemSchema = prefix ?? applicable.compactMap { $0.0["items"] }.first
            if let itemSchema {
                let document = applicable.first { $0.0["items"] != nil || $0.0["prefixItems"] != nil }?.1 ?? document
                for m in mutations(of: first, schema: itemSchema, document: document, in: set, path: "\(path)/0", depth: depth + 1) {
                    result.append(Mutation(what: m.what, value: .array([m.value] + items.dropFirst())))
                }
            }
        }
        return result
    }

    /// Replaces the value at a slash-separated path (`input/chain/0`) of a vector's
    /// context and input.
    /// A bundle file's line (`input/logs/0/receipts line 3`, as ``ObjectSchemas`` names it)
    /// is replaced inside the file's hex: the n-th non-empty line becomes the value's JCS.
    static func replacing(_ path: String, in vector: Vector, with value: JSONValue) -> (JSONObject, JSONObject)? {
        let words = path.split(separator: " ").map(String.init)
        if words.count == 3, words[1] == "line", let n = Int(words[2]) {
            guard let file = resolve(words[0], in: vector)?.stringValue, let bytes = Hex.decode(file) else { return nil }
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            guard let index = lines.indices.filter({ !lines[$0].isEmpty }).dropFirst(n - 1).first else { return nil }
            lines[index] = JCS.canonicalize(value)
            let rewritten = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
            return replacingValue(words[0], in: vector, with: .string(Hex.encode(rewritten)))
        }
        return replacingValue(path, in: vector, with: value)
    }

    static func resolve(_ path: String, in vector: Vector) -> JSONValue? {
        var parts = path.split(separator: "/").map(String.init)
        guard let top = parts.first, top == "input" || top == "context" else { return nil }
        parts.removeFirst()
        var current: JSONValue = .object(top == "input" ? vector.input : vector.context)
        for part in parts {
            if let child = current.objectValue?[part] { current = child; continue }
            guard let i = Int(part), let items = current.arrayValue, items.indices.contains(i) else { return nil }
            current = items[i]
        }
        return current
    }

    static func replacingValue(_ path: String, in vector: Vector, with value: JSONValue) -> (JSONObject, JSONObject)? {
        var parts = path.split(separator: "/").map(String.init)
        guard let top = parts.first, top == "input" || top == "context" else { return nil }
        parts.removeFirst()
        func set(_ container: JSONValue, _ parts: ArraySlice<String>) -> JSONValue? {
            guard let head = parts.first else { return value }
            if case .object(var o) = container, let child = o[head] {
                guard let replaced = set(child, parts.dropFirst()) else { return nil }
                o[head] = replaced
                return .object(o)
            }
            if case .array(var a) = container, let i = Int(head), a.indices.contains(i) {
                guard let replaced = set(a[i], parts.dropFirst()) else { return nil }
                a[i] = replaced
                return .array(a)
            }
            return nil
        }
        let original: JSONObject = top == "input" ? vector.input : vector.context
        guard let replaced = set(.object(original), parts[...])?.objectValue else { return nil }
        return top == "input" ? (vector.context, replaced) : (replaced, vector.input)
    }

    struct Tally {
        var checked = 0
        var failures: [String] = []
        /// Mutations run per "op schema", so that an object kind whose mutations all fail to apply is noticed.
        var perKind: [String: Int] = [:]
    }

    /// Runs the mutations of one object through the schema and through the op.
    static func exercise(_ found: ObjectSchemas.Found, of vector: Vector, set: SchemaSet, tally: inout Tally,
                         run: (JSONValue) -> Outcome?) {
        guard let value = found.value, let root = set.root(found.schema) else { return }
        // Positive control: the unmutated object passes the schema and the op.
        if !set.conforms(value, to: found.schema) { tally.failures.append("\(vector.id) \(found.path): control fails the schema") }
        if case .valid? = run(value) {} else { tally.failures.append("\(vector.id) \(found.path): control fails the op") }
        for mutation in mutations(of: value, schema: root, document: found.schema, in: set) {
            guard let outcome = run(mutation.value) else { continue }
            tally.checked += 1
            tally.perKind["\(vector.op) \(found.schema)", default: 0] += 1
            let label = "\(vector.id) \(found.schema) \(mutation.what)"
            if set.conforms(mutation.value, to: found.schema) { tally.failures.append("\(label): the schema accepts it") }
            switch outcome {
            case .invalid(let code, _) where ObjectSchemas.isStructural(code, for: found.schema): break
            case .invalid(let code, _): tally.failures.append("\(label): rejected with \(code), not a structural code")
            default: tally.failures.append("\(label): the implementation does not reject it (\(outcome))")
            }
        }
    }

    @Test("evidence and key objects: each mutation is rejected by the schema and by the implementation")
    func evidenceMutations() throws {
        let (spec, set) = try Self.load()
        let ops: Set<String> = ["jwk.thumbprint", "jwks.parse", "artifact.verify", "artifact.evaluate", "receipt.verify",
                                "receipt.disclosure", "bundle.verify", "request.verify", "mcp.request.verify"]
        // The trust configuration of the identity ops is context, not the object under test.
        func exercised(_ op: String, _ schema: String) -> Bool {
            !(op == "request.verify" || op == "mcp.request.verify") || schema == "mcp-carrier.schema.json"
        }
        var tally = Tally()
        var seen: Set<String> = []
        let executor = ReferenceOps()
        for vector in spec.vectors where vector.expectsValid && ops.contains(vector.op) {
            for found in ObjectSchemas.objects(in: vector) where exercised(vector.op, found.schema) {
                // One object per schema and op, and for bundles the first of each kind.
                guard seen.insert("\(vector.op) \(found.schema)").inserted else { continue }
                Self.exercise(found, of: vector, set: set, tally: &tally) { mutated in
                    if found.schema == "disclosure.schema.json" {
                        guard var input = mutated.objectValue else { return nil }
                        input["receipt"] = vector.input["receipt"]
                        return executor.execute(op: vector.op, context: vector.context, input: input)
                    }
                    guard let replaced = Self.replacing(found.path, in: vector, with: mutated) else { return nil }
                    return executor.execute(op: vector.op, context: replaced.0, input: replaced.1)
                }
            }
        }
        print("object schemas: \(tally.checked) mutations of evidence and key objects: \(tally.perKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        let unexercised = seen.filter { (tally.perKind[$0] ?? 0) == 0 }.sorted()
        #expect(unexercised.isEmpty, "no mutation reached: \(unexercised)")
        #expect(tally.checked >= 150, "only \(tally.checked) mutations")
        #expect(tally.failures.isEmpty, "\(tally.failures.joined(separator: "\n"))")
    }

    /// A compact JWS of `header` and `claims`, signed with the Ed25519 key of `seed`.
    static func sign(header: JSONValue, claims: JSONValue, seed: [UInt8]) throws -> String {
        let input = Base64URL.encode(JCS.canonicalize(header)) + "." + Base64URL.encode(JCS.canonicalize(claims))
        let signature = try Ed25519.PrivateKey(seed: seed).signRaw(Array(input.utf8))
        return input + "." + Base64URL.encode(signature)
    }

    @Test("JWS headers and claims (token, proof, operator attestation): each mutation, re-signed with the signer's key, is rejected by the schema and by the verifier")
    func jwsMutations() throws {
        let (spec, set) = try Self.load()
        let executor = ReferenceOps()
        func vector(_ id: String) -> Vector? { spec.vectors.first { $0.id == id } }
        // The token of tok-valid is signed with the RFC 8037 key of tok-issue-rfc8037; the
        // proof of prf-valid with the agent key that mcp.request.attach's vectors use.
        guard let tokenSeed = vector("tok-issue-rfc8037")?.input["seed"]?.stringValue.flatMap({ Hex.decode($0) }),
              let agentSeed = spec.vectors.first(where: { $0.op == "mcp.request.attach" })?.input["seed"]?.stringValue.flatMap({ Hex.decode($0) }),
              let tokenVector = vector("tok-valid"), let proofVector = vector("prf-valid"),
              let operatorVector = vector("tok-operator-valid") else {
            Issue.record("tok-issue-rfc8037, tok-valid, prf-valid, tok-operator-valid or an mcp.request.attach vector is missing")
            return
        }
        // The operator key of scripts/author_identity_vectors.py.
        let operatorSeed = SHA256.hash(Array("MCP agent attestation vectors: operator".utf8))
        var tally = Tally()
        for (base, member, seed) in [(tokenVector, "input/token", tokenSeed), (proofVector, "input/proof", agentSeed),
                                     (operatorVector, "input/attestation", operatorSeed)] {
            let parts = ObjectSchemas.objects(in: base).filter { $0.path.hasPrefix(member + "#") }
            guard parts.count == 2, let header = parts[0].value, let claims = parts[1].value else {
                Issue.record("\(base.id): \(member) does not decode")
                continue
            }
            let name = String(member.dropFirst("input/".count))
            for (index, part) in parts.enumerated() {
                Self.exercise(part, of: base, set: set, tally: &tally) { mutated in
                    guard let jws = try? Self.sign(header: index == 0 ? mutated : header, claims: index == 1 ? mutated : claims, seed: seed) else {
                        return .failure("signing failed")
                    }
                    var input = base.input
                    input[name] = .string(jws)
                    return executor.execute(op: base.op, context: base.context, input: input)
                }
            }
        }
        print("object schemas: \(tally.checked) mutations of JWS headers and claims")
        #expect(tally.checked >= 120, "only \(tally.checked) mutations")
        #expect(tally.failures.isEmpty, "\(tally.failures.joined(separator: "\n"))")
    }

    @Test("bundle manifest: each mutation is rejected by the schema and by the manifest reader")
    func manifestMutations() throws {
        let (_, set) = try Self.load()
        let manifest: JSONValue = [
            "format": "mcp-attest/bundle/v2", "artifacts": "artifacts.jsonl",
            "logs": [["origin": "portal.example/log/0", "receipts": "logs/0/receipts.jsonl",
                      "checkpoints": "logs/0/checkpoints.jsonl", "payloads": "logs/0/payloads.jsonl"]],
        ]
        let name = "bundle-manifest.schema.json"
        #expect(set.conforms(manifest, to: name))
        #expect((try? BundleFormat.Manifest(json: manifest)) != nil)
        guard let root = set.root(name) else { Issue.record("no \(name)"); return }
        var checked = 0
        for mutation in Self.mutations(of: manifest, schema: root, document: name, in: set) {
            checked += 1
            #expect(!set.conforms(mutation.value, to: name), "\(mutation.what): the schema accepts it")
            do throws(AttestError) {
                _ = try BundleFormat.Manifest(json: mutation.value)
                Issue.record("\(mutation.what): the manifest reader accepts it")
            } catch {
                #expect(error.code == .bundleMalformed, "\(mutation.what): \(error.code)")
            }
        }
        print("object schemas: \(checked) mutations of the bundle manifest")
        #expect(checked >= 15)
    }
}
