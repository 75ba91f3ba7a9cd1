import Compute
import Foundation
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

    /// A consumer that goes away (a server handler whose client disconnected) aborts its request. The model
    /// is gated so the engine cannot finish the request while the test task waits its turn on a loaded
    /// machine: the outcome does not depend on timing.
    @Test func cancellingTheConsumerAbortsTheRequest() async throws {
        let m = try EngineCoreTests.load()
        let gated = GatedModel(m.model)
        let core = try EngineCore(model: gated, tokenizer: m.tokenizer, chatFormat: m.chatFormat,
                                  config: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 8, maxModelLen: 512),
                                  kvCacheBytes: EngineCore.bytesPerBlock(model: m.model, blockSize: 16) * 100)
        let engine = Engine(core: core, modelName: "tiny")
        defer { engine.shutdown() }
        gated.close()
        let (_, updates) = try await engine.submit(EngineRequest(prompt: .tokens([5, 6, 7]), maxTokens: 50, sampling: .greedy, ignoreEOS: true))
        let consumer = Task {
            var n = 0
            for await u in updates { n += u.newTokens.count }
            return n
        }
        consumer.cancel()
        _ = await consumer.value
        gated.open()  // the step in flight finishes; the abort queued meanwhile applies before the next one
        let deadline = ContinuousClock.now + .seconds(60)
        while engine.stats().requestsFinished[.abort] != 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let s = engine.stats()
        #expect(s.requestsFinished[.abort] == 1 && s.requestsFinished[.length] == nil)
        #expect(s.generationTokens <= 1, "at most the step in flight produced a token")
        #expect(s.kvBlocksUsed == 0 && s.running == 0 && s.waiting == 0)
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

/// A model whose forward pass waits while the gate is closed (tests hold the engine mid-step).
final class GatedModel: LanguageModel, @unchecked Sendable {
    let inner: any LanguageModel
    private let condition = NSCondition()
    private var closed = false
    init(_ inner: any LanguageModel) { self.inner = inner }

    func close() { condition.lock(); closed = true; condition.unlock() }
    func open() { condition.lock(); closed = false; condition.broadcast(); condition.unlock() }

    var architecture: String { inner.architecture }
    var vocabularySize: Int { inner.vocabularySize }
    var contextLength: Int { inner.contextLength }
    var layerCount: Int { inner.layerCount }
    var kvWidth: Int { inner.kvWidth }
    var backend: any ComputeBackend { inner.backend }
    var routingShape: RoutingShape? { inner.routingShape }

    func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> [Float] {
        condition.lock()
        while closed { condition.wait() }
        condition.unlock()
        return inner.forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
    }
}
