/// Enforcement evidence: sealed artifacts, sub-mandates, receipts, the RFC 9162 Merkle
/// log, checkpoints and evidence bundles (spec/artifact.md ... spec/bundle.md).
import AttestCore
