import AttestCore
import SpecKit

/// The one table from vector ops to the implementation. It backs both the in-process
/// `attest check` and `attest impl` (the conformance-protocol adapter), so the Swift
/// implementation is tested the same way as any other.
public struct ReferenceOps: OpExecutor {
    public struct Op: Sendable {
        public let name: String
        public let document: String
        let run: @Sendable (OpArguments) throws -> JSONObject
    }

    public static let all: [Op] = CoreOps.ops + DiscoveryOps.ops + IdentityOps.ops + EvidenceOps.ops + MCPOps.ops + StatementOps.ops + WitnessOps.ops

    private static let byName: [String: Op] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public init() {}

    public func execute(op: String, context: JSONObject, input: JSONObject) -> Outcome {
        guard let entry = Self.byName[op] else { return .unsupported }
        do {
            return .valid(try entry.run(OpArguments(context: context, input: input)))
        } catch let error as AttestError {
            return .invalid(code: error.code.rawValue, message: error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    /// The registry codes the implementation can raise.
    public static var errorCodes: Set<String> { Set(ErrorCode.allCases.map(\.rawValue)) }
}

/// A malformed vector input (not a protocol rejection): reported as a harness failure.
struct OpInputError: Error, CustomStringConvertible {
    let description: String
}

/// Typed access to an op's context and input.
public struct OpArguments: Sendable {
    public let context: JSONObject
    public let input: JSONObject

    func value(_ name: String) throws -> JSONValue {
        guard let v = input[name] else { throw OpInputError(description: "input has no \"\(name)\"") }
        return v
    }

    func string(_ name: String) throws -> String {
        guard let s = try value(name).stringValue else { throw OpInputError(description: "input \"\(name)\" is not a string") }
        return s
    }

    func optionalString(_ name: String) throws -> String? {
        input[name] == nil ? nil : try string(name)
    }

    func hex(_ name: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(try string(name)) else { throw OpInputError(description: "input \"\(name)\" is not hex") }
        return bytes
    }

    func contextInt(_ name: String) throws -> Int? {
        guard let v = context[name] else { return nil }
        guard let i = v.integerValue else { throw OpInputError(description: "context \"\(name)\" is not an integer") }
        return Int(i)
    }

    /// A limit from the context: a non-negative integer (a negative one is a malformed request, not a verdict).
    func contextLimit(_ name: String) throws -> Int? {
        guard let i = try contextInt(name) else { return nil }
        guard i >= 0 else { throw OpInputError(description: "context \"\(name)\" is negative") }
        return i
    }
}
