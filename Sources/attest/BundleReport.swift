import AttestCore
import AttestEvidence
import Foundation
import SpecKit

/// The versions a report names, so that it can be reproduced with the same tool.
enum AttestVersion {
    /// This tool: its release follows the specification version it implements.
    static let tool = "\(SpecificationVersion.current).0"
    /// The specification it implements (spec/changelog.md).
    static let specification = SpecificationVersion.current
}

/// What `attest bundle verify` reports, on PASS and FAIL alike: everything comes from the
/// verifier's result and the trust inputs it was given (nothing is read again).
struct BundleReport {
    let bundle: String
    let trust: BundleVerifier.Trust
    let logKeyTexts: [String]
    let result: BundleVerifier.Report

    var verdictLine: String {
        if let f = result.failure {
            return "FAIL \(f.code.rawValue)\(f.log.map { " log \($0)" } ?? "")\(f.seq.map { " seq \($0)" } ?? ""): \(f.message)"
        }
        let allowed = result.logs.reduce(0) { $0 + $1.allowedCalls }
        return String(format: "PASS: %d receipts in %.2f s (%.0f receipts/s), %d ALLOW decisions re-evaluated (%d with disclosed arguments), %d calls open",
                      result.receipts, result.seconds, Double(result.receipts) / max(result.seconds, 1e-9), allowed,
                      result.payloadsChecked, result.openCalls)
    }

