import Compute
import Tokenizer
import Weights

/// A model ready to run: weights on a backend, its tokenizer and chat format.
public struct LoadedModel {
    public let path: String
    public let model: any LanguageModel
    public let tokenizer: BPETokenizer
    /// nil when the file has no chat template Herd knows (`chatFormatError` says why).
    public let chatFormat: ChatFormat?
    public let chatFormatError: String?
    public let gguf: GGUFFile
}

public enum ModelLoader {
    /// Architectures Herd can run from GGUF.
    public static let supportedArchitectures = ["llama"]

    /// Opens a GGUF model file and places its weights on `backend`.
    public static func load(path: String, backend: any ComputeBackend) throws -> LoadedModel {
        let gguf = try GGUFFile(path: path)
        let arch = try gguf.string("general.architecture")
        let model: any LanguageModel
        switch arch {
        case "llama": model = try LlamaModel(gguf: gguf, backend: backend)
        default:
            throw ModelFileError(path, "architecture \"\(arch)\" is not supported (supported: \(supportedArchitectures.joined(separator: ", ")))")
        }
        let tokenizer = try loadTokenizer(gguf)
        guard tokenizer.vocabSize == model.vocabularySize else {
            throw ModelFileError(path, "tokenizer has \(tokenizer.vocabSize) tokens but the embedding table has \(model.vocabularySize) rows")
        }
        var format: ChatFormat? = nil, formatError: String? = nil
        do { format = try ChatFormat.detect(template: gguf.optionalString("tokenizer.chat_template")) } catch {
            formatError = "\(error)"
        }
        return LoadedModel(path: path, model: model, tokenizer: tokenizer, chatFormat: format, chatFormatError: formatError, gguf: gguf)
    }

    /// The tokenizer described by `tokenizer.ggml.*` metadata (byte-level BPE, `tokenizer.ggml.model = gpt2`).
    public static func loadTokenizer(_ gguf: GGUFFile) throws -> BPETokenizer {
        let kind = try gguf.string("tokenizer.ggml.model")
        guard kind == "gpt2" else {
            throw ModelFileError(gguf.path, "tokenizer.ggml.model \"\(kind)\" is not supported (supported: gpt2, byte-level BPE)")
        }
        let pre: PreTokenizer
        do { pre = try PreTokenizer(ggufName: gguf.optionalString("tokenizer.ggml.pre") ?? "default") } catch {
            throw ModelFileError(gguf.path, "\(error)")
        }
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens")
        let types = gguf.metadata["tokenizer.ggml.token_type"] == nil ? nil : try gguf.int32Array("tokenizer.ggml.token_type")
        let merges = try gguf.stringArray("tokenizer.ggml.merges")
        func tokenID(_ key: String) throws -> Int? {
            guard let id = gguf.optionalInt(key) else { return nil }
            guard id >= 0 && id < tokens.count else {
                throw ModelFileError(gguf.path, "\(key) = \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
            return id
        }
        do {
            return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: pre,
                                    bosID: tokenID("tokenizer.ggml.bos_token_id"), eosID: tokenID("tokenizer.ggml.eos_token_id"),
                                    addBOS: gguf.optionalBool("tokenizer.ggml.add_bos_token") ?? false)
        } catch let error as TokenizerError {
            throw ModelFileError(gguf.path, "\(error)")
        }
    }
}
