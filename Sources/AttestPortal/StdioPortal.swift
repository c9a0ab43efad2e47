import AttestCore
import AttestMCP
import Foundation

/// The portal on MCP's stdio transport (`attest portal stdio … -- server command…`): the
/// client starts the portal as its MCP server; the portal starts the real server as its
/// child and supervises it. The two share one lifetime: when the client closes stdin, or
/// the server exits, or SIGTERM arrives, the portal stops reading, lets the calls in
/// flight finish (a call whose server is gone fails with `PTL_UPSTREAM_FAILED`, recorded),
/// writes a final checkpoint and exits.
public final class StdioPortal: @unchecked Sendable {
    public let portal: Portal
    private let upstream: UpstreamProcess
    private let session: PortalSession
    private let output: FileHandle
    private let outputLock = NSLock()
    private let upstreamGone = AsyncStream<Void>.makeStream()

    /// Starts the upstream `command`; `portal` is opened with its observed identity by the caller.
    public static func start(configuration: PortalConfiguration, command: [String],
                             output: FileHandle = .standardOutput) async throws -> StdioPortal {
        let box = UpstreamInbox()
        let gone = AsyncStream<Void>.makeStream()
        let upstream = try UpstreamProcess(
            command: command, maxMessageBytes: configuration.limits.maxMessageBytes,
            onMessage: { line in box.receive(line) },
            onTooLong: { box.tooLong() },
            onExit: { status in
                box.relay?.close(reason: "the upstream server exited with status \(status)")
                gone.continuation.yield()
                gone.continuation.finish()
            })
        let portal: Portal
        do {
            portal = try Portal(configuration: configuration, upstreamIdentity: upstream.identity)
            try await portal.recover()
        } catch {
            upstream.terminate()
            throw error
        }
        let sessionID = "stdio-" + MCPAttester.randomProofID()
        let stdio = StdioPortal(portal: portal, upstream: upstream, output: output, gone: gone, box: box, sessionID: sessionID)
        return stdio
    }

    private init(portal: Portal, upstream: UpstreamProcess, output: FileHandle,
                 gone: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation), box: UpstreamInbox, sessionID: String) {
        self.portal = portal
        self.upstream = upstream
        self.output = output
        let sink = Sink()
        let relay = Relay(send: { try upstream.send($0) }, unsolicited: { sink.send($0) })
        let session = PortalSession(portal: portal, relay: relay, id: sessionID)
        self.session = session
        upstreamGoneStream = gone.stream
        box.set(relay: relay, portal: portal)
        monitor = UpstreamMonitor(seconds: portal.configuration.measureSeconds) { [weak session] in
            await session?.remeasured(upstream.measure())
        }
        sink.target = { [weak self] message in self?.write(.object(message)) }
    }

    /// Measures the upstream every `measureSeconds` while it runs (portal.md §Upstream identity).
    private let monitor: UpstreamMonitor

    private let upstreamGoneStream: AsyncStream<Void>

    /// Serves until stdin ends, the upstream exits or `stop` is signalled, then drains.
    public func run(input: FileHandle = .standardInput, stop: AsyncStream<Void>? = nil) async {
        let limit = portal.configuration.limits.maxOpenCalls
        let lines = AsyncStream<LineFramer.Frame> { continuation in
            let thread = Thread {
                var framer = LineFramer(maxBytes: self.portal.configuration.limits.maxMessageBytes)
                while true {
                    let chunk = input.availableData
                    if chunk.isEmpty { break }
                    for frame in framer.feed(chunk) { continuation.yield(frame) }
                }
                continuation.finish()
            }
            thread.name = "attest-portal-stdin"
            thread.start()
        }
        await withTaskGroup(of: Void.self) { group in
            // The first of: stdin ends, the upstream exits, a stop signal.
            let ended = AsyncStream<Void>.makeStream()
            group.addTask { for await _ in self.upstreamGoneStream { break }; ended.continuation.yield() }
            if let stop { group.addTask { for await _ in stop { break }; ended.continuation.yield() } }
            group.addTask {
                var inFlight = 0
                await withTaskGroup(of: Void.self) { calls in
                    for await frame in lines {
                        guard case .line(let bytes) = frame else {
                            self.portal.metrics.refused(ErrorCode.jsonTooLarge.rawValue)
                            self.write(.object(MCPBinding.errorResponse(id: nil, error: AttestError(.jsonTooLarge,
                                "a message longer than \(self.portal.configuration.limits.maxMessageBytes) bytes was skipped"))))
                            continue
                        }
                        switch self.session.classify(bytes) {
                        case .invalid(let reply): self.write(.object(reply))
                        case .oneWay(let message): self.session.forward(message)
                        case .request(let request, let method):
                            if inFlight >= limit {
                                await calls.next()
                                inFlight -= 1
                            }
                            inFlight += 1
                            let era = self.session.era(of: request)
                            calls.addTask { self.write(.object(await self.session.handle(request: request, method: method, era: era))) }
                        }
                    }
                }
                ended.continuation.yield()
            }
            for await _ in ended.stream { break }
            group.cancelAll()
        }
        await shutdown()
    }

    private func shutdown() async {
        monitor.cancel()
        upstream.terminate()
        await portal.close()
        portal.logger.info("stopped")
    }

    private func write(_ message: JSONValue) {
        let bytes = message.line + [0x0A]
        outputLock.withLock { try? output.write(contentsOf: Data(bytes)) }
    }
}

/// Where messages the upstream sends on its own go, once the front exists.
final class Sink: @unchecked Sendable {
    private let lock = NSLock()
    private var _target: (@Sendable (JSONObject) -> Void)?
    var target: (@Sendable (JSONObject) -> Void)? {
        get { lock.withLock { _target } }
        set { lock.withLock { _target = newValue } }
    }
    func send(_ message: JSONObject) { target?(message) }
}
