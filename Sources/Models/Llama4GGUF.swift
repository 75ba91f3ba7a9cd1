import Compute
import Foundation
import Weights

/// Llama 4 GGUF files as llama.cpp's converter writes them (`general.architecture = llama4`,
/// convert_hf_to_gguf.py `Llama4Model`) and as llama.cpp reads them (src/models/llama4.cpp).
///
/// The file carries only part of the HF config; llama.cpp hard-codes the rest, and so does Herd, to run a
/// file exactly as llama.cpp does:
/// - chunked attention of 8192 tokens on the layers of `attention.sliding_window_pattern` (default: 3 of
///   every 4), NoPE + attention temperature (floor 8192, scale 0.1) on every 4th layer; the value of
///   `attention.sliding_window` is ignored except 0, which turns chunking, NoPE layers but the last one
///   (llama.cpp's step = layer count) and the temperature off;
/// - QK norm unless the model has 128 experts (Maverick);
/// - MoE on every `interleave_moe_layer_step`-th layer, sigmoid top-k routing weighting the expert input;
/// - `feed_forward_length` is the dense layers' width (HF `intermediate_size_mlp`) and
///   `expert_feed_forward_length` the experts' and shared expert's (HF `intermediate_size`);
/// - llama3 RoPE scaling arrives as `rope_freqs.weight`, per-pair divisors of the frequencies;
/// - q/k rows are NOT permuted (the converter's `undo_permute = False`) and RoPE rotates adjacent pairs,
///   as in the HF checkpoint.
extension Llama4Config {
    public init(gguf: GGUFFile) throws(ModelFileError) {
        func key(_ k: String) -> String { "llama4.\(k)" }
        let path = gguf.path
        let layers = try gguf.int(key("block_count"))
        let hidden = try gguf.int(key("embedding_length"))
        let heads = try gguf.int(key("attention.head_count"))
        let kvHeads = gguf.optionalInt(key("attention.head_count_kv")) ?? heads
        guard layers > 0, layers <= 1024, hidden > 0, heads > 0, kvHeads > 0 else {
            throw ModelFileError(path, "inconsistent hyperparameters: layers \(layers), hidden \(hidden), heads \(heads), kv heads \(kvHeads)")
        }
        let headDim = gguf.optionalInt(key("attention.key_length")) ?? hidden / heads
        for k in ["attention.value_length", "rope.dimension_count"] {
            if let v = gguf.optionalInt(key(k)), v != headDim {
                throw ModelFileError(path, "\(key(k)) = \(v) differs from the head size \(headDim) (partial rotary or unequal k/v heads are not supported)")
            }
        }
        let experts = try gguf.int(key("expert_count"))
        guard experts > 0 else { throw ModelFileError(path, "\(key("expert_count")) is 0: a llama4 model needs experts") }
        // llama.cpp reads the expert width as one value or one per layer; Herd needs one width.
        let expertWidthKey = key("expert_feed_forward_length")
        let expertWidth: Int
        if case .array(let values) = try gguf.value(expertWidthKey) {
            let widths = Set(values.values.compactMap(\.intValue))
            guard widths.count == 1, values.count == layers else {
                throw ModelFileError(path, "\(expertWidthKey) should be one width for all \(layers) layers, found \(values.values.map { $0.summary })")
            }
            expertWidth = widths.first!
        } else {
            expertWidth = try gguf.int(expertWidthKey)
        }
        if let scaling = gguf.optionalString(key("rope.scaling.type")), scaling != "none" {
            throw ModelFileError(path, "\(key("rope.scaling.type")) \"\(scaling)\" is not supported (llama3 scaling comes as rope_freqs.weight)")
        }
        guard let embedding = gguf.tensor(named: "token_embd.weight"), embedding.dims.count == 2 else {
            throw ModelFileError(path, "missing tensor \"token_embd.weight\"")
        }
        let vocab = embedding.dims[1]
        if let v = gguf.optionalInt(key("vocab_size")), v != vocab {
            throw ModelFileError(path, "\(key("vocab_size")) = \(v) but token_embd.weight has \(vocab) rows")
        }
        let step = try gguf.int(key("interleave_moe_layer_step"))

        var c: [String: Any] = [
            "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kvHeads, "head_dim": headDim,
            "intermediate_size": expertWidth, "intermediate_size_mlp": try gguf.int(key("feed_forward_length")),
            "max_position_embeddings": try gguf.int(key("context_length")),
            "rms_norm_eps": try gguf.double(key("attention.layer_norm_rms_epsilon")),
            "rope_theta": gguf.optionalDouble(key("rope.freq_base")) ?? 10_000,  // llama.cpp's default
            "num_local_experts": experts, "num_experts_per_tok": try gguf.int(key("expert_used_count")),
            "use_qk_norm": experts != 128,  // llama.cpp: use_kq_norm = type != 17B_128E
            "tie_word_embeddings": gguf.tensor(named: "output.weight") == nil,
            "no_rope_layers": [Int](),
        ]
        // llama.cpp: layer i is MoE iff step > 0 && (i + 1) % step == 0 (HF's rule for step > 0).
        if step > 0 { c["interleave_moe_layer_step"] = step } else { c["moe_layers"] = [Int]() }
        if gguf.optionalInt(key("attention.sliding_window")) == 0 {
            c["attention_chunk_size"] = NSNull()
            c["no_rope_layer_interval"] = layers
            c["attn_temperature_tuning"] = false
        } else {
            c["attention_chunk_size"] = 8192
            c["no_rope_layer_interval"] = 4
            c["attn_temperature_tuning"] = true
            c["floor_scale"] = 8192
            c["attn_scale"] = 0.1
            let patternKey = key("attention.sliding_window_pattern")
            var chunked: [Bool] = (0..<layers).map { $0 % 4 < 3 }
            switch gguf.metadata[patternKey] {
            case .array(let values)?:
                let flags = values.values.compactMap { v -> Bool? in if case .bool(let b) = v { return b } else { return nil } }
                guard flags.count == layers else {
                    throw ModelFileError(path, "\(patternKey) should be \(layers) booleans, found \(values.count) values")
                }
                chunked = flags
            case let value?:
                guard let n = value.intValue, n > 0 else { throw ModelFileError(path, "\(patternKey) should be a positive integer or booleans") }
                chunked = (0..<layers).map { $0 % n < n - 1 }
            case nil: break
            }
            c["layer_types"] = chunked.map { $0 ? "chunked_attention" : "full_attention" }
        }
        do {
            self = try JSONDecoder().decode(Llama4Config.self, from: JSONSerialization.data(withJSONObject: c))
        } catch {
            throw ModelFileError(path, "llama4 hyperparameters: \(error)")
        }
        try validate(path: path)
    }
}

