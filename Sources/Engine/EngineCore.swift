import Compute
import Dispatch
import Models
import Scheduler
import Tokenizer

/// The synchronous engine: scheduler + paged KV cache + model runner + sampling + detokenizing, one
/// `step()` at a time (vLLM v1's EngineCore plus its output processor). Not thread-safe: `Engine` runs it
/// on its own thread; tests and the in-process benchmark may drive it directly.
public final class EngineCore {
    public let model: any LanguageModel
    public let tokenizer: BPETokenizer
    /// EOS and the chat format's end-of-turn tokens.
    public let stopTokens: Set<Int32>
    public private(set) var scheduler: Scheduler
    let cache: KVCache
    public let stats: EngineStatsRecorder
    private var states: [Int: RequestState] = [:]
    private var nextID = 1
    private let routing: RoutingCounts?
    /// Rows sampled from device summaries, and those of them that needed their whole row read (fallbacks).
    public private(set) var summarySampledRows = 0
    public private(set) var summaryFallbackRows = 0

    /// Per-request state outside the scheduler: sampling, detokenizing, stop strings, timing.
    final class RequestState {
        var sampler: Sampler
        var decoder = StreamingDecoder()
        var filter: StopStringFilter
        let arrival: UInt64
        var firstScheduled: UInt64?
        var firstToken: UInt64?
        var lastToken: UInt64?
        var interTokenLatencies: [Double] = []
        var announcedPrompt = false
        let promptTokens: Int
        var cachedPromptTokens = 0
        var outputTokens = 0
        let logprobs: Int?
        var pendingLogprob: TokenLogprob?
        init(sampling: SamplingParameters, stop: [String], arrival: UInt64, promptTokens: Int, logprobs: Int?) {
            self.logprobs = logprobs
            sampler = Sampler(sampling)
            filter = StopStringFilter(stops: stop)
            self.arrival = arrival
            self.promptTokens = promptTokens
        }
    }

    /// - Parameters:
    ///   - kvCacheBytes: memory for the KV cache (the CPU's `gpu_memory_utilization`); sizes the block pool.
    public init(model: any LanguageModel, tokenizer: BPETokenizer, chatFormat: ChatFormat?, config: SchedulerConfig,
                kvCacheBytes: Int) throws(KnobError) {
        self.model = model
        self.tokenizer = tokenizer
        var stops = Set<Int32>()
        if let eos = tokenizer.eosID { stops.insert(Int32(eos)) }
        for s in chatFormat?.stopStrings ?? [] { if let id = tokenizer.id(of: s) { stops.insert(Int32(id)) } }
        stopTokens = stops
        let bytesPerBlock = Self.bytesPerBlock(model: model, blockSize: config.blockSize)
        let blocks = kvCacheBytes / bytesPerBlock
        guard blocks >= 2 else {
            throw KnobError("a KV cache of \(kvCacheBytes) bytes holds no block (\(bytesPerBlock) bytes per block of \(config.blockSize) tokens); give it more memory")
        }
        try config.validate(modelContextLength: model.contextLength, cacheTokens: (blocks - 1) * config.blockSize)
        scheduler = Scheduler(config: config, blockCount: blocks)
        cache = model.makeKVCache(slots: blocks * config.blockSize)
        routing = model.routingShape.map(RoutingCounts.init)
        stats = EngineStatsRecorder(config: config, blocks: blocks - 1, routingShape: model.routingShape)
    }

    /// K and V of every layer for one block of tokens (f32 cache).
    public static func bytesPerBlock(model: any LanguageModel, blockSize: Int) -> Int {
        2 * model.layerCount * model.kvWidth * 4 * blockSize
    }

    public var config: SchedulerConfig { scheduler.config }
    public var hasWork: Bool { scheduler.hasWork }

    // MARK: requests

