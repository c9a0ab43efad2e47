import AttestCore
import AttestIdentity

/// Ops of the identity documents: token, proof, keys (discovery), mcp-binding.
enum IdentityOps {
    static let ops: [ReferenceOps.Op] = []
}
