import AttestCore
import Foundation

/// The evidence bundle (spec/bundle.md): a directory with a manifest, the artifacts,
/// and per log its complete receipt stream, its signed checkpoints with consistency
/// proofs, and optionally disclosed payloads.
///
/// ```
/// manifest.json                 {"format": "mcp-attest/bundle/v2", "artifacts": "artifacts.jsonl", "logs": [...]}
/// artifacts.jsonl               one signed artifact or mandate per line
/// logs/N/receipts.jsonl         every receipt of the log from seq 0, in order
/// logs/N/checkpoints.jsonl      {"note": signed checkpoint, "consistency": [proof from the previous one]}
/// logs/N/payloads.jsonl         optional: {"seq", "request", "request_salt", "response", "response_salt"}
/// ```
public enum BundleFormat {
    public static let name = "mcp-attest/bundle/v2"

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

        /// At most this many logs in one bundle.
        public static let maxLogs = 1024

        /// Reads a manifest (bundle.md §Layout): exactly the members of the format, paths
        /// that are relative plain names, and each origin once (`BND_MALFORMED`).
        public init(json: JSONValue) throws(AttestError) {
            func malformed(_ why: String) -> AttestError { AttestError(.bundleMalformed, "manifest: \(why)") }
            guard case .object(let o) = json, o.count == 3, o["format"]?.stringValue?.isExactly(BundleFormat.name) == true,
                  let artifacts = o["artifacts"]?.stringValue, let logs = o["logs"]?.arrayValue else {
                throw malformed("it is {format: \(BundleFormat.name), artifacts, logs}")
            }
            guard !logs.isEmpty, logs.count <= Self.maxLogs else { throw malformed("it lists 1 to \(Self.maxLogs) logs") }
            self.artifacts = artifacts
            var entries: [LogEntry] = []
            var origins: Set<ExactString> = []
            for log in logs {
                guard let entry = log.objectValue, let origin = entry["origin"]?.stringValue, !origin.isEmpty,
                      let receipts = entry["receipts"]?.stringValue, let checkpoints = entry["checkpoints"]?.stringValue,
                      entry.count == (entry["payloads"] == nil ? 3 : 4),
                      entry["payloads"] == nil || entry["payloads"]?.stringValue != nil else {
                    throw malformed("a log entry is {origin, receipts, checkpoints, payloads?} with string values")
                }
                guard origins.insert(ExactString(origin)).inserted else {
                    throw malformed("log \(origin) is listed twice")
                }
                entries.append(LogEntry(origin: origin, receipts: receipts, checkpoints: checkpoints,
                                        payloads: entry["payloads"]?.stringValue))
            }
            for path in [artifacts] + entries.flatMap({ [$0.receipts, $0.checkpoints] + ($0.payloads.map { [$0] } ?? []) })
                where !BundleDirectory.isWellFormed(path) {
                throw malformed("path \"\(path)\" is not a relative path of plain names inside the bundle")
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