    /// Tokenizes and validates a request, then queues it. Errors use vLLM 0.33's wording.
    public func add(_ request: EngineRequest) throws -> Int {
        var prompt: [Int32]
        switch request.prompt {
        case .tokens(let ids): prompt = ids
        case .text(let text):
            prompt = tokenizer.encode(text).map(Int32.init)
            if request.addBOS, tokenizer.addBOS, let bos = tokenizer.bosID, prompt.first != Int32(bos) {
                prompt.insert(Int32(bos), at: 0)
            }
        }
        try request.sampling.validate()
        if let n = request.logprobs, !(0...20).contains(n) {
            throw RequestRejection(message: "logprobs must be between 0 and 20, got \(n)", parameter: "logprobs")
        }
        let limit = scheduler.config.maxModelLen
        guard !prompt.isEmpty else { throw RequestRejection(message: "The prompt is empty: give at least one token.", parameter: "prompt") }
        for t in prompt where t < 0 || Int(t) >= model.vocabularySize {
            throw RequestRejection(message: "Token id \(t) is out of vocabulary (0..<\(model.vocabularySize)).", parameter: "prompt")
        }
        if let m = request.maxTokens {
            guard m >= 1 else { throw RequestRejection(message: "max_tokens must be at least 1, got \(m)", parameter: "max_tokens") }
            guard m <= limit else {
                throw RequestRejection(message: "max_tokens=\(m) cannot be greater than max_model_len=\(limit). Please request fewer output tokens. (parameter=max_tokens, value=\(m))", parameter: "max_tokens")
            }
        }
        guard prompt.count <= limit else {
            throw RequestRejection(message: "This model's maximum context length is \(limit) tokens. However, your prompt contains \(prompt.count) input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=\(prompt.count))", parameter: "input_tokens")
        }
        guard prompt.count < limit else {
            throw RequestRejection(message: "The decoder prompt (length \(prompt.count)) plus the number of requested output tokens (at least 1) is longer than the maximum model length of \(limit). Make sure that `max_model_len` is no smaller than the number of text tokens (prompt + requested output tokens).", parameter: "input_tokens")
        }
        // vLLM 0.33 clamps max_tokens to what fits; generation then ends with "length".
        let maxTokens = min(request.maxTokens ?? limit, limit - prompt.count)
        let id = nextID
        nextID += 1
        scheduler.add(SchedulerRequest(id: id, prompt: prompt, maxTokens: maxTokens, maxModelLen: limit,
                                       stopTokens: request.ignoreEOS ? [] : stopTokens))
        states[id] = RequestState(sampling: request.sampling, stop: request.stop, arrival: now(), promptTokens: prompt.count,
                                  logprobs: request.logprobs)
        stats.requestAdded(promptTokens: prompt.count)
        stats.queuesChanged(scheduler)
        return id
    }

    /// Ends a request now and frees its KV blocks. Returns its final output, nil if it was not active.
    public func abort(_ id: Int) -> RequestOutput? {
        guard scheduler.finish(id: id, reason: .abort) else { return nil }
        stats.queuesChanged(scheduler)
        return finalize(id, reason: .abort, tokens: [], text: "")
    }

    public func setKnobs(maxNumBatchedTokens: Int? = nil, maxNumSeqs: Int? = nil, maxModelLen: Int? = nil) throws(KnobError) {
        let c = scheduler.config
        try scheduler.setKnobs(maxNumBatchedTokens: maxNumBatchedTokens ?? c.maxNumBatchedTokens,
                               maxNumSeqs: maxNumSeqs ?? c.maxNumSeqs, maxModelLen: maxModelLen ?? c.maxModelLen,
                               modelContextLength: model.contextLength)
        stats.knobsChanged(scheduler.config)
    }

    // MARK: the step

