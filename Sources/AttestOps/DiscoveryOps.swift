import AttestCore
import AttestDiscovery
import Dispatch

/// The `keys.discovery` op: key discovery run against scripted HTTPS responses and a
/// scripted clock, so that the caching, refetch, pause and document rules of keys.md are
/// vectors like any other. The real transport is tested against a live HTTPS server.
enum DiscoveryOps {
    static let ops: [ReferenceOps.Op] = [
        .init(name: "keys.discovery", document: "keys") { args in
            let issuer = try args.string("issuer")
            let transport = try ScriptedTransport(try args.value("responses"))
            guard let lookups = try args.value("lookups").arrayValue, !lookups.isEmpty else {
                throw OpInputError(description: "input \"lookups\" is not a non-empty array")
            }
            let requests = try lookups.map { entry throws -> (iss: String, kid: String, at: Int64) in
                guard let kid = entry["kid"]?.stringValue, let at = entry["at"]?.integerValue else {
                    throw OpInputError(description: "a lookup lacks kid or at")
                }
                return (entry["iss"]?.stringValue ?? issuer, kid, at)
            }
            let discovery = try KeyDiscovery(issuers: [.init(issuer: issuer, trustDomains: [])], transport: transport)
            let results = runBlocking {
                var results: [KeyDiscovery.Lookup] = []
                for request in requests {
                    results.append(await discovery.lookup(issuer: request.iss, kid: request.kid, now: request.at))
                }
                return results
            }
            let last = results[results.count - 1]
            if !last.found, let error = last.error { throw error }
            return ["lookups": .array(results.map { lookup in
                .object([
                    "fetched": .array(lookup.fetched.map(JSONValue.string)),
                    "found": .bool(lookup.found),
                    "error": lookup.error.map { .string($0.code.rawValue) } ?? .null,
                ])
            })]
        },
    ]
}

/// Answers each URL with its scripted responses in order; the last answers every further
/// request, and a URL with no script fails as an unreachable host would. URLs match by
/// code points, as a real request for another spelling would reach another resource.
private actor ScriptedTransport: DiscoveryTransport {
    private var scripts: [ExactString: [JSONValue]]
    private var served: [ExactString: Int] = [:]

    init(_ responses: JSONValue) throws {
        guard let object = responses.objectValue else { throw OpInputError(description: "input \"responses\" is not an object") }
        var scripts: [ExactString: [JSONValue]] = [:]
        for member in object {
            guard let list = member.value.arrayValue, !list.isEmpty else {
                throw OpInputError(description: "the responses for \(member.name) are not a non-empty array")
            }
            scripts[ExactString(member.name)] = list
        }
        self.scripts = scripts
    }

    func get(_ url: String, maxBytes: Int) async throws(AttestError) -> DiscoveryResponse {
        let key = ExactString(url)
        guard let script = scripts[key] else { throw AttestError(.discoveryTransport, "no host answers \(url)") }
        let index = served[key, default: 0]
        served[key] = index + 1
        let response = script[min(index, script.count - 1)]
        if response["transport_error"]?.boolValue == true {
            throw AttestError(.discoveryTransport, "the connection to \(url) failed")
        }
        var body = Array((response["body"]?.stringValue ?? "").utf8)
        if let padTo = response["pad_to"]?.integerValue, padTo > body.count {
            body += Array(repeating: 0x20, count: Int(padTo) - body.count)
        }
        guard body.count <= maxBytes else {
            throw AttestError(.discoveryTooLarge, "\(url) sent \(body.count) bytes; the limit is \(maxBytes)")
        }
        return DiscoveryResponse(status: Int(response["status"]?.integerValue ?? 200),
                                 location: response["location"]?.stringValue,
                                 cacheControl: response["cache_control"]?.stringValue, body: body)
    }
}

/// Runs async work to completion from the synchronous op table. Ops run on ordinary
/// threads (never on the concurrency pool), so waiting here cannot starve it.
private func runBlocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await work()
        done.signal()
    }
    done.wait()
    return box.value!  // trap-free: the semaphore is signalled only after the value is set
}

/// Written by the task before it signals, read after the wait: never concurrently.
private final class ResultBox<T>: @unchecked Sendable { var value: T? }
