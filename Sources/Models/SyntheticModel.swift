import Compute
import Foundation
import Tokenizer
import Weights

/// A Llama 4 model made from a seed instead of a file: `synthetic:scout` or `synthetic:maverick` at full
/// width, with comma-separated overrides, e.g. `synthetic:scout,layers=4,dtype=fp8`. For benchmarks and
/// demos without a download: the shapes, layer kinds and routing are the real models'; the weights are
/// seeded random values generated on the backend (`ComputeBackend.syntheticWeight`), never stored.
public struct SyntheticModelSpec: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "synthetic:"

    public enum Preset: String, Sendable, CaseIterable { case scout, maverick }

    public var preset: Preset
    public var config: Llama4Config
    /// Matrix dtype: BF16 (default), FP8 (E4M3 with per-row scales, as the FP8 checkpoints) or F32.
    public var dtype: DType
    public var seed: UInt64
    /// The text the spec was parsed from.
    public let text: String

    /// Override keys, their meaning, for error messages and `--help`.
    public static let overrideKeys: [(key: String, meaning: String)] = [
        ("layers", "decoder layers"), ("hidden", "hidden size"), ("intermediate", "expert / shared-expert width"),
        ("intermediate_mlp", "dense-layer MLP width"), ("heads", "attention heads"), ("kv_heads", "KV heads"),
        ("head_dim", "head dimension"), ("experts", "routed experts"), ("top_k", "experts per token"),
        ("interleave", "every Nth layer is MoE"), ("chunk", "attention chunk size"), ("vocab", "vocabulary size"),
        ("context", "max positions"), ("dtype", "bf16 | fp8 | f32"), ("seed", "weight seed"),
    ]

    public var description: String { text }

    /// Parses `synthetic:NAME[,key=value...]`; errors say which part is wrong and list what is allowed.
    public init(parsing text: String) throws(ModelFileError) {
        self.text = text
        guard text.hasPrefix(Self.prefix) else { throw ModelFileError(text, "not a synthetic model (synthetic:scout, synthetic:maverick)") }
        let parts = text.dropFirst(Self.prefix.count).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, let preset = Preset(rawValue: name) else {
            throw ModelFileError(text, "unknown synthetic model \"\(parts.first ?? "")\" (known: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.preset = preset
        var fields = Self.presetFields(preset)
        dtype = .bf16
        seed = 0
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw ModelFileError(text, "override \"\(part)\" is not key=value") }
            let (key, value) = (pair[0], pair[1])
            func number() throws(ModelFileError) -> Int {
                guard let n = Int(value), n > 0 else { throw ModelFileError(text, "\(key)=\(value): expected a positive integer") }
                return n
            }
            switch key {
            case "layers": fields["num_hidden_layers"] = try number()
            case "hidden": fields["hidden_size"] = try number()
            case "intermediate": fields["intermediate_size"] = try number()
            case "intermediate_mlp": fields["intermediate_size_mlp"] = try number()
            case "heads": fields["num_attention_heads"] = try number()
            case "kv_heads": fields["num_key_value_heads"] = try number()
            case "head_dim": fields["head_dim"] = try number()
            case "experts": fields["num_local_experts"] = try number()
            case "top_k": fields["num_experts_per_tok"] = try number()
            case "interleave": fields["interleave_moe_layer_step"] = try number()
            case "chunk": fields["attention_chunk_size"] = try number()
            case "vocab": fields["vocab_size"] = try number()
            case "context": fields["max_position_embeddings"] = try number()
            case "seed":
                guard let s = UInt64(value) else { throw ModelFileError(text, "seed=\(value): expected an unsigned integer") }
                seed = s
            case "dtype":
                switch value.lowercased() {
                case "bf16": dtype = .bf16
                case "fp8", "f8_e4m3": dtype = .f8_e4m3
                case "f32": dtype = .f32
                default: throw ModelFileError(text, "dtype=\(value): expected bf16, fp8 or f32")
                }
            default:
                throw ModelFileError(text, "unknown override \"\(key)\" (known: \(Self.overrideKeys.map(\.key).joined(separator: ", ")))")
            }
        }
        if (fields["vocab_size"] as? Int ?? 0) < 512 { throw ModelFileError(text, "vocab must be at least 512") }
        do {
            let json = try JSONSerialization.data(withJSONObject: fields)
            config = try JSONDecoder().decode(Llama4Config.self, from: json)
        } catch {
            throw ModelFileError(text, "cannot build the configuration: \(error)")
        }
        try config.validate(path: text)
    }

    /// The published text configs (see /work/shared/docs/llama4-architecture.md, section 1).
    static func presetFields(_ preset: Preset) -> [String: Any] {
        var fields: [String: Any] = [
            "vocab_size": 202_048, "hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
            "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
            "num_experts_per_tok": 1, "no_rope_layer_interval": 4, "attention_chunk_size": 8192,
            "attn_temperature_tuning": true, "floor_scale": 8192, "attn_scale": 0.1, "rope_theta": 500_000.0,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "hidden_act": "silu",
        ]
        switch preset {
        case .scout:
            fields["num_local_experts"] = 16
            fields["interleave_moe_layer_step"] = 1
            fields["use_qk_norm"] = true
            fields["max_position_embeddings"] = 262_144
            fields["rope_scaling"] = ["rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 1.0, "original_max_position_embeddings": 8192]
        case .maverick:
            fields["num_local_experts"] = 128
            fields["interleave_moe_layer_step"] = 2
            fields["use_qk_norm"] = false
            fields["max_position_embeddings"] = 262_144
        }
        return fields
    }

    /// Bytes of weights the model takes on the device (matrices in `dtype`, norms F32).
    public var weightBytes: Int {
        let c = config, d = c.resolvedHeadDim, h = c.hiddenSize
        let width = dtype.blockBytes
        var elements = 0
        for layer in 0..<c.numHiddenLayers {
            elements += h * (c.numAttentionHeads * d) * 2 + h * (c.kvHeads * d) * 2
            elements += c.isMoE(layer) ? (c.experts + 1) * 3 * h * c.intermediateSize + c.experts * h
                                       : 3 * h * c.denseIntermediateSize
        }
        // routers are BF16 too, but small: counted at the matrices' width
        let unquantized = dtype == .f32 ? 4 : 2
        return elements * width + 2 * c.vocabSize * h * unquantized  // + embedding and head
    }
}