    /// Schedules, runs the model once over the ragged batch, samples, and returns every request's update.
    public func step() -> [RequestOutput] {
        let plan = scheduler.schedule()
        let stepStart = now()
        guard !plan.isEmpty else {
            stats.stepFinished(plan: plan, scheduler: scheduler, seconds: 0, routing: nil)
            return []
        }
        var tokens: [Int32] = []
        var slots: [Int32] = []
        var offsets: [Int] = []
        var rows: [AttentionBatch.Row] = []
        var logitRows: [Int] = []
        var decodeRow: [Bool] = []
        let bs = scheduler.config.blockSize
        for (seq, chunk) in plan.chunks.enumerated() {
            guard let request = scheduler.request(chunk.requestID) else { continue }
            if let state = states[chunk.requestID], state.firstScheduled == nil {
                state.firstScheduled = stepStart
                state.cachedPromptTokens = request.cachedPromptTokens ?? 0
            }
            offsets.append(slots.count)
            let end = chunk.start + chunk.count
            for p in 0..<end { slots.append(chunk.blockTable[p / bs] * Int32(bs) + Int32(p % bs)) }
            for p in chunk.start..<end {
                tokens.append(request.tokens[p])
                rows.append(AttentionBatch.Row(sequence: Int32(seq), contextStart: 0, contextEnd: Int32(p + 1),
                                               writeSlot: slots[offsets[seq] + p], position: Int32(p)))
                decodeRow.append(chunk.isDecode)
            }
            if chunk.samples { logitRows.append(rows.count - 1) }
        }
        routing?.reset()
        routing?.isDecodeRow = decodeRow
        let batch = AttentionBatch(slots: slots, sequenceSlotOffsets: offsets, rows: rows)
        var sampled: [(requestID: Int, token: Int32)] = []
        if model.backend.prefersDeviceSampling {
            sampled = sampleOnDevice(plan: plan, tokens: tokens, batch: batch, logitRows: logitRows)
        } else {
            let logits = model.forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
            var row = 0
            let vocab = model.vocabularySize
            for chunk in plan.chunks where chunk.samples {
                guard let state = states[chunk.requestID] else { row += 1; continue }
                let rowLogits = logits[(row * vocab)..<((row + 1) * vocab)]
                let token = Int32(state.sampler.sample(rowLogits))
                if let n = state.logprobs { state.pendingLogprob = TokenLogprob.compute(rowLogits, token: token, count: n) }
                sampled.append((chunk.requestID, token))
                row += 1
            }
        }
        let finished = Dictionary(uniqueKeysWithValues: scheduler.update(sampled: sampled).map { ($0.id, $0.reason) })
        let tokenTime = now()
        stats.stepFinished(plan: plan, scheduler: scheduler, seconds: Double(tokenTime - stepStart) / 1e9, routing: routing)

        var outputs: [RequestOutput] = []
        for (id, token) in sampled {
            guard let state = states[id] else { continue }
            if let last = state.lastToken { state.interTokenLatencies.append(Double(tokenTime - last) / 1e9) }
            if state.firstToken == nil {
                state.firstToken = tokenTime
                stats.promptProcessed(state.promptTokens)
            }
            state.lastToken = tokenTime
            state.outputTokens += 1
            stats.tokensGenerated(1)
            // Stop tokens and control tokens are counted but not shown as text.
            let visible = !stopTokens.contains(token) && !tokenizer.isControl(Int(token))
            let piece = visible ? state.decoder.push(tokenizer.tokenBytes(Int(token))) : ""
            var (text, hitStop) = state.filter.push(piece)
            if let reason = finished[id] {
                if !hitStop { text += state.filter.finish(state.decoder.flush()) }
                outputs.append(finalize(id, reason: reason, tokens: [token], text: text))
            } else if hitStop {
                scheduler.finish(id: id, reason: .stop)
                outputs.append(finalize(id, reason: .stop, tokens: [token], text: text))
            } else {
                outputs.append(update(id, tokens: [token], text: text))
            }
        }
        return outputs
    }

