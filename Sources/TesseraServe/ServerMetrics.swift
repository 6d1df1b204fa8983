import Prometheus

/// The server's Prometheus metrics (`GET /metrics`).
public final class ServerMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    package let requests: Counter
    package let failedRequests: Counter
    package let promptTokens: Counter
    package let generatedTokens: Counter
    package let queueDepth: Gauge
    package let runningSequences: Gauge
    package let usedCacheBlocks: Gauge
    package let freeCacheBlocks: Gauge
    package let timeToFirstToken: DurationHistogram
    package let interTokenLatency: DurationHistogram
    /// Per scheduler step: the model's step, and the scheduler's own work around it (their `_sum`s split the
    /// server's busy time between the engine and everything else).
    package let stepEngineTime: DurationHistogram
    package let stepSchedulingTime: DurationHistogram

    public init() {
        let latencies: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].map { .milliseconds($0) }
        requests = registry.makeCounter(descriptor: Self.name("requests", "total", "Generation requests accepted."))
        failedRequests = registry.makeCounter(descriptor: Self.name("request_errors", "total", "Requests answered with an error status."))
        promptTokens = registry.makeCounter(descriptor: Self.name("prompt_tokens", "total", "Prompt tokens prefilled."))
        generatedTokens = registry.makeCounter(descriptor: Self.name("generation_tokens", "total", "Tokens generated."))
        queueDepth = registry.makeGauge(descriptor: Self.name("queue", "depth", "Sequences waiting for a place in the batch."))
        runningSequences = registry.makeGauge(descriptor: Self.name("running", "sequences", "Sequences in the running batch."))
        usedCacheBlocks = registry.makeGauge(descriptor: Self.name("kv_cache_used", "blocks",
                                                                   "Key/value cache blocks held by running sequences."))
        freeCacheBlocks = registry.makeGauge(descriptor: Self.name("kv_cache_free", "blocks", "Key/value cache blocks free."))
        timeToFirstToken = registry.makeDurationHistogram(
            descriptor: Self.name("time_to_first_token", "seconds", "From a request's arrival to its first generated token."), buckets: latencies)
        interTokenLatency = registry.makeDurationHistogram(
            descriptor: Self.name("inter_token_latency", "seconds", "Between successive tokens of one choice."), buckets: latencies)
        let steps: [Duration] = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100_000, 200_000, 500_000, 1_000_000].map { .microseconds($0) }
        stepEngineTime = registry.makeDurationHistogram(
            descriptor: Self.name("step_engine", "seconds", "The model's part of each scheduler step."), buckets: steps)
        stepSchedulingTime = registry.makeDurationHistogram(
            descriptor: Self.name("step_scheduling", "seconds",
                                  "The scheduler's own part of each step: admission, plan, sampling, events."), buckets: steps)
    }

    /// `tessera_<metric>_<unit>`.
    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tessera", metricName: metric, unitName: unit, helpText: help)
    }

    /// Records one scheduler step.
    public func record(_ step: StepStatistics) {
        promptTokens.increment(by: Int64(step.promptTokens))
        generatedTokens.increment(by: Int64(step.generatedTokens))
        queueDepth.set(Double(step.queued))
        runningSequences.set(Double(step.running))
        usedCacheBlocks.set(Double(step.blocks.used))
        freeCacheBlocks.set(Double(step.blocks.free))
        stepEngineTime.record(step.engineTime)
        stepSchedulingTime.record(step.schedulingTime)
    }

    /// The Prometheus text exposition.
    public var text: String { registry.emitToString() }
}
