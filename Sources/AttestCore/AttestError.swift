/// The one error type of the project. Every rejection carries a code from the closed
/// registry in `spec/errors.md` and a message for humans; the code is the contract,
/// the message is not.
public struct AttestError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
