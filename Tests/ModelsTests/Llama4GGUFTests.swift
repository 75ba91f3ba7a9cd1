import CHerdKernels
import Compute
import ComputeCPU
import Foundation
import Models
import Testing
import TestSupport
import Tokenizer
import Weights

/// Llama 4 GGUF files made by llama.cpp's converter (scripts/make_llama4_gguf_fixtures.py) from the `llamacpp`
/// checkpoint, against transformers' logits for that checkpoint and against Herd on the checkpoint directory.
/// - llamacpp-bf16.gguf holds the checkpoint's BF16 weights bit for bit: held to Llama4GoldenTests' float
///   tolerance (2e-4; measured differences are float32 rounding, ~1e-5).
/// - llamacpp-q8_0.gguf is quantized by the converter; its reference is transformers run on its dequantized
///   weights (quantizing the weights alone moves some logits by ~5 here, where routing is near a tie).
/// The metadata rules (what llama.cpp hard-codes and Herd copies) and broken files are checked on copies of
/// the fixture rewritten with edited metadata or tensors.
struct Llama4GGUFTests {
    static var root: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama4") }
    static func path(_ file: String) -> String { root.appendingPathComponent(file).path }

    static func load(_ file: String, exact: Bool = false) throws -> LoadedModel {
        try ModelLoader.load(path: path(file), backend: CPUBackend(threads: 2, exactActivations: exact))
    }

