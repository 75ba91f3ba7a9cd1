import Compute
import Foundation

/// The Llama 4 text decoder (Scout, Maverick): per layer RMSNorm -> attention -> residual, RMSNorm ->
/// dense SwiGLU MLP or mixture of experts -> residual; final RMSNorm and an untied output head.
///
/// Layer kinds (see `Llama4Config`): RoPE layers rotate adjacent pairs (HF's Llama 4 q/k rows are not
/// permuted), apply a weightless per-head RMS norm to q and k when `use_qk_norm`, and attend only inside
/// their `attention_chunk_size` chunk; NoPE layers attend globally and scale q by the attention temperature
/// `1 + attn_scale * ln(1 + floor((p + 1) / floor_scale))`. MoE layers route each token to its top-k experts
/// by router logit, scale the expert's INPUT by sigmoid(logit), and add a shared expert run on the
/// unscaled input. Reference: HF transformers `modeling_llama4.py`; /work/shared/docs/llama4-architecture.md.
public final class Llama4Model: LanguageModel {
    public let config: Llama4Config
    public let backend: any ComputeBackend
    public let rope: RoPE

    struct MLP {
        let gate: Tensor  // [width, hidden]
        let up: Tensor    // [width, hidden]
        let down: Tensor  // [hidden, width]
    }
    enum FeedForward {
        /// Dense layers: width `intermediate_size_mlp`.
        case dense(MLP)
        /// router [experts, hidden]; each expert and the shared expert of width `intermediate_size`.
        case moe(router: Tensor, experts: [MLP], shared: MLP)
    }
    struct Layer {
        let inputNorm: Tensor          // [hidden]
        let wq: Tensor                 // [heads * headDim, hidden]
        let wk: Tensor                 // [kvHeads * headDim, hidden]
        let wv: Tensor                 // [kvHeads * headDim, hidden]
        let wo: Tensor                 // [hidden, heads * headDim]
        let postAttentionNorm: Tensor  // [hidden]
        let feedForward: FeedForward
    }
    let embedding: Tensor   // [vocab, hidden]
    let layers: [Layer]
    let finalNorm: Tensor   // [hidden]
    let output: Tensor      // [vocab, hidden]
    /// Per layer [wq, wk, wv], for one fused product where the backend has one (`matmuls`).
    private let qkvWeights: [[Tensor]]
    /// Layer index -> index among MoE layers (for routing counts).
    private let moeIndex: [Int: Int]
    /// Per MoE layer (by MoE index), the backend's fused form of its experts, when it has one.
    private let preparedExperts: [(any PreparedExperts)?]
    /// Per-step activations and the output head's buffers (sized by logit rows, not batch rows: a
    /// [vocab] row is large).
    private lazy var workspace = GrowingBuffers { [unowned self] in Workspace(backend: backend, config: config, rows: $0) }
    private lazy var headWorkspace = GrowingBuffers { [unowned self] in HeadWorkspace(backend: backend, config: config, rows: $0) }

    public var architecture: String { "llama4" }
    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var layerCount: Int { config.numHiddenLayers }
    public var kvWidth: Int { config.kvHeads * config.resolvedHeadDim }
    public let routingShape: RoutingShape?

    /// `rope` overrides the frequencies the config gives (GGUF files carry llama3 scaling as per-pair
    /// divisors, `rope_freqs.weight`, instead of its parameters).
    init(config: Llama4Config, backend: any ComputeBackend, embedding: Tensor, layers: [Layer], finalNorm: Tensor, output: Tensor,
         rope: RoPE? = nil) {
        self.config = config
        self.backend = backend
        self.embedding = embedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.output = output
        self.rope = rope ?? RoPE(inverseFrequencies: config.ropeInverseFrequencies, interleaved: true)
        qkvWeights = layers.map { [$0.wq, $0.wk, $0.wv] }
        let moe = config.moeLayerIndices
        routingShape = RoutingShape(moeLayers: moe, experts: config.experts)
        moeIndex = Dictionary(uniqueKeysWithValues: moe.enumerated().map { ($1, $0) })
        preparedExperts = layers.compactMap { layer -> (any PreparedExperts)?? in
            guard case .moe(_, let experts, _) = layer.feedForward else { return nil }
            return .some(backend.prepareExperts(gate: experts.map(\.gate), up: experts.map(\.up), down: experts.map(\.down)))
        }
    }

