import AttestCore
import AttestEvidence
import AttestMCP
import Foundation
import MCP

/// A witness served over HTTP/1.1 (C2SP tlog-witness): `POST <prefix>/add-checkpoint`.
public final class WitnessServer: Sendable {
    private let listener: HTTPListener
    /// The submission prefix's URL, with the port actually bound (no trailing slash).
    public let url: String

    private init(listener: HTTPListener, url: String) {
        self.listener = listener
        self.url = url
    }

    /// Listens on `host`:`port` (0: an ephemeral port); `run()` then serves.
    public static func bind(_ witness: WitnessService, host: String, port: Int) async throws -> WitnessServer {
        let listener = try await HTTPListener.bind(host: host, port: port, maxBodyBytes: WitnessRequest.maxBytes) {
            await respond(to: $0, witness: witness)
        }
        let authority = host.contains(":") ? "[\(host)]:\(listener.port)" : "\(host):\(listener.port)"
        return WitnessServer(listener: listener, url: "http://\(authority)")
    }

    /// Serves connections until the task running it is cancelled.
    public func run() async throws { try await listener.run() }

    static func respond(to request: HTTPRequest, witness: WitnessService) async -> Reply {
        func text(_ status: Int, _ message: String) -> Reply {
            Reply(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Data(message.utf8)))
        }
        guard request.path?.isExactly("/add-checkpoint") == true else { return text(404, "Not Found\n") }
        guard request.method.utf8.elementsEqual("POST".utf8) else {
            var reply = text(405, "Method Not Allowed\n")
            reply.headers["Allow"] = "POST"
            return reply
        }
        // The listener keeps a little more than the limit: a body over it is refused here.
        let body = Array(request.body ?? Data())
        guard body.count <= WitnessRequest.maxBytes else {
            return text(413, "\(ErrorCode.witnessRequestMalformed.rawValue): the request body is over \(WitnessRequest.maxBytes) bytes\n")
        }
        let response = await witness.addCheckpoint(body)
        return Reply(status: response.status, headers: ["Content-Type": response.contentType], body: .bytes(Data(response.body)))
    }
}
