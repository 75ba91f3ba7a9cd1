#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one row's summary is asked for (see `ComputeBackend.summarizeLogits`).
public struct LogitSummaryRequest: Sendable, Equatable {
    /// Sampling temperature; 0 is greedy (no Gumbel draw; sums at T = 1).
    public var temperature: Float
    /// Seeds the row's Gumbel noise: noise i is a pure function of (key, i) (`LogitSummary.gumbelNoise`).
    public var noiseKey: UInt64

    public init(temperature: Float, noiseKey: UInt64) {
        self.temperature = temperature
        self.noiseKey = noiseKey
    }

    /// 1 / T, and 1 for greedy rows: the factor logits are scaled by for the sums and the draw.
    public var inverseTemperature: Float { temperature > 0 ? 1 / temperature : 1 }
}

/// A row of logits in a few hundred bytes: enough to sample it exactly in the common cases without
/// copying the whole vocabulary to the host. NaN logits are ignored throughout.
public struct LogitSummary: Sendable, Equatable {
    /// The `top` largest logits and their token ids, largest first, ties to the lower id
    /// (`min(top, vocabulary)` entries; fewer only when the row holds NaNs).
    public var topIDs: [Int32]
    public var topLogits: [Float]
    /// The row's largest logit (-infinity when there is none).
    public var maxLogit: Float
    /// Sum over the whole row of exp((l - max) / T) at the request's temperature (T = 1 when greedy).
    public var expSum: Float
    /// Sum over the whole row of exp(l - max) (T = 1: log-probabilities).
    public var unitExpSum: Float
    /// The Gumbel-max draw: argmax of l / T + g_i over the row (ties to the lower id), an exact sample of
    /// softmax(l / T). Greedy rows: the argmax itself.
    public var gumbelID: Int32
    /// The drawn token's logit.
    public var gumbelLogit: Float

    public init(topIDs: [Int32], topLogits: [Float], maxLogit: Float, expSum: Float, unitExpSum: Float,
                gumbelID: Int32, gumbelLogit: Float) {
        self.topIDs = topIDs
        self.topLogits = topLogits
        self.maxLogit = maxLogit
        self.expSum = expSum
        self.unitExpSum = unitExpSum
        self.gumbelID = gumbelID
        self.gumbelLogit = gumbelLogit
    }

    /// How many top entries a summary holds by default (the GPU kernels hold at most 64).
    public static let defaultTopCount = 64

    /// SplitMix64's finalizer (the kernels' `herd_mix64`).
    @inline(__always) public static func mix64(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard Gumbel noise for token `index` under `key`: g = -log(-log(u)) with u in (0, 1) from 52 bits
    /// of a counter-based hash, in double (u is never 0 or 1; the tail reaches g = 36.7). The kernels'
    /// `herd_gumbel_noise` computes the same thing (up to the last bit of `log`).
    @inline(__always) public static func gumbelNoise(key: UInt64, index: Int) -> Float {
        let h = mix64(key ^ mix64(UInt64(index)))
        let u = (Double(h >> 12) + 0.5) * 0x1p-52
        return Float(-log(-log(u)))
    }

    /// The host twin of the GPU kernels: the summary of one row.
    public static func host(_ row: UnsafeBufferPointer<Float>, request: LogitSummaryRequest, top: Int) -> LogitSummary {
        let n = min(top, row.count)
        let invT = request.inverseTemperature
        // The n best, ordered by (logit descending, id ascending): an insertion list.
        var ids: [Int32] = [], values: [Float] = []
        ids.reserveCapacity(n + 1)
        values.reserveCapacity(n + 1)
        for i in 0..<row.count {
            let v = row[i]
            if v.isNaN || n == 0 { continue }
            if values.count == n, !(v > values[n - 1]) { continue }  // equal: the earlier (lower) id stays
            var j = values.count
            while j > 0 && values[j - 1] < v { j -= 1 }
            values.insert(v, at: j)
            ids.insert(Int32(i), at: j)
            if values.count > n { values.removeLast(); ids.removeLast() }
        }
        let maxLogit = values.first ?? -.infinity
        var sum = 0.0, unitSum = 0.0
        if maxLogit > -.infinity {
            for v in row where !v.isNaN {
                sum += exp(Double(v - maxLogit) * Double(invT))
                unitSum += exp(Double(v - maxLogit))
            }
        }
        var drawID: Int32 = -1, drawLogit: Float = -.infinity
        if request.temperature > 0 {
            var best = -Float.infinity
            for i in 0..<row.count {
                let v = row[i]
                if v.isNaN { continue }
                let scaled = v * invT
                let key = scaled + gumbelNoise(key: request.noiseKey, index: i)
                if key.isNaN { continue }
                if drawID < 0 || key > best { best = key; drawID = Int32(i); drawLogit = v }
            }
        }
        return LogitSummary(topIDs: ids, topLogits: values, maxLogit: maxLogit, expSum: Float(sum), unitExpSum: Float(unitSum),
                            gumbelID: drawID, gumbelLogit: drawLogit).finished(request)
    }

    /// Greedy rows take the argmax as their draw (both the host twin and the kernels' results pass here).
    public func finished(_ request: LogitSummaryRequest) -> LogitSummary {
        guard request.temperature == 0 || gumbelID < 0 else { return self }
        var s = self
        s.gumbelID = topIDs.first ?? -1
        s.gumbelLogit = topLogits.first ?? -.infinity
        return s
    }
}
