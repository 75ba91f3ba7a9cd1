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

    public init(prompt: Prompt, maxTokens: Int? = nil, sampling: SamplingParameters = .init(), stop: [String] = [],
                ignoreEOS: Bool = false, addBOS: Bool = true) {
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
}

/// Why a request was refused before it entered the engine (HTTP 400 in the server).
public struct RequestRejection: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    /// The offending request field, as vLLM reports it (`input_tokens`, `max_tokens`, ...).
    public let parameter: String?
    public var description: String { message }
}
