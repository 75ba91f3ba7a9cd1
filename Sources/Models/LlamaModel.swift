import Compute
import Weights

/// Hyperparameters of a dense llama-family model (Llama 2/3, SmolLM2, ...), read from GGUF `llama.*` keys.
public struct LlamaConfig: Sendable, Equatable {
    public var layers: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var rmsEpsilon: Float
    public var ropeTheta: Double
    public var tiedEmbeddings: Bool

    /// Reads the `llama.*` hyperparameters; errors name the key and file.
    public init(gguf: GGUFFile) throws(ModelFileError) {
        let arch = try gguf.string("general.architecture")
        func key(_ k: String) -> String { "\(arch).\(k)" }
        layers = try gguf.int(key("block_count"))
        hiddenSize = try gguf.int(key("embedding_length"))
        intermediateSize = try gguf.int(key("feed_forward_length"))
        heads = try gguf.int(key("attention.head_count"))
        kvHeads = gguf.optionalInt(key("attention.head_count_kv")) ?? heads
        contextLength = try gguf.int(key("context_length"))
        rmsEpsilon = Float(try gguf.double(key("attention.layer_norm_rms_epsilon")))
        ropeTheta = gguf.optionalDouble(key("rope.freq_base")) ?? 10_000
        guard layers > 0, layers <= 1024, hiddenSize > 0, heads > 0, kvHeads > 0, heads % kvHeads == 0,
              hiddenSize % heads == 0, intermediateSize > 0, contextLength > 0
        else {
            throw ModelFileError(gguf.path,
                "inconsistent hyperparameters: layers \(layers), hidden \(hiddenSize), heads \(heads), kv heads \(kvHeads), ffn \(intermediateSize), context \(contextLength)")
        }
        headDim = gguf.optionalInt(key("attention.key_length")) ?? hiddenSize / heads
        if let ropeDims = gguf.optionalInt(key("rope.dimension_count")), ropeDims != headDim {
            throw ModelFileError(gguf.path, "partial rotary embeddings (\(ropeDims) of \(headDim) dims) are not supported")
        }
        guard let embedding = gguf.tensor(named: "token_embd.weight"), embedding.dims.count == 2 else {
            throw ModelFileError(gguf.path, "missing tensor \"token_embd.weight\"")
        }
        vocabularySize = embedding.dims[1]
        tiedEmbeddings = gguf.tensor(named: "output.weight") == nil
    }
}

/// A dense llama-family decoder: embeddings, then per layer RMSNorm -> grouped-query attention with RoPE ->
/// residual, RMSNorm -> SwiGLU MLP -> residual; final RMSNorm and the output head (tied or not).
///
/// Reference: HF transformers `LlamaForCausalLM` and llama.cpp `llm_build_llama`. GGUF files store q/k
/// rows permuted by llama.cpp's converter so that RoPE rotates adjacent pairs (`interleaved`).
public final class LlamaModel: LanguageModel {
    public let config: LlamaConfig
    public let backend: any ComputeBackend
    public let rope: RoPE

    struct Layer {
        let attentionNorm: Tensor  // [hidden]
        let wq: Tensor             // [heads * headDim, hidden]
        let wk: Tensor             // [kvHeads * headDim, hidden]
        let wv: Tensor             // [kvHeads * headDim, hidden]
        let wo: Tensor             // [hidden, heads * headDim]
        let mlpNorm: Tensor        // [hidden]
        let gate: Tensor           // [intermediate, hidden]
        let up: Tensor             // [intermediate, hidden]
        let down: Tensor           // [hidden, intermediate]
    }
    let embedding: Tensor    // [vocab, hidden]
    let layers: [Layer]
    /// Per layer [wq, wk, wv] and [gate, up]: products of the same activations, multiplied in one go where the
    /// backend can (`matmuls`). Built once, so a step makes no arrays.
    let qkvWeights: [[Tensor]]
    let gateUpWeights: [[Tensor]]
    let finalNorm: Tensor    // [hidden]
    let output: Tensor       // [vocab, hidden] (the embedding when tied)
    /// Per-step activations and the output head's buffers (sized by logit rows, not batch rows: a
    /// [vocab] row is large).
    private lazy var workspace = GrowingBuffers { [unowned self] in Workspace(backend: backend, config: config, rows: $0) }
    private lazy var headWorkspace = GrowingBuffers { [unowned self] in HeadWorkspace(backend: backend, config: config, rows: $0) }

