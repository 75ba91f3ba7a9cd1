import Compute
import Foundation
import Weights

/// A mirror of a Llama 4 text model's `config.json` fields (HF `Llama4TextConfig`): the `text_config` of a
/// `Llama4ForConditionalGeneration` checkpoint, or the top level of a `Llama4ForCausalLM` one. Stored
/// properties are the file's values (nil when absent); computed properties resolve them with HF's
/// defaults and derivation rules (`Llama4TextConfig.__post_init__`).
public struct Llama4Config: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    /// Width of each routed expert and of the shared expert.
    public var intermediateSize: Int
    /// Width of the dense (non-MoE) layers' MLP.
    public var intermediateSizeMLP: Int?
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var hiddenAct: String?
    public var maxPositionEmbeddings: Int?
    public var rmsNormEps: Double?
    /// Older files: top-level theta plus `rope_scaling`; newer ones: `rope_parameters` holding both.
    public var ropeTheta: Double?
    public var ropeScaling: RopeParameters?
    public var ropeParameters: RopeParameters?
    public var numLocalExperts: Int?
    public var numExpertsPerTok: Int?
    public var interleaveMoeLayerStep: Int?
    public var moeLayers: [Int]?
    /// 1 = the layer USES RoPE (HF's naming is inverted), 0 = NoPE; empty or absent = derived.
    public var noRopeLayers: [Int]?
    public var noRopeLayerInterval: Int?
    /// nil: no chunked attention. Absent from the file means HF's default 8192, an explicit null means none.
    public var attentionChunkSize: Int?
    public var layerTypes: [String]?
    public var useQkNorm: Bool?
    /// May be a number (the first Scout upload says 4): any truthy value enables it.
    public var attnTemperatureTuning: Bool?
    public var floorScale: Double?
    public var attnScale: Double?
    public var attentionBias: Bool?
    public var tieWordEmbeddings: Bool?
    public var bosTokenId: Int?
    /// One id or a list in the file.
    public var eosTokenIds: [Int]?
    public var padTokenId: Int?

    public struct RopeParameters: Codable, Sendable, Equatable {
        public var ropeType: String?
        public var type: String?
        public var ropeTheta: Double?
        public var factor: Double?
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Double?
        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        }
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case intermediateSizeMLP = "intermediate_size_mlp", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters", numLocalExperts = "num_local_experts"
        case numExpertsPerTok = "num_experts_per_tok", interleaveMoeLayerStep = "interleave_moe_layer_step"
        case moeLayers = "moe_layers", noRopeLayers = "no_rope_layers", noRopeLayerInterval = "no_rope_layer_interval"
        case attentionChunkSize = "attention_chunk_size", layerTypes = "layer_types", useQkNorm = "use_qk_norm"
        case attnTemperatureTuning = "attn_temperature_tuning", floorScale = "floor_scale", attnScale = "attn_scale"
        case attentionBias = "attention_bias", tieWordEmbeddings = "tie_word_embeddings"
        case bosTokenId = "bos_token_id", eosTokenIds = "eos_token_id", padTokenId = "pad_token_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        intermediateSizeMLP = try c.decodeIfPresent(Int.self, forKey: .intermediateSizeMLP)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        ropeScaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeParameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        numLocalExperts = try c.decodeIfPresent(Int.self, forKey: .numLocalExperts)
        numExpertsPerTok = try c.decodeIfPresent(Int.self, forKey: .numExpertsPerTok)
        interleaveMoeLayerStep = try c.decodeIfPresent(Int.self, forKey: .interleaveMoeLayerStep)
        moeLayers = try c.decodeIfPresent([Int].self, forKey: .moeLayers)
        noRopeLayers = try c.decodeIfPresent([Int].self, forKey: .noRopeLayers)
        noRopeLayerInterval = try c.decodeIfPresent(Int.self, forKey: .noRopeLayerInterval)
        // HF distinguishes an absent key (default 8192) from an explicit null (no chunking).
        if !c.contains(.attentionChunkSize) {
            attentionChunkSize = 8192
        } else {
            attentionChunkSize = try c.decodeNil(forKey: .attentionChunkSize) ? nil : c.decode(Int.self, forKey: .attentionChunkSize)
        }
        layerTypes = try c.decodeIfPresent([String].self, forKey: .layerTypes)
        useQkNorm = try c.decodeIfPresent(Bool.self, forKey: .useQkNorm)
        if let flag = try? c.decodeIfPresent(Bool.self, forKey: .attnTemperatureTuning) {
            attnTemperatureTuning = flag
        } else if let number = try c.decodeIfPresent(Double.self, forKey: .attnTemperatureTuning) {
            attnTemperatureTuning = number != 0
        }
        floorScale = try c.decodeIfPresent(Double.self, forKey: .floorScale)
        attnScale = try c.decodeIfPresent(Double.self, forKey: .attnScale)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenIds) {
            eosTokenIds = [one]
        } else {
            eosTokenIds = try c.decodeIfPresent([Int].self, forKey: .eosTokenIds)
        }
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId)
    }

    // MARK: resolved values

    public var kvHeads: Int { numKeyValueHeads ?? numAttentionHeads }
    public var resolvedHeadDim: Int { headDim ?? hiddenSize / numAttentionHeads }
    public var denseIntermediateSize: Int { intermediateSizeMLP ?? 16384 }
    public var experts: Int { numLocalExperts ?? 16 }
    public var expertsPerToken: Int { numExpertsPerTok ?? 1 }
    public var contextLength: Int { maxPositionEmbeddings ?? 131_072 }
    public var epsilon: Float { Float(rmsNormEps ?? 1e-5) }
    public var tiedEmbeddings: Bool { tieWordEmbeddings ?? false }
    public var temperatureTuning: Bool { attnTemperatureTuning ?? true }
    public var temperatureFloorScale: Double { floorScale ?? 8192 }
    public var temperatureScale: Double { attnScale ?? 0.1 }
    private var rope: RopeParameters? { ropeParameters ?? ropeScaling }
    public var ropeType: String { rope?.ropeType ?? rope?.type ?? "default" }
    public var resolvedRopeTheta: Double { rope?.ropeTheta ?? ropeTheta ?? 500_000 }

    /// Layer i uses RoPE (and QK-norm, chunked attention) unless `no_rope_layers[i] == 0`; without the
    /// list, every `no_rope_layer_interval`-th layer is NoPE.
    public func usesRoPE(_ layer: Int) -> Bool {
        if let list = noRopeLayers, !list.isEmpty { return list[layer] != 0 }
        return (layer + 1) % (noRopeLayerInterval ?? 4) != 0
    }
    /// `moe_layers` when given, else every `interleave_moe_layer_step`-th layer (HF's rule).
    public func isMoE(_ layer: Int) -> Bool {
        if let list = moeLayers { return list.contains(layer) }
        let step = interleaveMoeLayerStep ?? 1
        return (layer + 1) % step == 0
    }
    /// Chunked local attention: `layer_types` when given, else RoPE layers when a chunk size is set.
    public func isChunked(_ layer: Int) -> Bool {
        if let types = layerTypes { return types[layer] == "chunked_attention" }
        return usesRoPE(layer) && attentionChunkSize != nil
    }
    public func usesQKNorm(_ layer: Int) -> Bool { (useQkNorm ?? true) && usesRoPE(layer) }
    public func usesTemperature(_ layer: Int) -> Bool { temperatureTuning && !usesRoPE(layer) }
    public var moeLayerIndices: [Int] { (0..<numHiddenLayers).filter(isMoE) }

    /// Per pair j of a head, RoPE's angle per position, llama3-scaled when configured. In Float, as
    /// transformers computes them (float32 `base ** (2j/d)`).
    public var ropeInverseFrequencies: [Float] {
        let d = resolvedHeadDim
        let base = Float(resolvedRopeTheta)
        var freqs = (0..<(d / 2)).map { j in 1 / powf(base, Float(2 * j) / Float(d)) }
        guard ropeType == "llama3", let r = rope else { return freqs }
        let factor = Float(r.factor ?? 8), low = Float(r.lowFreqFactor ?? 1), high = Float(r.highFreqFactor ?? 4)
        let old = Float(r.originalMaxPositionEmbeddings ?? 8192)
        let lowWavelen = old / low, highWavelen = old / high
        for j in freqs.indices {
            let wavelen = 2 * Float.pi / freqs[j]
            if wavelen < highWavelen { continue }
            if wavelen > lowWavelen { freqs[j] /= factor; continue }
            if high == low { continue }  // empty band: only wavelen == old lands here (HF gives 0/0 there)
            let s = (old / wavelen - low) / (high - low)
            freqs[j] = (1 - s) * freqs[j] / factor + s * freqs[j]
        }
        return freqs
    }

    /// Checks what the model relies on; errors name the config file and field.
    public func validate(path: String) throws(ModelFileError) {
        func bad(_ reason: String) -> ModelFileError { ModelFileError(path, reason) }
        let L = numHiddenLayers
        guard vocabSize > 0, hiddenSize > 0, intermediateSize > 0, denseIntermediateSize > 0, L > 0, L <= 1024 else {
            throw bad("vocab_size, hidden_size, intermediate_size(_mlp) and num_hidden_layers (≤ 1024) must be positive")
        }
        guard numAttentionHeads > 0, kvHeads > 0, numAttentionHeads % kvHeads == 0 else {
            throw bad("num_attention_heads \(numAttentionHeads) is not a positive multiple of num_key_value_heads \(kvHeads)")
        }
        guard resolvedHeadDim > 0, resolvedHeadDim % 2 == 0 else { throw bad("head_dim \(resolvedHeadDim) must be positive and even") }
        guard experts > 0, (1...experts).contains(expertsPerToken) else {
            throw bad("num_experts_per_tok \(expertsPerToken) must be between 1 and num_local_experts \(experts)")
        }
        if let act = hiddenAct, act != "silu" { throw bad("hidden_act \"\(act)\" is not supported (only silu)") }
        if attentionBias == true { throw bad("attention_bias = true is not supported (Llama 4 has no biases)") }
        if let list = noRopeLayers, !list.isEmpty, list.count != L {
            throw bad("no_rope_layers has \(list.count) entries for \(L) layers")
        }
        if let interval = noRopeLayerInterval, interval <= 0 { throw bad("no_rope_layer_interval must be positive") }
        if let step = interleaveMoeLayerStep, step <= 0 { throw bad("interleave_moe_layer_step must be positive") }
        if let list = moeLayers, let wrong = list.first(where: { !(0..<L).contains($0) }) {
            throw bad("moe_layers names layer \(wrong), outside 0..<\(L)")
        }
        if let types = layerTypes {
            guard types.count == L else { throw bad("layer_types has \(types.count) entries for \(L) layers") }
            if let wrong = types.first(where: { $0 != "chunked_attention" && $0 != "full_attention" }) {
                throw bad("layer_types entry \"\(wrong)\" is not supported (chunked_attention, full_attention)")
            }
            if types.contains("chunked_attention") && attentionChunkSize == nil {
                throw bad("layer_types asks for chunked_attention but attention_chunk_size is null")
            }
        }
        if let chunk = attentionChunkSize, chunk <= 0 { throw bad("attention_chunk_size must be positive or null") }
        guard temperatureFloorScale > 0 else { throw bad("floor_scale must be positive") }
        guard ["default", "llama3"].contains(ropeType) else {
            throw bad("rope_type \"\(ropeType)\" is not supported (default, llama3)")
        }
        // Scout's published scaling has high == low (an empty smoothing band), so equality is allowed.
        if ropeType == "llama3", let r = rope, let low = r.lowFreqFactor, let high = r.highFreqFactor, !(high >= low) {
            throw bad("llama3 rope scaling needs high_freq_factor >= low_freq_factor (got \(high), \(low))")
        }
    }
}