    /// Activation buffers, sized for the largest batch seen so far.
    final class Workspace {
        let rows: Int
        let x, h, q, k, v, attn, ffnOut: Tensor          // [rows, hidden or heads*headDim or kvHeads*headDim]
        let denseGate, denseUp: Tensor                     // [rows, intermediate_size_mlp]
        let expertGate, expertUp: Tensor                   // [rows, intermediate_size]
        let expertIn, expertOut: Tensor                    // [rows, hidden]: one expert's routed rows
        let routerLogits: Tensor                           // [rows, experts]
        /// Fused MoE path: each MoE layer's chosen experts per row, `[moeLayers * rows, topK]`, read once per step.
        let choices: Tensor
        init(backend b: any ComputeBackend, config c: Llama4Config, rows: Int) {
            self.rows = rows
            let d = c.resolvedHeadDim
            x = b.zeros([rows, c.hiddenSize]); h = b.zeros([rows, c.hiddenSize])
            q = b.zeros([rows, c.numAttentionHeads * d])
            k = b.zeros([rows, c.kvHeads * d]); v = b.zeros([rows, c.kvHeads * d])
            attn = b.zeros([rows, c.numAttentionHeads * d])
            ffnOut = b.zeros([rows, c.hiddenSize])
            denseGate = b.zeros([rows, c.denseIntermediateSize]); denseUp = b.zeros([rows, c.denseIntermediateSize])
            expertGate = b.zeros([rows, c.intermediateSize]); expertUp = b.zeros([rows, c.intermediateSize])
            expertIn = b.zeros([rows, c.hiddenSize]); expertOut = b.zeros([rows, c.hiddenSize])
            routerLogits = b.zeros([rows, c.experts])
            choices = b.zeros([max(1, c.moeLayerIndices.count) * rows, c.expertsPerToken])
        }

        /// MoE layer `moeIndex`'s `[rows, topK]` slice of `choices`.
        func choices(moeIndex: Int, rows: Int) -> Tensor {
            let width = choices.rowLength
            return Tensor(dtype: .f32, shape: [rows, width], data: choices.data + moeIndex * rows * width * 4,
                          byteCount: rows * width * 4, owner: choices)
        }
    }

    /// The output head's buffers, sized by logit rows (a [vocab] row is large).
    final class HeadWorkspace {
        let rows: Int
        let gathered, normed, logits: Tensor
        init(backend b: any ComputeBackend, config c: Llama4Config, rows: Int) {
            self.rows = rows
            gathered = b.zeros([rows, c.hiddenSize]); normed = b.zeros([rows, c.hiddenSize])
            logits = b.zeros([rows, c.vocabSize])
        }
    }



    /// The batch for chunked-attention layers: each row's context starts no earlier than its chunk,
    /// `chunk * floor(p / chunk)`. A row's last context entry is its own position, so the chunk start is
    /// `p mod chunk` entries before it (this holds for contiguous and paged slot lists alike).
    public static func chunked(_ batch: AttentionBatch, chunkSize: Int) -> AttentionBatch {
        var out = batch
        let c = Int32(chunkSize)
        for i in out.rows.indices {
            let row = out.rows[i]
            out.rows[i].contextStart = max(row.contextStart, row.contextEnd - 1 - row.position % c)
        }
        return out
    }

    /// Attention temperature per row (NoPE layers): HF's float32 formula.
    public func temperatures(_ positions: [Int32]) -> [Float] {
        let floorScale = Float(config.temperatureFloorScale), scale = Float(config.temperatureScale)
        return positions.map { p in log1p(((Float(p) + 1) / floorScale).rounded(.down)) * scale + 1 }
    }

