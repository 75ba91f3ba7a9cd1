/// The serving knobs and cache geometry. The three knobs can change while the engine runs.
public struct SchedulerConfig: Sendable, Equatable {
    /// Token budget of one step (prefill chunks plus decodes).
    public var maxNumBatchedTokens: Int
    /// Most requests running at once.
    public var maxNumSeqs: Int
    /// Longest sequence (prompt + output) a newly accepted request may reach.
    public var maxModelLen: Int
    public var blockSize: Int
    public var prefixCaching: Bool

    public init(maxNumBatchedTokens: Int = 2048, maxNumSeqs: Int = 256, maxModelLen: Int, blockSize: Int = 16,
                prefixCaching: Bool = true) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.maxModelLen = maxModelLen
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
    }

    /// Checks the knobs against each other, the model and the KV cache; the message says what to change.
    public func validate(modelContextLength: Int, cacheTokens: Int) throws(KnobError) {
        guard maxNumSeqs >= 1 else { throw KnobError("max_num_seqs must be at least 1, got \(maxNumSeqs)") }
        guard maxNumBatchedTokens >= 1 else {
            throw KnobError("max_num_batched_tokens must be at least 1, got \(maxNumBatchedTokens)")
        }
        guard maxNumBatchedTokens >= maxNumSeqs else {
            throw KnobError("max_num_batched_tokens (\(maxNumBatchedTokens)) must be greater than or equal to max_num_seqs (\(maxNumSeqs))")
        }
        guard maxModelLen >= 2 else { throw KnobError("max_model_len must be at least 2, got \(maxModelLen)") }
        guard maxModelLen <= modelContextLength else {
            throw KnobError("max_model_len \(maxModelLen) is larger than the model's context length \(modelContextLength)")
        }
        guard maxModelLen <= cacheTokens else {
            throw KnobError("max_model_len \(maxModelLen) is larger than the KV cache can hold for one request (\(cacheTokens) tokens); give the cache more memory or lower max_model_len")
        }
    }
}

public struct KnobError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
