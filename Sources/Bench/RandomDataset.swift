import Tokenizer

/// One benchmark request: the prompt text and how long it should be and generate.
public struct BenchPrompt: Sendable {
    public let text: String
    /// Tokens of the prompt's re-encoding (no special tokens), as vLLM counts it before the server does.
    public let promptLength: Int
    public let outputLength: Int
}

/// vLLM's `RandomDataset`: runs of consecutive vocabulary ids (special ids left out) after an optional
/// shared prefix, lengths drawn uniformly around the targets, then decoded to text and re-encoded until
/// the length is right (see ../shared/docs/serving-semantics.md §2.3). The random stream is Herd's own
/// (not NumPy's), so prompts differ from vLLM's in content but not in shape.
public struct RandomDataset: Sendable {
    public var inputLength: Int
    public var outputLength: Int
    public var rangeRatio: Double
    public var prefixLength: Int
    public var seed: UInt64

    public init(inputLength: Int, outputLength: Int, rangeRatio: Double = 0, prefixLength: Int = 0, seed: UInt64 = 0) {
        self.inputLength = inputLength
        self.outputLength = outputLength
        self.rangeRatio = rangeRatio
        self.prefixLength = prefixLength
        self.seed = seed
    }

    public func sample(count: Int, tokenizer: BPETokenizer) -> [BenchPrompt] {
        var rng = SplitMix(seed: seed)
        let vocab = tokenizer.vocabSize
        let allowed = (0..<vocab).filter { !tokenizer.isSpecial($0) }
        let special = tokenizer.addBOS && tokenizer.bosID != nil ? 1 : 0
        let real = max(1, inputLength - special)
        func range(_ l: Int, atLeastOne: Bool) -> ClosedRange<Int> {
            var lo = Int((Double(l) * (1 - rangeRatio)).rounded(.down)), hi = Int((Double(l) * (1 + rangeRatio)).rounded(.up))
            if atLeastOne { lo = max(1, lo); hi = max(1, hi) }
            return max(0, lo)...max(lo, hi)
        }
        let prefix = (0..<prefixLength).map { _ in allowed[Int(rng.next() % UInt64(allowed.count))] }
        var prompts: [BenchPrompt] = []
        for i in 0..<count {
            let length = Int.random(in: range(real, atLeastOne: true), using: &rng)
            let output = Int.random(in: range(outputLength, atLeastOne: true), using: &rng)
            let offset = Int(rng.next() % UInt64(vocab))
            var ids = prefix + (0..<length).map { allowed[(offset + i + $0) % allowed.count] }
            let target = prefixLength + length
            var text = tokenizer.decode(ids)
            // Decode / re-encode until the re-encoding has the target length (at most 10 tries).
            for _ in 0..<10 {
                let again = tokenizer.encode(text, parseSpecial: false)
                if again.count == target { ids = again; break }
                if again.count < target {
                    ids = again + (0..<(target - again.count)).map { _ in allowed[Int(rng.next() % UInt64(allowed.count))] }
                } else {
                    ids = Array(again.prefix(target))
                }
                text = tokenizer.decode(ids)
            }
            prompts.append(BenchPrompt(text: text, promptLength: tokenizer.encode(text, parseSpecial: false).count, outputLength: output))
        }
        return prompts
    }
}

/// A small seeded generator (SplitMix64): the dataset and arrival times repeat for a given --seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed ^ 0x5DEE_CE66_D1CE_4E5B }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