    static func utc(_ t: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    var digestHex: String? { result.digest.map(Hex.encode) }

    /// The report as text, after the verdict line.
    var text: String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        line("bundle    \(bundle)")
        line("  digest  " + (digestHex.map { "sha256:\($0)" } ?? "none: a file the manifest names cannot be read")
             + " (SHA-256 of the sha256sum listing of the \(result.files.count) files below, in manifest order)")
        for f in result.files { line("          \(f.sha256.map(Hex.encode) ?? "unreadable")  \(f.path)") }
        line("tool      attest \(AttestVersion.tool), specification \(AttestVersion.specification), bundle format \(BundleFormat.name)")
        line("trusted   verification time \(trust.now) (\(Self.utc(trust.now)))")
        for a in trust.authorities.map(\.value).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            line("          policy authority key \(a)")
        }
        for k in trust.logKeys { line("          log key \(k.name): thumbprint \(k.key.thumbprint)") }
        line("artifacts \(result.artifacts) read")
        for log in result.logs {
            let range = log.firstTime.map { first in
                "time \(first) to \(log.lastTime ?? first) (\(Self.utc(first)) to \(Self.utc(log.lastTime ?? first)))"
            } ?? "no receipts"
            line("log       \(log.origin) (\(log.logKey.isEmpty ? "no trusted key given" : "key \(log.logKey)")): \(log.receipts) receipts verified, \(range)")
            line("  decisions  \(log.allow - log.shadow) ALLOW, \(log.deny) DENY, \(log.phantom) PHANTOM, \(log.result) RESULT, \(log.revoke) REVOKE; \(log.openCalls) calls open")
            if log.shadow > 0 {
                line("  shadow     \(log.shadow) calls forwarded in shadow mode (ALLOW with shadow): what enforcement would have denied, not enforced decisions")
            }
            line("  payloads   " + (log.payloadFile ? "disclosed for \(log.disclosed) receipts" : "none disclosed (structure only)"))
            let shown = log.checkpoints.count <= 12 ? log.checkpoints[...] : log.checkpoints.suffix(10)
            line("  checkpoints \(log.checkpoints.count) verified (signed by the log key, each consistent with the one before)"
                 + (shown.count < log.checkpoints.count ? "; the last \(shown.count) (all in the JSON report):" : ":"))
            for c in shown { line("    size \(c.size) root \(Data(c.root).base64EncodedString())") }
            if trust.policy != nil {
                line("  witnesses  " + (log.witnesses.isEmpty ? "none cosigned the newest checkpoint" : log.witnesses.joined(separator: ", "))
                     + " (counted for the policy's quorum)")
            }
            let bounds = [log.endPinnedSize.map { "a pinned checkpoint of size \($0)" },
                          log.endFreshAfter.map { "a quorum of cosignatures at or after \($0)" }].compactMap { $0 }
            line("  end        " + (log.endProven ? "proven by " + bounds.joined(separator: " and ")
                                                  : "not proven: later receipts could have been cut off (no pinned checkpoint or freshness bound)"))
        }
        line("checks")
        for c in result.checks { line("  \(c.result)  \(c.check) (\(c.count))") }
        if let f = result.failure { line("  FAIL  \(f.code.rawValue)\(f.log.map { " in \($0)" } ?? "")\(f.seq.map { " at seq \($0)" } ?? "")") }
        if !result.skipped.isEmpty {
            line("skipped")
            for s in result.skipped { line("  \(s.check): \(s.reason)") }
        }
        if result.failure != nil { line("not checked: everything after the failure") }
        return out
    }

    var json: JSONValue {
        guard case .object(var o) = result.json else { return result.json }
        func n(_ v: Int) -> JSONValue { .number(JSONNumber(v)) }
        func n64(_ v: Int64) -> JSONValue { .number(JSONNumber(Double(v))) }
        o["tool"] = ["name": "attest", "version": .string(AttestVersion.tool)]
        o["specification"] = ["version": .string(AttestVersion.specification), "bundle_format": .string(BundleFormat.name)]
        o["seconds"] = .number(JSONNumber(Double(Int(result.seconds * 1000)) / 1000))
        o["bundle"] = [
            "path": .string(bundle),
            "digest": digestHex.map { .string("sha256:" + $0) } ?? .null,
            "digest_rule": "SHA-256 of the lines hex(SHA-256(file)) SP SP path LF, for manifest.json and each file it names in manifest order",
            "files": .array(result.files.map { ["path": .string($0.path), "sha256": $0.sha256.map { .string(Hex.encode($0)) } ?? .null] }),
        ]
        o["trust"] = [
            "now": n64(trust.now),
            "authorities": .array(trust.authorities.map(\.value)
                .sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).map(JSONValue.string)),
            "log_keys": .array(zip(trust.logKeys, logKeyTexts).map { key, text in
                ["name": .string(key.name), "thumbprint": .string(key.key.thumbprint), "verifier_key": .string(text)]
            }),
            "policy": trust.policy.map { p in
                ["witnesses": .array(p.witnesses.map { .string(String(decoding: $0.name, as: UTF8.self)) }),
                 "quorum": .string(String(decoding: p.quorum, as: UTF8.self))]
            } ?? .null,
            "pinned": .array(trust.pinned.map { JSONValue.string($0.origin) }),
            "fresh_after": trust.freshAfter.map(n64) ?? .null,
        ]
        o["artifacts"] = n(result.artifacts)
        o["logs"] = .array(result.logs.map { log -> JSONValue in
            var entry: JSONObject = [
                "origin": .string(log.origin), "log_key": .string(log.logKey), "receipts": n(log.receipts),
                "decisions": ["ALLOW": n(log.allow - log.shadow), "DENY": n(log.deny), "PHANTOM": n(log.phantom), "RESULT": n(log.result),
                              "REVOKE": n(log.revoke)],
                "shadow_calls": n(log.shadow),
                "time": ["first": log.firstTime.map(n64) ?? .null, "last": log.lastTime.map(n64) ?? .null],
                "payloads_disclosed": log.payloadFile ? n(log.disclosed) : .null,
                "allow_calls_reevaluated": n(log.allowedCalls),
                "allow_calls_with_arguments": n(log.allowedCallsWithArguments),
                "open_calls": n(log.openCalls),
                "checkpoints": .array(log.checkpoints.map {
                    ["size": n64(Int64($0.size)), "root": .string(Data($0.root).base64EncodedString())]
                }),
                "witnesses": .array(log.witnesses.map(JSONValue.string)),
                "end_proven": .bool(log.endProven),
            ]
            if let bound = log.endBound { entry["end_bound"] = bound }
            return .object(entry)
        })
        o["skipped"] = .array(result.skipped.map { ["check": .string($0.check), "reason": .string($0.reason), "count": n($0.count)] })
        return .object(o)
    }
}

/// A one-line progress display on a terminal (standard error, redrawn at most a few times
/// a second, erased at the end). A small internal helper: none of the Swift packages this
/// project may use offers one. Nothing is shown when either standard output or standard
/// error is not a terminal, so scripts and logs stay clean.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast
    private var shown = false

    static func onTerminal(enabled: Bool) -> ProgressLine? {
        guard enabled, isatty(STDOUT_FILENO) == 1, isatty(STDERR_FILENO) == 1 else { return nil }
        return ProgressLine()
    }

    func update(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.2 else { return }
        last = now
        shown = true
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func timeLeft(done: Int, total: Int, seconds: Double) -> String {
        guard done > 0, total > done, seconds > 0 else { return "" }
        let left = Int((Double(total - done) * seconds / Double(done)).rounded())
        return left >= 60 ? ", \(left / 60) min \(left % 60) s left" : ", \(left) s left"
    }
}
