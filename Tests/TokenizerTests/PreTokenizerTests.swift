import Testing
import Tokenizer

@Suite struct PreTokenizerTests {
    @Test(arguments: [
        ("default", PreTokenizer.gpt2), ("gpt2", .gpt2), ("gpt-2", .gpt2), ("smollm", .smollm),
        ("llama3", .llama3), ("llama-v3", .llama3), ("llama-bpe", .llama3), ("smaug-bpe", .llama3),
        ("dbrx", .llama3), ("gpt-4o", .gpt4o), ("llama4", .gpt4o),
    ])
    func mapsGGUFNames(name: String, expected: PreTokenizer) throws {
        #expect(try PreTokenizer(ggufName: name) == expected)
    }

    @Test func unknownGGUFNameIsAnErrorNamingIt() {
        #expect(throws: TokenizerError.unknownPreTokenizer("qwen2")) { try PreTokenizer(ggufName: "qwen2") }
        do {
            _ = try PreTokenizer(ggufName: "deepseek-coder")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("\"deepseek-coder\""))
        }
    }

    /// Hand-checked splits for the subtle regex rules (lookahead give-back, leftmost alternative).
    @Test func whitespaceRunGivesBackItsLastScalar() {
        #expect(PreTokenizer.gpt2.split("a   b") == ["a", "  ", " b"])
        #expect(PreTokenizer.gpt2.split("a \tb") == ["a", " ", "\t", "b"])
        #expect(PreTokenizer.gpt2.split("a   ") == ["a", "   "])
        #expect(PreTokenizer.llama3.split("a \n\n b") == ["a", " \n\n", " b"])
        #expect(PreTokenizer.llama3.split("x\n\n\ty") == ["x", "\n\n", "\ty"])
    }

    @Test func digitsAndContractions() {
        #expect(PreTokenizer.smollm.split("abc 123") == ["abc", " ", "1", "2", "3"])
        #expect(PreTokenizer.gpt2.split("abc 123") == ["abc", " 123"])
        #expect(PreTokenizer.llama3.split("12345") == ["123", "45"])
        #expect(PreTokenizer.gpt2.split("I'LL we'll") == ["I", "'", "LL", " we", "'ll"])
        #expect(PreTokenizer.llama3.split("I'LL we'll") == ["I", "'LL", " we", "'ll"])
        #expect(PreTokenizer.gpt4o.split("I'LL we'll") == ["I'LL", " we'll"])
        #expect(PreTokenizer.gpt4o.split("HTTPServer") == ["HTTPServer"])
        #expect(PreTokenizer.gpt4o.split("camelCase") == ["camel", "Case"])
    }

    @Test func emptyTextHasNoPieces() {
        for kind in PreTokenizer.allCases { #expect(kind.split("").isEmpty) }
    }
}