    static func fixture() throws -> (Llama4GoldenTests.Fixture, [Float]) {
        let fixture = try JSONDecoder().decode(Llama4GoldenTests.Fixture.self, from: Data(contentsOf: root.appendingPathComponent("llamacpp.json")))
        let raw = try Data(contentsOf: root.appendingPathComponent("llamacpp_logits.f32"))
        return (fixture, raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
    }

    static func prefill(_ model: any LanguageModel, _ ids: [Int32]) -> [Float] {
        model.forward(tokens: ids, batch: .contiguous(start: 0, count: ids.count), cache: model.makeKVCache(slots: ids.count),
                      logitRows: Array(0..<ids.count))
    }

    // MARK: logits

    @Test func bf16FileMatchesTransformersAndTheDirectory() throws {
        let (fixture, reference) = try Self.fixture()
        let gguf = try Self.load("llamacpp-bf16.gguf"), dir = try Self.load("llamacpp")
        #expect(gguf.model.architecture == "llama4" && gguf.model.vocabularySize == fixture.vocab)
        for c in fixture.cases {
            let n = c.ids.count
            let logits = Self.prefill(gguf.model, c.ids)
            let vsReference = Llama4GoldenTests.maxDiff(logits[...], Llama4GoldenTests.reference(reference, c, vocab: fixture.vocab, rows: 0..<n))
            let vsDirectory = Llama4GoldenTests.maxDiff(logits[...], Self.prefill(dir.model, c.ids)[...])
            #expect(vsReference < Llama4GoldenTests.maxAbs, "bf16 GGUF vs transformers, \(n) tokens: max |diff| \(vsReference)")
            #expect(vsDirectory < Llama4GoldenTests.maxAbs, "bf16 GGUF vs directory, \(n) tokens: max |diff| \(vsDirectory)")
            print("llama4 gguf bf16, \(n) tokens: max |diff| \(vsReference) vs transformers, \(vsDirectory) vs the directory")

            // Token-by-token decode gives the same logits as the prefill.
            let cache = gguf.model.makeKVCache(slots: n)
            var worst: Float = 0
            for p in 0..<n {
                let step = gguf.model.forward(tokens: [c.ids[p]], batch: .contiguous(start: p, count: 1), cache: cache, logitRows: [0])
                worst = max(worst, Llama4GoldenTests.maxDiff(step[...], logits[(p * fixture.vocab)..<((p + 1) * fixture.vocab)]))
            }
            #expect(worst < Llama4GoldenTests.maxAbs, "bf16 GGUF decode vs prefill: max |diff| \(worst)")
        }
    }

    /// The Q8_0 file against transformers run on the file's own (dequantized) weights: with f32 activations
    /// Herd computes the same function, so the float tolerance applies. With 8-bit activations (the default)
    /// logits move by ~0.1-0.3, and where the quantized model's router is near a tie a token can take another
    /// expert and move by several units (llama.cpp on this file does the same: 6 of 49 positions beyond 0.5);
    /// so 8-bit activations must keep 85% of positions within 0.5 and the top token wherever it leads by 1.
    @Test(arguments: [true, false])
    func q8FileMatchesTransformersOnItsWeights(exactActivations: Bool) throws {
        let (fixture, _) = try Self.fixture()
        let raw = try Data(contentsOf: Self.root.appendingPathComponent("llamacpp-q8_0_logits.f32"))
        let reference = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let gguf = try Self.load("llamacpp-q8_0.gguf", exact: exactActivations)
        let vocab = fixture.vocab
        for c in fixture.cases {
            let n = c.ids.count
            let logits = Self.prefill(gguf.model, c.ids)
            let diff = Llama4GoldenTests.maxDiff(logits[...], Llama4GoldenTests.reference(reference, c, vocab: vocab, rows: 0..<n))
            if exactActivations {
                #expect(diff < Llama4GoldenTests.maxAbs, "q8_0 GGUF (f32 activations), \(n) tokens: max |diff| \(diff)")
                print("llama4 gguf q8_0 (f32 activations), \(n) tokens: max |diff| \(diff) vs transformers on the Q8_0 weights")
                continue
            }
            var close = 0, clear = 0
            for p in 0..<n {
                let ref = Array(Llama4GoldenTests.reference(reference, c, vocab: vocab, rows: p..<(p + 1)))
                let ours = Array(logits[(p * vocab)..<((p + 1) * vocab)])
                if Llama4GoldenTests.maxDiff(ours[...], ref[...]) < 0.5 { close += 1 }
                let sorted = ref.sorted(by: >)
                guard sorted[0] - sorted[1] > 1 else { continue }
                clear += 1
                #expect(ours.indices.max { ours[$0] < ours[$1] } == ref.indices.max { ref[$0] < ref[$1] }, "q8_0 top token at position \(p)")
            }
            #expect(close * 100 >= 85 * n, "q8_0 (8-bit activations): only \(close) of \(n) positions within 0.5")
            print("llama4 gguf q8_0 (8-bit activations), \(n) tokens: max |diff| \(diff), \(close) of \(n) positions within 0.5, top token equal at \(clear) clear positions")
        }
    }

    // MARK: tokenizer, chat format, hyperparameters

    @Test func tokenizerAndChatFormatMatchTheCheckpoint() throws {
        let (fixture, _) = try Self.fixture()
        let gguf = try Self.load("llamacpp-q8_0.gguf"), dir = try Self.load("llamacpp")
        let tok = gguf.tokenizer
        #expect(gguf.chatFormat == .llama4, "\(gguf.chatFormatError ?? "")")
        #expect(tok.addBOS && tok.preTokenizer == .gpt4o && tok.bosID == dir.tokenizer.bosID && tok.eosID == dir.tokenizer.eosID)
        for c in fixture.cases {
            let ids = [tok.bosID!] + tok.encode(c.text, parseSpecial: false)
            #expect(ids.map(Int32.init) == c.ids, "\(c.text.debugDescription)")
        }
        let chat = "<|header_start|>user<|header_end|>\n\nWhat is 2+2?<|eot|>"
        #expect(tok.encode(chat) == dir.tokenizer.encode(chat))
    }

    /// The GGUF's configuration is what llama.cpp derives (chunk 8192, temperature floor 8192, NoPE every 4th
    /// layer, QK norm with 4 experts), which the checkpoint was made to match, and RoPE's frequencies are the
    /// llama3-scaled ones of config.json (via rope_freqs.weight).
    @Test func hyperparametersMatchTheCheckpoint() throws {
        let gguf = try #require(try Self.load("llamacpp-bf16.gguf").model as? Llama4Model)
        let dir = try #require(try Self.load("llamacpp").model as? Llama4Model)
        let g = gguf.config, d = dir.config
        #expect(g.numHiddenLayers == 4 && g.hiddenSize == d.hiddenSize && g.intermediateSize == 32 && g.denseIntermediateSize == 96)
        #expect(g.numAttentionHeads == d.numAttentionHeads && g.kvHeads == d.kvHeads && g.resolvedHeadDim == d.resolvedHeadDim)
        #expect(g.experts == d.experts && g.expertsPerToken == d.expertsPerToken && g.epsilon == d.epsilon)
        #expect(g.moeLayerIndices == [1, 3] && d.moeLayerIndices == [1, 3])
        for i in 0..<4 {
            #expect(g.usesRoPE(i) == d.usesRoPE(i) && g.isChunked(i) == d.isChunked(i) && g.usesQKNorm(i) == d.usesQKNorm(i)
                    && g.usesTemperature(i) == d.usesTemperature(i), "layer \(i)")
        }
        #expect(g.attentionChunkSize == 8192 && g.temperatureFloorScale == 8192 && g.temperatureScale == 0.1)
        #expect(g.ropeType == "default" && d.ropeType == "llama3")
        for (a, b) in zip(gguf.rope.inverseFrequencies, dir.rope.inverseFrequencies) { #expect(abs(a - b) <= 1e-6 * b, "\(a) vs \(b)") }
        // The scaling is not a no-op here: some pairs keep their frequency, others are divided.
        #expect(gguf.rope.inverseFrequencies != RoPE.standard(headDim: 16, theta: 500_000, interleaved: true).inverseFrequencies)
    }

    // MARK: edited copies

    /// The fixture rewritten with `edit` applied to its metadata and tensors.
    static func rewrite(_ file: String, _ edit: (inout [(String, GGUFWriter.Value)], inout [GGUFWriter.TensorEntry]) -> Void) throws -> String {
        let source = try GGUFFile(path: path(file))
        func convert(_ v: GGUFValue) -> GGUFWriter.Value {
            switch v {
            case .uint8(let x): .u8(x)
            case .int8(let x): .i8(x)
            case .uint16(let x): .u16(x)
            case .int16(let x): .i16(x)
            case .uint32(let x): .u32(x)
            case .int32(let x): .i32(x)
            case .uint64(let x): .u64(x)
            case .int64(let x): .i64(x)
            case .float32(let x): .f32(x)
            case .float64(let x): .f64(x)
            case .bool(let x): .bool(x)
            case .string(let x): .string(x)
            case .array(let a): .array(a.values.first.map(typeID) ?? 4, a.values.map(convert))
            }
        }
        func typeID(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .uint8: 0
            case .int8: 1
            case .uint16: 2
            case .int16: 3
            case .uint32: 4
            case .int32: 5
            case .float32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .uint64: 10
            case .int64: 11
            case .float64: 12
            }
        }
        var writer = GGUFWriter()
        writer.alignment = source.alignment
        writer.metadata = source.metadataKeys.map { ($0, convert(source.metadata[$0]!)) }
        for t in source.tensors { writer.addTensor(t.name, dims: t.dims, type: t.type, data: Array(source.data(for: t))) }
        edit(&writer.metadata, &writer.tensors)
        return try writer.write(name: "llama4-edited")
    }

