import Foundation

/// What one benchmark request saw, client side (vLLM's RequestFuncOutput).
public struct RequestRecord: Sendable {
    public var success = false
    public var error = ""
    public var promptLength = 0
    public var outputTokens = 0
    /// Seconds from send to the first token chunk.
    public var ttft = 0.0
    /// Gaps between consecutive token chunks.
    public var itl: [Double] = []
    /// Seconds from send to the last token chunk.
    public var latency = 0.0
    /// Send time, seconds from the start of the run.
    public var start = 0.0
    public init() {}
}

/// The benchmark's results, computed exactly as `vllm bench serve`'s calculate_metrics (§2.5).
public struct BenchResult: Sendable {
    public var duration: Double
    public var completed: Int
    public var failed: Int
    public var totalInput: Int
    public var totalOutput: Int
    public var requestThroughput: Double
    public var outputThroughput: Double
    public var totalTokenThroughput: Double
    public var peakOutputThroughput: Double
    public var peakConcurrentRequests: Double
    /// Per metric name (ttft, tpot, itl, e2el): values in milliseconds.
    public var samples: [String: [Double]]
    public var errors: [String]
    public var records: [RequestRecord]

    public init(records: [RequestRecord], duration: Double) {
        self.records = records
        self.duration = duration
        let ok = records.filter(\.success)
        completed = ok.count
        failed = records.count - ok.count
        totalInput = ok.reduce(0) { $0 + $1.promptLength }
        totalOutput = ok.reduce(0) { $0 + $1.outputTokens }
        requestThroughput = Double(completed) / duration
        outputThroughput = Double(totalOutput) / duration
        totalTokenThroughput = Double(totalInput + totalOutput) / duration
        samples = [
            "ttft": ok.map { $0.ttft * 1000 },
            "tpot": ok.filter { $0.outputTokens > 1 }.map { ($0.latency - $0.ttft) / Double($0.outputTokens - 1) * 1000 },
            "itl": ok.flatMap { $0.itl.map { $0 * 1000 } },
            "e2el": ok.map { $0.latency * 1000 },
        ]
        errors = records.filter { !$0.success }.map(\.error)
        // Peak output throughput: token chunks per 1-second bucket from the earliest start.
        let origin = ok.map(\.start).min() ?? 0
        var buckets: [Int: Int] = [:]
        var concurrent: [Int: Int] = [:]
        for r in ok {
            var t = r.start + r.ttft
            buckets[Int(t - origin), default: 0] += 1
            for gap in r.itl { t += gap; buckets[Int(t - origin), default: 0] += 1 }
            let first = Int(r.start - origin), last = Int(r.start + r.latency - origin)
            for s in first...max(first, last) { concurrent[s, default: 0] += 1 }
        }
        peakOutputThroughput = Double(buckets.values.max() ?? 0)
        peakConcurrentRequests = Double(concurrent.values.max() ?? 0)
    }

    /// NumPy-style statistics: mean, median, population std, linear-interpolated percentiles; 0 if empty.
    public static func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
    public static func std(_ x: [Double]) -> Double {
        guard !x.isEmpty else { return 0 }
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)).squareRoot()
    }
    public static func percentile(_ x: [Double], _ p: Double) -> Double {
        guard !x.isEmpty else { return 0 }
        let s = x.sorted()
        let rank = p / 100 * Double(s.count - 1)
        let lo = Int(rank.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (rank - Double(lo))
    }
}

/// The printed result table, label for label as vLLM 0.33 prints it (§2.6).
public struct BenchTable {
    public var maxConcurrency: Int?
    public var requestRate: Double
    public var metrics: [String]
    public var percentiles: [Double]

    public init(maxConcurrency: Int?, requestRate: Double, metrics: [String], percentiles: [Double]) {
        self.maxConcurrency = maxConcurrency
        self.requestRate = requestRate
        self.metrics = metrics
        self.percentiles = percentiles
    }

    static func rule(_ title: String, _ fill: Character) -> String {
        let pad = max(0, 50 - title.count)
        let left = pad / 2
        return String(repeating: fill, count: left) + title + String(repeating: fill, count: pad - left)
    }

    static func line(_ label: String, _ value: Int) -> String {
        label.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + String(value).padding(toLength: 10, withPad: " ", startingAt: 0)
    }

    static func line(_ label: String, _ value: Double) -> String {
        label.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + String(format: "%.2f", value).padding(toLength: 10, withPad: " ", startingAt: 0)
    }

    static func percentileLabel(_ p: Double) -> String {
        p == p.rounded() ? "P\(Int(p))" : "P\(p)"
    }

    public func render(_ r: BenchResult) -> String {
        var out: [String] = [Self.rule(" Serving Benchmark Result ", "=")]
        out.append(Self.line("Successful requests:", r.completed))
        out.append(Self.line("Failed requests:", r.failed))
        if let c = maxConcurrency { out.append(Self.line("Maximum request concurrency:", c)) }
        if requestRate.isFinite { out.append(Self.line("Request rate configured (RPS):", requestRate)) }
        out.append(Self.line("Benchmark duration (s):", r.duration))
        out.append(Self.line("Total input tokens:", r.totalInput))
        out.append(Self.line("Total generated tokens:", r.totalOutput))
        out.append(Self.line("Request throughput (req/s):", r.requestThroughput))
        out.append(Self.line("Output token throughput (tok/s):", r.outputThroughput))
        out.append(Self.line("Peak output token throughput (tok/s):", r.peakOutputThroughput))
        out.append(Self.line("Peak concurrent requests:", r.peakConcurrentRequests))
        out.append(Self.line("Total token throughput (tok/s):", r.totalTokenThroughput))
        let sections: [(String, String, String)] = [
            ("ttft", "Time to First Token", "TTFT"), ("tpot", "Time per Output Token (excl. 1st token)", "TPOT"),
            ("itl", "Inter-token Latency", "ITL"), ("e2el", "End-to-end Latency", "E2EL"),
        ]
        for (key, title, short) in sections where metrics.contains(key) {
            let x = r.samples[key] ?? []
            out.append(Self.rule(title, "-"))
            out.append(Self.line("Mean \(short) (ms):", BenchResult.mean(x)))
            out.append(Self.line("Median \(short) (ms):", BenchResult.percentile(x, 50)))
            for p in percentiles { out.append(Self.line("\(Self.percentileLabel(p)) \(short) (ms):", BenchResult.percentile(x, p))) }
        }
        out.append(String(repeating: "=", count: 50))
        return out.joined(separator: "\n")
    }
}
