/// Everything that can go wrong while building a tokenizer or picking a chat format.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `tokenizer.ggml.pre` names a pre-tokenizer this engine does not implement.
    case unknownPreTokenizer(String)
    case emptyVocabulary
    case tokenTypeCountMismatch(tokens: Int, types: Int)
    /// A merge rule that is not two tokens separated by a space.
    case malformedMerge(index: Int, merge: String)
    /// A BOS/EOS id that is not a vocabulary index.
    case specialTokenOutOfRange(name: String, id: Int, vocabSize: Int)
    case noChatTemplate
    /// A chat template none of the known formats recognises; carries its first 60 characters.
    case unsupportedChatTemplate(prefix: String)

    public var description: String {
        switch self {
        case .unknownPreTokenizer(let name):
            "unsupported tokenizer pre-tokenizer \"\(name)\" (tokenizer.ggml.pre); "
                + "supported: default, gpt2, smollm, llama3, llama-bpe, gpt-4o, llama4"
        case .emptyVocabulary:
            "the tokenizer vocabulary is empty"
        case .tokenTypeCountMismatch(let tokens, let types):
            "the vocabulary has \(tokens) tokens but \(types) token types"
        case .malformedMerge(let index, let merge):
            "BPE merge #\(index) \"\(merge)\" is not of the form \"left right\""
        case .specialTokenOutOfRange(let name, let id, let vocabSize):
            "\(name) token id \(id) is outside the vocabulary (size \(vocabSize))"
        case .noChatTemplate:
            "model has no chat template"
        case .unsupportedChatTemplate(let prefix):
            "unsupported chat template (not ChatML, Llama 3 or Llama 4): \"\(prefix)\""
        }
    }
}