    static func set(_ metadata: inout [(String, GGUFWriter.Value)], _ key: String, _ value: GGUFWriter.Value?) {
        metadata.removeAll { $0.0 == key }
        if let value { metadata.append((key, value)) }
    }

    static func config(_ edit: (inout [(String, GGUFWriter.Value)]) -> Void) throws -> Llama4Config {
        try Llama4Config(gguf: GGUFFile(path: rewrite("llamacpp-bf16.gguf") { m, _ in edit(&m) }))
    }

    /// llama.cpp's rules for what the file does not say: QK norm off for 128 experts; sliding_window 0 turns
    /// chunking and temperature off and leaves only the last layer NoPE; a sliding-window pattern picks the
    /// chunked layers; a per-layer expert width is accepted when it is one width.
    @Test func metadataRulesFollowLlamaCpp() throws {
        let maverick = try Self.config { Self.set(&$0, "llama4.expert_count", .u32(128)) }
        #expect(maverick.experts == 128 && (0..<4).allSatisfy { !maverick.usesQKNorm($0) })

        let noWindow = try Self.config { Self.set(&$0, "llama4.attention.sliding_window", .u32(0)) }
        #expect(noWindow.attentionChunkSize == nil && !noWindow.temperatureTuning)
        #expect((0..<4).map(noWindow.usesRoPE) == [true, true, true, false] && (0..<4).allSatisfy { !noWindow.isChunked($0) })

        let pattern = try Self.config {
            Self.set(&$0, "llama4.attention.sliding_window_pattern", .array(7, [.bool(true), .bool(false), .bool(true), .bool(false)]))
        }
        #expect((0..<4).map(pattern.isChunked) == [true, false, true, false] && (0..<4).map(pattern.usesRoPE) == [true, true, true, false])
        let every2 = try Self.config { Self.set(&$0, "llama4.attention.sliding_window_pattern", .u32(2)) }
        #expect((0..<4).map(every2.isChunked) == [true, false, true, false])

        let perLayer = try Self.config { Self.set(&$0, "llama4.expert_feed_forward_length", .array(4, Array(repeating: .u32(32), count: 4))) }
        #expect(perLayer.intermediateSize == 32)
    }

