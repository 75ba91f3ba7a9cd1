import Engine
import Foundation
import Testing

/// The sampler's shortcuts over a full vocabulary (no sort without truncation; only the tokens that can
/// survive top-p / min-p sorted) against the definition: sort everything, truncate, renormalize.
struct SamplerTruncationTests {
    /// Token probabilities after temperature, top-k, top-p and min-p, by the textbook procedure.
    static func reference(_ logits: [Float], _ p: SamplingParameters) -> [Int: Double] {
        var order = logits.indices.sorted { logits[$0] > logits[$1] }
        if p.topK > 0 && p.topK < order.count { order.removeLast(order.count - p.topK) }
        let top = Double(logits[order[0]])
        var weights = order.map { exp((Double(logits[$0]) - top) / Double(p.temperature)) }
        let total = weights.reduce(0, +)
        if p.topP < 1 {
            var cumulative = 0.0, keep = weights.count
            for (i, w) in weights.enumerated() {
                cumulative += w / total
                if cumulative >= Double(p.topP) { keep = i + 1; break }
            }
            weights.removeLast(weights.count - keep)
        }
        if p.minP > 0 {
            let keep = weights.firstIndex { $0 < Double(p.minP) * weights[0] } ?? weights.count
            weights.removeLast(weights.count - max(keep, 1))
        }
        let kept = weights.reduce(0, +)
        return Dictionary(uniqueKeysWithValues: weights.enumerated().map { (order[$0.offset], $0.element / kept) })
    }

    @Test(arguments: [
        SamplingParameters(temperature: 1, seed: 1),
        SamplingParameters(temperature: 0.7, topK: 5, seed: 2),
        SamplingParameters(temperature: 1, topP: 0.9, seed: 3),
        SamplingParameters(temperature: 1.3, topP: 0.5, seed: 4),
        SamplingParameters(temperature: 1, minP: 0.05, seed: 5),
        SamplingParameters(temperature: 0.8, topK: 300, topP: 0.8, minP: 0.01, seed: 6),
    ])
    func frequenciesMatchTheDefinitionOverALargeVocabulary(p: SamplingParameters) {
        // A vocabulary of 2000 with a handful of likely tokens and a long tail.
        var state: UInt64 = 12345
        let logits: [Float] = (0..<2000).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Float(state >> 40) / Float(1 << 24)
            return i % 397 == 3 ? 6 + 2 * noise : 4 * noise - 2
        }
        let expected = Self.reference(logits, p)
        var sampler = Sampler(p)
        let n = 6000
        var counts: [Int: Int] = [:]
        for _ in 0..<n { counts[sampler.sample(logits[...]), default: 0] += 1 }
        for token in counts.keys {
            #expect(expected[token] != nil, "token \(token) sampled but excluded by the truncation")
        }
        for (token, probability) in expected where probability > 0.02 {
            let observed = Double(counts[token, default: 0]) / Double(n)
            #expect(abs(observed - probability) < 0.025, "token \(token): observed \(observed), expected \(probability)")
        }
    }
}
