extension BPETokenizer {
    /// The Llama 4 special tokens, in id order from the first special id (200000 in Llama 4's vocabulary).
    public static let llama4SpecialTokens = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
        "<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>",
    ]

    /// A real, working byte-level BPE tokenizer of exactly `vocabSize` tokens for synthetic models, which
    /// have no tokenizer file: ids 0-255 are the bytes; then merged tokens over the alphabet
    /// " etaoinshrdlcumwfgypbvkjxqz" (all pairs, all triples, then quadruples, each merge rule
    /// "prefix + last letter" ranked by id), so every id is reachable from text and decodes to text; then
    /// Llama 4's special tokens (at 200000 when the vocabulary is Llama 4's 202048 or larger, else in the
    /// last 16 ids) padded with reserved specials. The Llama 4 chat format works with it unchanged.
    public static func synthetic(vocabSize: Int) throws(TokenizerError) -> BPETokenizer {
        let specialCount = vocabSize >= 202_048 ? vocabSize - 200_000 : 16
        let mergedCount = vocabSize - 256 - specialCount
        guard mergedCount >= 0 else { throw .emptyVocabulary }
        let alphabet = Array(" etaoinshrdlcumwfgypbvkjxqz".utf8)
        var tokens = (0..<256).map { ByteAlphabet.spelling(of: [UInt8($0)]) }
        var merges: [String] = []
        tokens.reserveCapacity(vocabSize)
        merges.reserveCapacity(mergedCount)
        // Breadth-first over lengths: every prefix of a token is itself an earlier token.
        var previous: [[UInt8]] = alphabet.map { [$0] }
        generation: while true {
            var next: [[UInt8]] = []
            for prefix in previous {
                for letter in alphabet {
                    guard merges.count < mergedCount else { break generation }
                    let word = prefix + [letter]
                    merges.append(ByteAlphabet.spelling(of: prefix) + " " + ByteAlphabet.spelling(of: [letter]))
                    tokens.append(ByteAlphabet.spelling(of: word))
                    next.append(word)
                }
            }
            previous = next
        }
        let named = llama4SpecialTokens
        for i in 0..<specialCount {
            tokens.append(i < named.count ? named[i] : "<|reserved_special_token_\(i - named.count)|>")
        }
        let types = [Int32](repeating: TokenType.normal, count: 256 + mergedCount)
            + [Int32](repeating: TokenType.control, count: specialCount)
        let firstSpecial = 256 + mergedCount
        return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: .gpt4o,
                                bosID: firstSpecial, eosID: firstSpecial + 8, addBOS: true)
    }
}

extension ByteAlphabet {
    /// The byte-alphabet spelling of raw bytes.
    static func spelling(of bytes: [UInt8]) -> String {
        String(decoding: bytes.flatMap { spellingForByte[Int($0)] }, as: UTF8.self)
    }
}
