import Engine

/// Prompt and generation tokens per second, from the engine's running counters: the rate over the last
/// second or so, and one point per second of history for the graph.
public struct ThroughputTracker {
    public static let historyLength = 240
    private var samples: [(t: Double, prompt: Int, generated: Int)] = []
    public private(set) var promptHistory: [Double] = []
    public private(set) var generationHistory: [Double] = []
    private var lastHistoryTime: Double?
    private var lastHistoryCounts: (prompt: Int, generated: Int)?

    public init() {}

    public mutating func update(_ stats: EngineStats, now: Double) {
        samples.append((now, stats.promptTokens, stats.generationTokens))
        // Keep about three seconds of frames.
        while let first = samples.first, now - first.t > 3, samples.count > 2 { samples.removeFirst() }
        guard let last = lastHistoryTime, let counts = lastHistoryCounts else {
            lastHistoryTime = now
            lastHistoryCounts = (stats.promptTokens, stats.generationTokens)
            return
        }
        let dt = now - last
        if dt >= 1 {
            promptHistory.append(Double(stats.promptTokens - counts.prompt) / dt)
            generationHistory.append(Double(stats.generationTokens - counts.generated) / dt)
            if promptHistory.count > Self.historyLength { promptHistory.removeFirst() }
            if generationHistory.count > Self.historyLength { generationHistory.removeFirst() }
            lastHistoryTime = now
            lastHistoryCounts = (stats.promptTokens, stats.generationTokens)
        }
    }

    /// Tokens per second over the last ~2 seconds; nil until two samples a moment apart exist.
    public var rates: (prompt: Double, generation: Double)? {
        guard let last = samples.last, let first = samples.first(where: { last.t - $0.t <= 2 }), last.t - first.t >= 0.5 else {
            return nil
        }
        let dt = last.t - first.t
        return (Double(last.prompt - first.prompt) / dt, Double(last.generated - first.generated) / dt)
    }
}

/// TTFT, inter-token latency and queue time percentiles over the requests that finished in the last
/// `window` seconds. The engine keeps each finished request's metrics; the console stamps them with the
/// time it first saw them.
public struct LatencyWindow {
    public var window: Double
    private var entries: [(t: Double, metrics: RequestMetrics)] = []
    private var seen: Int?

    public init(window: Double = 60) { self.window = window }

    public mutating func update(_ stats: EngineStats, now: Double) {
        defer { seen = stats.finishedCount }
        if let seen {
            let new = min(stats.finishedCount - seen, stats.recent.count)
            if new > 0 { entries += stats.recent.suffix(new).map { (now, $0) } }
        }
        entries.removeAll { now - $0.t > window }
    }

    public var count: Int { entries.count }

    public struct Percentiles: Equatable {
        public var p50: Double, p90: Double, p99: Double
    }

    public var ttft: Percentiles? { Self.percentiles(entries.compactMap(\.metrics.ttftSeconds)) }
    public var interToken: Percentiles? { Self.percentiles(entries.flatMap(\.metrics.interTokenSeconds)) }
    public var queue: Percentiles? { Self.percentiles(entries.map(\.metrics.queueSeconds)) }

    /// Nearest-rank percentiles; nil for no samples.
    public static func percentiles(_ values: [Double]) -> Percentiles? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        func p(_ q: Double) -> Double { s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))] }
        return Percentiles(p50: p(0.5), p90: p(0.9), p99: p(0.99))
    }
}
