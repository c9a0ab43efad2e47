import Foundation
import Metrics
import Prometheus

/// The portal's metrics, through swift-metrics: whatever backend the process bootstraps
/// (the `attest portal` commands bootstrap swift-prometheus and serve `/metrics`; a
/// library user may choose another, or none). Labels carry registry codes and methods,
/// never a token, proof, key or payload.
final class PortalMetrics: Sendable {
    private let verification = Metrics.Timer(label: "attest_portal_verification_seconds")
    private let endToEnd = Metrics.Timer(label: "attest_portal_call_seconds")
    private let flush = Metrics.Timer(label: "attest_portal_flush_seconds")
    private let flushes = Counter(label: "attest_portal_flushes_total")
    private let receipts = Counter(label: "attest_portal_receipts_total")
    private let replayEntries = Gauge(label: "attest_portal_replay_store_entries")
    private let openCalls = Gauge(label: "attest_portal_open_calls")

    /// A decision on a governed request: ALLOW, or the code it was refused with.
    func decided(method: String, code: String?) {
        Counter(label: "attest_portal_decisions_total", dimensions: [("method", method), ("code", code ?? "ALLOW")]).increment()
    }

    /// A message dropped or refused before any decision (framing, parse, unknown method).
    func refused(_ reason: String) {
        Counter(label: "attest_portal_refused_messages_total", dimensions: [("reason", reason)]).increment()
    }

    func verified(in duration: Duration) { verification.recordNanoseconds(duration.nanoseconds) }
    func answered(in duration: Duration) { endToEnd.recordNanoseconds(duration.nanoseconds) }

    func flushed(calls: Int, duration: Duration) {
        flush.recordNanoseconds(duration.nanoseconds)
        flushes.increment()
        receipts.increment(by: Int64(calls))
    }

    func replayStore(entries: Int) { replayEntries.record(entries) }
    func open(calls: Int) { openCalls.record(calls) }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The Prometheus registry of a portal process, bootstrapped once.
public enum PortalMetricsSystem {
    private static let state = MetricsState()

    /// Bootstraps swift-metrics with swift-prometheus (once per process) and returns the
    /// registry whose text `/metrics` serves.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        state.bootstrap()
    }

    private final class MetricsState: @unchecked Sendable {
        private let lock = NSLock()
        private var registry: PrometheusCollectorRegistry?

        func bootstrap() -> PrometheusCollectorRegistry {
            lock.withLock {
                if let registry { return registry }
                let registry = PrometheusCollectorRegistry()
                var factory = PrometheusMetricsFactory(registry: registry)
                factory.defaultDurationHistogramBuckets = [
                    .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                    .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1),
                ]
                MetricsSystem.bootstrap(factory)
                self.registry = registry
                return registry
            }
        }
    }
}