/// How a checkpoint's config.json wraps the text model: which class, and where its weights are named.
public struct Llama4CheckpointConfig: Sendable {
    public let text: Llama4Config
    /// "Llama4ForConditionalGeneration" or "Llama4ForCausalLM".
    public let architecture: String
    /// Prefix of the decoder's tensors ("language_model.model." or "model.").
    public let modelPrefix: String
    /// Name of the output head ("language_model.lm_head.weight" or "lm_head.weight").
    public let headName: String

    private struct Outer: Decodable {
        let architectures: [String]?
        let model_type: String?
        let text_config: Llama4Config?
    }

    /// Reads `config.json`; errors name the file and the field.
    public init(path: String) throws(ModelFileError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelFileError(path, "cannot read: \(error.localizedDescription)")
        }
        do {
            let outer = try JSONDecoder().decode(Outer.self, from: data)
            let arch = outer.architectures?.first ?? (outer.text_config != nil ? "Llama4ForConditionalGeneration" : "Llama4ForCausalLM")
            switch arch {
            case "Llama4ForConditionalGeneration":
                guard let text = outer.text_config else { throw ModelFileError(path, "Llama4ForConditionalGeneration without a text_config") }
                self.text = text
                modelPrefix = "language_model.model."
                headName = "language_model.lm_head.weight"
            case "Llama4ForCausalLM":
                text = try JSONDecoder().decode(Llama4Config.self, from: data)
                modelPrefix = "model."
                headName = "lm_head.weight"
            default:
                throw ModelFileError(path, "architecture \"\(arch)\" is not supported (Llama4ForConditionalGeneration, Llama4ForCausalLM)")
            }
            architecture = arch
        } catch let error as ModelFileError {
            throw error
        } catch let error as DecodingError {
            throw ModelFileError(path, Self.describe(error))
        } catch {
            throw ModelFileError(path, "\(error)")
        }
        try text.validate(path: path)
    }

    /// "field text_config.hidden_size: expected Int, found a string"-style text for a decoding error.
    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = field(context.codingPath)
            return "missing field \(parent.isEmpty ? "" : parent + ".")\(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field \(field(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON: \(context.debugDescription)"
                : "field \(field(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
