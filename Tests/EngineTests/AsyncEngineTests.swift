import ComputeCPU
import Engine
import Models
import Scheduler
import TestSupport
import Testing

/// The threaded engine behind the front ends' interface.
struct AsyncEngineTests {
    static func engine(blocks: Int = 200, tokens: Int = 64, seqs: Int = 8) throws -> Engine {
        let m = try EngineCoreTests.load()
        return Engine(core: try EngineCoreTests.core(m, tokens: tokens, seqs: seqs, blocks: blocks), modelName: "tiny")
    }

    @Test func manyConcurrentRequestsAllComplete() async throws {
        let engine = try Self.engine(blocks: 60, tokens: 48, seqs: 6)
        defer { engine.shutdown() }
        let prompts = EngineCoreTests.prompts(40, seed: 11)
        let counts = try await withThrowingTaskGroup(of: (Int, FinishReason?).self) { group in
            for p in prompts {
                group.addTask {
                    let (_, updates) = try await engine.submit(EngineRequest(prompt: .tokens(p), maxTokens: 12, sampling: .greedy, ignoreEOS: true))
                    var n = 0
                    var reason: FinishReason?
                    for await u in updates { n += u.newTokens.count; reason = u.finishReason ?? reason }
                    return (n, reason)
                }
            }
            var all: [(Int, FinishReason?)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(counts.count == 40)
        #expect(counts.allSatisfy { $0.0 == 12 && $0.1 == .length })
        let s = engine.stats()
        #expect(s.generationTokens == 40 * 12 && s.requestsFinishedTotal == 40 && s.kvBlocksUsed == 0)
    }

    /// A consumer that goes away (a server handler whose client disconnected) aborts its request. To be
    /// independent of timing (test tasks can be starved on a loaded machine), the request waits behind a
    /// very long one in a one-slot engine while it is cancelled.
    @Test func cancellingTheConsumerAbortsTheRequest() async throws {
        var shape = TinyLlama.Shape()
        shape.context = 16384
        let m = try ModelLoader.load(path: TinyLlama.writer(shape).write(name: "long"), backend: CPUBackend(threads: 1))
        let engine = Engine(core: try EngineCoreTests.core(m, tokens: 64, seqs: 1, maxModelLen: 16384, blocks: 1100), modelName: "tiny")
        defer { engine.shutdown() }
        let (blockerID, blocker) = try await engine.submit(EngineRequest(prompt: .tokens([5, 6, 7]), maxTokens: 16000, sampling: .greedy, ignoreEOS: true))
        let (_, updates) = try await engine.submit(EngineRequest(prompt: .tokens([8, 9]), maxTokens: 50, sampling: .greedy, ignoreEOS: true))
        #expect(engine.stats().waiting == 1, "the second request should queue behind the first")
        let consumer = Task {
            var n = 0
            for await u in updates { n += u.newTokens.count }
            return n
        }
        consumer.cancel()
        #expect(await consumer.value == 0)
        /// Waits (by the clock, not by iterations: test tasks may be starved) until `condition` holds.
        func eventually(_ condition: () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await eventually { engine.stats().requestsFinished[.abort] == 1 }
        #expect(engine.stats().requestsFinished[.abort] == 1)
        engine.abort(blockerID)
        for await _ in blocker {}
        try await eventually { engine.stats().kvBlocksUsed == 0 }
        #expect(engine.stats().requestsFinished[.abort] == 2)
        #expect(engine.stats().kvBlocksUsed == 0 && engine.stats().waiting == 0)
    }

    @Test func knobsAndRejectionsThroughTheInterface() async throws {
        let engine = try Self.engine()
        defer { engine.shutdown() }
        try await engine.setKnobs(maxNumBatchedTokens: 32, maxNumSeqs: 4, maxModelLen: 300)
        #expect(engine.stats().config.maxNumBatchedTokens == 32)
        await #expect(throws: KnobError.self) { try await engine.setKnobs(maxNumBatchedTokens: 2, maxNumSeqs: 4, maxModelLen: nil) }
        await #expect(throws: RequestRejection.self) {
            _ = try await engine.submit(EngineRequest(prompt: .tokens([Int32](repeating: 5, count: 400))))
        }
    }
}
