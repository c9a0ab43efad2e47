import AttestCore
import Foundation

/// Reading a receipt log line that is already in its canonical form, the form every
/// portal writes (``ReceiptFields``): the members in JCS order, ASCII strings with
/// nothing to escape, integers in their shortest form, and no whitespace.
///
/// Such a line is the JCS of the receipt, so its canonical form without `sig` is the
/// line with the `,"sig":{...}` member cut out, and no JSON object needs to be built or
/// re-serialized. The reader accepts only lines it can prove the generic path
/// (``StrictJSONParser`` and ``Receipt/init(json:)``) would accept with exactly the
/// same fields; anything else (any other layout, a byte outside printable ASCII, an
/// escape, a field the generic path would reject) returns nil, and the caller takes
/// the generic path, which then reports the same error it always did.
extension Receipt {
    /// Recently made strings, so that the values most receipts of a log share (its
    /// origin, key, artifacts, agents) are made once, not once per receipt. Not shared
    /// between threads.
    final class StringCache {
        private var slots: [[String]] = Array(repeating: [], count: Slot.count)

        enum Slot: Int { case log, artifact, session, sub, jkt, method, tool, code, kid; static let count = 9 }

        func string(_ bytes: UnsafeBufferPointer<UInt8>, _ slot: Slot) -> String {
            let n = bytes.count
            for cached in slots[slot.rawValue] {
                let same = cached.utf8.withContiguousStorageIfAvailable { c in
                    c.count == n && (n == 0 || memcmp(c.baseAddress!, bytes.baseAddress!, n) == 0)  // trap-free: read only when the count checked before it is non-zero
                }
                if same == true { return cached }
            }
            let made = String(decoding: bytes, as: UTF8.self)
            if slots[slot.rawValue].count >= 4 { slots[slot.rawValue].removeFirst() }
            slots[slot.rawValue].append(made)
            return made
        }
    }

    /// The receipt of a canonical log line, or nil when the line is not in that form or
    /// is not a valid receipt (the caller then parses it generically). `maxBytes` is the
    /// size limit of the generic parser the caller would use.
    ///
    /// `signed` false reads a receipt line of a bundle, which has no `sig` member (a line
    /// with one is not in this form); the line is then its own canonical form, kept as
    /// the slice it is, without a copy.
    static func read(canonicalLine line: ArraySlice<UInt8>, maxBytes: Int, cache: StringCache, signed: Bool = true) -> Receipt? {
        guard line.count <= maxBytes else { return nil }
        return line.withUnsafeBufferPointer { read(canonicalLine: $0, cache: cache, signed: signed, line: line) }
    }

