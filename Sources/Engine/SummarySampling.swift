import Compute
import Foundation

/// Sampling from a `LogitSummary` (the row's top logits, exp sums and a Gumbel-max draw, made on the
/// device) instead of the whole row, when the summary decides the draw exactly: the same rules as
/// `Sampler.sample(_:)`, applied to the listed tokens only when the tokens that can be kept are all listed.
extension Sampler {
    /// This step's summary request: the temperature and the Gumbel noise key, one draw of the sampler's
    /// generator (none when greedy), so a seeded request draws the same tokens run to run.
    public mutating func summaryRequest() -> LogitSummaryRequest {
        let t = parameters.temperature
        return LogitSummaryRequest(temperature: t, noiseKey: t > 0 ? rng.next() : 0)
    }

    /// The token the summary decides, or nil when the whole row is needed (then sample the row with
    /// `sample(_:)`, which continues this sampler's stream): top-k beyond the summary's list, or a top-p
    /// nucleus / min-p set that may reach past it. `vocabulary` is the row's length.
    ///
    /// - greedy: the top token;
    /// - temperature only: the Gumbel-max draw (an exact sample of softmax(l / T) over the whole row);
    /// - top-k <= listed: the full sampler's draw over the k best (the same floats, the same generator);
    /// - top-p / min-p without top-k: exact when the nucleus closes, or min-p cuts, inside the list
    ///   (the nucleus' mass uses the whole row's exp sum).
    public mutating func sample(from s: LogitSummary, vocabulary: Int) -> Int? {
        let p = parameters
        guard let first = s.topIDs.first, s.maxLogit.isFinite else { return nil }
        if p.temperature == 0 { return Int(first) }
        let topK = p.topK > 0 && p.topK < vocabulary ? p.topK : 0
        if topK == 0 && p.topP >= 1 && p.minP <= 0 { return s.gumbelID >= 0 ? Int(s.gumbelID) : nil }
        let invT = 1 / p.temperature
        let top = s.topLogits[0]
        @inline(__always) func weight(_ v: Float) -> Float { exp((v - top) * invT) }
        // Candidates in the full sampler's order: the k best, or the listed prefix of the sorted row.
        let listed: Int
        var total: Float = 0
        if topK > 0 {
            guard topK <= s.topIDs.count else { return nil }
            listed = topK
            for i in 0..<topK { total += weight(s.topLogits[i]) }
        } else {
            listed = s.topIDs.count
            total = s.expSum
        }
        let probs = (0..<listed).map { weight(s.topLogits[$0]) }
        // How many candidates top-p keeps, when that is decided inside the list (always, with top-k).
        var keepP: Int? = topK > 0 ? listed : nil
        if p.topP < 1 {
            var cumulative: Float = 0
            for (i, w) in probs.enumerated() {
                cumulative += w / total
                if cumulative >= p.topP { keepP = i + 1; break }
            }
        }
        // min-p cuts at the first candidate (before the nucleus ends) below minP times the best.
        var keep = keepP
        if p.minP > 0 {
            let floor = p.minP * probs[0]
            if let cut = probs.prefix(keepP ?? listed).firstIndex(where: { $0 < floor }) { keep = max(cut, 1) }
        }
        guard let kept = keep else { return nil }
        let sum = probs.prefix(kept).reduce(0, +)
        var r = rng.nextUnit() * sum
        for i in 0..<kept {
            r -= probs[i]
            if r < 0 { return Int(s.topIDs[i]) }
        }
        return Int(s.topIDs[kept - 1])
    }
}

extension TokenLogprob {
    /// `compute(_:token:count:)` from a summary: log-softmax through the row's exp sum at T = 1, the
    /// alternatives from its top list. nil when the token's logit or `count` alternatives are not in it.
    public static func compute(summary s: LogitSummary, token: Int32, count: Int, vocabulary: Int) -> TokenLogprob? {
        guard s.maxLogit.isFinite, s.unitExpSum > 0 else { return nil }
        guard count <= s.topIDs.count || s.topIDs.count >= vocabulary else { return nil }
        let logit: Float
        if let i = s.topIDs.firstIndex(of: token) {
            logit = s.topLogits[i]
        } else if token == s.gumbelID {
            logit = s.gumbelLogit
        } else {
            return nil
        }
        let logZ = Float(log(Double(s.unitExpSum))) + s.maxLogit
        let top = (0..<min(count, s.topIDs.count)).map { (token: s.topIDs[$0], logprob: s.topLogits[$0] - logZ) }
        return TokenLogprob(token: token, logprob: logit - logZ, top: top)
    }
}
