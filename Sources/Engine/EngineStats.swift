import Models
import Scheduler
import Synchronization

/// Latencies of one finished request (vLLM's per-request metrics).
public struct RequestMetrics: Sendable {
    public let reason: FinishReason
    public let promptTokens: Int
    public let outputTokens: Int
    /// Arrival to first scheduled.
    public let queueSeconds: Double
    /// Arrival to first token (nil if none came).
    public let ttftSeconds: Double?
    /// Arrival to finish.
    public let e2eSeconds: Double
    /// Gaps between consecutive tokens.
    public let interTokenSeconds: [Double]
    /// Time per output token after the first: (E2E - TTFT) / (output - 1).
    public var tpotSeconds: Double? {
        guard let ttft = ttftSeconds, outputTokens > 1 else { return nil }
        return (e2eSeconds - ttft) / Double(outputTokens - 1)
    }
}

/// A consistent copy of the engine's counters and gauges, cheap to take from any thread.
public struct EngineStats: Sendable {
    // counters (since start)
    public var promptTokens = 0
    public var generationTokens = 0
    public var requestsFinished: [FinishReason: Int] = [:]
    public var requestsAdded = 0
    public var preemptions = 0
    public var prefixCacheQueries = 0
    public var prefixCacheHits = 0
    public var steps = 0
    // gauges (as of the last step)
    public var running = 0
    public var waiting = 0
    public var kvBlocksUsed = 0
    public var kvBlocksTotal = 0
    public var kvUsage = 0.0
    public var lastStepTokens = 0
    public var lastStepPrefillTokens = 0
    public var lastStepDecodeTokens = 0
    public var lastStepSeconds = 0.0
    public var config: SchedulerConfig
    /// Expert routing counts since start (MoE layers x experts), nil for dense models.
    public var routingShape: RoutingShape?
    public var routingPrefill: [UInt64] = []
    public var routingDecode: [UInt64] = []
    /// Every finished request's metrics have a sequence number; `recent` holds the newest ones.
    public var finishedCount = 0
    public var recent: [RequestMetrics] = []

    public var requestsFinishedTotal: Int { requestsFinished.values.reduce(0, +) }
}

/// What a listener hears about, as it happens (for histograms that must see every observation).
public enum EngineEvent: Sendable {
    case requestFinished(RequestMetrics)
    /// Tokens computed in one step (prompt + generated), vLLM's iteration_tokens.
    case step(tokens: Int)
}

/// Records engine activity from the engine thread; `snapshot()` may be called from any thread.
public final class EngineStatsRecorder: Sendable {
    /// How many finished requests' metrics are kept for percentiles.
    public static let recentLimit = 2048
    private let state: Mutex<EngineStats>
    private let listeners = Mutex<[@Sendable (EngineEvent) -> Void]>([])

    /// Calls `listener` on the engine thread for every event from now on; it must be quick.
    public func addListener(_ listener: @escaping @Sendable (EngineEvent) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    private func emit(_ event: EngineEvent) {
        for l in listeners.withLock({ $0 }) { l(event) }
    }

    init(config: SchedulerConfig, blocks: Int, routingShape: RoutingShape?) {
        var s = EngineStats(config: config)
        s.kvBlocksTotal = blocks
        s.routingShape = routingShape
        if let shape = routingShape {
            s.routingPrefill = [UInt64](repeating: 0, count: shape.moeLayers.count * shape.experts)
            s.routingDecode = s.routingPrefill
        }
        state = Mutex(s)
    }

    public func snapshot() -> EngineStats { state.withLock { $0 } }

    func requestAdded(promptTokens: Int) {
        state.withLock { $0.requestsAdded += 1 }
    }

    func tokensGenerated(_ n: Int) {
        state.withLock { $0.generationTokens += n }
    }

    /// A request's prompt counts once, when its prefill completes (its first token), as in vLLM v1;
    /// recomputing it after a preemption does not count again.
    func promptProcessed(_ n: Int) {
        state.withLock { $0.promptTokens += n }
    }

    func knobsChanged(_ config: SchedulerConfig) {
        state.withLock { $0.config = config }
    }

    func requestFinished(_ metrics: RequestMetrics) {
        state.withLock { s in
            s.requestsFinished[metrics.reason, default: 0] += 1
            s.finishedCount += 1
            s.recent.append(metrics)
            if s.recent.count > Self.recentLimit { s.recent.removeFirst(s.recent.count - Self.recentLimit) }
        }
        emit(.requestFinished(metrics))
    }

    /// Queue and cache gauges, refreshed after every step and after adds and aborts between steps.
    func queuesChanged(_ scheduler: Scheduler) {
        state.withLock { Self.copyGauges(scheduler, into: &$0) }
    }

    private static func copyGauges(_ scheduler: Scheduler, into s: inout EngineStats) {
        s.running = scheduler.running.count
        s.waiting = scheduler.waiting.count
        s.kvBlocksUsed = scheduler.pool.usedBlocks
        s.kvUsage = scheduler.pool.usage
        s.preemptions = scheduler.preemptionCount
        s.prefixCacheQueries = scheduler.prefixQueries
        s.prefixCacheHits = scheduler.prefixHits
        s.config = scheduler.config
    }

    func stepFinished(plan: SchedulerOutput, scheduler: Scheduler, seconds: Double, routing: RoutingCounts?) {
        state.withLock { s in
            if !plan.isEmpty { s.steps += 1 }
            Self.copyGauges(scheduler, into: &s)
            s.lastStepTokens = plan.scheduledTokens
            s.lastStepPrefillTokens = plan.prefillTokens
            s.lastStepDecodeTokens = plan.decodeTokens
            s.lastStepSeconds = seconds
            if let routing {
                for i in routing.prefill.indices {
                    s.routingPrefill[i] &+= UInt64(routing.prefill[i])
                    s.routingDecode[i] &+= UInt64(routing.decode[i])
                }
            }
        }
        if !plan.isEmpty { emit(.step(tokens: plan.scheduledTokens)) }
    }
}
