import ComputeCPU
import Engine
import Models
import Scheduler
import TestSupport
import Testing

/// The batching engine on the tiny GGUF llama: batching, chunked prefill, preemption and prefix caching
/// must not change a single greedy token.
struct EngineCoreTests {
    static func load() throws -> LoadedModel {
        var shape = TinyLlama.Shape()
        shape.context = 512
        return try ModelLoader.load(path: TinyLlama.writer(shape).write(name: "engine"), backend: CPUBackend(threads: 2))
    }

    static func core(_ m: LoadedModel, tokens: Int = 256, seqs: Int = 64, maxModelLen: Int = 512, blocks: Int = 400,
                     prefixCaching: Bool = true) throws -> EngineCore {
        let bytes = EngineCore.bytesPerBlock(model: m.model, blockSize: 16) * blocks
        return try EngineCore(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat,
                              config: SchedulerConfig(maxNumBatchedTokens: tokens, maxNumSeqs: seqs, maxModelLen: maxModelLen,
                                                      prefixCaching: prefixCaching),
                              kvCacheBytes: bytes)
    }

    /// Runs the core until idle; returns each request's tokens and finish reason.
    static func drain(_ core: EngineCore, maxSteps: Int = 20000) -> [Int: (tokens: [Int32], text: String, reason: FinishReason?)] {
        var result: [Int: (tokens: [Int32], text: String, reason: FinishReason?)] = [:]
        var steps = 0
        while core.hasWork && steps < maxSteps {
            for o in core.step() {
                result[o.requestID, default: ([], "", nil)].tokens += o.newTokens
                result[o.requestID, default: ([], "", nil)].text += o.newText
                if let r = o.finishReason { result[o.requestID]!.reason = r }
            }
            steps += 1
        }
        return result
    }

    static func prompts(_ n: Int, seed: UInt64) -> [[Int32]] {
        var state = seed
        return (0..<n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let length = 5 + Int(state >> 33) % 90
            // Half share a 40-token prefix, to exercise the prefix cache.
            let head: [Int32] = i % 2 == 0 ? (0..<40).map { Int32(3 + $0 % 200) } : []
            return head + (0..<length).map { Int32(3 + (Int(state >> 20) + $0 * 31) % 250) }
        }
    }

    @Test func greedyTokensAreTheSameAloneAndInABusyBatch() throws {
        let m = try Self.load()
        let prompts = Self.prompts(24, seed: 5)
        // Alone: one request at a time, a roomy cache, a big budget.
        var alone: [[Int32]] = []
        for p in prompts {
            let core = try Self.core(m)
            _ = try core.add(EngineRequest(prompt: .tokens(p), maxTokens: 20, sampling: .greedy, ignoreEOS: true))
            alone.append(Self.drain(core).values.first!.tokens)
        }
        // Busy: all at once, a 32-token budget (chunked prefill), a cache too small for all (preemption).
        let core = try Self.core(m, tokens: 32, seqs: 16, blocks: 40)
        let ids = try prompts.map { try core.add(EngineRequest(prompt: .tokens($0), maxTokens: 20, sampling: .greedy, ignoreEOS: true)) }
        let busy = Self.drain(core)
        let stats = core.stats.snapshot()
        #expect(stats.preemptions > 0, "the small cache should force preemption")
        #expect(stats.prefixCacheHits > 0, "shared prefixes should hit the cache")
        for (i, id) in ids.enumerated() {
            #expect(busy[id]?.tokens == alone[i], "request \(i) differs in a busy batch")
            #expect(busy[id]?.reason == .length)
        }
        // Everything adds up and every block came back.
        #expect(stats.generationTokens == ids.count * 20)
        #expect(stats.requestsFinished[.length] == ids.count)
        #expect(stats.promptTokens == prompts.reduce(0) { $0 + $1.count })
        #expect(stats.kvBlocksUsed == 0 && stats.running == 0 && stats.waiting == 0)
    }

