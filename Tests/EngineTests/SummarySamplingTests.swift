import Compute
import ComputeCPU
import Engine
import Foundation
import Models
import Scheduler
import TestSupport
import Testing

/// Sampling from a logit summary (the device path) against the full sampler's rules, on the CPU: the
/// summary's host twin (`LogitSummary.host`, what the GPU kernels must reproduce) and the engine's device
/// path run through a CPU backend that asks for it.
struct SummarySamplingTests {
    /// Seeded logits: a few likely tokens (`peaks`, at the front of no particular order) and a tail.
    static func logits(_ n: Int, seed: UInt64, peaks: Int = 0, spread: Float = 4) -> [Float] {
        var state = seed
        return (0..<n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(state >> 40) / Float(1 << 24)
            return i % 7 == 3 && i / 7 < peaks ? 5 + u : spread * u - spread / 2
        }
    }

    static func summary(_ row: [Float], _ request: LogitSummaryRequest, top: Int) -> LogitSummary {
        row.withUnsafeBufferPointer { LogitSummary.host($0, request: request, top: top) }
    }

    /// Pearson's statistic of `counts` against `expected` probabilities (bins under 5 expected draws pooled)
    /// and its degrees of freedom; anything drawn outside `expected` fails the caller's support check.
    static func chiSquare(_ counts: [Int: Int], _ expected: [Int: Double], draws: Int) -> (statistic: Double, df: Int) {
        var statistic = 0.0, bins = 0, pooledObserved = 0.0, pooledExpected = 0.0
        for (token, p) in expected {
            let e = p * Double(draws), o = Double(counts[token, default: 0])
            if e < 5 { pooledObserved += o; pooledExpected += e; continue }
            statistic += (o - e) * (o - e) / e
            bins += 1
        }
        if pooledExpected >= 5 {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected
            bins += 1
        }
        return (statistic, max(bins - 1, 1))
    }

    /// A bound no honest sampler exceeds at these seeds: the mean plus six standard deviations.
    static func bound(_ df: Int) -> Double { Double(df) + 6 * (2 * Double(df)).squareRoot() }

