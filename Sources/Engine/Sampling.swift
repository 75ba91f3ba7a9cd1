import Foundation

/// How to pick each next token. Defaults follow vLLM's (temperature 1, no truncation).
public struct SamplingParameters: Sendable, Equatable {
    /// 0 picks the most likely token (greedy).
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability reaches p (1: all).
    public var topP: Float = 1
    /// Drop tokens less likely than minP times the most likely one (0: none).
    public var minP: Float = 0
    /// Random seed for reproducible sampling (nil: from the system).
    public var seed: UInt64?

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
    }

    public static let greedy = SamplingParameters(temperature: 0)

    /// Checks ranges; the message names the parameter, as an API error would.
    public func validate() throws(EngineError) {
        guard temperature.isFinite, temperature >= 0 else { throw .invalidParameter("temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw .invalidParameter("top_k must be >= 0 (0 disables it), got \(topK)") }
        guard topP > 0, topP <= 1 else { throw .invalidParameter("top_p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw .invalidParameter("min_p must be in [0, 1], got \(minP)") }
    }
}

/// xoshiro256** seeded through SplitMix64: small, fast, and the same stream on every platform, so a
/// seed reproduces a sample exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) * 0x1p-24 }
}

/// Picks tokens from logits: temperature, then top-k, top-p and min-p truncation, then a draw.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    public mutating func sample(_ logits: ArraySlice<Float>) -> Int {
        let base = logits.startIndex
        if parameters.temperature == 0 { return argmax(logits) - base }
        let invT = 1 / parameters.temperature
        if parameters.topK <= 0 && parameters.topP >= 1 && parameters.minP <= 0 { return sampleSoftmax(logits, invT: invT) }
        // Candidates sorted by logit: the top k only when k is small (a bounded insertion), else all.
        var candidates: [(id: Int, logit: Float)]
        if parameters.topK > 0 && parameters.topK <= 256 {
            candidates = Self.topCandidates(logits, k: parameters.topK)
        } else {
            candidates = logits.indices.map { ($0 - base, logits[$0]) }
            candidates.sort { $0.logit > $1.logit }
            if parameters.topK > 0 && parameters.topK < candidates.count { candidates.removeLast(candidates.count - parameters.topK) }
        }
        let top = candidates[0].logit
        var probs = candidates.map { exp(($0.logit - top) * invT) }
        var total = probs.reduce(0, +)
        if parameters.topP < 1 {
            var cumulative: Float = 0, keep = probs.count
            for (i, p) in probs.enumerated() {
                cumulative += p / total
                if cumulative >= parameters.topP { keep = i + 1; break }
            }
            probs.removeLast(probs.count - keep)
        }
        if parameters.minP > 0 {
            let floor = parameters.minP * probs[0]  // probs[0] is the largest
            let keep = probs.firstIndex { $0 < floor } ?? probs.count
            probs.removeLast(probs.count - max(keep, 1))
        }
        total = probs.reduce(0, +)
        var r = rng.nextUnit() * total
        for (i, p) in probs.enumerated() {
            r -= p
            if r < 0 { return candidates[i].id }
        }
        return candidates[probs.count - 1].id
    }
}

extension Sampler {
    /// A draw from the whole softmax at temperature 1/invT, in id order: O(vocab), no sort, no allocation
    /// beyond one buffer (Llama 4's vocabulary has 202048 entries per row per step).
    private mutating func sampleSoftmax(_ logits: ArraySlice<Float>, invT: Float) -> Int {
        let base = logits.startIndex
        var top = -Float.infinity
        for l in logits where l > top { top = l }
        var total: Float = 0
        for l in logits { total += exp((l - top) * invT) }
        var r = rng.nextUnit() * total
        var last = argmax(logits)
        for i in logits.indices {
            let p = exp((logits[i] - top) * invT)
            if p > 0 { last = i }
            r -= p
            if r < 0 { return i - base }
        }
        return last - base  // rounding left a remainder: the last token with any probability
    }

    /// The k largest logits, largest first (equal logits: the lower id first), in one pass.
    static func topCandidates(_ logits: ArraySlice<Float>, k: Int) -> [(id: Int, logit: Float)] {
        let base = logits.startIndex
        var best: [(id: Int, logit: Float)] = []
        best.reserveCapacity(k + 1)
        for i in logits.indices {
            let l = logits[i]
            if best.count == k, let worst = best.last, !(l > worst.logit) { continue }
            var at = best.count
            while at > 0 && best[at - 1].logit < l { at -= 1 }
            best.insert((i - base, l), at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

func argmax(_ x: ArraySlice<Float>) -> Int {
    var best = x.startIndex, value = -Float.infinity
    for i in x.indices where x[i] > value { value = x[i]; best = i }
    return best
}
