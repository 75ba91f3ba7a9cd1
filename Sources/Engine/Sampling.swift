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
///
/// Runs once per sequence per step over the whole vocabulary (49152 logits for SmolLM2), so it avoids
/// sorting the vocabulary: plain temperature sampling draws from the running softmax sum in token order,
/// and truncation sorts only the tokens that can survive it.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    var rng: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    public mutating func sample(_ logits: ArraySlice<Float>) -> Int {
        if parameters.temperature == 0 { return argmax(logits) - logits.startIndex }
        return logits.withUnsafeBufferPointer { sample($0) }
    }

    private mutating func sample(_ x: UnsafeBufferPointer<Float>) -> Int {
        let p = parameters
        let invT = 1 / p.temperature
        var top = -Float.infinity
        for v in x where v > top { top = v }
        // Unnormalized probabilities relative to the most likely token (which gets 1).
        @inline(__always) func weight(_ v: Float) -> Float { exp((v - top) * invT) }
        let topK = p.topK > 0 && p.topK < x.count ? p.topK : 0
        // The softmax's denominator over the tokens top-k keeps (all of them without top-k).
        var total: Float = 0
        if topK == 0 { total = Self.weightSum(x, top: top, invT: invT, range: 0..<x.count) }
        if topK == 0 && p.topP >= 1 && p.minP <= 0 {
            // Draw r in [0, total) and walk the running sum in token order, 64 tokens at a time.
            var r = rng.nextUnit() * total
            var i = 0
            while i < x.count {
                let end = min(i + 64, x.count)
                let chunk = Self.weightSum(x, top: top, invT: invT, range: i..<end)
                if r < chunk || end == x.count {
                    for j in i..<end {
                        r -= weight(x[j])
                        if r < 0 { return j }
                    }
                    // rounding left r >= 0 inside the chunk: its last token with weight, else the best
                    return (i..<end).last { weight(x[$0]) > 0 } ?? argmax(x)
                }
                r -= chunk
                i = end
            }
            return argmax(x)
        }
        // Candidates sorted by logit: the k best, or every token that top-p and min-p could keep.
        var candidates: [(id: Int, logit: Float)]
        if topK > 0 {
            candidates = Self.best(topK, of: x)
            for c in candidates { total += weight(c.logit) }
        } else {
            // Only tokens that top-p and min-p could keep are listed and sorted: those whose weight reaches
            // `floor`. min-p drops weights below minP (the top weight is 1); for top-p, the tokens of weight
            // >= t hold the whole nucleus once they hold top-p of the mass (a margin covers rounding).
            var floor = p.minP
            if p.topP < 1 {
                var t: Float = 1e-2
                while t > 1e-12 {
                    let cut = top + log(t) / invT
                    var mass: Float = 0
                    for v in x where v >= cut { mass += weight(v) }
                    if mass >= p.topP * total * 1.001 { break }
                    t *= 1e-2
                }
                if t > 1e-12 { floor = max(floor, t) }
            }
            // A logit cut a little below the floor: a superset; the exact rules below decide.
            let cut = floor > 0 ? top + log(floor) / invT - 1e-3 / invT : -Float.infinity
            candidates = []
            for i in 0..<x.count where x[i] >= cut { candidates.append((i, x[i])) }
            candidates.sort { $0.logit > $1.logit }
        }
        var probs = candidates.map { weight($0.logit) }
        if p.topP < 1 {
            var cumulative: Float = 0, keep = probs.count
            for (i, w) in probs.enumerated() {
                cumulative += w / total
                if cumulative >= p.topP { keep = i + 1; break }
            }
            probs.removeLast(probs.count - keep)
        }
        if p.minP > 0 {
            let floor = p.minP * probs[0]  // probs[0] is the largest
            let keep = probs.firstIndex { $0 < floor } ?? probs.count
            probs.removeLast(probs.count - max(keep, 1))
        }
        total = probs.reduce(0, +)
        var r = rng.nextUnit() * total
        for (i, w) in probs.enumerated() {
            r -= w
            if r < 0 { return candidates[i].id }
        }
        return candidates[probs.count - 1].id
    }

    /// Sum of exp((x[i] - top) * invT) over `range`, 16 lanes at a time with a polynomial exp (about 1 ulp):
    /// one sampling pass over a 49152-token vocabulary for every sequence of every step, so it is kept cheap.
    static func weightSum(_ x: UnsafeBufferPointer<Float>, top: Float, invT: Float, range: Range<Int>) -> Float {
        var i = range.lowerBound
        var acc = SIMD16<Float>()
        let raw = UnsafeRawPointer(x.baseAddress!)
        while i + 16 <= range.upperBound {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            acc += exp16((v - top) * invT)
            i += 16
        }
        var total = acc.sum()
        while i < range.upperBound { total += exp((x[i] - top) * invT); i += 1 }
        return total
    }

    /// exp(x) for x <= 0: Cody-Waite reduction and a degree-6 polynomial (the kernels' exp_512); 0 below -87.
    @inline(__always) static func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let x = x.replacing(with: -87.3, where: x .< -87.3)
        // n = round(x / ln 2) by the 1.5 * 2^23 trick: the sum's low mantissa bits are n (no int conversion,
        // which Swift does lane by lane)
        let shifted = x * 1.44269504088896341 + 12582912.0
        let n = shifted - 12582912.0
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = SIMD16<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + (r + 1)
        let k = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((k &+ 127) &<< 23, to: SIMD16<Float>.self)
        return p * scale
    }

    /// The k largest logits with their token ids, largest first (k small: one pass with an insertion list).
    static func best(_ k: Int, of x: UnsafeBufferPointer<Float>) -> [(id: Int, logit: Float)] {
        if k > 256 {
            var all = x.enumerated().map { (id: $0.offset, logit: $0.element) }
            all.sort { $0.logit > $1.logit }
            return Array(all.prefix(k))
        }
        var kept: [(id: Int, logit: Float)] = []
        kept.reserveCapacity(k + 1)
        for i in 0..<x.count {
            let v = x[i]
            if kept.count == k, v <= kept[k - 1].logit { continue }
            var j = kept.count
            while j > 0 && kept[j - 1].logit < v { j -= 1 }
            kept.insert((i, v), at: j)
            if kept.count > k { kept.removeLast() }
        }
        return kept
    }
}

func argmax(_ x: ArraySlice<Float>) -> Int {
    x.withUnsafeBufferPointer { argmax($0) } + x.startIndex
}

/// The first index of the largest value.
func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
    var best = 0, value = -Float.infinity
    for i in 0..<x.count where x[i] > value { value = x[i]; best = i }
    return best
}
