import AttestCore
import AttestEvidence
import Foundation
import MCP

/// Governed calls only, for a server on the MCP Swift SDK: `governed(_:verifier:)` wraps a
/// `CallTool` handler so that the tool runs only when the call's forwarding statement
/// (statement.md) verifies for this server.
///
/// ```swift
/// let verifier = StatementVerifier(trusted: [portalNoteVerifierKey], audience: "mcp://search.example")
/// await server.withMethodHandler(CallTool.self, handler: governed(myToolHandler, verifier: verifier))
/// ```
///
/// A refused call is answered with JSON-RPC error -31000 (mcp-binding.md). The SDK's
/// `MCPError` carries no `data`, so the registry code is in the error's `message`, which
/// the SDK writes as `Server error: STM_REPLAY: …`.
public func governed(_ handler: @escaping @Sendable (CallTool.Parameters) async throws -> CallTool.Result,
                     verifier: StatementVerifier, clock: @escaping MCPClock = systemClock)
    -> @Sendable (CallTool.Parameters) async throws -> CallTool.Result {
    { parameters in
        do {
            _ = try verifier.verify(params: try StatementParams.json(of: parameters), now: clock())
        } catch let error as AttestError {
            throw MCPError.serverError(code: MCPBinding.errorCode, message: "\(error.code.rawValue): \(error.message)")
        }
        return try await handler(parameters)
    }
}

enum StatementParams {
    /// The params as the SDK decoded them (`_meta`, `name`, `arguments`), as JSON. The SDK
    /// keeps no other member, so a call whose params held one is refused with
    /// `STM_PARAMS_MISMATCH`: the server cannot hash what it was not given.
    static func json(of parameters: CallTool.Parameters) throws(AttestError) -> JSONObject {
        guard let data = try? JSONEncoder().encode(parameters),
              case .object(let object) = try StrictJSONParser().parse(Array(data)) else {
            throw AttestError(.statementMissing, "the tools/call params cannot be read")
        }
        return object
    }
}
