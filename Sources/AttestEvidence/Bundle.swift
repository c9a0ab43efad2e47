import AttestCore
import Foundation

/// The evidence bundle (spec/bundle.md): a directory with a manifest, the artifacts,
/// and per log its complete receipt stream, its signed checkpoints with consistency
/// proofs, and optionally disclosed payloads.
///
/// ```
/// manifest.json                 {"format": "mcp-attest/bundle/v1", "artifacts": "artifacts.jsonl", "logs": [...]}
/// artifacts.jsonl               one signed artifact or mandate per line
/// logs/N/receipts.jsonl         every receipt of the log from seq 0, in order
/// logs/N/checkpoints.jsonl      {"note": signed checkpoint, "consistency": [proof from the previous one]}
/// logs/N/payloads.jsonl         optional: {"seq", "request", "request_salt", "response", "response_salt"}
/// ```
public enum BundleFormat {
    public static let name = "mcp-attest/bundle/v1"

    public struct LogEntry: Sendable {
        public let origin: String
        public let receipts: String
        public let checkpoints: String
        public let payloads: String?

        public init(origin: String, receipts: String, checkpoints: String, payloads: String?) {
            self.origin = origin
            self.receipts = receipts
            self.checkpoints = checkpoints
            self.payloads = payloads
        }
    }

    public struct Manifest: Sendable {
        public let artifacts: String
        public let logs: [LogEntry]

        public init(artifacts: String, logs: [LogEntry]) {
            self.artifacts = artifacts
            self.logs = logs
        }

        public init(json: JSONValue) throws(AttestError) {
            guard case .object(let o) = json, o["format"]?.stringValue == BundleFormat.name,
                  let artifacts = o["artifacts"]?.stringValue, let logs = o["logs"]?.arrayValue, !logs.isEmpty else {
                throw AttestError(.bundleMalformed, "manifest is {format: \(BundleFormat.name), artifacts, logs: [...]}")
            }
            self.artifacts = artifacts
            var entries: [LogEntry] = []
            for log in logs {
                guard let origin = log["origin"]?.stringValue, let receipts = log["receipts"]?.stringValue,
                      let checkpoints = log["checkpoints"]?.stringValue else {
                    throw AttestError(.bundleMalformed, "a manifest log entry is {origin, receipts, checkpoints, payloads?}")
                }
                entries.append(LogEntry(origin: origin, receipts: receipts, checkpoints: checkpoints,
                                        payloads: log["payloads"]?.stringValue))
            }
            for path in [artifacts] + entries.flatMap({ [$0.receipts, $0.checkpoints] + ($0.payloads.map { [$0] } ?? []) })
                where path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw AttestError(.bundleMalformed, "manifest path \(path) leaves the bundle")
            }
            self.logs = entries
        }

        public var json: JSONValue {
            [
                "format": .string(BundleFormat.name),
                "artifacts": .string(artifacts),
                "logs": .array(logs.map { l in
                    var o: JSONObject = ["origin": .string(l.origin), "receipts": .string(l.receipts),
                                         "checkpoints": .string(l.checkpoints)]
                    if let p = l.payloads { o["payloads"] = .string(p) }
                    return .object(o)
                }),
            ]
        }
    }
}
