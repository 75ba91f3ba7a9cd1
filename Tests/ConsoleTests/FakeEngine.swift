@testable import Engine
import Scheduler
import Synchronization

/// An engine the tests steer: stats are set directly, submitted requests are recorded and answered by
/// hand, and knob changes are validated as the real scheduler does (model context 8192, cache 4096 tokens).
final class FakeEngine: EngineClient {
    struct State {
        var stats = EngineStats(config: SchedulerConfig(maxNumBatchedTokens: 2048, maxNumSeqs: 64, maxModelLen: 4096))
        var requests: [EngineRequest] = []
        var streams: [Int: AsyncStream<RequestOutput>.Continuation] = [:]
        var aborted: [Int] = []
        var knobCalls = 0
    }
    let state = Mutex(State())

    func submit(_ request: EngineRequest) async throws -> (id: Int, updates: AsyncStream<RequestOutput>) {
        let (stream, continuation) = AsyncStream<RequestOutput>.makeStream()
        let id = state.withLock { s in
            s.requests.append(request)
            s.streams[s.requests.count] = continuation
            return s.requests.count
        }
        return (id, stream)
    }

    func abort(_ id: Int) {
        let c = state.withLock { s in s.aborted.append(id); return s.streams.removeValue(forKey: id) }
        c?.yield(RequestOutput(requestID: id, newTokens: [], newText: "", finishReason: .abort, promptTokens: 0, cachedPromptTokens: 0))
        c?.finish()
    }

    func stats() -> EngineStats { state.withLock { $0.stats } }

    func setKnobs(maxNumBatchedTokens: Int?, maxNumSeqs: Int?, maxModelLen: Int?) async throws {
        try state.withLock { s in
            s.knobCalls += 1
            var c = s.stats.config
            c.maxNumBatchedTokens = maxNumBatchedTokens ?? c.maxNumBatchedTokens
            c.maxNumSeqs = maxNumSeqs ?? c.maxNumSeqs
            c.maxModelLen = maxModelLen ?? c.maxModelLen
            try c.validate(modelContextLength: 8192, cacheTokens: 4096)
            s.stats.config = c
        }
    }

    /// Sends text for request `id` (1-based, in submission order); `finish` ends it.
    func answer(_ id: Int, _ text: String, finish: FinishReason? = nil) {
        let c = state.withLock { s in finish == nil ? s.streams[id] : s.streams.removeValue(forKey: id) }
        c?.yield(RequestOutput(requestID: id, newTokens: [1], newText: text, finishReason: finish, promptTokens: 0, cachedPromptTokens: 0))
        if finish != nil { c?.finish() }
    }

    func update(_ change: (inout EngineStats) -> Void) { state.withLock { change(&$0.stats) } }
    var requests: [EngineRequest] { state.withLock { $0.requests } }
    var aborted: [Int] { state.withLock { $0.aborted } }
    var knobCalls: Int { state.withLock { $0.knobCalls } }
}

/// Waits (up to two seconds) for a condition that a background task makes true.
func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
