import Engine
import Testing

struct SamplingTests {
    static let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.0, 2.9]

    @Test func greedyPicksTheArgmax() {
        var s = Sampler(.greedy)
        #expect(s.sample(Self.logits[...]) == 1)
        // Works on a slice that does not start at 0 (rows of a batch).
        let batch = [Float](repeating: 0, count: 6) + Self.logits
        #expect(s.sample(batch[6...]) == 1)
    }

    @Test func seedsReproduceAndDiffer() {
        let p = SamplingParameters(temperature: 1, seed: 42)
        var a = Sampler(p), b = Sampler(p)
        let first = (0..<50).map { _ in a.sample(Self.logits[...]) }
        #expect(first == (0..<50).map { _ in b.sample(Self.logits[...]) })
        var c = Sampler(SamplingParameters(temperature: 1, seed: 43))
        #expect(first != (0..<50).map { _ in c.sample(Self.logits[...]) })
    }

    @Test func truncationKeepsOnlyAllowedTokens() {
        var topK = Sampler(SamplingParameters(temperature: 5, topK: 2, seed: 1))
        #expect(Set((0..<300).map { _ in topK.sample(Self.logits[...]) }) == [1, 5])
        // top-p: token 1 alone has probability ~0.37 at T=1; p = 0.3 keeps only it.
        var topP = Sampler(SamplingParameters(temperature: 1, topP: 0.3, seed: 1))
        #expect(Set((0..<100).map { _ in topP.sample(Self.logits[...]) }) == [1])
        // min-p 0.5: keeps tokens with p >= 0.5 p_max: logits within ln 2 of 3.0 -> 1, 5, 2.
        var minP = Sampler(SamplingParameters(temperature: 1, minP: 0.5, seed: 1))
        #expect(Set((0..<500).map { _ in minP.sample(Self.logits[...]) }) == [1, 2, 5])
    }

    @Test func frequenciesFollowTheSoftmax() {
        var s = Sampler(SamplingParameters(temperature: 1, seed: 9))
        let n = 20000
        var counts = [Int](repeating: 0, count: Self.logits.count)
        for _ in 0..<n { counts[s.sample(Self.logits[...])] += 1 }
        let z = Self.logits.map { exp(Double($0)) }.reduce(0, +)
        for (i, l) in Self.logits.enumerated() {
            let expected = exp(Double(l)) / z
            #expect(abs(Double(counts[i]) / Double(n) - expected) < 0.015, "token \(i)")
        }
    }

    @Test func invalidParametersAreRefusedWithTheirName() {
        #expect(throws: EngineError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: EngineError.self) { try SamplingParameters(topP: 0).validate() }
        #expect(throws: EngineError.self) { try SamplingParameters(topK: -3).validate() }
        do { try SamplingParameters(minP: 2).validate() } catch { #expect("\(error)".contains("min_p")) }
    }
}

struct StopStringFilterTests {
    /// Feeds pieces; returns the streamed text and whether a stop was hit.
    static func run(_ pieces: [String], stops: [String]) -> (String, Bool) {
        var f = StopStringFilter(stops: stops)
        var out = ""
        for p in pieces {
            let (ready, hit) = f.push(p)
            out += ready
            if hit { return (out, true) }
        }
        return (out + f.finish(""), false)
    }

    @Test func cutsAtAStopSplitAcrossPieces() {
        #expect(Self.run(["Hello, wo", "rld. EN", "D more"], stops: ["END"]) == ("Hello, world. ", true))
        #expect(Self.run(["abc"], stops: ["c", "bc"]) == ("a", true))
    }

    @Test func releasesHeldBackTextThatNeverBecameAStop() {
        #expect(Self.run(["The EN", "TRY"], stops: ["END"]) == ("The ENTRY", false))
        #expect(Self.run(["ends with E"], stops: ["END"]) == ("ends with E", false))
        #expect(Self.run(["no stops"], stops: []) == ("no stops", false))
    }

    @Test func holdsBackOnlyWhatCouldStillStop() {
        var f = StopStringFilter(stops: ["###"])
        #expect(f.push("a#").0 == "a")
        #expect(f.push("b").0 == "#b")
    }
}

import Foundation