    public func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> [Float] {
        readingForward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
    }

    /// The step with its logits left on the backend (`[logitRows.count, vocab]`, the head workspace's buffer).
    public func forwardLogits(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> Tensor? {
        let rows = tokens.count
        precondition(rows == batch.rows.count && rows > 0, "one batch row per token")
        // Decode steps (one row per sequence) repeat their launches step after step: the backend may replay
        // them as a graph. Steps with prompt rows change shape every time and run eagerly.
        let logits = backend.deviceStep(shape: batch.isDecodeOnly ? "llama4 decode: \(rows) rows, \(logitRows.count) logit rows" : nil) {
            deviceForward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
        }
        // Read after the step (a read inside it would stop a graph).
        if let routing, preparedExperts.contains(where: { $0 != nil }) { recordFusedRouting(routing, rows: rows, workspace: workspace(rows: rows)) }
        return logits
    }

    /// The step's device work: every layer, then the head for `logitRows` (nil when none are wanted).
    /// `routing` is filled here only by the expert-by-expert path (backends without fused experts).
    private func deviceForward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> Tensor? {
        let rows = tokens.count
        let c = config, b = backend, w = workspace(rows: rows)
        let d = c.resolvedHeadDim, heads = c.numAttentionHeads, kvHeads = c.kvHeads
        let positions = batch.positions
        let chunkedBatch = c.attentionChunkSize.map { Self.chunked(batch, chunkSize: $0) } ?? batch
        let temperatures = c.temperatureTuning ? temperatures(positions) : []
        let scale = 1 / Float(d).squareRoot()

        b.embed(embedding, tokens: tokens, into: w.x)
        // The first layer's input norm; every later one is fused with the residual add before it (addRMSNorm).
        if let first = layers.first { b.rmsNorm(w.x, weight: first.inputNorm, eps: c.epsilon, rows: rows, into: w.h) }
        for (index, layer) in layers.enumerated() {
            // attention block (its normed input is in w.h)
            b.matmuls(w.h, weights: qkvWeights[index], rows: rows, into: [w.q, w.k, w.v])
            // RoPE, the per-head norm (after RoPE, no weight), the temperature, then K and V into the cache.
            b.prepareAttentionInputs(q: w.q, k: w.k, v: w.v, rows: rows, heads: heads, kvHeads: kvHeads, headDim: d, positions: positions,
                                     rope: c.usesRoPE(index) ? rope : nil, qkNormEpsilon: c.usesQKNorm(index) ? c.epsilon : nil,
                                     temperatures: c.usesTemperature(index) ? temperatures : [], cache: cache, layer: index, batch: batch)
            b.attention(queries: w.q, cache: cache, layer: index, batch: c.isChunked(index) ? chunkedBatch : batch,
                        heads: heads, kvHeads: kvHeads, headDim: d, scale: scale, into: w.attn)
            b.matmul(w.attn, weight: layer.wo, rows: rows, into: w.h)
            // residual add, then the feed-forward block's input norm
            b.addRMSNorm(w.x, w.h, weight: layer.postAttentionNorm, eps: c.epsilon, rows: rows, into: w.h)
            switch layer.feedForward {
            case .dense(let mlp):
                b.swigluMLP(w.h, gate: mlp.gate, up: mlp.up, down: mlp.down, rows: rows,
                            gateBuffer: w.denseGate, upBuffer: w.denseUp, into: w.ffnOut)
            case .moe(let router, let experts, let shared):
                mixtureOfExperts(router: router, experts: experts, shared: shared, rows: rows, workspace: w,
                                 moeIndex: moeIndex[index]!, routing: routing)
            }
            if index + 1 < layers.count {
                // residual add, then the next layer's input norm
                b.addRMSNorm(w.x, w.ffnOut, weight: layers[index + 1].inputNorm, eps: c.epsilon, rows: rows, into: w.h)
            } else {
                b.add(w.x, w.ffnOut, rows: rows)  // the final norm is the head's (headLogits)
            }
        }
        guard !logitRows.isEmpty else { return nil }
        // Final norm and head only for the rows whose logits are wanted.
        let head = headWorkspace(rows: logitRows.count)
        return b.headLogitsTensor(w.x, indices: logitRows, norm: finalNorm, eps: c.epsilon, head: output,
                            gathered: head.gathered, normed: head.normed, logits: head.logits)
    }

    /// `w.ffnOut = shared(h) + sum over chosen experts e of expert_e(sigmoid(logit_e) * h)`, dispatching
    /// only the rows routed to each expert (HF runs every expert on zero-weighted rows; same result).
    private func mixtureOfExperts(router: Tensor, experts: [MLP], shared: MLP, rows: Int, workspace w: Workspace,
                                  moeIndex: Int, routing: RoutingCounts?) {
        let b = backend, e = config.experts, k = config.expertsPerToken
        // The shared expert may run beside the routing and the routed experts (it writes ffnOut and its own
        // scratch only); joined before the experts' outputs are added to ffnOut: by `routedExperts` itself
        // (ComputeBackend's contract), else here before the expert-by-expert path.
        b.branch(rows: rows, weights: [shared.gate, shared.up, shared.down]) {
            b.swigluMLP(w.h, gate: shared.gate, up: shared.up, down: shared.down, rows: rows,
                        gateBuffer: w.expertGate, upBuffer: w.expertUp, into: w.ffnOut)
        }

        b.matmul(w.h, weight: router, rows: rows, into: w.routerLogits)
        if let prepared = preparedExperts[moeIndex] {
            // Routing, grouping and every expert on the device, no round trip; choices are read after the step.
            b.routedExperts(w.h, routerLogits: w.routerLogits, experts: prepared, topK: k, rows: rows,
                            choices: w.choices(moeIndex: moeIndex, rows: rows), into: w.ffnOut)
            b.joinBranches()
            return
        }
        b.joinBranches()
        let logits = b.read(w.routerLogits, rows: rows)
        var routedRows = [[Int]](repeating: [], count: e)
        var routedWeights = [[Float]](repeating: [], count: e)
        for r in 0..<rows {
            let row = logits[(r * e)..<((r + 1) * e)]
            // top-k on raw logits (ties: the lower expert index, as a stable sort gives)
            let chosen = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            for index in chosen {
                let expert = index - r * e
                routedRows[expert].append(r)
                routedWeights[expert].append(1 / (1 + exp(-row[index])))
                routing?.record(moeIndex: moeIndex, row: r, expert: expert)
            }
        }
        for (expert, mlp) in experts.enumerated() where !routedRows[expert].isEmpty {
            let n = routedRows[expert].count
            b.gatherRows(w.h, indices: routedRows[expert], into: w.expertIn)
            b.scaleRows(w.expertIn, factors: routedWeights[expert])  // the weight goes on the expert's INPUT
            b.swigluMLP(w.expertIn, gate: mlp.gate, up: mlp.up, down: mlp.down, rows: n,
                        gateBuffer: w.expertGate, upBuffer: w.expertUp, into: w.expertOut)
            b.scatterAddRows(w.expertOut, indices: routedRows[expert], into: w.ffnOut)
        }
    }

    /// Adds the fused path's expert choices of every MoE layer to `routing` (one read for the whole step).
    private func recordFusedRouting(_ routing: RoutingCounts, rows: Int, workspace w: Workspace) {
        let k = config.expertsPerToken, layers = preparedExperts.count
        let choices = backend.read(w.choices, rows: layers * rows)
        for layer in 0..<layers where preparedExperts[layer] != nil {
            for r in 0..<rows {
                for j in 0..<k { routing.record(moeIndex: layer, row: r, expert: Int(choices[(layer * rows + r) * k + j])) }
            }
        }
    }
}
