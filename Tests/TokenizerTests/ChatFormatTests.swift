import Testing
import Tokenizer

@Suite struct ChatFormatTests {
    static let smolLM2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// Every conversation of the fixture, rendered by the real Jinja templates through transformers.
    @Test func renderingMatchesJinja() throws {
        let fixture = try TokenizerFixture.load()
        var counts: [String: Int] = [:]
        for chat in fixture.chat {
            let format: ChatFormat = switch chat.format {
            case "chatml": .chatML(defaultSystem: Self.smolLM2System)
            case "llama4": .llama4
            case "llama3": .llama3
            default: throw UnknownFormat(name: chat.format)
            }
            let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            #expect(format.render(messages, addGenerationPrompt: chat.addGenerationPrompt) == chat.rendered,
                    "\(chat.format) \(messages)")
            counts[chat.format, default: 0] += 1
        }
        #expect(counts["chatml", default: 0] >= 10 && counts["llama4", default: 0] >= 10
                && counts["llama3", default: 0] >= 10)
    }

    struct UnknownFormat: Error { let name: String }

    @Test func detectsSmolLM2FromItsGGUFTemplate() throws {
        let template = try SmolLM2Vocabulary.shared.get().chatTemplate
        let format = try ChatFormat.detect(template: template)
        #expect(format == .chatML(defaultSystem: Self.smolLM2System))
        #expect(format.name == "chatml")
        #expect(format.stopStrings == ["<|im_end|>"])
    }

    @Test func detectsTheFixtureTemplates() throws {
        let templates = try TokenizerFixture.load().templates
        #expect(try ChatFormat.detect(template: templates["chatml"]) == .chatML(defaultSystem: Self.smolLM2System))
        #expect(try ChatFormat.detect(template: templates["llama4"]) == .llama4)
        #expect(try ChatFormat.detect(template: templates["llama3"]) == .llama3)
    }

    @Test func detectsTemplateSnippets() throws {
        #expect(try ChatFormat.detect(template: "{{ '<|header_start|>' + message['role'] }}") == .llama4)
        #expect(try ChatFormat.detect(template: "{{ '<|start_header_id|>' + message['role'] }}") == .llama3)
        // ChatML whose system block is the caller's message, not a default: no default system prompt.
        let qwenLike = "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
        #expect(try ChatFormat.detect(template: qwenLike) == .chatML(defaultSystem: nil))
        // A default written with `\n` escapes, after an expression block.
        let withDefault = qwenLike + "{%- else %}{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}"
        #expect(try ChatFormat.detect(template: withDefault) == .chatML(defaultSystem: "You are Qwen."))
        #expect(try ChatFormat.detect(template: "{{'<|im_start|>' + m.role}}") == .chatML(defaultSystem: nil))
    }

    @Test func rejectsMissingAndUnknownTemplates() {
        #expect(throws: TokenizerError.noChatTemplate) { try ChatFormat.detect(template: nil) }
        #expect(throws: TokenizerError.noChatTemplate) { try ChatFormat.detect(template: " \n") }
        let garbage = String(repeating: "[INST] {{ message['content'] }} [/INST] ", count: 4)
        #expect(throws: TokenizerError.unsupportedChatTemplate(prefix: String(garbage.prefix(60)))) {
            try ChatFormat.detect(template: garbage)
        }
        #expect(TokenizerError.noChatTemplate.description == "model has no chat template")
    }

    @Test func stopStringsAndNames() {
        #expect(ChatFormat.llama4.stopStrings == ["<|eot|>", "<|eom|>", "<|end_of_text|>"])
        #expect(ChatFormat.llama3.stopStrings == ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"])
        #expect(ChatFormat.llama4.name == "llama4" && ChatFormat.llama3.name == "llama3")
    }

    /// The rendered prompt's markers become single special tokens when encoded.
    @Test func renderedChatMLEncodesMarkersAsSpecialTokens() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        let prompt = ChatFormat.chatML(defaultSystem: nil).render([ChatMessage(role: "user", content: "Hi")])
        let ids = tokenizer.encode(prompt)
        let start = try #require(tokenizer.id(of: "<|im_start|>"))
        let end = try #require(tokenizer.id(of: "<|im_end|>"))
        #expect(ids.first == start)
        #expect(ids.filter { $0 == start }.count == 2 && ids.filter { $0 == end }.count == 1)
        #expect(tokenizer.decode(ids) == prompt)
    }
}
