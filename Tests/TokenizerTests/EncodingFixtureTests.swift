import Testing
import Tokenizer

/// The Swift tokenizer against Hugging Face `tokenizers` on SmolLM2's real vocabulary, for every
/// pre-tokenizer kind (fixture cases plus seeded random strings of tricky characters).
@Suite struct EncodingFixtureTests {
    static let kinds = PreTokenizer.allCases

    private func allCases() throws -> [TokenizerFixture.Case] {
        let fixture = try TokenizerFixture.load()
        return fixture.cases + fixture.fuzzCases
    }

    @Test(arguments: kinds)
    func piecesMatchHuggingFace(kind: PreTokenizer) throws {
        for fixtureCase in try allCases() {
            // HF pre-tokenizes the text between special tokens; split sees plain text only.
            guard !fixtureCase.text.contains("<|im_") && !fixtureCase.text.contains("<|endoftext|>")
                    && !fixtureCase.text.contains("<repo_name>") else { continue }
            let pieces = kind.split(fixtureCase.text).map(String.init)
            #expect(pieces == fixtureCase.pieces[kind.rawValue], "\(kind) \(fixtureCase.text.debugDescription)")
        }
    }

    @Test(arguments: kinds)
    func idsMatchHuggingFace(kind: PreTokenizer) throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(kind)
        var checked = 0
        for fixtureCase in try allCases() {
            let expected = try #require(fixtureCase.ids[kind.rawValue])
            #expect(tokenizer.encode(fixtureCase.text) == expected, "\(kind) \(fixtureCase.text.debugDescription)")
            checked += 1
        }
        #expect(checked >= 120)
    }

    @Test func specialTokensAsPlainTextMatchHuggingFace() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        for fixtureCase in try allCases() {
            #expect(tokenizer.encode(fixtureCase.text, parseSpecial: false) == fixtureCase.idsNoSpecial,
                    "\(fixtureCase.text.debugDescription)")
        }
    }

    @Test func decodeMatchesHuggingFaceAndRoundTrips() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        for fixtureCase in try allCases() {
            let ids = try #require(fixtureCase.ids["smollm"])
            #expect(tokenizer.decode(ids) == fixtureCase.decoded)
            #expect(tokenizer.decode(ids, skipSpecial: true) == fixtureCase.decodedSkipSpecial)
            // Byte-level BPE is lossless, whichever way the text was split.
            for kind in Self.kinds {
                let tokenizer = try SmolLM2Vocabulary.tokenizer(kind)
                #expect(tokenizer.decode(tokenizer.encode(fixtureCase.text)) == fixtureCase.text)
                #expect(tokenizer.decode(tokenizer.encode(fixtureCase.text, parseSpecial: false)) == fixtureCase.text)
            }
        }
    }

    /// The piece cache must not change results: encoding twice, and inside other text, gives the same ids.
    @Test func cachedPiecesGiveTheSameIds() throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        let text = try allCases().map(\.text).joined(separator: " | ")
        let first = tokenizer.encode(text)
        #expect(tokenizer.encode(text) == first)
        let copy = tokenizer
        #expect(copy.encode(text) == first)
    }
}
