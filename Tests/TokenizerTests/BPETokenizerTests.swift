import Foundation
import Testing
import Tokenizer

@Suite struct BPETokenizerTests {
    @Test func vocabularyAccessors() throws {
        let vocab = try SmolLM2Vocabulary.shared.get()
        #expect(try PreTokenizer(ggufName: vocab.pre) == .smollm)
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        #expect(tokenizer.vocabSize == 49152)
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && !tokenizer.addBOS)
        #expect(tokenizer.id(of: "<|im_start|>") == 1)
        #expect(tokenizer.id(of: "Ġthe") != nil)
        #expect(tokenizer.id(of: " the") == nil)  // ordinary tokens are spelled in the byte alphabet
        #expect(tokenizer.isSpecial(0) && tokenizer.isSpecial(2) && tokenizer.isControl(2))
        #expect(!tokenizer.isSpecial(tokenizer.id(of: "Ġthe")!) && !tokenizer.isSpecial(-1) && !tokenizer.isSpecial(1 << 20))
        #expect(tokenizer.tokenBytes(tokenizer.id(of: "Ġthe")!) == Array(" the".utf8))
        #expect(tokenizer.tokenBytes(2) == Array("<|im_end|>".utf8))
        #expect(tokenizer.tokenBytes(-1).isEmpty && tokenizer.tokenBytes(49152).isEmpty)
        #expect(tokenizer.encode("").isEmpty)
        #expect(tokenizer.decode([-5, 49152]).isEmpty)
    }

    @Test func encodeNeverAddsBOS() throws {
        var tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        tokenizer.addBOS = true
        #expect(tokenizer.encode("hello").first != tokenizer.bosID)
    }

    @Test func decodeReplacesInvalidUTF8() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        let ids = tokenizer.encode("😀")
        #expect(ids.count > 1)
        #expect(tokenizer.decode(Array(ids.dropLast())).unicodeScalars.last == "\u{FFFD}")
    }

    /// USER_DEFINED tokens are matched even without special-token parsing; CONTROL tokens only with it.
    @Test func userDefinedTokensAlwaysMatch() throws {
        let tokens = ["a", "b", "ab", "<ctl>", "<usr>", "<", ">", "c", "t", "l"]
        let types: [Int32] = [1, 1, 1, 3, 4, 1, 1, 1, 1, 1]
        let tokenizer = try BPETokenizer(tokens: tokens, tokenTypes: types, merges: ["a b"], preTokenizer: .gpt2,
                                         bosID: nil, eosID: nil, addBOS: false)
        #expect(tokenizer.encode("ab<usr><ctl>") == [2, 4, 3])
        #expect(tokenizer.encode("ab<usr><ctl>", parseSpecial: false) == [2, 4, 5, 7, 8, 9, 6])
        #expect(tokenizer.decode([2, 4, 3], skipSpecial: true) == "ab<usr>")
        #expect(tokenizer.decode([2, 4, 3]) == "ab<usr><ctl>")
    }

    @Test func initRejectsInconsistentInput() {
        #expect(throws: TokenizerError.emptyVocabulary) {
            try BPETokenizer(tokens: [], tokenTypes: nil, merges: [], preTokenizer: .gpt2, bosID: nil, eosID: nil, addBOS: false)
        }
        #expect(throws: TokenizerError.tokenTypeCountMismatch(tokens: 2, types: 1)) {
            try BPETokenizer(tokens: ["a", "b"], tokenTypes: [1], merges: [], preTokenizer: .gpt2,
                             bosID: nil, eosID: nil, addBOS: false)
        }
        #expect(throws: TokenizerError.specialTokenOutOfRange(name: "EOS", id: 7, vocabSize: 2)) {
            try BPETokenizer(tokens: ["a", "b"], tokenTypes: nil, merges: [], preTokenizer: .gpt2,
                             bosID: 0, eosID: 7, addBOS: false)
        }
        #expect(throws: TokenizerError.malformedMerge(index: 0, merge: "ab")) {
            try BPETokenizer(tokens: ["a", "b"], tokenTypes: nil, merges: ["ab"], preTokenizer: .gpt2,
                             bosID: nil, eosID: nil, addBOS: false)
        }
    }

    /// Prints the encoding speed; the bound is loose because debug builds are several times slower than
    /// release (the target, well under 100 ms for 10k words, is for release builds).
    @Test func encodesTenThousandWordsQuickly() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        let text = Self.englishText(words: 10_000)
        _ = tokenizer.encode(String(text.prefix(2_000)))  // warm the lazy tables
        let clock = ContinuousClock()
        var ids: [Int] = []
        let elapsed = clock.measure { ids = tokenizer.encode(text) }
        print("encode: 10k words, \(text.utf8.count) bytes -> \(ids.count) tokens in \(elapsed)")
        #expect(tokenizer.decode(ids) == text)
        #expect(elapsed < .seconds(2))
    }

    static func englishText(words: Int) -> String {
        let vocabulary = """
            the of and to in is was that for it with as his on be at by had are but from or have an they which \
            one you were her all she there would their we him been has when who will more no if out so said what \
            up its about into than them can only other new some could time these two may then do first any my now \
            such like our over man me even most made after also did many before must through back years where much \
            your way well down should because each just those people Mr how too little state good very make world \
            still own see men work long get here between both life being under never day same another know while \
            last might us great old year off come since against go came right used take three tokenizer's engine \
            Herd 2024 llama.cpp don't isn't (parentheses) "quoted" numbers: 3.14, 42; e-mail café naïve
            """.split(whereSeparator: \.isWhitespace)
        var generator = SeededGenerator(seed: 42)
        var out = ""
        for i in 0..<words {
            out += vocabulary[Int(generator.next() % UInt64(vocabulary.count))]
            out += i % 17 == 16 ? ".\n" : " "
        }
        return out
    }
}

/// SplitMix64, so the benchmark text is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