    public var architecture: String { "llama" }
    public var vocabularySize: Int { config.vocabularySize }
    public var contextLength: Int { config.contextLength }
    public var layerCount: Int { config.layers }
    public var kvWidth: Int { config.kvHeads * config.headDim }
    public var routingShape: RoutingShape? { nil }

    /// Loads a llama-architecture GGUF onto `backend`, checking every tensor's presence and shape.
    public init(gguf: GGUFFile, backend: any ComputeBackend) throws {
        let config = try LlamaConfig(gguf: gguf)
        self.config = config
        self.backend = backend
        let c = config
        func load(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let info = gguf.tensor(named: name) else { throw ModelFileError(gguf.path, "missing tensor \"\(name)\"") }
            let fileShape = Array(info.dims.reversed())
            guard fileShape == shape else {
                throw ModelFileError(gguf.path, "tensor \"\(name)\" has shape \(fileShape), expected \(shape)")
            }
            do {
                return try backend.weight(HostTensor(name: name, dtype: info.type, shape: shape,
                                                     bytes: gguf.data(for: info), owner: gguf.mapping))
            } catch {
                throw ModelFileError(gguf.path, "\(error)")
            }
        }
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        embedding = try load("token_embd.weight", [c.vocabularySize, c.hiddenSize])
        layers = try (0..<c.layers).map { i in
            let p = "blk.\(i)."
            return Layer(attentionNorm: try load(p + "attn_norm.weight", [c.hiddenSize]),
                         wq: try load(p + "attn_q.weight", [q, c.hiddenSize]),
                         wk: try load(p + "attn_k.weight", [kv, c.hiddenSize]),
                         wv: try load(p + "attn_v.weight", [kv, c.hiddenSize]),
                         wo: try load(p + "attn_output.weight", [c.hiddenSize, q]),
                         mlpNorm: try load(p + "ffn_norm.weight", [c.hiddenSize]),
                         gate: try load(p + "ffn_gate.weight", [c.intermediateSize, c.hiddenSize]),
                         up: try load(p + "ffn_up.weight", [c.intermediateSize, c.hiddenSize]),
                         down: try load(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize]))
        }
        qkvWeights = layers.map { [$0.wq, $0.wk, $0.wv] }
        gateUpWeights = layers.map { [$0.gate, $0.up] }
        finalNorm = try load("output_norm.weight", [c.hiddenSize])
        output = c.tiedEmbeddings ? embedding : try load("output.weight", [c.vocabularySize, c.hiddenSize])
        var rope = RoPE.standard(headDim: c.headDim, theta: c.ropeTheta, interleaved: true)
        // Llama 3.1-style scaled RoPE is stored by llama.cpp as per-pair divisors of the frequencies.
        if let factors = gguf.tensor(named: "rope_freqs.weight") {
            guard factors.type == .f32, factors.elementCount == c.headDim / 2 else {
                throw ModelFileError(gguf.path, "tensor \"rope_freqs.weight\" should be \(c.headDim / 2) F32 values")
            }
            let values = gguf.data(for: factors).bindMemory(to: Float.self)
            for i in 0..<rope.inverseFrequencies.count { rope.inverseFrequencies[i] /= values[i] }
        }
        self.rope = rope
    }

    /// Activation buffers, sized for the largest batch seen so far.
    final class Workspace {
        let rows: Int
        let x, h, q, k, v, attn, gate, up: Tensor
        let qkv, gateUp: [Tensor]
        init(backend: any ComputeBackend, config c: LlamaConfig, rows: Int) {
            self.rows = rows
            x = backend.zeros([rows, c.hiddenSize])
            h = backend.zeros([rows, c.hiddenSize])
            q = backend.zeros([rows, c.heads * c.headDim])
            k = backend.zeros([rows, c.kvHeads * c.headDim])
            v = backend.zeros([rows, c.kvHeads * c.headDim])
            attn = backend.zeros([rows, c.heads * c.headDim])
            gate = backend.zeros([rows, c.intermediateSize])
            up = backend.zeros([rows, c.intermediateSize])
            qkv = [q, k, v]
            gateUp = [gate, up]
        }
    }

    /// The output head's buffers, sized for the most logit rows asked for so far (usually one per sequence:
    /// a [vocab] row is large, so they are not sized by the batch).
    final class HeadWorkspace {
        let rows: Int
        let normed, logits: Tensor
        init(backend: any ComputeBackend, config c: LlamaConfig, rows: Int) {
            self.rows = rows
            normed = backend.zeros([rows, c.hiddenSize])
            logits = backend.zeros([rows, c.vocabularySize])
        }
    }



    public func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> [Float] {
        readingForward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
    }

    /// The step with its logits left on the backend (`[logitRows.count, vocab]`, the head workspace's buffer).
    public func forwardLogits(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> Tensor? {
        let rows = tokens.count
        precondition(rows == batch.rows.count && rows > 0, "one batch row per token")
        // Decode steps (one row per sequence) may be replayed as a graph (see Llama4Model.forwardLogits).
        return backend.deviceStep(shape: batch.isDecodeOnly ? "llama decode: \(rows) rows, \(logitRows.count) logit rows" : nil) {
            deviceForward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows)
        }
    }

    private func deviceForward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int]) -> Tensor? {
        let rows = tokens.count
        let c = config, b = backend, w = workspace(rows: rows)
        let positions = batch.positions
        let scale = 1 / Float(c.headDim).squareRoot()

        b.embed(embedding, tokens: tokens, into: w.x)
        // The first layer's input norm; every later one is fused with the residual add before it (addRMSNorm).
        if let first = layers.first { b.rmsNorm(w.x, weight: first.attentionNorm, eps: c.rmsEpsilon, rows: rows, into: w.h) }
        for (index, layer) in layers.enumerated() {
            // attention block (its normed input is in w.h)
            b.matmuls(w.h, weights: qkvWeights[index], rows: rows, into: w.qkv)
            b.rope(w.q, rows: rows, heads: c.heads, headDim: c.headDim, positions: positions, rope: rope)
            b.rope(w.k, rows: rows, heads: c.kvHeads, headDim: c.headDim, positions: positions, rope: rope)
            b.storeKV(keys: w.k, values: w.v, cache: cache, layer: index, batch: batch)
            b.attention(queries: w.q, cache: cache, layer: index, batch: batch, heads: c.heads, kvHeads: c.kvHeads,
                        headDim: c.headDim, scale: scale, into: w.attn)
            b.matmul(w.attn, weight: layer.wo, rows: rows, into: w.h)
            // residual add, then the MLP block's input norm
            b.addRMSNorm(w.x, w.h, weight: layer.mlpNorm, eps: c.rmsEpsilon, rows: rows, into: w.h)
            // SwiGLU: gate and up in one fused product, the activation into the gate buffer, then down.
            b.matmuls(w.h, weights: gateUpWeights[index], rows: rows, into: w.gateUp)
            b.swiglu(gate: w.gate, up: w.up, rows: rows, into: w.gate)
            b.matmul(w.gate, weight: layer.down, rows: rows, into: w.h)
            if index + 1 < layers.count {
                // residual add, then the next layer's input norm
                b.addRMSNorm(w.x, w.h, weight: layers[index + 1].attentionNorm, eps: c.rmsEpsilon, rows: rows, into: w.h)
            } else {
                b.add(w.x, w.h, rows: rows)  // the final norm is the head's (headLogits)
            }
        }
        guard !logitRows.isEmpty else { return nil }
        // Final norm and head only for the rows whose logits are wanted.
        let head = headWorkspace(rows: logitRows.count)
        return b.headLogitsTensor(w.x, indices: logitRows, norm: finalNorm, eps: c.rmsEpsilon, head: output,
                            gathered: w.h, normed: head.normed, logits: head.logits)
    }
}