    /// The step with sampling on the device: the logits stay there, the backend summarizes each sampled row
    /// (top logits, exp sums, a Gumbel draw keyed by the request's generator) and only the summaries come
    /// back. A row whose draw (or logprobs) the summary cannot decide exactly is read and sampled in full.
    private func sampleOnDevice(plan: SchedulerOutput, tokens: [Int32], batch: AttentionBatch, logitRows: [Int]) -> [(requestID: Int, token: Int32)] {
        guard let logits = model.forwardLogits(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing) else { return [] }
        let vocab = model.vocabularySize
        let chunks = Array(plan.chunks.filter(\.samples).prefix(logitRows.count))
        let requests = chunks.map { states[$0.requestID]?.sampler.summaryRequest() ?? LogitSummaryRequest(temperature: 0, noiseKey: 0) }
        let summaries = model.backend.summarizeLogits(logits, rows: chunks.count, vocabulary: vocab, top: LogitSummary.defaultTopCount,
                                                      requests: requests)
        func readRow(_ r: Int) -> [Float] {
            let view = Tensor(dtype: .f32, shape: [1, logits.rowLength], data: logits.data + r * logits.rowLength * 4,
                              byteCount: logits.rowLength * 4, owner: logits)
            return Array(model.backend.read(view, rows: 1).prefix(vocab))
        }
        var sampled: [(requestID: Int, token: Int32)] = []
        for (row, chunk) in chunks.enumerated() {
            guard let state = states[chunk.requestID] else { continue }
            summarySampledRows += 1
            var rowLogits: [Float]?
            let token: Int32
            if let t = state.sampler.sample(from: summaries[row], vocabulary: vocab) {
                token = Int32(t)
            } else {
                summaryFallbackRows += 1
                let values = readRow(row)
                rowLogits = values
                token = Int32(state.sampler.sample(values[...]))
            }
            if let n = state.logprobs {
                if rowLogits == nil, let lp = TokenLogprob.compute(summary: summaries[row], token: token, count: n, vocabulary: vocab) {
                    state.pendingLogprob = lp
                } else {
                    state.pendingLogprob = TokenLogprob.compute((rowLogits ?? readRow(row))[...], token: token, count: n)
                }
            }
            sampled.append((chunk.requestID, token))
        }
        return sampled
    }

    /// An update; the first one of a request also carries its prompt and prefix-cache counts.
    private func update(_ id: Int, tokens: [Int32], text: String, reason: FinishReason? = nil) -> RequestOutput {
        guard let state = states[id] else {
            return RequestOutput(requestID: id, newTokens: tokens, newText: text, finishReason: reason, promptTokens: 0, cachedPromptTokens: 0)
        }
        defer {
            state.announcedPrompt = true
            state.pendingLogprob = nil
        }
        var output = RequestOutput(requestID: id, newTokens: tokens, newText: text, finishReason: reason,
                                   promptTokens: state.announcedPrompt ? 0 : state.promptTokens,
                                   cachedPromptTokens: state.announcedPrompt ? 0 : state.cachedPromptTokens)
        if let lp = state.pendingLogprob, !tokens.isEmpty { output.logprobs = [lp] }
        return output
    }

    /// The last update of a finished request; records its latency metrics.
    private func finalize(_ id: Int, reason: FinishReason, tokens: [Int32], text: String) -> RequestOutput {
        let output = update(id, tokens: tokens, text: text, reason: reason)
        if let state = states.removeValue(forKey: id) {
            let end = now()
            stats.requestFinished(RequestMetrics(
                reason: reason, promptTokens: state.promptTokens, outputTokens: state.outputTokens,
                queueSeconds: Double((state.firstScheduled ?? end) - state.arrival) / 1e9,
                ttftSeconds: state.firstToken.map { Double($0 - state.arrival) / 1e9 },
                e2eSeconds: Double(end - state.arrival) / 1e9,
                interTokenSeconds: state.interTokenLatencies))
        }
        return output
    }
}

@inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