extension Llama4Model {
    /// Builds the synthetic model `spec` on `backend`. Every matrix is seeded from the spec's seed and its
    /// HF tensor name, with standard deviation 1/sqrt(fan-in) (so activations keep their scale); norms are 1.
    public static func synthetic(_ spec: SyntheticModelSpec, backend: any ComputeBackend) throws -> Llama4Model {
        let c = spec.config, h = c.hiddenSize, d = c.resolvedHeadDim
        func matrix(_ name: String, _ rows: Int, _ cols: Int, dtype: DType? = nil) throws -> Tensor {
            let seed = SyntheticWeights.seed(model: spec.seed, tensor: name)
            return try backend.syntheticWeight(SyntheticWeightSpec(name: name, shape: [rows, cols], dtype: dtype ?? spec.dtype,
                                                                   seed: seed, std: 1 / Float(cols).squareRoot()))
        }
        let onesBytes = OwnedHostBytes(count: h * 4)
        let ones = onesBytes.pointer.assumingMemoryBound(to: Float.self)
        for i in 0..<h { ones[i] = 1 }
        func norm(_ name: String) throws -> Tensor {
            try backend.weight(HostTensor(name: name, dtype: .f32, shape: [h], bytes: onesBytes.buffer, owner: onesBytes))
        }
        func mlp(_ prefix: String, width: Int) throws -> MLP {
            MLP(gate: try matrix(prefix + "gate_proj.weight", width, h), up: try matrix(prefix + "up_proj.weight", width, h),
                down: try matrix(prefix + "down_proj.weight", h, width))
        }
        // The embedding, router and output head stay BF16 in FP8 models, as in the FP8 checkpoints.
        let unquantized: DType = spec.dtype == .f32 ? .f32 : .bf16
        let embedding = try matrix("model.embed_tokens.weight", c.vocabSize, h, dtype: unquantized)
        var layers: [Layer] = []
        for i in 0..<c.numHiddenLayers {
            let l = "model.layers.\(i).", ff = l + "feed_forward."
            let feedForward: FeedForward
            if c.isMoE(i) {
                feedForward = .moe(router: try matrix(ff + "router.weight", c.experts, h, dtype: unquantized),
                                   experts: try (0..<c.experts).map { try mlp(ff + "experts.\($0).", width: c.intermediateSize) },
                                   shared: try mlp(ff + "shared_expert.", width: c.intermediateSize))
            } else {
                feedForward = .dense(try mlp(ff, width: c.denseIntermediateSize))
            }
            layers.append(Layer(inputNorm: try norm(l + "input_layernorm.weight"),
                                wq: try matrix(l + "self_attn.q_proj.weight", c.numAttentionHeads * d, h),
                                wk: try matrix(l + "self_attn.k_proj.weight", c.kvHeads * d, h),
                                wv: try matrix(l + "self_attn.v_proj.weight", c.kvHeads * d, h),
                                wo: try matrix(l + "self_attn.o_proj.weight", h, c.numAttentionHeads * d),
                                postAttentionNorm: try norm(l + "post_attention_layernorm.weight"),
                                feedForward: feedForward))
        }
        return Llama4Model(config: c, backend: backend, embedding: embedding, layers: layers,
                           finalNorm: try norm("model.norm.weight"), output: try matrix("lm_head.weight", c.vocabSize, h, dtype: unquantized))
    }
}

extension Llama4Model {
    /// The dtype the attention matrices are held in on the backend (synthetic models use it for every matrix
    /// but the router, embedding and head), for byte accounting in benchmarks.
    public var matrixDType: DType { layers.first?.wq.dtype ?? .f32 }
}
