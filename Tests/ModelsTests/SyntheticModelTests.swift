import Compute
import ComputeCPU
import Foundation
import Models
import Testing
import Tokenizer
import Weights

/// Synthetic Llama 4 models (`synthetic:scout`, `synthetic:maverick`): spec parsing, the seeded weight
/// generator, the synthetic tokenizer, and a small model that runs like a real one.
struct SyntheticModelTests {
    /// A Scout-shaped model small enough for a debug test: 3 layers (one NoPE), 4 experts, chunk 8.
    static let small = ",layers=4,hidden=64,heads=4,kv_heads=2,head_dim=16,experts=4,intermediate=32,intermediate_mlp=48,vocab=1024,chunk=8"

    @Test func presetsHaveThePublishedShapes() throws {
        let scout = try SyntheticModelSpec(parsing: "synthetic:scout").config
        #expect(scout.hiddenSize == 5120 && scout.numHiddenLayers == 48 && scout.experts == 16 && scout.vocabSize == 202_048)
        #expect(scout.moeLayerIndices.count == 48 && scout.useQkNorm == true && scout.ropeType == "llama3")
        #expect((0..<48).filter { !scout.usesRoPE($0) } == Array(stride(from: 3, to: 48, by: 4)))
        let maverick = try SyntheticModelSpec(parsing: "synthetic:maverick").config
        #expect(maverick.experts == 128 && maverick.moeLayerIndices == Array(stride(from: 1, to: 48, by: 2)))
        #expect(maverick.useQkNorm == false && maverick.ropeType == "default")
        // Scout in BF16: ~108B parameters, ~217 GB.
        let bytes = try SyntheticModelSpec(parsing: "synthetic:scout").weightBytes
        #expect(bytes > 210_000_000_000 && bytes < 222_000_000_000, "\(bytes)")
    }

