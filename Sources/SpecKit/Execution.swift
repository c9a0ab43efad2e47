import AttestCore

/// What an implementation answered for one vector.
public enum Outcome: Sendable, Equatable {
    case valid(JSONObject)
    case invalid(code: String, message: String)
    case unsupported
    /// The implementation broke the protocol: crashed, timed out, printed garbage.
    case failure(String)

    /// The wire form of the conformance protocol (spec/conformance.md).
    public var response: JSONValue {
        switch self {
        case .valid(let output): ["result": "valid", "output": .object(output)]
        case .invalid(let code, let message): ["result": "invalid", "error": .string(code), "message": .string(message)]
        case .unsupported: ["unsupported": true]
        case .failure(let message): ["failure": .string(message)]
        }
    }

    /// Reads a response object of the conformance protocol.
    public init(response: JSONValue) {
        guard case .object(let o) = response else { self = .failure("response is not a JSON object"); return }
        if o["unsupported"] == .bool(true) { self = .unsupported; return }
        switch o["result"]?.stringValue {
        case "valid":
            switch o["output"] {
            case nil: self = .valid(JSONObject())
            case .object(let output)?: self = .valid(output)
            default: self = .failure("\"output\" is not an object")
            }
        case "invalid":
            guard let code = o["error"]?.stringValue else {
                self = .failure("an invalid result carries no \"error\" code")
                return
            }
            self = .invalid(code: code, message: o["message"]?.stringValue ?? "")
        default:
            self = .failure("\"result\" is neither \"valid\" nor \"invalid\"")
        }
    }
}

/// Runs one op. AttestOps provides the reference implementation; the conformance
/// runner provides one that talks to another process.
public protocol OpExecutor: Sendable {
    func execute(op: String, context: JSONObject, input: JSONObject) -> Outcome
}

public enum Verdict: Sendable, Equatable {
    case pass
    case fail(String)
    case skip(String)

    public var label: String {
        switch self {
        case .pass: "pass"
        case .fail: "fail"
        case .skip: "skip"
        }
    }
}

extension Vector {
    /// Compares an outcome with the vector: the result, then the error code (or one of
    /// `error_any_of`), then every output member the vector names.
    public func judge(_ outcome: Outcome) -> Verdict {
        switch outcome {
        case .failure(let message):
            return .fail("implementation failure: \(message)")
        case .unsupported:
            return .skip("op \(op) unsupported")
        case .invalid(let code, let message):
            guard !expectsValid else { return .fail("expected valid, got invalid \(code): \(message)") }
            if let expectedError, code != expectedError {
                return .fail("expected error \(expectedError), got \(code): \(message)")
            }
            if !expectedErrorAnyOf.isEmpty && !expectedErrorAnyOf.contains(code) {
                return .fail("expected one of \(expectedErrorAnyOf.joined(separator: ", ")), got \(code): \(message)")
            }
            return .pass
        case .valid(let output):
            guard expectsValid else {
                return .fail("expected invalid \(expectedError ?? expectedErrorAnyOf.joined(separator: "|")), got valid")
            }
            for member in expected["output"]?.objectValue ?? JSONObject() {
                guard let actual = output[member.name] else { return .fail("output has no \"\(member.name)\"") }
                guard actual == member.value else {
                    return .fail("output \"\(member.name)\": expected \(member.value.serialized(pretty: false)), got \(actual.serialized(pretty: false))")
                }
            }
            return .pass
        }
    }
}