    @Test func abortFreesBlocksAtOnce() throws {
        let m = try Self.load()
        let core = try Self.core(m)
        let id = try core.add(EngineRequest(prompt: .tokens(Self.prompts(1, seed: 1)[0]), maxTokens: 50, sampling: .greedy, ignoreEOS: true))
        _ = core.step()
        #expect(core.scheduler.pool.usedBlocks > 0)
        let final = core.abort(id)
        #expect(final?.finishReason == .abort)
        #expect(core.scheduler.pool.usedBlocks == 0)
        #expect(!core.hasWork)
        #expect(core.abort(id) == nil)
        #expect(core.stats.snapshot().requestsFinished[.abort] == 1)
    }

    @Test func knobChangesMidRunLoseNoRequest() throws {
        let m = try Self.load()
        let core = try Self.core(m, tokens: 128, seqs: 8)
        var ids: [Int] = []
        for p in Self.prompts(12, seed: 9) {
            ids.append(try core.add(EngineRequest(prompt: .tokens(p), maxTokens: 30, sampling: .greedy, ignoreEOS: true)))
        }
        var outputs: [Int: [Int32]] = [:]
        var finished: [Int: FinishReason] = [:]
        var step = 0
        while core.hasWork {
            if step == 3 { try core.setKnobs(maxNumBatchedTokens: 16, maxNumSeqs: 2) }
            // Lowering max_model_len below what admitted requests will reach does not cut them: they keep
            // the limit they were admitted with (see DECISIONS.md).
            if step == 6 { try core.setKnobs(maxModelLen: 64) }
            if step == 9 { try core.setKnobs(maxNumBatchedTokens: 512, maxNumSeqs: 32) }
            for o in core.step() {
                outputs[o.requestID, default: []] += o.newTokens
                if let r = o.finishReason { finished[o.requestID] = r }
            }
            let s = core.stats.snapshot()
            #expect(s.lastStepTokens <= s.config.maxNumBatchedTokens)
            step += 1
        }
        for id in ids {
            #expect(outputs[id]?.count == 30 && finished[id] == .length, "request \(id)")
        }
        #expect(core.config.maxModelLen == 64 && core.config.maxNumSeqs == 32)
        // New requests now meet the new limit.
        #expect(throws: RequestRejection.self) { try core.add(EngineRequest(prompt: .tokens([Int32](repeating: 5, count: 70)))) }
        #expect(throws: KnobError.self) { try core.setKnobs(maxNumBatchedTokens: 4, maxNumSeqs: 8) }
        #expect(throws: KnobError.self) { try core.setKnobs(maxModelLen: 100_000) }
    }

    @Test func requestsTooLongAreRejectedTheVLLMWay() throws {
        let m = try Self.load()
        let core = try Self.core(m, maxModelLen: 100)
        do {
            _ = try core.add(EngineRequest(prompt: .tokens([Int32](repeating: 5, count: 101))))
            Issue.record("accepted")
        } catch let error as RequestRejection {
            #expect(error.message.hasPrefix("This model's maximum context length is 100 tokens. However, your prompt contains 101 input tokens"))
            #expect(error.parameter == "input_tokens")
        }
        #expect(throws: RequestRejection.self) { try core.add(EngineRequest(prompt: .tokens([Int32](repeating: 5, count: 100)))) }
        #expect(throws: RequestRejection.self) { try core.add(EngineRequest(prompt: .tokens([5]), maxTokens: 101)) }
        // prompt + max_tokens over the limit: max_tokens is clamped, generation ends with "length".
        let id = try core.add(EngineRequest(prompt: .tokens([Int32](repeating: 5, count: 90)), maxTokens: 50, sampling: .greedy, ignoreEOS: true))
        let out = Self.drain(core)
        #expect(out[id]?.tokens.count == 10 && out[id]?.reason == .length)
    }

    @Test func engineCoreMatchesTheSingleSequenceGenerator() throws {
        let m = try Self.load()
        let prompt = Self.prompts(1, seed: 3)[0]
        let generator = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        let reference = try generator.generate(GenerationRequest(promptTokens: prompt, maxTokens: 25, sampling: .greedy, ignoreEOS: true))
        let core = try Self.core(m)
        let id = try core.add(EngineRequest(prompt: .tokens(prompt), maxTokens: 25, sampling: .greedy, ignoreEOS: true))
        let out = Self.drain(core)
        #expect(out[id]?.tokens == reference.tokens)
        #expect(out[id]?.text == reference.text)
    }
}
