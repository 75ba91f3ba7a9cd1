import Scheduler

/// What a front end asks the engine for.
public struct EngineRequest: Sendable {
    public enum Prompt: Sendable {
        case text(String)
        case tokens([Int32])
    }
    public var prompt: Prompt
    /// Most tokens to generate; nil means "up to max_model_len" (vLLM's default).
    public var maxTokens: Int?
    public var sampling: SamplingParameters
    /// Text that ends generation (not included in the output).
    public var stop: [String]
    public var ignoreEOS: Bool
    /// Put the tokenizer's BOS in front of a text prompt when the model asks for one.
    public var addBOS: Bool
    /// Return the log-probability of each generated token and of the N most likely alternatives (0...20).
    public var logprobs: Int?

    public init(prompt: Prompt, maxTokens: Int? = nil, sampling: SamplingParameters = .init(), stop: [String] = [],
                ignoreEOS: Bool = false, addBOS: Bool = true, logprobs: Int? = nil) {
        self.logprobs = logprobs
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.ignoreEOS = ignoreEOS
        self.addBOS = addBOS
    }
}

/// One update for one request: tokens generated since the last update, their text, and the end if reached.
public struct RequestOutput: Sendable {
    public let requestID: Int
    public let newTokens: [Int32]
    public let newText: String
    public let finishReason: FinishReason?
    /// Filled on the first update: prompt length and how much of it came from the prefix cache.
    public let promptTokens: Int
    public let cachedPromptTokens: Int
    /// One entry per new token when the request asked for logprobs.
    public var logprobs: [TokenLogprob] = []
}

/// A sampled token's log-probability (under the model's distribution, before temperature and truncation,
/// as vLLM reports by default) and the most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public let token: Int32
    public let logprob: Float
    public let top: [(token: Int32, logprob: Float)]

    public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.map(\.token) == b.top.map(\.token)
            && a.top.map(\.logprob) == b.top.map(\.logprob)
    }

    /// Log-softmax of `logits` at `token`, plus the `count` best tokens.
    public static func compute(_ logits: ArraySlice<Float>, token: Int32, count: Int) -> TokenLogprob {
        let base = logits.startIndex
        let maxLogit = logits.max() ?? 0
        var sum: Double = 0
        for v in logits { sum += exp(Double(v - maxLogit)) }
        let logZ = Float(log(sum)) + maxLogit
        var top: [(token: Int32, logprob: Float)] = []
        if count > 0 {
            // Partial selection: keep the best `count` in a small sorted array.
            for i in logits.indices {
                let v = logits[i]
                if top.count < count || v > top[top.count - 1].logprob {
                    let entry = (token: Int32(i - base), logprob: v)
                    let at = top.firstIndex { $0.logprob < v } ?? top.count
                    top.insert(entry, at: at)
                    if top.count > count { top.removeLast() }
                }
            }
            top = top.map { ($0.token, $0.logprob - logZ) }
        }
        return TokenLogprob(token: token, logprob: logits[base + Int(token)] - logZ, top: top)
    }
}

import Foundation

/// Why a request was refused before it entered the engine (HTTP 400 in the server).
public struct RequestRejection: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    /// The offending request field, as vLLM reports it (`input_tokens`, `max_tokens`, ...).
    public let parameter: String?
    public var description: String { message }
}