    static func loadError(_ path: String) -> String {
        do {
            _ = try ModelLoader.load(path: path, backend: CPUBackend(threads: 1))
            Issue.record("broken file loaded")
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// Broken files give one error naming the file and the key or tensor.
    @Test func brokenFilesNameTheFileAndTensor() throws {
        var path = try Self.rewrite("llamacpp-bf16.gguf") { _, t in t.removeAll { $0.name == "blk.1.ffn_up_exps.weight" } }
        #expect(Self.loadError(path) == "\(path): missing tensor \"blk.1.ffn_up_exps.weight\"")

        path = try Self.rewrite("llamacpp-bf16.gguf") { _, t in
            let i = t.firstIndex { $0.name == "blk.3.ffn_down_exps.weight" }!
            t[i].dims = [32, 64, 2]  // 2 experts' worth of bytes: half the data, so the file stays consistent
            t[i].data = Array(t[i].data.prefix(t[i].data.count / 2))
        }
        #expect(Self.loadError(path) == "\(path): tensor \"blk.3.ffn_down_exps.weight\" has shape [2, 64, 32], expected [4, 64, 32]")

        path = try Self.rewrite("llamacpp-bf16.gguf") { _, t in
            let i = t.firstIndex { $0.name == "blk.0.attn_q.weight" }!
            t[i].type = DType.f64.rawValue
            t[i].data = [UInt8](repeating: 0, count: 64 * 64 * 8)
        }
        #expect(Self.loadError(path).hasPrefix("\(path): tensor \"blk.0.attn_q.weight\": the CPU backend cannot multiply F64 weights"))

        path = try Self.rewrite("llamacpp-bf16.gguf") { m, _ in Self.set(&m, "llama4.interleave_moe_layer_step", .u32(1)) }
        #expect(Self.loadError(path) == "\(path): missing tensor \"blk.0.ffn_gate_exps.weight\"")

        path = try Self.rewrite("llamacpp-bf16.gguf") { m, _ in Self.set(&m, "llama4.expert_count", nil) }
        #expect(Self.loadError(path) == "\(path): missing metadata key \"llama4.expert_count\"")

        path = try Self.rewrite("llamacpp-bf16.gguf") { m, _ in Self.set(&m, "llama4.rope.scaling.type", .string("yarn")) }
        #expect(Self.loadError(path).hasPrefix("\(path): llama4.rope.scaling.type \"yarn\" is not supported"))
    }

    // MARK: K-quants

    struct SeededRNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state ^ (state >> 29) }
    }

