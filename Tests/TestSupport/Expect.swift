import AttestCore
import Testing

/// Asserts that `body` throws an AttestError with exactly `code`.
/// Records the code as evidence (EvidenceLog) when it is the one thrown.
public func expectCode<T>(_ code: ErrorCode, _ what: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                   function: String = #function, _ body: () throws -> T) {
    do {
        let value = try body()
        Issue.record("expected \(code.rawValue), got success: \(value) \(what.map { "(\($0))" } ?? "")",
                     sourceLocation: sourceLocation)
    } catch let error as AttestError {
        #expect(error.code == code, "\(what.map { "\($0): " } ?? "")\(error)", sourceLocation: sourceLocation)
        if error.code == code { EvidenceLog.observed(code, sourceLocation: sourceLocation, function: function) }
    } catch {
        Issue.record("expected AttestError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