    @Test func overridesApplyAndBadOnesAreNamed() throws {
        let spec = try SyntheticModelSpec(parsing: "synthetic:scout,layers=4,experts=8,dtype=fp8,seed=7")
        #expect(spec.config.numHiddenLayers == 4 && spec.config.experts == 8 && spec.dtype == .f8_e4m3 && spec.seed == 7)
        #expect(spec.config.hiddenSize == 5120)
        let bad: [(String, String)] = [
            ("synthetic:llama", "unknown synthetic model \"llama\""),
            ("synthetic:scout,depth=3", "unknown override \"depth\""),
            ("synthetic:scout,layers=0", "layers=0: expected a positive integer"),
            ("synthetic:scout,layers", "not key=value"),
            ("synthetic:scout,dtype=q4", "dtype=q4"),
            ("synthetic:scout,heads=7", "num_attention_heads 7"),
            ("synthetic:scout,top_k=17", "num_experts_per_tok 17"),
        ]
        for (text, expected) in bad {
            #expect {
                _ = try SyntheticModelSpec(parsing: text)
            } throws: { error in
                "\(error)".contains(expected) && "\(error)".contains(text)
            }
        }
    }

    @Test func weightsArePureFunctionsOfSeedAndIndex() {
        let spec = SyntheticWeightSpec(name: "w", shape: [64, 1000], dtype: .bf16, seed: 42, std: 0.1)
        let (whole, _) = SyntheticWeights.host(spec)
        let all = whole.bytes.bindMemory(to: UInt16.self)
        // Any slice, filled on its own, has the same bits (what lets a GPU fill in parallel).
        var slice = [UInt16](repeating: 0, count: 777)
        slice.withUnsafeMutableBytes { SyntheticWeights.fill(spec, start: 12_345, count: 777, into: $0.baseAddress!) }
        #expect(Array(all[12_345..<(12_345 + 777)]) == slice)
        // Values: BF16 rounding of uniform * amplitude, mean ~0, standard deviation ~0.1.
        let values = all.map { Float(bitPattern: UInt32($0) << 16) }
        let mean = values.reduce(0, +) / Float(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
        #expect(abs(mean) < 0.005 && abs(std - 0.1) < 0.003, "mean \(mean) std \(std)")
        #expect(values.allSatisfy { abs($0) <= spec.amplitude * 1.004 })
        let u = SyntheticWeights.uniform(seed: 42, index: 5) * spec.amplitude
        #expect(all[5] == SyntheticWeights.bf16Bits(u) && abs(values[5] - u) <= abs(u) / 256)
        // A different seed gives different weights.
        let (other, _) = SyntheticWeights.host(SyntheticWeightSpec(name: "w", shape: [64, 1000], dtype: .bf16, seed: 43, std: 0.1))
        #expect(Array(other.bytes.bindMemory(to: UInt16.self)[0..<100]) != Array(all[0..<100]))
    }

    @Test func fp8WeightsHaveTheRequestedScale() {
        let spec = SyntheticWeightSpec(name: "w", shape: [32, 4096], dtype: .f8_e4m3, seed: 1, std: 0.02)
        let (weight, scales) = SyntheticWeights.host(spec)
        let bytes = weight.bytes.bindMemory(to: UInt8.self)
        let scale = scales!.bytes.bindMemory(to: Float.self)
        #expect(scales!.shape == [32] && scale.allSatisfy { $0 == spec.fp8RowScale })
        var sumSquares: Double = 0
        for byte in bytes {
            // E4M3: bias 7; exponent fields 4...8 only, so no subnormals or NaN.
            let e = Int(byte >> 3) & 15, m = Int(byte) & 7
            #expect((4...8).contains(e))
            let v = Double(8 + m) / 8 * pow(2, Double(e - 7)) * (byte & 0x80 != 0 ? -1 : 1) * Double(scale[0])
            sumSquares += v * v
        }
        let rms = (sumSquares / Double(bytes.count)).squareRoot()
        #expect(abs(rms - 0.02) < 0.0005, "rms \(rms)")
    }

    @Test func tokenizerHasTheVocabularyAndLlama4Specials() throws {
        let full = try BPETokenizer.synthetic(vocabSize: 202_048)
        #expect(full.vocabSize == 202_048 && full.bosID == 200_000 && full.eosID == 200_008)
        #expect(full.encode("<|header_start|>user<|header_end|>").first == 200_005)
        let small = try BPETokenizer.synthetic(vocabSize: 1024)
        #expect(small.vocabSize == 1024 && small.bosID == 1008 && small.isControl(1023) && !small.isControl(1007))
        // Text round-trips, and merged tokens are used (fewer ids than bytes).
        let text = "the synthetic herd routes tokens to experts; ünïcode ✓ 123"
        for tok in [full, small] {
            let ids = tok.encode(text)
            #expect(tok.decode(ids) == text)
            #expect(ids.count < text.utf8.count)
            #expect(ids.allSatisfy { !tok.isSpecial($0) })
        }
        // Every ordinary id decodes to text that encodes back to ids decoding to the same text.
        for id in stride(from: 256, to: 200_000, by: 997) {
            let piece = full.decode([id])
            #expect(full.decode(full.encode(piece)) == piece)
        }
    }

    @Test(arguments: ["scout", "maverick"])
    func smallModelRunsAndPrefillEqualsDecode(preset: String) throws {
        let loaded = try ModelLoader.load(path: "synthetic:\(preset)" + Self.small, backend: CPUBackend(threads: 2))
        let model = loaded.model
        #expect(model.architecture == "llama4" && model.vocabularySize == 1024 && loaded.chatFormat == .llama4)
        let tokens: [Int32] = (0..<21).map { Int32(($0 * 37 + 5) % 1000) }
        let n = tokens.count
        let routing = RoutingCounts(shape: model.routingShape!)
        routing.isDecodeRow = [Bool](repeating: false, count: n)
        let prefill = model.forward(tokens: tokens, batch: .contiguous(start: 0, count: n), cache: model.makeKVCache(slots: n),
                                    logitRows: Array(0..<n), routing: routing)
        #expect(prefill.allSatisfy { $0.isFinite })
        // Each token picks one expert in every MoE layer.
        let moeLayers = model.routingShape!.moeLayers.count
        #expect(routing.prefill.reduce(0, +) == UInt32(n * moeLayers))
        // Logits vary with the input (the model is not degenerate).
        let first = prefill[0..<1024], last = prefill[((n - 1) * 1024)...]
        #expect(zip(first, last).contains { abs($0 - $1) > 1e-3 })
        // Token-by-token decode over the same cache layout gives the same logits.
        let cache = model.makeKVCache(slots: n)
        var maxDiff: Float = 0
        for i in 0..<n {
            let step = model.forward(tokens: [tokens[i]], batch: .contiguous(start: i, count: 1), cache: cache, logitRows: [0])
            maxDiff = max(maxDiff, zip(step, prefill[(i * 1024)..<((i + 1) * 1024)]).reduce(0) { max($0, abs($1.0 - $1.1)) })
        }
        #expect(maxDiff < 1e-4, "prefill vs decode max |diff| \(maxDiff)")
    }

    @Test func sameSeedSameModelDifferentSeedDifferentModel() throws {
        func logits(_ text: String) throws -> [Float] {
            let model = try ModelLoader.load(path: text, backend: CPUBackend(threads: 2)).model
            return model.forward(tokens: [1, 2, 3], batch: .contiguous(start: 0, count: 3), cache: model.makeKVCache(slots: 3), logitRows: [2])
        }
        let a = try logits("synthetic:maverick" + Self.small), b = try logits("synthetic:maverick" + Self.small)
        let c = try logits("synthetic:maverick" + Self.small + ",seed=9")
        #expect(a == b)
        #expect(a != c)
        let fp8 = try logits("synthetic:maverick" + Self.small + ",dtype=fp8")
        #expect(fp8.allSatisfy { $0.isFinite } && fp8 != a)
    }
}
