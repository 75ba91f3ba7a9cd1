import DequeModule

/// What one step runs for one request: `count` tokens starting at position `start`.
public struct ScheduledChunk: Sendable, Equatable {
    public let requestID: Int
    public let start: Int
    public let count: Int
    /// The request's block table after allocation (block ids; slot of position p = table[p / bs] * bs + p % bs).
    public let blockTable: [Int32]
    /// The chunk reaches the end of the request's tokens: its last row's logits give the next token.
    public let samples: Bool
    /// The request already had all its prompt computed (a decode step) rather than a prefill chunk.
    public let isDecode: Bool
}

/// The plan of one step.
public struct SchedulerOutput: Sendable {
    public var chunks: [ScheduledChunk] = []
    /// Requests preempted this step (their KV freed; they will recompute).
    public var preempted: [Int] = []
    public var scheduledTokens: Int { chunks.reduce(0) { $0 + $1.count } }
    public var prefillTokens: Int { chunks.filter { !$0.isDecode }.reduce(0) { $0 + $1.count } }
    public var decodeTokens: Int { chunks.filter(\.isDecode).reduce(0) { $0 + $1.count } }
    public var isEmpty: Bool { chunks.isEmpty }
}

/// A request that ended this step.
public struct FinishedRequest: Sendable, Equatable {
    public let id: Int
    public let reason: FinishReason
}

/// vLLM v1's scheduler, synchronous: each step serves running requests first (decodes and prefill
/// continuations, in admission order), then admits waiting ones FCFS into the rest of the token budget,
/// chunking prompts that don't fit; when KV blocks run out, the most recently admitted running request is
/// preempted (its blocks freed, recomputed later). See ../shared/docs/serving-semantics.md §1.
///
/// Plain data in, plain data out: no tensors, no threads. The engine calls `schedule()`, runs the model,
/// then `update(sampled:)`.
public struct Scheduler {
    public private(set) var config: SchedulerConfig
    public private(set) var pool: BlockPool
    public private(set) var waiting: Deque<SchedulerRequest> = []
    public private(set) var running: [SchedulerRequest] = []
    private var blockTables: [Int: [Int32]] = [:]
    private var requests: [Int: SchedulerRequest] = [:]
    /// Prefix cache lookups: tokens asked for and tokens found (vllm:prefix_cache_queries / _hits).
    public private(set) var prefixQueries = 0
    public private(set) var prefixHits = 0
    public private(set) var preemptionCount = 0

    public init(config: SchedulerConfig, blockCount: Int) {
        self.config = config
        pool = BlockPool(blockCount: blockCount, blockSize: config.blockSize, prefixCaching: config.prefixCaching)
    }

