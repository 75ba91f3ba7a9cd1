import Scheduler
import Testing

/// Random workloads through the scheduler with a stand-in model whose "next token" is a function of the
/// request and position, so every request's output is known in advance.
struct SchedulerPropertyTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state ^ (state >> 31)
        }
    }

    /// The stand-in model: token at position p of request r.
    static func token(request: Int, position: Int) -> Int32 {
        Int32(truncatingIfNeeded: (request &* 7919 &+ position &* 104729) % 997) + 3
    }
    static let stopToken: Int32 = 1

    struct Workload {
        var requests: [(prompt: [Int32], maxTokens: Int, stopAt: Int?)] = []
    }

    static func workload(_ rng: inout RNG, count: Int, sharedPrefix: Bool) -> Workload {
        var w = Workload()
        let prefix = (0..<48).map { _ in Int32.random(in: 3...900, using: &rng) }
        for _ in 0..<count {
            let length = Int.random(in: 1...120, using: &rng)
            var prompt = (0..<length).map { _ in Int32.random(in: 3...900, using: &rng) }
            if sharedPrefix && Bool.random(using: &rng) { prompt = prefix + prompt }
            let maxTokens = Int.random(in: 1...100, using: &rng)
            let stopAt = Int.random(in: 0...3, using: &rng) == 0 ? Int.random(in: 1...maxTokens, using: &rng) : nil
            w.requests.append((prompt, maxTokens, stopAt))
        }
        return w
    }

    /// Runs a workload; checks invariants after every step; returns how many preemptions happened.
    @discardableResult
    static func run(_ w: Workload, config: SchedulerConfig, blocks: Int, rng: inout RNG,
                    changeKnobs: Bool = false) throws -> Int {
        var s = Scheduler(config: config, blockCount: blocks)
        let maxModelLen = config.maxModelLen
        var outputs: [Int: [Int32]] = [:]
        var finished: [Int: FinishReason] = [:]
        var pending = Array(w.requests.enumerated())
        var steps = 0
        var stopAt: [Int: Int] = [:]
        while !pending.isEmpty || s.hasWork {
            // Arrivals: a few requests per step.
            for _ in 0..<Int.random(in: 0...3, using: &rng) where !pending.isEmpty {
                let (i, r) = pending.removeFirst()
                let id = i + 1
                var stops: Set<Int32> = []
                if let at = r.stopAt, at <= maxModelLen - r.prompt.count { stops = [stopToken]; stopAt[id] = at }
                s.add(SchedulerRequest(id: id, prompt: r.prompt, maxTokens: r.maxTokens, maxModelLen: s.config.maxModelLen,
                                       stopTokens: stops))
            }
            if changeKnobs && steps % 7 == 3 {
                let seqs = Int.random(in: 1...8, using: &rng)
                try s.setKnobs(maxNumBatchedTokens: Int.random(in: max(seqs, 8)...96, using: &rng), maxNumSeqs: seqs,
                               maxModelLen: s.config.maxModelLen, modelContextLength: 4096)
            }
            let plan = s.schedule()
            steps += 1
            #expect(steps < 100_000, "no progress")
            if steps >= 100_000 { return s.preemptionCount }
            // Invariants of the plan.
            #expect(plan.scheduledTokens <= s.config.maxNumBatchedTokens)
            #expect(Set(plan.chunks.map(\.requestID)).count == plan.chunks.count, "a request scheduled twice in one step")
            for c in plan.chunks {
                #expect(c.count >= 1)
                #expect(c.blockTable.count * s.config.blockSize >= c.start + c.count, "blocks do not cover the chunk")
                #expect(Set(c.blockTable).count == c.blockTable.count && !c.blockTable.contains(0))
            }
            // Block conservation: every reference is held by exactly one table entry.
            var references = [Int32](repeating: 0, count: blocks)
            for r in s.running { for b in s.blockTable(r.id) { references[Int(b)] += 1 } }
            for b in 1..<blocks { #expect(references[b] == s.pool.refCounts[b], "block \(b) refcount") }
            #expect(s.pool.freeCount == (1..<blocks).filter { s.pool.refCounts[$0] == 0 }.count)
            // Two running requests never write the same block (shared blocks are full, read-only prefixes).
            var writers: [Int32: Int] = [:]
            for c in plan.chunks {
                let first = c.start / s.config.blockSize, last = (c.start + c.count - 1) / s.config.blockSize
                for i in first...last {
                    let b = c.blockTable[i]
                    #expect(writers[b] == nil, "block \(b) written by two requests")
                    writers[b] = c.requestID
                }
            }
            // The stand-in model samples for chunks that reach the end of their request.
            var sampled: [(requestID: Int, token: Int32)] = []
            for c in plan.chunks where c.samples {
                let produced = (outputs[c.requestID]?.count ?? 0) + 1
                let t = stopAt[c.requestID] == produced ? stopToken : token(request: c.requestID, position: c.start + c.count)
                sampled.append((c.requestID, t))
                outputs[c.requestID, default: []].append(t)
            }
            for f in s.update(sampled: sampled) {
                #expect(finished[f.id] == nil, "request \(f.id) finished twice")
                finished[f.id] = f.reason
            }
        }
        // Every request finished, with exactly the tokens it should have.
        #expect(finished.count == w.requests.count)
        #expect(s.pool.usedBlocks == 0, "blocks leaked")
        for (i, r) in w.requests.enumerated() {
            let id = i + 1
            let out = outputs[id] ?? []
            if let at = r.stopAt, at <= maxModelLen - r.prompt.count {
                #expect(out.count == at && out.last == stopToken && finished[id] == .stop, "request \(id)")
            } else {
                // Generation ends at max_tokens or when the sequence reaches max_model_len.
                let expected = min(r.maxTokens, maxModelLen - r.prompt.count)
                #expect(out.count == expected && finished[id] == .length, "request \(id): \(out.count) of \(expected)")
            }
            for (k, t) in out.enumerated() where t != stopToken {
                #expect(t == token(request: id, position: r.prompt.count + k), "request \(id) token \(k)")
            }
        }
        return s.preemptionCount
    }

    @Test(arguments: [true, false])
    func randomWorkloadsKeepEveryInvariant(prefixCaching: Bool) throws {
        var preemptions = 0
        for trial in 0..<12 {
            // Fixed seeds: a failure reproduces exactly.
            var rng = RNG(state: UInt64(trial + 1) &* 0x9E3779B97F4A7C15)
            let seed = rng.state
            let w = Self.workload(&rng, count: 40, sharedPrefix: true)
            let maxModelLen = 240
            let config = SchedulerConfig(maxNumBatchedTokens: Int.random(in: 16...256, using: &rng),
                                         maxNumSeqs: Int.random(in: 1...16, using: &rng), maxModelLen: maxModelLen, blockSize: 16,
                                         prefixCaching: prefixCaching)
            // Small pools force preemption; the pool must still hold one whole max-length request.
            let blocks = Int.random(in: (maxModelLen / 16 + 2)...40, using: &rng)
            var runRNG = RNG(state: seed)
            preemptions += try Self.run(w, config: config, blocks: blocks, rng: &runRNG)
        }
        #expect(preemptions > 0, "the workloads never ran out of blocks: preemption went untested")
    }

    @Test func knobChangesMidRunLoseNothing() throws {
        var rng = RNG(state: 42)
        let w = Self.workload(&rng, count: 60, sharedPrefix: false)
        try Self.run(w, config: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 4, maxModelLen: 256), blocks: 40,
                     rng: &rng, changeKnobs: true)
    }

    @Test func preemptsTheNewestRunningRequestWhenBlocksRunOut() {
        // 5 usable blocks of 4 tokens; two requests of 8 tokens (2 blocks each) decode until one must go.
        var s = Scheduler(config: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 4, maxModelLen: 64, blockSize: 4,
                                                  prefixCaching: false), blockCount: 6)
        s.add(SchedulerRequest(id: 1, prompt: [Int32](repeating: 5, count: 8), maxTokens: 20, maxModelLen: 64, stopTokens: []))
        s.add(SchedulerRequest(id: 2, prompt: [Int32](repeating: 6, count: 8), maxTokens: 20, maxModelLen: 64, stopTokens: []))
        var preempted: [Int] = []
        for _ in 0..<12 {
            let plan = s.schedule()
            preempted += plan.preempted
            _ = s.update(sampled: plan.chunks.filter(\.samples).map { ($0.requestID, Int32(7)) })
        }
        #expect(preempted.first == 2, "the most recently admitted request goes first")
        #expect(s.preemptionCount >= 1)
        #expect(s.request(2)!.preemptions >= 1)
    }

    @Test func chunkedPrefillSplitsAPromptAcrossSteps() {
        var s = Scheduler(config: SchedulerConfig(maxNumBatchedTokens: 32, maxNumSeqs: 4, maxModelLen: 512), blockCount: 64)
        s.add(SchedulerRequest(id: 1, prompt: [Int32](repeating: 9, count: 80), maxTokens: 2, maxModelLen: 512, stopTokens: []))
        let counts = (0..<3).map { _ in
            let plan = s.schedule()
            _ = s.update(sampled: plan.chunks.filter(\.samples).map { ($0.requestID, Int32(4)) })
            return (plan.chunks[0].count, plan.chunks[0].samples)
        }
        #expect(counts.map(\.0) == [32, 32, 16])
        #expect(counts.map(\.1) == [false, false, true])
    }

    @Test func decodesComeBeforeNewPrefills() {
        var s = Scheduler(config: SchedulerConfig(maxNumBatchedTokens: 10, maxNumSeqs: 4, maxModelLen: 512), blockCount: 64)
        s.add(SchedulerRequest(id: 1, prompt: [1, 2, 3], maxTokens: 5, maxModelLen: 512, stopTokens: []))
        var plan = s.schedule()
        _ = s.update(sampled: [(1, 4)])
        s.add(SchedulerRequest(id: 2, prompt: [Int32](repeating: 8, count: 50), maxTokens: 5, maxModelLen: 512, stopTokens: []))
        plan = s.schedule()
        #expect(plan.chunks.map(\.requestID) == [1, 2])
        #expect(plan.chunks[0].count == 1 && plan.chunks[0].isDecode)
        #expect(plan.chunks[1].count == 9)
    }

    @Test func prefixCacheHitsFullBlocksOnly() {
        var s = Scheduler(config: SchedulerConfig(maxNumBatchedTokens: 256, maxNumSeqs: 4, maxModelLen: 512), blockCount: 64)
        let shared = (0..<40).map { Int32($0 + 10) }
        s.add(SchedulerRequest(id: 1, prompt: shared, maxTokens: 1, maxModelLen: 512, stopTokens: []))
        var plan = s.schedule()
        _ = s.update(sampled: [(1, 3)])
        s.add(SchedulerRequest(id: 2, prompt: shared + [7, 7], maxTokens: 1, maxModelLen: 512, stopTokens: []))
        plan = s.schedule()
        // 40 shared tokens = 2 full blocks of 16 cached; the rest (8 + 2) computed.
        #expect(plan.chunks[0].start == 32 && plan.chunks[0].count == 10)
        #expect(s.request(2)!.cachedPromptTokens == 32)
        #expect(s.prefixHits == 32)
    }

    @Test func invalidKnobsAreRefusedWithTheReason() {
        var s = Scheduler(config: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 4, maxModelLen: 256), blockCount: 20)
        #expect(throws: KnobError.self) { try s.setKnobs(maxNumBatchedTokens: 2, maxNumSeqs: 4, maxModelLen: 256, modelContextLength: 1024) }
        do {
            try s.setKnobs(maxNumBatchedTokens: 64, maxNumSeqs: 4, maxModelLen: 400, modelContextLength: 1024)
            Issue.record("max_model_len beyond the cache accepted")
        } catch {
            #expect(error.description.contains("KV cache can hold for one request (304 tokens)"))
        }
        #expect(throws: KnobError.self) { try s.setKnobs(maxNumBatchedTokens: 64, maxNumSeqs: 4, maxModelLen: 300, modelContextLength: 256) }
        #expect(s.config.maxModelLen == 256)
    }
}
