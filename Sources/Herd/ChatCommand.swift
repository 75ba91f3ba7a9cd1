import ArgumentParser
import Engine
import Foundation
import Models
import Tokenizer

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with the model line by line in the terminal (no full-screen console; reads stdin, so it also works in pipes).",
        discussion: "Type a message and press Enter; the answer streams in. /reset clears the conversation, /quit (or Ctrl-D) leaves.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .long, help: "System message (default: the chat template's own, if any).")
    var system: String?

    func run() throws {
        let loaded = try modelOptions.load()
        guard let format = loaded.chatFormat else {
            throw CLIError("\(loaded.path): chat needs a chat template: \(loaded.chatFormatError ?? "none found")")
        }
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer, chatFormat: format)
        let interactive = isatty(STDIN_FILENO) != 0
        var history: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        let name = loaded.name
        if interactive {
            emit("herd chat: \(name) on \(loaded.model.backend.description). /reset clears, /quit leaves.\n")
        }
        while true {
            if interactive { emit("\n> ") }
            guard let line = readLine() else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/quit" || input == "/exit" { break }
            if input == "/reset" { history.removeAll { $0.role != "system" }; emit("(conversation cleared)\n"); continue }

            history.append(ChatMessage(role: "user", content: input))
            var ids = loaded.tokenizer.encode(format.render(history)).map(Int32.init)
            // Keep the conversation inside the context: drop the oldest turns first.
            let budget = loaded.model.contextLength - sampling.maxTokens
            while ids.count > budget, let first = history.firstIndex(where: { $0.role != "system" }), history.count > 1 {
                history.remove(at: first)
                ids = loaded.tokenizer.encode(format.render(history)).map(Int32.init)
            }
            let request = GenerationRequest(
                promptTokens: ids, maxTokens: sampling.maxTokens,
                sampling: SamplingParameters(temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                                             minP: sampling.minP, seed: sampling.seed),
                stop: sampling.stop, ignoreEOS: sampling.ignoreEOS)
            do {
                let result = try generator.generate(request) { piece in
                    emit(piece)
                    return true
                }
                emit("\n")
                history.append(ChatMessage(role: "assistant", content: result.text))
            } catch {
                emit("error: \(error)\n")
                history.removeLast()
            }
        }
    }
}