extension Llama4Model {
    /// Loads a `llama4` GGUF onto `backend`: llama.cpp's tensor names, every tensor's presence, shape and
    /// type checked (errors name the file and the tensor). Matrices stay in their file type; each routed
    /// expert is a view of its slice of the `[E][out][in]` expert tensors, so nothing is copied on the CPU.
    public static func load(gguf: GGUFFile, backend: any ComputeBackend) throws -> Llama4Model {
        let c = try Llama4Config(gguf: gguf)
        var used = Set<String>()
        func host(_ name: String, _ shape: [Int]) throws(ModelFileError) -> (GGUFTensorInfo, UnsafeRawBufferPointer) {
            guard let info = gguf.tensor(named: name) else { throw ModelFileError(gguf.path, "missing tensor \"\(name)\"") }
            let fileShape = Array(info.dims.reversed())  // ggml lists the innermost dimension first
            guard fileShape == shape else {
                throw ModelFileError(gguf.path, "tensor \"\(name)\" has shape \(fileShape), expected \(shape)")
            }
            used.insert(name)
            return (info, gguf.data(for: info))
        }
        func place(_ t: HostTensor) throws(ModelFileError) -> Tensor {
            do { return try backend.weight(t) } catch { throw ModelFileError(gguf.path, "\(error)") }
        }
        func load(_ name: String, _ shape: [Int]) throws(ModelFileError) -> Tensor {
            let (info, bytes) = try host(name, shape)
            return try place(HostTensor(name: name, dtype: info.type, shape: shape, bytes: bytes, owner: gguf.mapping))
        }
        /// Expert e's `[rows, cols]` matrix: the e-th contiguous slice of an `[E, rows, cols]` tensor.
        func experts(_ name: String, rows: Int, cols: Int) throws(ModelFileError) -> [Tensor] {
            let (info, bytes) = try host(name, [c.experts, rows, cols])
            let perExpert = bytes.count / c.experts
            return try (0..<c.experts).map { (e: Int) throws(ModelFileError) -> Tensor in
                let slice = UnsafeRawBufferPointer(rebasing: bytes[(e * perExpert)..<((e + 1) * perExpert)])
                return try place(HostTensor(name: "\(name)[\(e)]", dtype: info.type, shape: [rows, cols], bytes: slice, owner: gguf.mapping))
            }
        }

        let hidden = c.hiddenSize, d = c.resolvedHeadDim, f = c.intermediateSize
        let q = c.numAttentionHeads * d, kv = c.kvHeads * d
        let embedding = try load("token_embd.weight", [c.vocabSize, hidden])
        var layers: [Layer] = []
        for i in 0..<c.numHiddenLayers {
            let p = "blk.\(i)."
            let feedForward: FeedForward
            if c.isMoE(i) {
                let gate = try experts(p + "ffn_gate_exps.weight", rows: f, cols: hidden)
                let up = try experts(p + "ffn_up_exps.weight", rows: f, cols: hidden)
                let down = try experts(p + "ffn_down_exps.weight", rows: hidden, cols: f)
                feedForward = .moe(router: try load(p + "ffn_gate_inp.weight", [c.experts, hidden]),
                                   experts: (0..<c.experts).map { MLP(gate: gate[$0], up: up[$0], down: down[$0]) },
                                   shared: MLP(gate: try load(p + "ffn_gate_shexp.weight", [f, hidden]),
                                               up: try load(p + "ffn_up_shexp.weight", [f, hidden]),
                                               down: try load(p + "ffn_down_shexp.weight", [hidden, f])))
            } else {
                let w = c.denseIntermediateSize
                feedForward = .dense(MLP(gate: try load(p + "ffn_gate.weight", [w, hidden]),
                                         up: try load(p + "ffn_up.weight", [w, hidden]),
                                         down: try load(p + "ffn_down.weight", [hidden, w])))
            }
            layers.append(Layer(inputNorm: try load(p + "attn_norm.weight", [hidden]),
                                wq: try load(p + "attn_q.weight", [q, hidden]),
                                wk: try load(p + "attn_k.weight", [kv, hidden]),
                                wv: try load(p + "attn_v.weight", [kv, hidden]),
                                wo: try load(p + "attn_output.weight", [hidden, q]),
                                postAttentionNorm: try load(p + "ffn_norm.weight", [hidden]),
                                feedForward: feedForward))
        }
        let finalNorm = try load("output_norm.weight", [hidden])
        let output = c.tiedEmbeddings ? embedding : try load("output.weight", [c.vocabSize, hidden])

        // RoPE: theta^(-2j/d) divided per pair by rope_freqs (llama3 scaling), as ggml's rope computes it.
        var frequencies = c.ropeInverseFrequencies
        if gguf.tensor(named: "rope_freqs.weight") != nil {
            let (info, bytes) = try host("rope_freqs.weight", [d / 2])
            guard info.type == .f32 else { throw ModelFileError(gguf.path, "tensor \"rope_freqs.weight\" is \(info.type), expected F32") }
            let divisors = bytes.bindMemory(to: Float.self)
            for j in frequencies.indices { frequencies[j] /= divisors[j] }
        }
        // A tensor the configuration does not use means config and weights disagree (e.g. a wrong MoE step).
        if let unused = gguf.tensors.map(\.name).first(where: { !used.contains($0) }) {
            throw ModelFileError(gguf.path, "tensor \"\(unused)\" is not used by the model the metadata describes (\(c.numHiddenLayers) layers, MoE layers \(c.moeLayerIndices))")
        }
        return Llama4Model(config: c, backend: backend, embedding: embedding, layers: layers, finalNorm: finalNorm, output: output,
                           rope: RoPE(inverseFrequencies: frequencies, interleaved: true))
    }
}
