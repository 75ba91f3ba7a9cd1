import Foundation

/// The `--save-result` JSON, keys in vLLM's order (§2.7).
public struct BenchReport {
    public var modelID: String
    public var backend: String
    public var numPrompts: Int
    public var requestRate: Double
    public var burstiness: Double
    public var maxConcurrency: Int?
    public var metrics: [String]
    public var percentiles: [Double]

    public init(modelID: String, backend: String, numPrompts: Int, requestRate: Double, burstiness: Double,
                maxConcurrency: Int?, metrics: [String], percentiles: [Double]) {
        self.modelID = modelID
        self.backend = backend
        self.numPrompts = numPrompts
        self.requestRate = requestRate
        self.burstiness = burstiness
        self.maxConcurrency = maxConcurrency
        self.metrics = metrics
        self.percentiles = percentiles
    }

    public func json(_ r: BenchResult, date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        var pairs: [(String, Any)] = [
            ("date", formatter.string(from: date)), ("endpoint_type", backend), ("backend", backend), ("label", NSNull()),
            ("model_id", modelID), ("tokenizer_id", modelID), ("num_prompts", numPrompts),
            ("request_rate", requestRate.isFinite ? requestRate as Any : "inf"), ("burstiness", burstiness),
            ("max_concurrency", maxConcurrency.map { $0 as Any } ?? NSNull()),
            ("duration", r.duration), ("completed", r.completed), ("failed", r.failed),
            ("total_input_tokens", r.totalInput), ("total_output_tokens", r.totalOutput),
            ("request_throughput", r.requestThroughput), ("request_goodput", NSNull()), ("output_throughput", r.outputThroughput),
            ("total_token_throughput", r.totalTokenThroughput),
            ("latencies", r.records.filter(\.success).map(\.latency)), ("queue_times", [] as [Double]),
            ("max_output_tokens_per_s", r.peakOutputThroughput), ("max_concurrent_requests", r.peakConcurrentRequests),
        ]
        for m in metrics {
            let x = r.samples[m] ?? []
            pairs.append(("mean_\(m)_ms", BenchResult.mean(x)))
            pairs.append(("median_\(m)_ms", BenchResult.percentile(x, 50)))
            pairs.append(("std_\(m)_ms", BenchResult.std(x)))
            for p in percentiles {
                let label = p == p.rounded() ? String(Int(p)) : String(p)
                pairs.append(("p\(label)_\(m)_ms", BenchResult.percentile(x, p)))
            }
        }
        let body = pairs.map { key, value -> String in
            let encoded = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "null"
            return "\"\(key)\": \(encoded)"
        }
        return "{" + body.joined(separator: ", ") + "}"
    }
}
