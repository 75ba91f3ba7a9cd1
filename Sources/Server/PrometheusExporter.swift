import Engine
import Foundation
import Prometheus
import Scheduler
import Synchronization

/// The engine's metrics in Prometheus text format under vLLM's names (so vLLM Grafana dashboards work),
/// plus Herd's own: knob values and expert routing per layer and expert.
///
/// Histograms hear every finished request and step through an engine listener; counters and gauges are
/// brought up to date from the engine's stats at each scrape.
public final class PrometheusExporter: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let labels: [(String, String)]
    private let stats: @Sendable () -> EngineStats
    /// Counter values already exported, to add only the difference at the next scrape.
    private let exported = Mutex<[String: Double]>([:])

    static let ttftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]
    static let itlBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
    static let latencyBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
    static let iterationBuckets: [Double] = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]

    /// vLLM's 1-2-5 series up to max_model_len, for per-request token counts.
    static func tokenBuckets(upTo limit: Int) -> [Double] {
        var out: [Double] = []
        var decade = 1
        while true {
            for m in [1, 2, 5] where m * decade <= limit { out.append(Double(m * decade)) }
            if decade * 10 > limit { return out }
            decade *= 10
        }
    }

    public init(modelName: String, stats: @escaping @Sendable () -> EngineStats, recorder: EngineStatsRecorder?) {
        labels = [("model_name", modelName), ("engine", "0")]
        self.stats = stats
        let r = registry, l = labels
        let ttft = r.makeValueHistogram(name: "vllm:time_to_first_token_seconds", labels: l, buckets: Self.ttftBuckets,
                                        help: "Time to first token in seconds.")
        let itl = r.makeValueHistogram(name: "vllm:inter_token_latency_seconds", labels: l, buckets: Self.itlBuckets,
                                       help: "Gap between consecutive tokens of a request in seconds.")
        let tpot = r.makeValueHistogram(name: "vllm:request_time_per_output_token_seconds", labels: l, buckets: Self.itlBuckets,
                                        help: "Per request: decode time / (generated tokens - 1), in seconds.")
        let e2e = r.makeValueHistogram(name: "vllm:e2e_request_latency_seconds", labels: l, buckets: Self.latencyBuckets,
                                       help: "End-to-end request latency in seconds.")
        let queue = r.makeValueHistogram(name: "vllm:request_queue_time_seconds", labels: l, buckets: Self.latencyBuckets,
                                         help: "Time from arrival to first scheduled, in seconds.")
        let limit = stats().config.maxModelLen
        let promptTokens = r.makeValueHistogram(name: "vllm:request_prompt_tokens", labels: l, buckets: Self.tokenBuckets(upTo: limit),
                                                help: "Prompt tokens per request.")
        let generationTokens = r.makeValueHistogram(name: "vllm:request_generation_tokens", labels: l,
                                                    buckets: Self.tokenBuckets(upTo: limit), help: "Generated tokens per request.")
        let iteration = r.makeValueHistogram(name: "vllm:iteration_tokens_total", labels: l, buckets: Self.iterationBuckets,
                                             help: "Tokens computed per engine step.")
        recorder?.addListener { event in
            switch event {
            case .requestFinished(let m):
                if let t = m.ttftSeconds { ttft.record(t) }
                for gap in m.interTokenSeconds { itl.record(gap) }
                if let t = m.tpotSeconds { tpot.record(t) }
                e2e.record(m.e2eSeconds)
                queue.record(m.queueSeconds)
                promptTokens.record(Double(m.promptTokens))
                generationTokens.record(Double(m.outputTokens))
            case .step(let tokens):
                iteration.record(Double(tokens))
            }
        }
    }

    /// The whole exposition, current as of now.
    public func render() -> String {
        refresh()
        return registry.emitToString()
    }

    private func refresh() {
        let s = stats()
        let r = registry, l = labels
        func gauge(_ name: String, _ value: Double, _ help: String, extra: [(String, String)] = []) {
            r.makeGauge(name: name, labels: l + extra, help: help).set(value)
        }
        gauge("vllm:num_requests_running", Double(s.running), "Requests in the running batch.")
        gauge("vllm:num_requests_waiting", Double(s.waiting), "Requests waiting to be scheduled.")
        gauge("vllm:kv_cache_usage_perc", s.kvUsage, "KV cache usage, 0 to 1.")
        gauge("herd_kv_blocks_used", Double(s.kvBlocksUsed), "KV cache blocks in use.")
        gauge("herd_kv_blocks_total", Double(s.kvBlocksTotal), "KV cache blocks in the pool.")
        gauge("herd_max_num_batched_tokens", Double(s.config.maxNumBatchedTokens), "Knob: token budget per step.")
        gauge("herd_max_num_seqs", Double(s.config.maxNumSeqs), "Knob: most running requests.")
        gauge("herd_max_model_len", Double(s.config.maxModelLen), "Knob: longest sequence for new requests.")
        gauge("herd_step_scheduled_tokens", Double(s.lastStepTokens), "Tokens scheduled in the last step.")
        gauge("herd_step_prefill_tokens", Double(s.lastStepPrefillTokens), "Prefill tokens in the last step.")
        gauge("herd_step_decode_tokens", Double(s.lastStepDecodeTokens), "Decode tokens in the last step.")

        var counters: [(String, [(String, String)], Double, String)] = [
            ("vllm:prompt_tokens_total", [], Double(s.promptTokens), "Prompt tokens of requests that finished prefill."),
            ("vllm:generation_tokens_total", [], Double(s.generationTokens), "Generated tokens."),
            ("vllm:num_preemptions_total", [], Double(s.preemptions), "Preemptions."),
            ("vllm:prefix_cache_queries_total", [], Double(s.prefixCacheQueries), "Prefix cache lookups, in tokens."),
            ("vllm:prefix_cache_hits_total", [], Double(s.prefixCacheHits), "Prefix cache hits, in tokens."),
        ]
        for reason in [FinishReason.stop, .length, .abort, .error] {
            counters.append(("vllm:request_success_total", [("finished_reason", reason.rawValue)],
                             Double(s.requestsFinished[reason] ?? 0), "Finished requests by reason."))
        }
        if let shape = s.routingShape {
            for (row, layer) in shape.moeLayers.enumerated() {
                for e in 0..<shape.experts {
                    let i = row * shape.experts + e
                    for (phase, values) in [("prefill", s.routingPrefill), ("decode", s.routingDecode)] {
                        counters.append(("herd_expert_routed_tokens_total",
                                         [("layer", String(layer)), ("expert", String(e)), ("phase", phase)],
                                         Double(values[i]), "Tokens routed to each expert, per MoE layer."))
                    }
                }
            }
        }
        exported.withLock { seen in
            for (name, extra, value, help) in counters {
                let key = name + extra.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                let delta = value - (seen[key] ?? 0)
                let counter = r.makeCounter(name: name, labels: l + extra, help: help)
                if delta > 0 { counter.increment(by: delta) }
                seen[key] = value
            }
        }
    }
}
