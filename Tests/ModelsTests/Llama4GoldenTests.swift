import Compute
import ComputeCPU
import Foundation
import Models
import Testing
import Tokenizer

/// Llama 4 against HF transformers on three tiny random checkpoints (scripts/make_llama4_fixtures.py):
/// - tiny: the spec's section-12 config (dense/MoE alternating, NoPE + temperature every 4th layer, QK norm,
///   llama3 scaling in all three branches, chunk 4), Llama4ForCausalLM layout, F32;
/// - scout: all-MoE, QK norm, Scout-style llama3 scaling, chunk 8, Llama4ForConditionalGeneration with vision
///   tensors, BF16, three shards with an index;
/// - maverick: MoE every other layer, no QK norm, plain RoPE, chunk 16, top-2 routing, FP8 per-expert export.
/// Prompts are 49 and 56 tokens: 4 to 14 chunks, and temperature tuning active from position 2..4 on.
///
/// Tolerance: transformers computed in float32 on exactly the weights Herd reads (BF16 and FP8 dequantized
/// the same way), so the only differences are float32 rounding (summation order, expf/cosf): measured max
/// |diff| is under 1.6e-5 on logits up to ~7.4 in magnitude (prefill, decode and split prefill alike); the
/// tests allow 2e-4, ten times that, which still catches any real error: dropping the chunk mask moves logits
/// by ~9, and a wrong RoPE pair, expert, gate or temperature by far more than 1e-3. Prefill and token-by-token
/// decode run different batch shapes through the same float32 kernels; they are held to the same bound
/// against each other.
struct Llama4GoldenTests {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let offset: Int
    }
    struct Fixture: Decodable {
        let vocab: Int
        let cases: [Case]
    }

    static let maxAbs: Float = 2e-4

    static var root: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama4") }

    static func load(_ name: String) throws -> (LoadedModel, Fixture, [Float]) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: root.appendingPathComponent("\(name).json")))
        let raw = try Data(contentsOf: root.appendingPathComponent("\(name)_logits.f32"))
        let logits = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let loaded = try ModelLoader.load(path: root.appendingPathComponent(name).path, backend: CPUBackend(threads: 2))
        return (loaded, fixture, logits)
    }

    static func maxDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// The reference logits of positions `rows` of case `c`.
    static func reference(_ logits: [Float], _ c: Case, vocab: Int, rows: Range<Int>) -> ArraySlice<Float> {
        logits[(c.offset + rows.lowerBound * vocab)..<(c.offset + rows.upperBound * vocab)]
    }

    @Test(arguments: ["tiny", "scout", "maverick"])
    func tokenizerAndChatFormatMatchTheCheckpoint(name: String) throws {
        let (loaded, fixture, _) = try Self.load(name)
        let tok = loaded.tokenizer
        #expect(loaded.model.architecture == "llama4")
        #expect(loaded.chatFormat == .llama4, "\(loaded.chatFormatError ?? "")")
        #expect(tok.addBOS && tok.preTokenizer == .gpt4o)
        #expect(tok.eosID == tok.encode("<|eot|>").first)
        for c in fixture.cases {
            let ids = (tok.addBOS ? [tok.bosID!] : []) + tok.encode(c.text, parseSpecial: false)
            #expect(ids.map(Int32.init) == c.ids, "\(name): \(c.text.debugDescription)")
        }
    }

    @Test(arguments: ["tiny", "scout", "maverick"])
    func prefillLogitsMatchTransformers(name: String) throws {
        let (loaded, fixture, reference) = try Self.load(name)
        let model = loaded.model
        #expect(model.vocabularySize == fixture.vocab)
        for c in fixture.cases {
            let n = c.ids.count
            let cache = model.makeKVCache(slots: n)
            let logits = model.forward(tokens: c.ids, batch: .contiguous(start: 0, count: n), cache: cache, logitRows: Array(0..<n))
            let diff = Self.maxDiff(logits[...], Self.reference(reference, c, vocab: fixture.vocab, rows: 0..<n))
            #expect(diff < Self.maxAbs, "\(name) prefill of \(n) tokens: max |diff| \(diff)")
            print("llama4 golden \(name) prefill \(n) tokens: max |diff| \(diff)")
        }
    }

    /// Token-by-token decode, and a prefill split at uneven points (straddling chunk boundaries), give the
    /// reference logits at every position.
    @Test(arguments: ["tiny", "scout", "maverick"])
    func decodeAndSplitPrefillMatchTransformers(name: String) throws {
        let (loaded, fixture, reference) = try Self.load(name)
        let model = loaded.model, vocab = fixture.vocab
        for c in fixture.cases {
            let n = c.ids.count
            let prefill = model.forward(tokens: c.ids, batch: .contiguous(start: 0, count: n), cache: model.makeKVCache(slots: n),
                                        logitRows: Array(0..<n))
            var cache = model.makeKVCache(slots: n)
            var worst: Float = 0, worstVsPrefill: Float = 0
            for p in 0..<n {
                let logits = model.forward(tokens: [c.ids[p]], batch: .contiguous(start: p, count: 1), cache: cache, logitRows: [0])
                worst = max(worst, Self.maxDiff(logits[...], Self.reference(reference, c, vocab: vocab, rows: p..<(p + 1))))
                worstVsPrefill = max(worstVsPrefill, Self.maxDiff(logits[...], prefill[(p * vocab)..<((p + 1) * vocab)]))
            }
            #expect(worst < Self.maxAbs, "\(name) decode: max |diff| \(worst)")
            #expect(worstVsPrefill < Self.maxAbs, "\(name) decode vs prefill: max |diff| \(worstVsPrefill)")
            print("llama4 golden \(name) decode \(n) tokens: max |diff| \(worst) vs transformers, \(worstVsPrefill) vs prefill")

            cache = model.makeKVCache(slots: n)
            worst = 0
            var start = 0
            for count in [5, 11, 1, 7, n] where start < n {
                let m = min(count, n - start)
                let logits = model.forward(tokens: Array(c.ids[start..<(start + m)]), batch: .contiguous(start: start, count: m),
                                           cache: cache, logitRows: Array(0..<m))
                worst = max(worst, Self.maxDiff(logits[...], Self.reference(reference, c, vocab: vocab, rows: start..<(start + m))))
                start += m
            }
            #expect(worst < Self.maxAbs, "\(name) split prefill: max |diff| \(worst)")
        }
    }

    /// Routing counts: one count per token and chosen expert in every MoE layer, several experts in use.
    @Test(arguments: ["tiny", "scout", "maverick"])
    func routingCountsCoverEveryToken(name: String) throws {
        let (loaded, fixture, _) = try Self.load(name)
        let model = try #require(loaded.model as? Llama4Model)
        let shape = try #require(model.routingShape)
        #expect(shape.moeLayers == model.config.moeLayerIndices && shape.experts == model.config.experts)
        let c = fixture.cases[0], n = c.ids.count
        let counts = RoutingCounts(shape: shape)
        counts.isDecodeRow = [Bool](repeating: false, count: n)
        _ = model.forward(tokens: c.ids, batch: .contiguous(start: 0, count: n), cache: model.makeKVCache(slots: n),
                          logitRows: [], routing: counts)
        for (m, layer) in shape.moeLayers.enumerated() {
            let row = counts.prefill[(m * shape.experts)..<((m + 1) * shape.experts)]
            #expect(row.reduce(0, +) == UInt32(n * model.config.expertsPerToken), "\(name) layer \(layer): \(Array(row))")
            #expect(row.filter { $0 > 0 }.count >= 2, "\(name) layer \(layer) uses one expert only: \(Array(row))")
        }
        #expect(counts.decode.allSatisfy { $0 == 0 })
    }
}
