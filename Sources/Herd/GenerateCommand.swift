import ArgumentParser
import Engine
import Foundation
import Models
import Tokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a continuation of a prompt and stream it to stdout.",
        discussion: "With --chat the prompt is sent as a user message in the model's chat format. With --json one JSON object with prompt_token_ids, token_ids, text, finish_reason and timings is printed instead of streaming."
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "The prompt text.")
    var prompt: String
    @OptionGroup var sampling: SamplingOptions
    @Flag(name: .long, help: "Wrap the prompt as a user message in the model's chat format.")
    var chat = false
    @Option(name: .long, help: "System message for --chat (default: the template's own, if any).")
    var system: String?
    @Flag(name: .long, help: "Print one JSON object instead of streaming text.")
    var json = false

    func run() throws {
        let loaded = try modelOptions.load()
        let text: String
        if chat {
            guard let format = loaded.chatFormat else {
                throw CLIError("\(loaded.path): --chat needs a chat template: \(loaded.chatFormatError ?? "none found")")
            }
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            text = format.render(messages)
        } else {
            text = prompt
        }
        var ids = loaded.tokenizer.encode(text).map(Int32.init)
        if !chat, loaded.tokenizer.addBOS, let bos = loaded.tokenizer.bosID { ids.insert(Int32(bos), at: 0) }

        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer, chatFormat: loaded.chatFormat)
        let request = GenerationRequest(
            promptTokens: ids, maxTokens: sampling.maxTokens,
            sampling: SamplingParameters(temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                                         minP: sampling.minP, seed: sampling.seed),
            stop: sampling.stop, ignoreEOS: sampling.ignoreEOS)
        let result: GenerationResult
        do {
            result = try generator.generate(request) { piece in
                if !json { emit(piece) }
                return true
            }
        } catch let error as EngineError {
            throw CLIError("\(error)")
        }
        if json {
            let out = GenerateJSON(prompt_token_ids: ids, token_ids: result.tokens, text: result.text,
                                   finish_reason: result.finishReason.rawValue,
                                   timings: .init(prompt_seconds: result.promptSeconds, total_seconds: result.totalSeconds,
                                                  prompt_tokens_per_second: result.promptTokensPerSecond,
                                                  generation_tokens_per_second: result.generationTokensPerSecond))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        } else {
            emit("\n")
            FileHandle.standardError.write(Data(String(format: "[%d prompt tokens, %d generated, %.1f tokens/s, finish: %@]\n",
                result.promptTokens, result.tokens.count, result.generationTokensPerSecond, result.finishReason.rawValue).utf8))
        }
    }
}

struct GenerateJSON: Encodable {
    struct Timings: Encodable {
        let prompt_seconds: Double
        let total_seconds: Double
        let prompt_tokens_per_second: Double
        let generation_tokens_per_second: Double
    }
    let prompt_token_ids: [Int32]
    let token_ids: [Int32]
    let text: String
    let finish_reason: String
    let timings: Timings
}
