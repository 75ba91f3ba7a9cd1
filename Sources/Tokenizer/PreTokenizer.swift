/// How text is cut into pieces before BPE runs on each piece: the regexes of GPT-2, SmolLM, Llama 3 and
/// GPT-4o/Llama 4, implemented by hand over Unicode scalars (see `PieceMatchers`).
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Every `\p{N}` scalar on its own (HF `Digits(individual_digits=True)`), then `gpt2` on what is between.
    case smollm
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// GPT-4o's cased-word regex, also Llama 4's.
    case gpt4o

    /// Maps llama.cpp's `tokenizer.ggml.pre` names.
    public init(ggufName: String) throws(TokenizerError) {
        switch ggufName {
        case "default", "gpt2", "gpt-2": self = .gpt2
        case "smollm": self = .smollm
        case "llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx": self = .llama3
        case "gpt-4o", "llama4": self = .gpt4o
        default: throw .unknownPreTokenizer(ggufName)
        }
    }

    /// The tiktoken-derived vocabularies (Llama 3, Llama 4) look a whole piece up before merging, as
    /// HF's converter sets `ignore_merges` for them; GPT-2-style vocabularies always merge.
    var ignoresMerges: Bool { self == .llama3 || self == .gpt4o }

    /// The pieces `text` is cut into (special tokens are not treated specially here).
    public func split(_ text: String) -> [Substring] {
        let ranges = Array(text.utf8).withUnsafeBufferPointer { buffer in
            var ranges: [Range<Int>] = []
            appendPieces(of: ScalarText(buffer, 0..<buffer.count), to: &ranges)
            return ranges
        }
        var pieces: [Substring] = []
        var index = text.startIndex
        for range in ranges {
            let end = text.utf8.index(index, offsetBy: range.count)
            pieces.append(text[index..<end])
            index = end
        }
        return pieces
    }

    /// Appends the byte ranges (in the coordinates of `text.offsets`) of all pieces of `text`.
    func appendPieces(of text: ScalarText, to pieces: inout [Range<Int>]) {
        switch self {
        case .gpt2:
            scan(text, 0, text.count, PieceMatchers.gpt2, into: &pieces)
        case .smollm:
            var start = 0
            for i in 0..<text.count where text.has(i, .number) {
                scan(text, start, i, PieceMatchers.gpt2, into: &pieces)
                pieces.append(text.offsets[i]..<text.offsets[i + 1])
                start = i + 1
            }
            scan(text, start, text.count, PieceMatchers.gpt2, into: &pieces)
        case .llama3:
            scan(text, 0, text.count, PieceMatchers.llama3, into: &pieces)
        case .gpt4o:
            scan(text, 0, text.count, PieceMatchers.gpt4o, into: &pieces)
        }
    }

    /// Cuts scalars `start..<end` into consecutive matches, like a regex `find_iter` whose alternatives
    /// cover every scalar (so there are never unmatched gaps).
    private func scan(_ text: ScalarText, _ start: Int, _ end: Int,
                      _ match: (ScalarText, Int, Int) -> Int, into pieces: inout [Range<Int>]) {
        var i = start
        while i < end {
            let next = max(match(text, i, end), i + 1)
            pieces.append(text.offsets[i]..<text.offsets[next])
            i = next
        }
    }
}
