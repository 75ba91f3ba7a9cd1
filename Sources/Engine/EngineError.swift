/// Errors a front end shows to the user (or turns into an HTTP error).
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(String)
    /// vLLM's wording, so clients that parse it keep working.
    case contextTooLong(promptTokens: Int, maxTokens: Int, maxModelLen: Int)
    case emptyPrompt

    public var description: String {
        switch self {
        case .invalidParameter(let m): m
        case .contextTooLong(let p, let m, let limit):
            "This model's maximum context length is \(limit) tokens. However, you requested \(p + m) tokens (\(p) in the messages, \(m) in the completion). Please reduce the length of the messages or completion."
        case .emptyPrompt: "the prompt is empty: give at least one token"
        }
    }
}
