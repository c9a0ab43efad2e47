import AttestCore
import AttestEvidence
import Foundation

extension WitnessEndpoint {
    /// An endpoint whose answers are read with the witness's cosigner verifier key
    /// (checkpoint.md §Cosignatures): a line by that key must verify, other lines are left out.
    public init(url: String, key: CosignerVerifier) {
        self.init(url: url, name: key.name) { lines, body throws(AttestError) in
            var verified: [String] = []
            for line in lines {
                let note = String(decoding: body + [0x0A] + Array(line.utf8), as: UTF8.self)
                if try !Checkpoint.cosignatures(on: note, witnesses: [key]).isEmpty { verified.append(line) }
            }
            return verified
        }
    }

    /// The configuration's `witnesses`: at most 16 of `{"url": http(s) URL, "key": cosigner key}`.
    static func configured(_ value: JSONValue?) throws(PortalConfigurationError) -> [WitnessEndpoint] {
        guard let value else { return [] }
        guard case .array(let entries) = value, entries.count <= 16 else {
            throw PortalConfigurationError("\"witnesses\" is a list of at most 16 {\"url\", \"key\"}")
        }
        var endpoints: [WitnessEndpoint] = []
        for entry in entries {
            guard case .object(let o) = entry, o.names.allSatisfy({ ["url", "key"].containsExactly($0) }),
                  let url = o["url"]?.stringValue, let keyText = o["key"]?.stringValue,
                  let parsed = URL(string: url), ["http", "https"].containsExactly(parsed.scheme ?? ""), parsed.host != nil else {
                throw PortalConfigurationError("a witness is {\"url\": an http or https URL, \"key\": its cosigner verifier key}")
            }
            let key: CosignerVerifier
            do { key = try CosignerVerifier(text: keyText) } catch {
                throw PortalConfigurationError("witness key \(keyText): \(error.code.rawValue): \(error.message)")
            }
            endpoints.append(WitnessEndpoint(url: url, key: key))
        }
        return endpoints
    }
}
