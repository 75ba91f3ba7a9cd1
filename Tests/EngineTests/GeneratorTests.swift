import ComputeCPU
import Engine
import Models
import TestSupport
import Testing
import Tokenizer

struct GeneratorTests {
    static func tiny() throws -> LoadedModel {
        try ModelLoader.load(path: TinyLlama.writer().write(name: "tiny"), backend: CPUBackend(threads: 1))
    }

    @Test func greedyGenerationIsDeterministicAndRespectsMaxTokens() throws {
        let m = try Self.tiny()
        let g = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        let prompt = m.tokenizer.encode("hello").map(Int32.init)
        let request = GenerationRequest(promptTokens: prompt, maxTokens: 12, sampling: .greedy, ignoreEOS: true)
        let a = try g.generate(request), b = try g.generate(request)
        #expect(a.tokens == b.tokens && a.tokens.count == 12)
        #expect(a.finishReason == .length)
        #expect(a.text == m.tokenizer.decode(a.tokens.map(Int.init)))
    }

    @Test func streamedTextEqualsTheResultText() throws {
        let m = try Self.tiny()
        let g = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        var streamed = ""
        let r = try g.generate(GenerationRequest(promptTokens: [5, 6, 7], maxTokens: 20,
                                                 sampling: SamplingParameters(temperature: 1, seed: 3), ignoreEOS: true)) {
            streamed += $0
            return true
        }
        #expect(streamed == r.text)
    }

    @Test func stopStringEndsGenerationAndIsNotReturned() throws {
        let m = try Self.tiny()
        let g = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        let free = try g.generate(GenerationRequest(promptTokens: [5, 6, 7], maxTokens: 30, sampling: .greedy, ignoreEOS: true))
        let text = free.text
        try #require(text.count > 6, "the tiny model should produce some text: \(text.debugDescription)")
        let stop = String(text.dropFirst(3).prefix(2))
        let r = try g.generate(GenerationRequest(promptTokens: [5, 6, 7], maxTokens: 30, sampling: .greedy, stop: [stop], ignoreEOS: true))
        #expect(r.finishReason == .stop)
        #expect(r.text == String(text[..<text.range(of: stop)!.lowerBound]))
    }

    @Test func badRequestsAreRefused() throws {
        let m = try Self.tiny()
        let g = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        #expect(throws: EngineError.emptyPrompt) { try g.generate(GenerationRequest(promptTokens: [])) }
        #expect(throws: EngineError.contextTooLong(promptTokens: 100, maxTokens: 100, maxModelLen: 128)) {
            try g.generate(GenerationRequest(promptTokens: [Int32](repeating: 5, count: 100), maxTokens: 100))
        }
        #expect(throws: EngineError.self) { try g.generate(GenerationRequest(promptTokens: [99999])) }
        #expect(throws: EngineError.self) { try g.generate(GenerationRequest(promptTokens: [5], maxTokens: 0)) }
    }

    @Test func endOfTurnTokensStopGeneration() throws {
        let m = try Self.tiny()
        let g = Generator(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat)
        // <|endoftext|> (EOS) and <|im_end|> (ChatML end of turn) both stop.
        #expect(g.stopTokens.contains(2))
        #expect(g.stopTokens.contains(Int32(m.tokenizer.id(of: "<|im_end|>")!)))
    }
}