    private static func read(canonicalLine b: UnsafeBufferPointer<UInt8>, cache: StringCache, signed: Bool,
                             line: ArraySlice<UInt8>) -> Receipt? {
        var scanner = CanonicalScanner(b)
        guard scanner.literal("{") else { return nil }
        var agentSubject: String? = nil, agentKey: String? = nil
        if scanner.literal("\"agent\":{\"jkt\":") {
            guard let jkt = scanner.string(), scanner.literal(",\"sub\":"), let sub = scanner.string(),
                  scanner.literal("},") else { return nil }
            agentKey = cache.string(jkt, .jkt)
            agentSubject = cache.string(sub, .sub)
        }
        guard scanner.literal("\"artifact\":"), let artifact = scanner.string(), !artifact.isEmpty else { return nil }
        var call: UInt64? = nil
        if scanner.literal(",\"call\":") {
            guard let c = scanner.integer() else { return nil }
            call = UInt64(c)
        }
        var code: String? = nil
        if scanner.literal(",\"code\":") {
            guard let c = scanner.string(), !c.isEmpty else { return nil }
            code = cache.string(c, .code)
        }
        guard scanner.literal(",\"decision\":"), let d = scanner.string() else { return nil }
        let decision: Decision
        if equal(d, "ALLOW") { decision = .allow } else if equal(d, "DENY") { decision = .deny }
        else if equal(d, "PHANTOM") { decision = .phantom } else if equal(d, "RESULT") { decision = .result } else { return nil }
        guard scanner.literal(",\"log\":"), let log = scanner.string(), !log.isEmpty,
              scanner.literal(",\"method\":"), let method = scanner.string(), !method.isEmpty,
              scanner.literal(",\"prev\":"), let prev = scanner.digest() else { return nil }
        var request: [UInt8]? = nil, response: [UInt8]? = nil
        if scanner.literal(",\"request\":") {
            guard let r = scanner.digest() else { return nil }
            request = r
        }
        if scanner.literal(",\"response\":") {
            guard let r = scanner.digest() else { return nil }
            response = r
        }
        guard scanner.literal(",\"seq\":"), let seq = scanner.integer(),
              scanner.literal(",\"session\":"), let session = scanner.string(), !session.isEmpty else { return nil }
        var shadow: String? = nil
        if scanner.literal(",\"shadow\":") {
            guard let c = scanner.string(), !c.isEmpty else { return nil }
            shadow = cache.string(c, .code)
        }
        let sigStart = scanner.position
        var kid: UnsafeBufferPointer<UInt8>? = nil, signature: [UInt8] = []
        if signed {
            guard scanner.literal(",\"sig\":{\"alg\":\"Ed25519\",\"kid\":"), let k = scanner.string(),
                  scanner.literal(",\"value\":"), let value = scanner.string(), scanner.literal("}"),
                  let s = try? Base64URL.decode(buffer: value) else { return nil }
            kid = k
            signature = s
        }
        let sigEnd = scanner.position
        guard scanner.literal(",\"time\":"), let time = scanner.integer() else { return nil }
        var tool: String? = nil
        if scanner.literal(",\"tool\":") {
            guard let t = scanner.string(), !t.isEmpty else { return nil }
            tool = cache.string(t, .tool)
        }
        var toolsDigest: String? = nil
        if scanner.literal(",\"tools_sha256\":") {
            guard let d = scanner.string(), let bytes = try? Base64URL.decode(buffer: d), bytes.count == 32 else { return nil }
            toolsDigest = String(decoding: d, as: UTF8.self)
        }
        guard scanner.literal(",\"type\":\"mcp-attest/receipt/v1\"") else { return nil }
        var upstream: JSONValue? = nil
        if scanner.literal(",\"upstream\":") {
            guard let u = scanner.upstream(), (try? Artifact.upstream(u)) != nil else { return nil }
            upstream = u
        }
        guard scanner.literal("}"), scanner.position == b.count else { return nil }
        let methodName = cache.string(method, .method)
        guard validMethod(methodName, tool: tool) else { return nil }
        guard formDefect(decision: decision, code: code, call: call, seq: UInt64(seq), hasUpstream: upstream != nil || toolsDigest != nil,
                         hasShadow: shadow != nil, hasRequest: request != nil, hasResponse: response != nil) == nil else { return nil }

        // The canonical form: the line itself when it has no sig, else the line without it.
        let canonical: ArraySlice<UInt8>
        if sigEnd == sigStart {
            canonical = line
        } else {
            let total = b.count - (sigEnd - sigStart)
            canonical = [UInt8](unsafeUninitializedCapacity: total) { out, count in
                let base = out.baseAddress!  // trap-free: a line that parsed is not empty, nor is its canonical form
                base.update(from: b.baseAddress!, count: sigStart)  // trap-free: a line that parsed is not empty
                (base + sigStart).update(from: b.baseAddress! + sigEnd, count: b.count - sigEnd)  // trap-free: a line that parsed is not empty
                count = total
            }[...]
        }
        return Receipt(log: cache.string(log, .log), seq: UInt64(seq), time: time, prev: prev,
                       artifact: cache.string(artifact, .artifact), session: cache.string(session, .session), tool: tool,
                       method: methodName, agentSubject: agentSubject, agentKey: agentKey, decision: decision, code: code,
                       call: call, upstream: upstream, toolsDigest: toolsDigest, shadow: shadow, requestCommitment: request, responseCommitment: response, signature: signature,
                       keyID: kid.map { cache.string($0, .kid) } ?? "", isSigned: signed, canonical: canonical)
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: StaticString) -> Bool {
        a.count == b.utf8CodeUnitCount && memcmp(a.baseAddress!, b.utf8Start, a.count) == 0  // trap-free: read only when the count checked before it is non-zero
    }
}

/// A cursor over a line that matches only the canonical layout.
private struct CanonicalScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Consumes `text` if the line continues with it.
    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard bytes.count - position >= n, memcmp(bytes.baseAddress! + position, text.utf8Start, n) == 0 else { return false }  // trap-free: read only when the count checked before it is non-zero
        position += n
        return true
    }

    /// A string whose bytes are printable ASCII other than `"` and `\`, which JCS writes
    /// as they are; its contents, without the quotes.
    mutating func string() -> UnsafeBufferPointer<UInt8>? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        var i = start
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                position = i + 1
                return UnsafeBufferPointer(rebasing: bytes[start..<i])
            }
            guard c >= 0x20, c < 0x7F, c != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }

    /// An upstream identity in its canonical layout (artifact.md): stdio
    /// `{"executable_sha256","transport"}` or http `{"spki_sha256","transport","url"}`.
    mutating func upstream() -> JSONValue? {
        func text(_ b: UnsafeBufferPointer<UInt8>) -> JSONValue { .string(String(decoding: b, as: UTF8.self)) }
        if literal("{\"executable_sha256\":") {
            guard let hex = string(), literal(",\"transport\":\"stdio\"}") else { return nil }
            return ["executable_sha256": text(hex), "transport": "stdio"]
        }
        guard literal("{\"spki_sha256\":"), let spki = string(), literal(",\"transport\":\"http\",\"url\":"),
              let url = string(), literal("}") else { return nil }
        return ["spki_sha256": text(spki), "transport": "http", "url": text(url)]
    }

    /// A base64url string of a 32-byte digest, decoded as strictly as the generic path decodes it.
    mutating func digest() -> [UInt8]? {
        guard let text = string(), let d = try? Base64URL.decode(buffer: text), d.count == 32 else { return nil }
        return d
    }

    /// A non-negative integer in its JCS form (no sign, no leading zero, no fraction or
    /// exponent), of at most 15 digits, so exactly a double and below 2^53.
    mutating func integer() -> Int64? {
        let start = position
        var value: Int64 = 0
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
            value = value * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
            position += 1
            if position - start > 15 { return nil }
        }
        let n = position - start
        guard n > 0, !(n > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
        return value
    }
}
