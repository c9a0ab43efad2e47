import AttestCore
import AttestEvidence

/// Ops of the evidence documents: artifact, mandate, receipt, merkle, checkpoint, bundle.
enum EvidenceOps {
    static let ops: [ReferenceOps.Op] = []
}
