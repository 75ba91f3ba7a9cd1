import Compute
import Foundation
import Models
import Scheduler
import Tokenizer

/// One generation request for the single-sequence loop.
public struct GenerationRequest: Sendable {
    public var promptTokens: [Int32]
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Text that ends generation; it is not part of the output.
    public var stop: [String]
    /// Keep generating past end-of-sequence tokens (benchmarks).
    public var ignoreEOS: Bool

    public init(promptTokens: [Int32], maxTokens: Int = 256, sampling: SamplingParameters = .init(),
                stop: [String] = [], ignoreEOS: Bool = false) {
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.ignoreEOS = ignoreEOS
    }
}

public struct GenerationResult: Sendable {
    public var tokens: [Int32]
    public var text: String
    public var finishReason: FinishReason
    /// Seconds: prompt processing (time to first token) and the whole request.
    public var promptSeconds: Double
    public var totalSeconds: Double
    public var promptTokens: Int

    public var generationTokensPerSecond: Double {
        tokens.count > 1 ? Double(tokens.count - 1) / max(totalSeconds - promptSeconds, 1e-9) : 0
    }
    public var promptTokensPerSecond: Double { Double(promptTokens) / max(promptSeconds, 1e-9) }
}

/// Runs one sequence at a time: prefill the prompt, then decode token by token, streaming text out.
/// (The batching engine with a scheduler and paged cache serves many; this loop backs `herd generate`.)
public final class Generator {
    public let model: any LanguageModel
    public let tokenizer: BPETokenizer
    /// Tokens that end a turn: the tokenizer's EOS plus the chat format's end-of-turn tokens.
    public let stopTokens: Set<Int32>

    public init(model: any LanguageModel, tokenizer: BPETokenizer, chatFormat: ChatFormat?) {
        self.model = model
        self.tokenizer = tokenizer
        var stops = Set<Int32>()
        if let eos = tokenizer.eosID { stops.insert(Int32(eos)) }
        for s in chatFormat?.stopStrings ?? [] { if let id = tokenizer.id(of: s) { stops.insert(Int32(id)) } }
        stopTokens = stops
    }

    /// Generates, calling `onText` with each new piece of text as soon as it is final (text that could still
    /// turn into a stop string is held back). `onText` returns false to stop early.
    public func generate(_ request: GenerationRequest, onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        let prompt = request.promptTokens
        guard !prompt.isEmpty else { throw EngineError.emptyPrompt }
        try request.sampling.validate()
        guard request.maxTokens >= 1 else { throw EngineError.invalidParameter("max_tokens must be at least 1, got \(request.maxTokens)") }
        guard prompt.count + request.maxTokens <= model.contextLength else {
            throw EngineError.contextTooLong(promptTokens: prompt.count, maxTokens: request.maxTokens, maxModelLen: model.contextLength)
        }
        for t in prompt where t < 0 || Int(t) >= model.vocabularySize {
            throw EngineError.invalidParameter("prompt token id \(t) is outside the vocabulary (0..<\(model.vocabularySize))")
        }

        let start = DispatchTime.now().uptimeNanoseconds
        let cache = model.makeKVCache(slots: prompt.count + request.maxTokens)
        var sampler = Sampler(request.sampling)
        var logits = model.forward(tokens: prompt, batch: .contiguous(start: 0, count: prompt.count), cache: cache,
                                   logitRows: [prompt.count - 1])
        let promptDone = DispatchTime.now().uptimeNanoseconds
        var output: [Int32] = []
        var stream = StopStringFilter(stops: request.stop)
        var decoder = StreamingDecoder()
        var reason = FinishReason.length
        var text = ""

        while output.count < request.maxTokens {
            let token = Int32(sampler.sample(logits[...]))
            if stopTokens.contains(token) && !request.ignoreEOS {
                reason = .stop
                break
            }
            output.append(token)
            // Control tokens (e.g. <|endoftext|> sampled mid-text) count as tokens but are not text.
            let piece = tokenizer.isControl(Int(token)) ? "" : decoder.push(tokenizer.tokenBytes(Int(token)))
            let (ready, hitStop) = stream.push(piece)
            text += ready
            if !ready.isEmpty && !onText(ready) { reason = .abort; break }
            if hitStop { reason = .stop; break }
            guard output.count < request.maxTokens else { break }
            logits = model.forward(tokens: [token], batch: .contiguous(start: prompt.count + output.count - 1, count: 1),
                                   cache: cache, logitRows: [0])
        }
        if reason != .stop || !stream.stopped {
            let rest = stream.finish(decoder.flush())
            text += rest
            if !rest.isEmpty { _ = onText(rest) }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(tokens: output, text: text, finishReason: reason,
                                promptSeconds: Double(promptDone - start) / 1e9, totalSeconds: Double(end - start) / 1e9,
                                promptTokens: prompt.count)
    }
}

/// Holds back streamed text that might be the start of a stop string, and cuts the text at the first stop
/// string found.
public struct StopStringFilter: Sendable {
    public let stops: [String]
    private var pending = ""
    public private(set) var stopped = false

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Returns the text that is now final, and whether a stop string was hit (the text before it is returned).
    public mutating func push(_ piece: String) -> (String, Bool) {
        guard !stopped else { return ("", true) }
        pending += piece
        guard !stops.isEmpty else { defer { pending = "" }; return (pending, false) }
        if let hit = stops.compactMap({ pending.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            stopped = true
            let before = String(pending[..<hit.lowerBound])
            pending = ""
            return (before, true)
        }
        // Keep the longest suffix that is a prefix of some stop string.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1)
            where pending.hasSuffix(stop.prefix(length)) {
                keep = max(keep, length)
                break
            }
        }
        let cut = pending.index(pending.endIndex, offsetBy: -keep)
        defer { pending = String(pending[cut...]) }
        return (String(pending[..<cut]), false)
    }

    /// The held-back text at the end of generation.
    public mutating func finish(_ tail: String) -> String {
        guard !stopped else { return "" }
        let (ready, hit) = push(tail)
        if hit { return ready }
        defer { pending = "" }
        return ready + pending
    }
}
