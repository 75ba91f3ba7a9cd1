import Compute
import Foundation
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
    /// The GGUF file, when the model came from one.
    public let gguf: GGUFFile?
    /// The Hugging Face checkpoint directory, when the model came from one.
    public let checkpoint: HFCheckpoint?

    /// A display name: GGUF `general.name`, else the file or directory name.
    public var name: String {
        gguf?.optionalString("general.name") ?? String(path.split(separator: "/").last ?? Substring(path))
    }
}

public enum ModelLoader {
    /// Architectures Herd can run from GGUF.
    public static let supportedArchitectures = ["llama", "llama4"]

    /// Opens a GGUF model file, or a Hugging Face checkpoint directory, and places its weights on `backend`.
    public static func load(path: String, backend: any ComputeBackend) throws -> LoadedModel {
        if path.hasPrefix(SyntheticModelSpec.prefix) { return try loadSynthetic(try SyntheticModelSpec(parsing: path), backend: backend) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try loadCheckpoint(directory: path, backend: backend)
        }
        let gguf = try GGUFFile(path: path)
        let arch = try gguf.string("general.architecture")
        let model: any LanguageModel
        switch arch {
        case "llama": model = try LlamaModel(gguf: gguf, backend: backend)
        case "llama4": model = try Llama4Model.load(gguf: gguf, backend: backend)
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
        return LoadedModel(path: path, model: model, tokenizer: tokenizer, chatFormat: format, chatFormatError: formatError, gguf: gguf,
                           checkpoint: nil)
    }

    /// A Hugging Face checkpoint directory: config.json (Llama 4), safetensors weights, tokenizer.json, and
    /// the chat template from tokenizer_config.json or chat_template.jinja.
    public static func loadCheckpoint(directory: String, backend: any ComputeBackend) throws -> LoadedModel {
        let dir = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let configPath = dir + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelFileError(dir, "not a model directory: no config.json")
        }
        let config = try Llama4CheckpointConfig(path: configPath)
        let checkpoint = try HFCheckpoint(directory: dir)
        let model = try Llama4Model.load(checkpoint: checkpoint, config: config, backend: backend)

        let (tokenizer, loadedTokenizerConfig) = try loadHFTokenizer(directory: dir)
        var tokenizerConfig = loadedTokenizerConfig
        // The embedding table may be padded past the tokenizer's ids, never the other way round.
        guard tokenizer.vocabSize <= model.vocabularySize else {
            throw ModelFileError(dir + "/tokenizer.json", "tokenizer has \(tokenizer.vocabSize) tokens but the embedding table has \(model.vocabularySize) rows")
        }
        if tokenizerConfig.chatTemplate == nil, let jinja = try? String(contentsOfFile: dir + "/chat_template.jinja", encoding: .utf8) {
            tokenizerConfig.chatTemplate = jinja
        }
        var format: ChatFormat? = nil, formatError: String? = nil
        do { format = try ChatFormat.detect(template: tokenizerConfig.chatTemplate) } catch {
            formatError = "\(error)"
        }
        return LoadedModel(path: dir, model: model, tokenizer: tokenizer, chatFormat: format, chatFormatError: formatError,
                           gguf: nil, checkpoint: checkpoint)
    }

    /// A synthetic Llama 4 model: seeded weights generated on `backend`, a synthetic tokenizer, Llama 4 chat.
    public static func loadSynthetic(_ spec: SyntheticModelSpec, backend: any ComputeBackend) throws -> LoadedModel {
        let model = try Llama4Model.synthetic(spec, backend: backend)
        let tokenizer: BPETokenizer
        do { tokenizer = try BPETokenizer.synthetic(vocabSize: spec.config.vocabSize) } catch {
            throw ModelFileError(spec.text, "synthetic tokenizer: \(error)")
        }
        return LoadedModel(path: spec.text, model: model, tokenizer: tokenizer, chatFormat: .llama4, chatFormatError: nil,
                           gguf: nil, checkpoint: nil)
    }

    /// tokenizer.json with the special-token names of tokenizer_config.json (when present).
    static func loadHFTokenizer(directory dir: String) throws(ModelFileError) -> (BPETokenizer, HFTokenizerConfig) {
        let configPath = dir + "/tokenizer_config.json"
        let result = Result { () throws(HFTokenizerError) -> (BPETokenizer, HFTokenizerConfig) in
            let config = FileManager.default.fileExists(atPath: configPath) ? try HFTokenizerConfig.load(path: configPath) : HFTokenizerConfig()
            let tokenizer = try HFTokenizerJSON.load(path: dir + "/tokenizer.json", bosToken: config.bosToken, eosToken: config.eosToken)
            return (tokenizer, config)
        }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw ModelFileError(error.path, error.reason)
        }
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
