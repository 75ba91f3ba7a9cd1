import Foundation
import TestSupport
import Tokenizer
import Weights

/// Tests/TokenizerTests/Fixtures/tokenizer_cases.json, written by scripts/make_tokenizer_fixtures.py from
/// Hugging Face `tokenizers` and the real Jinja chat templates.
struct TokenizerFixture: Decodable, Sendable {
    struct Case: Decodable, Sendable {
        let text: String
        /// Pre-tokenizer raw value -> HF's ids / HF's pre-token pieces.
        let ids: [String: [Int]]
        let pieces: [String: [String]]
        /// HF smollm ids with special tokens encoded as plain text.
        let idsNoSpecial: [Int]
        let decoded: String
        let decodedSkipSpecial: String
    }

    struct Message: Decodable, Sendable {
        let role: String
        let content: String
    }

    struct Chat: Decodable, Sendable {
        let format: String
        let messages: [Message]
        let addGenerationPrompt: Bool
        let rendered: String
    }

    let cases: [Case]
    let fuzzCases: [Case]
    let templates: [String: String]
    let chat: [Chat]

    static let shared: Result<TokenizerFixture, any Error> = Result {
        guard let url = Bundle.module.url(forResource: "tokenizer_cases", withExtension: "json",
                                          subdirectory: "Fixtures") else {
            throw FixtureMissing()
        }
        return try JSONDecoder().decode(TokenizerFixture.self, from: Data(contentsOf: url))
    }

    static func load() throws -> TokenizerFixture { try shared.get() }

    struct FixtureMissing: Error, CustomStringConvertible {
        var description: String { "Fixtures/tokenizer_cases.json is missing: run scripts/make_tokenizer_fixtures.py" }
    }
}

/// SmolLM2's vocabulary from the real GGUF, loaded once and shared by all tests.
struct SmolLM2Vocabulary: Sendable {
    let tokens: [String]
    let tokenTypes: [Int32]
    let merges: [String]
    let pre: String
    let bosID: Int
    let eosID: Int
    let chatTemplate: String?

    static let shared: Result<SmolLM2Vocabulary, any Error> = Result {
        let file = try GGUFFile(path: try TestModels.smolLM2Path())
        return SmolLM2Vocabulary(
            tokens: try file.stringArray("tokenizer.ggml.tokens"),
            tokenTypes: try file.int32Array("tokenizer.ggml.token_type"),
            merges: try file.stringArray("tokenizer.ggml.merges"),
            pre: try file.string("tokenizer.ggml.pre"),
            bosID: try file.int("tokenizer.ggml.bos_token_id"),
            eosID: try file.int("tokenizer.ggml.eos_token_id"),
            chatTemplate: file.optionalString("tokenizer.chat_template"))
    }

    /// One tokenizer per pre-tokenizer kind, all over SmolLM2's vocabulary and merges.
    private static let tokenizers: Result<[PreTokenizer: BPETokenizer], any Error> = Result {
        let vocab = try shared.get()
        var result: [PreTokenizer: BPETokenizer] = [:]
        for kind in PreTokenizer.allCases {
            result[kind] = try vocab.tokenizer(kind)
        }
        return result
    }

    func tokenizer(_ kind: PreTokenizer) throws -> BPETokenizer {
        try BPETokenizer(tokens: tokens, tokenTypes: tokenTypes, merges: merges, preTokenizer: kind,
                         bosID: bosID, eosID: eosID, addBOS: false)
    }

    static func tokenizer(_ kind: PreTokenizer) throws -> BPETokenizer {
        try tokenizers.get()[kind]!
    }
}
