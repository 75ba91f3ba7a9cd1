import Compute
import ComputeCPU
import Foundation
import Models
import Testing
import Weights

/// Llama 4 configuration rules and broken checkpoint directories (copies of the tiny fixtures, edited).
struct Llama4LoadingTests {
    static var fixtures: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama4") }

    /// A fresh copy of fixture `name` to edit.
    static func copy(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-l4-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent(name), to: dir)
        return dir.path
    }

    static func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        if var text = json["text_config"] as? [String: Any] {
            edit(&text)
            json["text_config"] = text
        } else {
            edit(&json)
        }
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    static func loadError(_ dir: String) -> String {
        do {
            _ = try ModelLoader.load(path: dir, backend: CPUBackend(threads: 1))
            Issue.record("broken checkpoint loaded")
            return ""
        } catch {
            return "\(error)"
        }
    }

    static func config(_ json: String) throws -> Llama4Config {
        try JSONDecoder().decode(Llama4Config.self, from: Data(json.utf8))
    }

    // MARK: configuration rules

    @Test func specTinyConfigLayerMapAndRoPE() throws {
        let c = try Llama4CheckpointConfig(path: Self.fixtures.appendingPathComponent("tiny/config.json").path).text
        #expect((0..<8).map(c.usesRoPE) == [true, true, true, false, true, true, true, false])
        #expect((0..<8).map(c.isChunked) == [true, true, true, false, true, true, true, false])
        #expect((0..<8).map(c.usesQKNorm) == [true, true, true, false, true, true, true, false])
        #expect((0..<8).map(c.usesTemperature) == [false, false, false, true, false, false, false, true])
        #expect(c.moeLayerIndices == [1, 3, 5, 7])
        // Spec section 12: all three llama3 branches.
        let expected: [Float] = [1.0, 1.939227e-1, 1.440506e-2, 1.823166e-3, 3.535534e-4, 6.856204e-5, 1.329574e-5, 2.578346e-6]
        for (a, b) in zip(c.ropeInverseFrequencies, expected) { #expect(abs(a - b) <= 2e-6 * b, "\(a) vs \(b)") }
    }

    @Test func scoutRoPEScalingAndDefaults() throws {
        // Scout's published text_config values (factor 16, low = high = 1: an empty smoothing band).
        let c = try Self.config(#"{"vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192, "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 1.0, "original_max_position_embeddings": 8192}, "attn_temperature_tuning": 4, "no_rope_layers": [], "eos_token_id": [200001, 200007, 200008]}"#)
        try c.validate(path: "config.json")
        let f = c.ropeInverseFrequencies
        #expect(abs(f[34] - 9.384739e-4) < 1e-9 && abs(f[35] - 4.778106e-5) < 1e-10)
        #expect(c.temperatureTuning && c.attentionChunkSize == 8192 && c.eosTokenIds == [200001, 200007, 200008])
        #expect((0..<48).filter { !c.usesRoPE($0) } == Array(stride(from: 3, to: 48, by: 4)))
        #expect(c.moeLayerIndices == Array(0..<48) && c.denseIntermediateSize == 16384)
        // Maverick: MoE every other layer by the step rule; explicit null chunk size disables chunking.
        let m = try Self.config(#"{"vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 4, "num_attention_heads": 2, "interleave_moe_layer_step": 2, "attention_chunk_size": null, "use_qk_norm": false}"#)
        #expect(m.moeLayerIndices == [1, 3] && m.attentionChunkSize == nil && !m.isChunked(0) && !m.usesQKNorm(0))
    }

    @Test func temperatureAndChunkedBatch() throws {
        let dir = Self.fixtures.appendingPathComponent("tiny").path
        let model = try #require(try ModelLoader.load(path: dir, backend: CPUBackend(threads: 1)).model as? Llama4Model)
        // Spec section 12, floor_scale 3.
        let expected: [Float] = [1, 1, 1.069315, 1.069315, 1.069315, 1.109861, 1.109861, 1.109861, 1.138629, 1.138629, 1.138629, 1.160944]
        for (a, b) in zip(model.temperatures((0..<12).map(Int32.init)), expected) { #expect(abs(a - b) < 2e-6) }
        let chunked = Llama4Model.chunked(.contiguous(start: 0, count: 10), chunkSize: 4)
        #expect(chunked.rows.map(\.contextStart) == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8])
        #expect(chunked.rows.map(\.contextEnd) == Array(1...10))
        // Decode at position 9 of a paged-style list whose entry index is not the position.
        let paged = AttentionBatch(slots: [7, 3, 9, 1, 0, 2, 5, 6, 4, 8], sequenceSlotOffsets: [0],
                                   rows: [.init(sequence: 0, contextStart: 0, contextEnd: 10, writeSlot: 8, position: 9)])
        #expect(Llama4Model.chunked(paged, chunkSize: 4).rows[0].contextStart == 8)
    }

    // MARK: broken checkpoints

    @Test func configAndWeightsMustAgree() throws {
        var dir = try Self.copy("tiny")
        try Self.editConfig(dir) {
            $0["num_hidden_layers"] = 7; $0["no_rope_layers"] = [1, 1, 1, 0, 1, 1, 1]; $0["layer_types"] = nil; $0["moe_layers"] = [1, 3, 5]
        }
        var message = Self.loadError(dir)
        #expect(message.contains("tensor \"model.layers.7.") && message.contains("not used by the model config.json describes"), "\(message)")

        dir = try Self.copy("tiny")
        try Self.editConfig(dir) { $0["intermediate_size_mlp"] = 80 }
        message = Self.loadError(dir)
        #expect(message.contains(dir + "/model.safetensors: tensor \"model.layers.0.feed_forward.gate_proj.weight\" has shape [96, 64], expected [80, 64]"), "\(message)")

        dir = try Self.copy("tiny")
        try Self.editConfig(dir) { $0["moe_layers"] = [0, 3, 5, 7] }
        message = Self.loadError(dir)
        #expect(message.contains("missing tensor \"model.layers.0.feed_forward.router.weight\""), "\(message)")

        dir = try Self.copy("scout")
        try FileManager.default.removeItem(atPath: dir + "/model-00002-of-00003.safetensors")
        message = Self.loadError(dir)
        #expect(message.contains(dir + "/model-00002-of-00003.safetensors: cannot open"), "\(message)")
    }

    @Test func badConfigFieldsAreNamed() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("missing field hidden_size", { $0["hidden_size"] = nil }),
            ("field num_attention_heads", { $0["num_attention_heads"] = "four" }),
            ("hidden_act \"gelu\" is not supported", { $0["hidden_act"] = "gelu" }),
            ("no_rope_layers has 3 entries for 8 layers", { $0["no_rope_layers"] = [1, 1, 0] }),
            ("moe_layers names layer 9", { $0["moe_layers"] = [1, 9] }),
            ("num_attention_heads 4 is not a positive multiple of num_key_value_heads 3", { $0["num_key_value_heads"] = 3 }),
            ("rope_type \"yarn\" is not supported", { $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0] }),
            ("num_experts_per_tok 5 must be between 1 and num_local_experts 4", { $0["num_experts_per_tok"] = 5 }),
        ]
        for (expected, edit) in cases {
            let dir = try Self.copy("tiny")
            try Self.editConfig(dir, edit)
            let message = Self.loadError(dir)
            #expect(message.hasPrefix(dir + "/config.json: ") && message.contains(expected), "\(expected): \(message)")
        }
    }

    @Test func unsupportedTokenizerIsNamed() throws {
        let dir = try Self.copy("tiny")
        let url = URL(fileURLWithPath: dir + "/tokenizer.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json["pre_tokenizer"] = ["type": "Whitespace"]
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        let message = Self.loadError(dir)
        #expect(message.hasPrefix(dir + "/tokenizer.json: pre_tokenizer Whitespace is not supported"), "\(message)")
    }

    @Test func notAModelDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(Self.loadError(dir) == "\(dir): not a model directory: no config.json")
    }
}