    @Test func hostSummaryListsTheBestWithTiesToTheLowerID() {
        var row = Self.logits(300, seed: 3)
        row[10] = 7; row[200] = 7; row[5] = 6.5; row[17] = .nan; row[18] = .infinity * -1
        let request = LogitSummaryRequest(temperature: 0.7, noiseKey: 42)
        let s = Self.summary(row, request, top: 16)
        let order = row.indices.filter { !row[$0].isNaN }.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
        #expect(s.topIDs == order.prefix(16).map(Int32.init))
        #expect(s.topLogits == order.prefix(16).map { row[$0] })
        #expect(s.maxLogit == 7)
        let sumT = row.filter { !$0.isNaN }.reduce(0.0) { $0 + exp(Double($1 - 7) / 0.7) }
        let sum1 = row.filter { !$0.isNaN }.reduce(0.0) { $0 + exp(Double($1 - 7)) }
        #expect(abs(Double(s.expSum) - sumT) / sumT < 1e-6)
        #expect(abs(Double(s.unitExpSum) - sum1) / sum1 < 1e-6)
        // The draw is the argmax of l / T + g over the row.
        let keys = row.indices.map { row[$0].isNaN ? -Float.infinity : row[$0] * (1 / 0.7) + LogitSummary.gumbelNoise(key: 42, index: $0) }
        #expect(Int(s.gumbelID) == argmaxFirst(keys))
        #expect(s.gumbelLogit == row[Int(s.gumbelID)])
        // The backend protocol's default is the host twin, row by row.
        let cpu = CPUBackend(threads: 1)
        let rows = [row, Self.logits(300, seed: 4)]
        let t = cpu.zeros([2, 300])
        (rows[0] + rows[1]).withUnsafeBytes { t.data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let requests = [request, LogitSummaryRequest(temperature: 0, noiseKey: 7)]
        let viaBackend = cpu.summarizeLogits(t, rows: 2, vocabulary: 300, top: 16, requests: requests)
        #expect(viaBackend == [s, Self.summary(rows[1], requests[1], top: 16)])
        #expect(viaBackend[1].gumbelID == viaBackend[1].topIDs[0], "greedy rows draw their argmax")
    }

    func argmaxFirst(_ x: [Float]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }

    @Test func greedyTakesTheArgmax() {
        for seed in UInt64(1)...20 {
            var row = Self.logits(500, seed: seed, spread: 2)
            row[Int(seed) * 7] = 3; row[Int(seed) * 11] = 3  // a tie for the top: the lower id wins
            var sampler = Sampler(.greedy)
            let request = sampler.summaryRequest()
            let token = sampler.sample(from: Self.summary(row, request, top: 8), vocabulary: row.count)
            #expect(token == argmaxFirst(row))
            #expect(token == Sampler(.greedy).sampleCopy(row))
        }
    }

    @Test func gumbelDrawsFollowTheSoftmax() {
        let row: [Float] = [2, 1, 0.5, 0, -1, 3, 2]
        for temperature: Float in [1, 0.6, 1.7] {
            let weights = row.map { exp(Double($0 - 3) / Double(temperature)) }
            let total = weights.reduce(0, +)
            let expected = Dictionary(uniqueKeysWithValues: weights.enumerated().map { ($0.offset, $0.element / total) })
            var sampler = Sampler(SamplingParameters(temperature: temperature, seed: 11))
            var counts: [Int: Int] = [:]
            let draws = 20000
            for _ in 0..<draws {
                let s = Self.summary(row, sampler.summaryRequest(), top: 4)
                let token = sampler.sample(from: s, vocabulary: row.count)
                #expect(token != nil && token == Int(s.gumbelID))
                counts[token ?? -1, default: 0] += 1
            }
            let (chi, df) = Self.chiSquare(counts, expected, draws: draws)
            #expect(chi < Self.bound(df), "T=\(temperature): chi-square \(chi) with \(df) degrees of freedom")
        }
    }

    /// Cases the summary decides (top 8 of 40 listed): only tokens the full sampler could draw, at its
    /// frequencies (the textbook definition in SamplerTruncationTests).
    @Test(arguments: [
        SamplingParameters(temperature: 0.9, topK: 5, seed: 1),
        SamplingParameters(temperature: 1.2, topK: 8, topP: 0.7, seed: 2),
        SamplingParameters(temperature: 1, topK: 6, minP: 0.3, seed: 3),
        SamplingParameters(temperature: 1, topP: 0.8, seed: 4),
        SamplingParameters(temperature: 0.7, topP: 0.95, seed: 5),
        SamplingParameters(temperature: 1, minP: 0.05, seed: 6),
        SamplingParameters(temperature: 1.5, topP: 0.99, minP: 0.2, seed: 7),
    ])
    func exactCasesMatchTheFullSampler(p: SamplingParameters) {
        let row = Self.logits(40, seed: 9, peaks: 4)
        let expected = SamplerTruncationTests.reference(row, p)
        var sampler = Sampler(p), full = Sampler(p)
        var counts: [Int: Int] = [:], fullCounts: [Int: Int] = [:]
        let draws = 12000
        for _ in 0..<draws {
            let s = Self.summary(row, sampler.summaryRequest(), top: 8)
            guard let token = sampler.sample(from: s, vocabulary: row.count) else {
                Issue.record("the summary should decide \(p)")
                return
            }
            counts[token, default: 0] += 1
            fullCounts[full.sample(row[...]), default: 0] += 1
        }
        for token in counts.keys { #expect(expected[token] != nil, "token \(token) drawn but excluded by \(p)") }
        #expect(Set(counts.keys).isSubset(of: Set(fullCounts.keys).union(expected.keys)))
        let (chi, df) = Self.chiSquare(counts, expected, draws: draws)
        #expect(chi < Self.bound(df), "\(p): chi-square \(chi) with \(df) degrees of freedom")
        let (fullChi, fullDF) = Self.chiSquare(fullCounts, expected, draws: draws)
        #expect(fullChi < Self.bound(fullDF), "the full sampler itself: chi-square \(fullChi)")
    }

    @Test func topKDrawsTheFullSamplersTokenFromTheSameStream() {
        // With top-k inside the list, the summary path runs the full sampler's arithmetic on the same
        // candidates: after the same generator draws, the same token.
        let row = Self.logits(300, seed: 21)
        let p = SamplingParameters(temperature: 0.8, topK: 20, topP: 0.9, minP: 0.02, seed: 77)
        var viaSummary = Sampler(p), viaRow = Sampler(p)
        for _ in 0..<500 {
            let s = Self.summary(row, viaSummary.summaryRequest(), top: 64)
            _ = viaRow.summaryRequest()  // the same stream position
            #expect(viaSummary.sample(from: s, vocabulary: row.count) == viaRow.sample(row[...]))
        }
    }

    @Test func fallbacksAreDetected() {
        let flat = Self.logits(40, seed: 5, spread: 0.2)
        let peaked = Self.logits(40, seed: 9, peaks: 4)
        let cases: [(SamplingParameters, [Float])] = [
            (SamplingParameters(temperature: 1, topK: 12, seed: 1), peaked),  // top-k beyond the 8 listed
            (SamplingParameters(temperature: 1, topP: 0.9, seed: 2), flat),  // the nucleus reaches past the list
            (SamplingParameters(temperature: 1, minP: 0.5, seed: 3), flat),  // min-p keeps more than the list
        ]
        for (p, row) in cases {
            var sampler = Sampler(p)
            let s = Self.summary(row, sampler.summaryRequest(), top: 8)
            #expect(sampler.sample(from: s, vocabulary: row.count) == nil, "\(p) needs the row")
            let token = sampler.sample(row[...])  // the row then decides
            #expect(SamplerTruncationTests.reference(row, p)[token] != nil)
        }
        // A complete list decides them all.
        for (p, row) in cases {
            var sampler = Sampler(p)
            let s = Self.summary(row, sampler.summaryRequest(), top: 64)
            if p.topK > 0 || p.topP < 1 { #expect(sampler.sample(from: s, vocabulary: row.count) != nil, "\(p) with every token listed") }
        }
    }

    @Test func logprobsFromTheSummaryMatchTheRow() {
        let row = Self.logits(300, seed: 8, peaks: 3)
        let s = Self.summary(row, LogitSummaryRequest(temperature: 1, noiseKey: 5), top: 64)
        for token in [s.topIDs[0], s.topIDs[40], s.gumbelID] {
            let fromRow = TokenLogprob.compute(row[...], token: token, count: 5)
            let fromSummary = TokenLogprob.compute(summary: s, token: token, count: 5, vocabulary: row.count)
            #expect(fromSummary?.top.map(\.token) == fromRow.top.map(\.token))
            #expect(abs((fromSummary?.logprob ?? 0) - fromRow.logprob) < 1e-5)
            for (a, b) in zip(fromSummary?.top ?? [], fromRow.top) { #expect(abs(a.logprob - b.logprob) < 1e-5) }
        }
        let outside = (0..<300).map(Int32.init).first { !s.topIDs.contains($0) && $0 != s.gumbelID }!
        #expect(TokenLogprob.compute(summary: s, token: outside, count: 5, vocabulary: 300) == nil, "a token outside the summary needs the row")
        #expect(TokenLogprob.compute(summary: Self.summary(row, LogitSummaryRequest(temperature: 1, noiseKey: 5), top: 4),
                                     token: s.topIDs[0], count: 5, vocabulary: 300) == nil, "more alternatives than listed")
    }

    // MARK: the engine's device path

    @Test func engineDevicePathGivesTheHostPathsGreedyTokensAndReproducesSeeds() throws {
        var shape = TinyLlama.Shape()
        shape.context = 512
        let path = try TinyLlama.writer(shape).write(name: "summary-sampling")
        let host = try ModelLoader.load(path: path, backend: CPUBackend(threads: 2))
        let device = try ModelLoader.load(path: path, backend: DeviceSamplingCPU(CPUBackend(threads: 2)))
        let prompts = EngineCoreTests.prompts(6, seed: 3)
        var fallbacks: [Int] = []
        func run(_ m: LoadedModel, _ sampling: (Int) -> SamplingParameters, logprobs: Int? = nil) throws -> [[Int32]: [TokenLogprob]] {
            let core = try EngineCoreTests.core(m, seqs: 8)
            defer { fallbacks.append(core.summaryFallbackRows); #expect(core.summarySampledRows == (m.model === host.model ? 0 : 12 * prompts.count)) }
            var ids: [Int: Int] = [:]
            for (i, p) in prompts.enumerated() {
                ids[try core.add(EngineRequest(prompt: .tokens(p), maxTokens: 12, sampling: sampling(i), ignoreEOS: true, logprobs: logprobs))] = i
            }
            var tokens = [[Int32]](repeating: [], count: prompts.count)
            var lps = [[TokenLogprob]](repeating: [], count: prompts.count)
            while core.hasWork {
                for o in core.step() {
                    tokens[ids[o.requestID]!] += o.newTokens
                    lps[ids[o.requestID]!] += o.logprobs
                }
            }
            var out: [[Int32]: [TokenLogprob]] = [:]
            for i in prompts.indices { out[[Int32(i)] + tokens[i]] = lps[i] }
            return out
        }
        // Greedy: the same tokens; logprobs from the summaries agree with the rows'.
        let a = try run(host, { _ in .greedy }, logprobs: 3), b = try run(device, { _ in .greedy }, logprobs: 3)
        #expect(Set(a.keys) == Set(b.keys))
        for (key, lp) in a {
            guard let other = b[key] else { continue }
            #expect(lp.count == 12 && other.count == 12)
            for (x, y) in zip(lp, other) {
                #expect(x.token == y.token && x.top.map(\.token) == y.top.map(\.token))
                #expect(abs(x.logprob - y.logprob) < 1e-4)
            }
        }
        // Seeded sampling on the device path is reproducible: Gumbel draws, top-k, and top-p (whose nucleus
        // over this near-flat tiny model reaches past the summary: the row fallback).
        let mixed: (Int) -> SamplingParameters = { i in
            switch i % 3 {
            case 0: SamplingParameters(temperature: 1, seed: UInt64(100 + i))
            case 1: SamplingParameters(temperature: 0.8, topK: 10, seed: UInt64(100 + i))
            default: SamplingParameters(temperature: 1, topP: 0.9, seed: UInt64(100 + i))
            }
        }
        let first = try run(device, mixed, logprobs: 2), second = try run(device, mixed, logprobs: 2)
        #expect(Set(first.keys) == Set(second.keys))
        #expect(first.values.allSatisfy { $0.count == 12 })
        // greedy never falls back; the top-p third of the mixed requests does (the rest never)
        #expect(fallbacks[1] == 0)
        #expect(fallbacks[2] > 0 && fallbacks[2] <= 12 * (prompts.count / 3) && fallbacks[2] == fallbacks[3])
    }
}

extension Sampler {
    /// Samples a copy of `row` (greedy checks).
    fileprivate func sampleCopy(_ row: [Float]) -> Int {
        var s = self
        return s.sample(row[...])
    }
}

/// The CPU backend asking the engine to sample on the device: every op is the CPU's; the summaries come
/// from the protocol's default (the host twin).
final class DeviceSamplingCPU: ComputeBackend, @unchecked Sendable {
    let inner: CPUBackend
    init(_ inner: CPUBackend) { self.inner = inner }
    var prefersDeviceSampling: Bool { true }
    var description: String { "device-sampling " + inner.description }
    func weight(_ host: HostTensor) throws -> Tensor { try inner.weight(host) }
    func zeros(_ shape: [Int]) -> Tensor { inner.zeros(shape) }
    func embed(_ table: Tensor, tokens: [Int32], into out: Tensor) { inner.embed(table, tokens: tokens, into: out) }
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        inner.rmsNorm(x, weight: weight, eps: eps, rows: rows, into: out)
    }
    func matmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor) { inner.matmul(x, weight: weight, rows: rows, into: out) }
    func rope(_ x: Tensor, rows: Int, heads: Int, headDim: Int, positions: [Int32], rope: RoPE) {
        inner.rope(x, rows: rows, heads: heads, headDim: headDim, positions: positions, rope: rope)
    }
    func storeKV(keys: Tensor, values: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch) {
        inner.storeKV(keys: keys, values: values, cache: cache, layer: layer, batch: batch)
    }
    func attention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                   heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) {
        inner.attention(queries: queries, cache: cache, layer: layer, batch: batch, heads: heads, kvHeads: kvHeads,
                        headDim: headDim, scale: scale, into: out)
    }
    func swiglu(gate: Tensor, up: Tensor, rows: Int, into out: Tensor) { inner.swiglu(gate: gate, up: up, rows: rows, into: out) }
    func add(_ y: Tensor, _ x: Tensor, rows: Int) { inner.add(y, x, rows: rows) }
    func gatherRows(_ x: Tensor, indices: [Int], into out: Tensor) { inner.gatherRows(x, indices: indices, into: out) }
    func read(_ x: Tensor, rows: Int) -> [Float] { inner.read(x, rows: rows) }
    func weight(_ host: HostTensor, rowScales: HostTensor) throws -> Tensor { try inner.weight(host, rowScales: rowScales) }
    func scaleRows(_ x: Tensor, factors: [Float]) { inner.scaleRows(x, factors: factors) }
    func scatterAddRows(_ x: Tensor, indices: [Int], into y: Tensor) { inner.scatterAddRows(x, indices: indices, into: y) }
    func syntheticWeight(_ spec: SyntheticWeightSpec) throws -> Tensor { try inner.syntheticWeight(spec) }
}
