import AttestCore

/// A receipt line as a bundle holds it (bundle.md §Layout): the receipt's canonical form,
/// the JCS of the receipt without `sig`. Inside a bundle the log key's checkpoints over
/// the Merkle root of the receipts' links authenticate every receipt, so the per-receipt
/// signature adds nothing there; a receipt handed out alone keeps it (receipt.md).
extension Receipt {
    /// The bundle line of a signed log line (without its line feed): the line with its
    /// `sig` member cut out when the line is in the canonical layout, else the JCS of the
    /// parsed receipt without `sig`. The signature is not verified here: what a bundle
    /// proves rests on the checkpoints, which the exporter copies as they are.
    public static func bundleLine(fromLogLine line: ArraySlice<UInt8>) throws(AttestError) -> [UInt8] {
        if let fast = read(canonicalLine: line, maxBytes: BundleVerifier.Limits.receiptLineBytes, cache: StringCache()) {
            return fast.canonical
        }
        let value: JSONValue
        do {
            value = try StrictJSONParser(limits: .init(maxBytes: BundleVerifier.Limits.receiptLineBytes, maxDepth: 16)).parse(line)
        } catch {
            throw AttestError(.receiptMalformed, "a log line is not JSON: \(error.message)")
        }
        return try Receipt(json: value).canonical
    }
}
