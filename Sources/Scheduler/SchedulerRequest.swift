/// Why a request ended (vLLM's finished states and their `finish_reason` strings).
public enum FinishReason: String, Sendable, Codable, Equatable {
    /// An end-of-sequence or stop token, or a stop string.
    case stop
    /// `max_tokens` generated, or the sequence reached `max_model_len`.
    case length
    /// Cancelled by the client.
    case abort
    /// The engine could not run it.
    case error
}

public enum RequestStatus: Sendable, Equatable {
    case waiting
    case running
    /// Blocks freed to make room; back at the front of the waiting queue, recomputed when readmitted.
    case preempted
    case finished(FinishReason)
}

/// One request as the scheduler sees it: token ids and counts, no text and no tensors (vLLM v1 `Request`).
public final class SchedulerRequest {
    public let id: Int
    public let promptCount: Int
    /// Prompt followed by every generated token.
    public private(set) var tokens: [Int32]
    /// Leading tokens whose KV is in the cache (advanced when a chunk is scheduled).
    public internal(set) var computedCount = 0
    public let maxTokens: Int
    /// The `max_model_len` in force when the request was accepted: it keeps it for its whole life, so a
    /// later change of the knob never cuts or fails a request already in the system.
    public let maxModelLen: Int
    /// Tokens that finish the request with `stop` (EOS and end-of-turn ids; empty with ignore_eos).
    public let stopTokens: Set<Int32>
    public internal(set) var status: RequestStatus = .waiting
    public internal(set) var preemptions = 0
    /// Prompt tokens served from the prefix cache at first admission (`cached_tokens` in usage).
    public internal(set) var cachedPromptTokens: Int?
    /// Hashes of the full blocks of `tokens`, extended as tokens arrive.
    var blockHashes: [BlockHash] = []

    public init(id: Int, prompt: [Int32], maxTokens: Int, maxModelLen: Int, stopTokens: Set<Int32>) {
        precondition(!prompt.isEmpty && maxTokens >= 1)
        self.id = id
        self.promptCount = prompt.count
        self.tokens = prompt
        self.maxTokens = maxTokens
        self.maxModelLen = maxModelLen
        self.stopTokens = stopTokens
    }

    public var outputCount: Int { tokens.count - promptCount }
    public var outputTokens: ArraySlice<Int32> { tokens[promptCount...] }
    public var isFinished: Bool { if case .finished = status { true } else { false } }

    func append(_ token: Int32) { tokens.append(token) }

    /// Extends `blockHashes` over every full block of `tokens`.
    func updateBlockHashes(blockSize: Int) {
        while (blockHashes.count + 1) * blockSize <= tokens.count {
            let start = blockHashes.count * blockSize
            blockHashes.append(BlockHash(parent: blockHashes.last, tokens: tokens[start..<(start + blockSize)]))
        }
    }
}
