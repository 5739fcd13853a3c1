import Foundation
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`).
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let queueDepth: Gauge
    let abstentions: Counter
    /// UNIX time the server started (the `created` of the `triage` model).
    let started = Int(Date().timeIntervalSince1970)
    private static let latencyBuckets: [Double] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]

    init() {
        queueDepth = registry.makeGauge(descriptor: .init(namespace: "triage", metricName: "queue_depth", unitName: "",
                                                          helpText: "Requests waiting for the decode thread"))
        abstentions = registry.makeCounter(descriptor: .init(namespace: "triage", metricName: "abstentions", unitName: "total",
                                                             helpText: "Routed requests no expert fits (422 no_expert_fits)"))
    }

    /// One HTTP request answered.
    func request(endpoint: String, status: Int, seconds: Double) {
        registry.makeCounter(descriptor: .init(namespace: "triage", metricName: "http_requests", unitName: "total",
                                               helpText: "HTTP requests by endpoint and status"),
                             labels: [("endpoint", endpoint), ("status", String(status))]).increment()
        registry.makeValueHistogram(descriptor: .init(namespace: "triage", metricName: "http_request_duration", unitName: "seconds",
                                                      helpText: "HTTP request latency by endpoint"),
                                    labels: [("endpoint", endpoint)], buckets: ServeMetrics.latencyBuckets).record(seconds)
    }

    /// A batch of `requests` decoded by `expert` in `seconds`.
    func decoded(expert: String, requests: Int, seconds: Double) {
        registry.makeCounter(descriptor: .init(namespace: "triage", metricName: "expert_requests", unitName: "total",
                                               helpText: "Requests decoded per expert"),
                             labels: [("expert", expert)]).increment(by: Int64(requests))
        registry.makeValueHistogram(descriptor: .init(namespace: "triage", metricName: "expert_batch_duration", unitName: "seconds",
                                                      helpText: "Decode time of one batch per expert"),
                                    labels: [("expert", expert)], buckets: ServeMetrics.latencyBuckets).record(seconds)
        registry.makeValueHistogram(descriptor: .init(namespace: "triage", metricName: "expert_batch_size", unitName: "",
                                                      helpText: "Requests per decoded batch per expert"),
                                    labels: [("expert", expert)], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256]).record(Double(requests))
    }

    func render() -> String { registry.emitToString() }
}
