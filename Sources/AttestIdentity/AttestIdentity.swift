/// Agent identity: attestation tokens, per-request proofs, key sets, verifier policy
/// and replay stores (spec/token.md, spec/proof.md, spec/keys.md).
import AttestCore
