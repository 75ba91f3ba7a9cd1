import Testing
import Tokenizer

@Suite struct StreamingDecoderTests {
    /// Emoji and CJK are split over several byte tokens by SmolLM2's vocabulary; streaming token by token
    /// must never show a broken character and must add up to the whole text.
    @Test(arguments: ["family 👨‍👩‍👧‍👦 and 👍🏽 ok", "中文测试：你好，世界！", "🇺🇸🇯🇵 1️⃣ e\u{301}"])
    func tokensSplittingCharactersStreamCleanly(text: String) throws {
        let tokenizer = try SmolLM2Vocabulary.tokenizer(.smollm)
        let ids = tokenizer.encode(text)
        let partialTokens = ids.filter { String(validating: tokenizer.tokenBytes($0), as: UTF8.self) == nil }
        #expect(!partialTokens.isEmpty, "the text should exercise tokens that hold part of a character")

        var decoder = StreamingDecoder()
        var streamed = ""
        for id in ids {
            let chunk = decoder.push(tokenizer.tokenBytes(id))
            #expect(!chunk.unicodeScalars.contains("\u{FFFD}"))
            streamed += chunk
        }
        streamed += decoder.flush()
        #expect(streamed == text)
    }

    @Test func holdsBackAnIncompleteSequenceByteByByte() {
        var decoder = StreamingDecoder()
        let bytes = Array("a😀b".utf8)
        #expect(decoder.push([bytes[0], bytes[1]]) == "a")
        #expect(decoder.push([bytes[2]]) == "")
        #expect(decoder.push([bytes[3]]) == "")
        #expect(decoder.push([bytes[4], bytes[5]]) == "😀b")
        #expect(decoder.flush() == "")
    }

    @Test func invalidBytesComeOutAtOnceAsReplacementCharacters() {
        var decoder = StreamingDecoder()
        #expect(decoder.push([0x61, 0xFF]) == "a\u{FFFD}")
        // E0 80 can never start a valid sequence: not held back.
        #expect(decoder.push([0xE0, 0x80]) == "\u{FFFD}\u{FFFD}")
        #expect(decoder.push([0xE2, 0x82]) == "")
        #expect(decoder.flush() == "\u{FFFD}")
        #expect(decoder.flush() == "")
    }

    /// Any way of cutting a byte stream gives the same text as decoding it whole.
    @Test func chunkedDecodingEqualsWholeDecoding() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [[UInt8]] = [[0x61], Array("é".utf8), Array("中".utf8), Array("😀".utf8), [0xFF], [0x80],
                                   [0xE2, 0x82], [0xF0, 0x9F], [0xED, 0xA0, 0x80], [0xC0, 0xAF]]
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0...12, using: &generator)).flatMap { _ in
                alphabet.randomElement(using: &generator)!
            }
            var decoder = StreamingDecoder()
            var text = ""
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...4, using: &generator)
                text += decoder.push(Array(bytes[i..<min(i + n, bytes.count)]))
                i += n
            }
            text += decoder.flush()
            #expect(text == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }
}