    /// Tokens the cache can hold for one request.
    public var cacheTokens: Int { pool.usableBlocks * config.blockSize }
    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }
    public func request(_ id: Int) -> SchedulerRequest? { requests[id] }
    public func blockTable(_ id: Int) -> [Int32] { blockTables[id] ?? [] }

    /// Changes the knobs from the next step on. Block size and prefix caching are fixed for the cache's life.
    public mutating func setKnobs(maxNumBatchedTokens: Int, maxNumSeqs: Int, maxModelLen: Int,
                                  modelContextLength: Int) throws(KnobError) {
        var new = config
        new.maxNumBatchedTokens = maxNumBatchedTokens
        new.maxNumSeqs = maxNumSeqs
        new.maxModelLen = maxModelLen
        try new.validate(modelContextLength: modelContextLength, cacheTokens: cacheTokens)
        config = new
    }

    /// Queues a request (its `maxModelLen` was checked by the caller against the current knob).
    public mutating func add(_ request: SchedulerRequest) {
        precondition(requests[request.id] == nil, "request \(request.id) added twice")
        requests[request.id] = request
        request.updateBlockHashes(blockSize: config.blockSize)
        waiting.append(request)
    }

    // MARK: one step

    public mutating func schedule() -> SchedulerOutput {
        var output = SchedulerOutput()
        var budget = config.maxNumBatchedTokens
        var scheduled: [Int: Int] = [:]  // request id -> tokens this step
        var order: [SchedulerRequest] = []
        var preemptedThisStep = false

        // Phase A: running requests in admission order.
        var index = 0
        while index < running.count && budget > 0 {
            let request = running[index]
            var n = request.tokens.count - request.computedCount
            n = min(n, budget, request.maxModelLen - 1 - request.computedCount)
            if n <= 0 { index += 1; continue }
            var selfPreempted = false
            while !allocate(request, newTokens: n, hitBlocks: []) {
                // Out of blocks: preempt the newest running request (possibly this one).
                let victim = running.removeLast()
                preempt(victim)
                preemptedThisStep = true
                if let given = scheduled.removeValue(forKey: victim.id) {
                    budget += given
                    order.removeAll { $0 === victim }
                    victim.computedCount -= given
                }
                output.preempted.append(victim.id)
                if victim === request { selfPreempted = true; break }
            }
            if selfPreempted { break }
            scheduled[request.id] = n
            order.append(request)
            budget -= n
            request.computedCount += n
            index += 1
        }

        // Phase B: admit waiting requests, FCFS, unless anything was preempted this step.
        if !preemptedThisStep {
            while budget > 0, let request = waiting.first, running.count < config.maxNumSeqs {
                var hits: [Int32] = []
                if request.computedCount == 0 { hits = prefixLookup(request) }
                let hitTokens = hits.count * config.blockSize
                var n = request.tokens.count - hitTokens
                n = min(n, budget)
                // Reserve blocks for the whole current sequence before admitting (vLLM 0.33's
                // scheduler_reserve_full_isl), so an admitted prompt is not preempted mid-prefill.
                let whole = min(request.tokens.count, request.maxModelLen)
                let wholeBlocks = (whole + config.blockSize - 1) / config.blockSize - hits.count
                let idleHits = hits.filter { pool.refCounts[Int($0)] == 0 }.count
                if wholeBlocks + idleHits > pool.freeCount { break }
                guard allocate(request, newTokens: n, hitBlocks: hits) else { break }
                waiting.removeFirst()
                if request.cachedPromptTokens == nil { request.cachedPromptTokens = min(hitTokens, request.promptCount) }
                request.status = .running
                request.computedCount = hitTokens + n
                running.append(request)
                scheduled[request.id] = n
                order.append(request)
                budget -= n
            }
        }

        for request in order {
            let n = scheduled[request.id]!
            let start = request.computedCount - n
            output.chunks.append(ScheduledChunk(
                requestID: request.id, start: start, count: n, blockTable: blockTables[request.id] ?? [],
                samples: request.computedCount == request.tokens.count,
                isDecode: start >= request.tokens.count - 1 && n == 1 && request.outputCount > 0))
        }
        return output
    }

    /// Appends each sampling request's new token and finishes those that hit a stop condition (vLLM
    /// `check_stop`: EOS or stop token -> stop; max_tokens or max_model_len -> length).
    public mutating func update(sampled: [(requestID: Int, token: Int32)]) -> [FinishedRequest] {
        var finished: [FinishedRequest] = []
        for (id, token) in sampled {
            guard let request = requests[id], request.status == .running else { continue }
            request.append(token)
            request.updateBlockHashes(blockSize: config.blockSize)
            commitFullBlocks(request)
            var reason: FinishReason?
            if request.stopTokens.contains(token) {
                reason = .stop
            } else if request.outputCount >= request.maxTokens || request.tokens.count >= request.maxModelLen {
                reason = .length
            }
            if let reason {
                finish(request, reason)
                finished.append(FinishedRequest(id: id, reason: reason))
            }
        }
        return finished
    }

    /// Ends a request from outside (client abort, stop string, error), freeing its blocks now.
    @discardableResult
    public mutating func finish(id: Int, reason: FinishReason) -> Bool {
        guard let request = requests[id], !request.isFinished else { return false }
        finish(request, reason)
        return true
    }

    // MARK: internals

    private mutating func finish(_ request: SchedulerRequest, _ reason: FinishReason) {
        running.removeAll { $0 === request }
        waiting.removeAll { $0 === request }
        freeBlocks(request)
        request.status = .finished(reason)
        requests[request.id] = nil
    }

    private mutating func preempt(_ request: SchedulerRequest) {
        freeBlocks(request)
        request.status = .preempted
        request.computedCount = 0
        request.preemptions += 1
        preemptionCount += 1
        waiting.prepend(request)
    }

    private mutating func freeBlocks(_ request: SchedulerRequest) {
        if let table = blockTables.removeValue(forKey: request.id) { pool.release(table) }
    }

    /// Longest run of cached full blocks at the start of the request, never the whole sequence (the last
    /// token must be computed to get logits).
    private mutating func prefixLookup(_ request: SchedulerRequest) -> [Int32] {
        guard config.prefixCaching else { return [] }
        var hits: [Int32] = []
        for hash in request.blockHashes {
            guard let block = pool.lookup(hash) else { break }
            hits.append(block)
        }
        while hits.count * config.blockSize >= request.tokens.count { hits.removeLast() }
        prefixQueries += request.tokens.count
        prefixHits += hits.count * config.blockSize
        return hits
    }

    /// Gives the request blocks for `computedCount + hits + newTokens` positions. false (and nothing
    /// taken) when the pool has too few free blocks.
    private mutating func allocate(_ request: SchedulerRequest, newTokens: Int, hitBlocks: [Int32]) -> Bool {
        var table = blockTables[request.id] ?? []
        let hitTokens = hitBlocks.count * config.blockSize
        let need = min(request.computedCount + hitTokens + newTokens, request.maxModelLen)
        let required = (need + config.blockSize - 1) / config.blockSize - table.count - hitBlocks.count
        let idleHits = hitBlocks.filter { pool.refCounts[Int($0)] == 0 }.count
        guard max(required, 0) + idleHits <= pool.freeCount else { return false }
        for b in hitBlocks { pool.touch(b) }
        table += hitBlocks
        if required > 0 { table += pool.allocate(required)! }
        blockTables[request.id] = table
        return true
    }

    /// Registers the request's full, computed blocks in the prefix cache.
    private mutating func commitFullBlocks(_ request: SchedulerRequest) {
        guard config.prefixCaching, let table = blockTables[request.id] else { return }
        let full = min(request.computedCount, request.tokens.count) / config.blockSize
        for i in 0..<min(full, request.blockHashes.count, table.count) {
            pool.commit(table[i], hash: request.blockHashes[i])
        }
    }
}