    /// A random llama4 GGUF with 256-wide matrices (K-quant super-blocks) in `types` (cycled over the
    /// matrices), and the same model with every matrix dequantized to F32. Dense layer 0, MoE layer 1 with 2
    /// experts, so the per-expert slices of a K-quant tensor are exercised.
    static func kquantPair(_ types: [DType]) throws -> (quantized: String, f32: String) {
        // Fixed seed: with 8-bit activations a token whose router logits nearly tie may take the other expert,
        // which a fresh random model would hit now and then; this one is the same every run.
        var rng = SeededRNG(state: 0x11A4A4_6701)
        let hidden = 256, vocab = 32, experts = 2
        var q = GGUFWriter(), f = GGUFWriter()
        for w in [0, 1] {
            let add: (String, GGUFWriter.Value) -> Void = { k, v in if w == 0 { q.add(k, v) } else { f.add(k, v) } }
            add("general.architecture", .string("llama4"))
            for (k, v) in [("block_count", 2), ("embedding_length", hidden), ("feed_forward_length", 256), ("expert_feed_forward_length", 256),
                           ("attention.head_count", 2), ("attention.head_count_kv", 1), ("expert_count", experts), ("expert_used_count", 1),
                           ("interleave_moe_layer_step", 2), ("context_length", 64)] {
                add("llama4.\(k)", .u32(UInt32(v)))
            }
            add("llama4.attention.layer_norm_rms_epsilon", .f32(1e-5))
            add("llama4.rope.freq_base", .f32(500_000))
        }
        var next = 0
        func matrix(_ name: String, _ shape: [Int]) {
            let type = types[next % types.count]
            next += 1
            let blocks = shape.reduce(1, *) / 256
            var bytes: [UInt8] = []
            for _ in 0..<blocks {
                var block = (0..<type.blockBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Scales giving weights of ~0.05, about 1/sqrt(256): activations stay O(1) through the layers.
                let halves: [(Int, Float)] = type == .q4_K ? [(0, .random(in: 0.0001...0.0003, using: &rng)), (2, .random(in: 0.0001...0.0004, using: &rng))]
                                                           : [(208, .random(in: -0.00006...0.00006, using: &rng))]
                for (offset, value) in halves {
                    let h = Float16(value).bitPattern
                    block[offset] = UInt8(h & 0xff)
                    block[offset + 1] = UInt8(h >> 8)
                }
                bytes += block
            }
            var values = [Float](repeating: 0, count: blocks * 256)
            herd_dequantize_row(Int32(type.rawValue), bytes, &values, Int64(values.count))
            let dims = Array(shape.reversed())
            q.addTensor(name, dims: dims, type: type, data: bytes)
            f.addTensor(name, dims: dims, type: .f32, data: values.withUnsafeBytes { Array($0) })
        }
        func norm(_ name: String) {
            let values = (0..<hidden).map { _ in Float.random(in: 0.8...1.2, using: &rng) }
            for w in [0, 1] {
                let data = values.withUnsafeBytes { Array($0) }
                if w == 0 { q.addTensor(name, dims: [hidden], type: .f32, data: data) } else { f.addTensor(name, dims: [hidden], type: .f32, data: data) }
            }
        }
        matrix("token_embd.weight", [vocab, hidden])
        matrix("output.weight", [vocab, hidden])
        norm("output_norm.weight")
        for i in 0..<2 {
            let p = "blk.\(i)."
            norm(p + "attn_norm.weight"); norm(p + "ffn_norm.weight")
            matrix(p + "attn_q.weight", [256, hidden]); matrix(p + "attn_k.weight", [128, hidden])
            matrix(p + "attn_v.weight", [128, hidden]); matrix(p + "attn_output.weight", [hidden, 256])
            if i == 0 {
                matrix(p + "ffn_gate.weight", [256, hidden]); matrix(p + "ffn_up.weight", [256, hidden]); matrix(p + "ffn_down.weight", [hidden, 256])
            } else {
                matrix(p + "ffn_gate_exps.weight", [experts, 256, hidden]); matrix(p + "ffn_up_exps.weight", [experts, 256, hidden])
                matrix(p + "ffn_down_exps.weight", [experts, hidden, 256])
                matrix(p + "ffn_gate_shexp.weight", [256, hidden]); matrix(p + "ffn_up_shexp.weight", [256, hidden])
                matrix(p + "ffn_down_shexp.weight", [hidden, 256])
                let router = (0..<(experts * hidden)).map { _ in Float.random(in: -0.3...0.3, using: &rng) }.withUnsafeBytes { Array($0) }
                q.addTensor(p + "ffn_gate_inp.weight", dims: [hidden, experts], type: .f32, data: router)
                f.addTensor(p + "ffn_gate_inp.weight", dims: [hidden, experts], type: .f32, data: router)
            }
        }
        return (try q.write(name: "llama4-kquant"), try f.write(name: "llama4-kquant-f32"))
    }

    /// K-quant weights through the whole model (embedding rows, attention, dense MLP, expert slices, head):
    /// with f32 activations the same logits as the dequantized F32 model up to float rounding; with 8-bit
    /// activations within the activation-rounding noise (a few % of the logit range).
    @Test(arguments: [[DType.q4_K], [.q6_K], [.q4_K, .q6_K]])
    func kquantModelMatchesItsDequantizedTwin(types: [DType]) throws {
        let (quantized, f32) = try Self.kquantPair(types)
        let ids: [Int32] = (0..<12).map { Int32($0 * 5 % 32) }
        let reference = Self.prefill(try Llama4Model.load(gguf: GGUFFile(path: f32), backend: CPUBackend(threads: 2, exactActivations: true)), ids)
        let spread = reference.map(abs).max()!
        #expect(spread > 0.5, "degenerate logits: max |logit| \(spread)")
        for exact in [true, false] {
            let model = try Llama4Model.load(gguf: GGUFFile(path: quantized), backend: CPUBackend(threads: 2, exactActivations: exact))
            let logits = Self.prefill(model, ids)
            let diff = Llama4GoldenTests.maxDiff(logits[...], reference[...])
            let bound: Float = exact ? 1e-4 * spread : 0.05 * spread
            #expect(diff < bound, "\(types) \(exact ? "exact" : "8-bit") activations: max |diff| \(diff), max |logit| \(spread)")
            print("llama4 gguf \(types) \(exact ? "f32" : "8-bit") activations vs dequantized F32 model: max |diff| \(diff) (max |logit| \(spread))")
        }
    }
}
