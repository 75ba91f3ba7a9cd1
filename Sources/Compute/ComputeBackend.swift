/// Rotary position embedding parameters for one layer kind.
public struct RoPE: Sendable, Equatable {
    /// Per pair i of a head, the angle per position (already scaled, e.g. by llama3 rope scaling).
    public var inverseFrequencies: [Float]
    /// true: rotate adjacent pairs (2i, 2i+1), the GGUF llama and HF Llama 4 layout; false: pairs
    /// (i, i + headDim/2), the NeoX / HF llama layout.
    public var interleaved: Bool

    public init(inverseFrequencies: [Float], interleaved: Bool) {
        self.inverseFrequencies = inverseFrequencies
        self.interleaved = interleaved
    }

    /// Plain RoPE: theta^(-2i/d).
    public static func standard(headDim: Int, theta: Double, interleaved: Bool) -> RoPE {
        let freqs = (0..<(headDim / 2)).map { i in Float(1.0 / pow(theta, Double(2 * i) / Double(headDim))) }
        return RoPE(inverseFrequencies: freqs, interleaved: interleaved)
    }
}

/// Which cache slots each token of a ragged batch reads and writes.
///
/// A slot is one position's K/V row in the cache. Each sequence in the batch has a list of slots (its context
/// in order, taken from its block table); each token row attends to `contextStart..<contextEnd` of its
/// sequence's list (causal: the end is the token's own position + 1) and writes its own K/V to `writeSlot`.
/// This one shape serves a contiguous cache (slot = position) and a paged one (slot = block * size + offset).
public struct AttentionBatch: Sendable {
    public struct Row: Sendable {
        public var sequence: Int32
        public var contextStart: Int32
        public var contextEnd: Int32
        public var writeSlot: Int32
        public var position: Int32
        public init(sequence: Int32, contextStart: Int32, contextEnd: Int32, writeSlot: Int32, position: Int32) {
            self.sequence = sequence
            self.contextStart = contextStart
            self.contextEnd = contextEnd
            self.writeSlot = writeSlot
            self.position = position
        }
    }
    /// All sequences' slot lists back to back; `sequenceSlotOffsets[s]` is where sequence s begins.
    public var slots: [Int32]
    public var sequenceSlotOffsets: [Int]
    public var rows: [Row]

    public init(slots: [Int32], sequenceSlotOffsets: [Int], rows: [Row]) {
        self.slots = slots
        self.sequenceSlotOffsets = sequenceSlotOffsets
        self.rows = rows
    }

    /// One sequence in a contiguous cache: tokens at positions `start..<start+count`, slot = position.
    public static func contiguous(start: Int, count: Int) -> AttentionBatch {
        let rows = (0..<count).map { i in
            Row(sequence: 0, contextStart: 0, contextEnd: Int32(start + i + 1), writeSlot: Int32(start + i),
                position: Int32(start + i))
        }
        return AttentionBatch(slots: (0..<Int32(start + count)).map { $0 }, sequenceSlotOffsets: [0], rows: rows)
    }

    public var positions: [Int32] { rows.map(\.position) }

    /// Every row its own sequence: a decode step (one new token each), whose shape repeats step after step.
    public var isDecodeOnly: Bool { Set(rows.map(\.sequence)).count == rows.count }
}

/// The K and V caches of every layer: per layer two `[slots, kvHeads * headDim]` f32 tensors.
public struct KVCache: Sendable {
    public let keys: [Tensor]
    public let values: [Tensor]
    public let slotCount: Int
    public init(keys: [Tensor], values: [Tensor], slotCount: Int) {
        self.keys = keys
        self.values = values
        self.slotCount = slotCount
    }
}

/// What a model needs from a device. Activations are f32 tensors of shape `[maxRows, width]`; each op works
/// on the first `rows` rows. Weights keep their file dtype (quantized or float).
///
/// The model is written against this protocol only; the backend is chosen once at the composition root.
public protocol ComputeBackend: AnyObject, Sendable {
    /// "cpu (avx2, 2 threads)", "cuda (H100 ...)".
    var description: String { get }

    /// Takes a weight from host memory (the CPU backend uses it in place; GPU backends upload it).
    func weight(_ host: HostTensor) throws -> Tensor
    /// A zero-filled f32 tensor.
    func zeros(_ shape: [Int]) -> Tensor

    /// out[r] = table[tokens[r]] dequantized to f32.
    func embed(_ table: Tensor, tokens: [Int32], into out: Tensor)
    /// out[r] = x[r] / rms(x[r]) * weight.
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor)
    /// residual[r] += x[r], then out[r] = residual[r] / rms(residual[r]) * weight: a sublayer's output into the
    /// residual stream followed by the next sublayer's input norm, as `add` then `rmsNorm` (the default) or
    /// in one pass. `out` may be `x`.
    func addRMSNorm(_ residual: Tensor, _ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor)
    /// out[r] = W x[r] for W of shape [outFeatures, inFeatures].
    func matmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor)
    /// Rotates `heads` heads of each row in place, at the rows' positions.
    func rope(_ x: Tensor, rows: Int, heads: Int, headDim: Int, positions: [Int32], rope: RoPE)
    /// Writes each row's K and V into the cache at its `writeSlot`.
    func storeKV(keys: Tensor, values: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch)
    /// A layer's attention inputs after their products: RoPE on q and k at the rows' positions (`rope`; nil
    /// on NoPE layers), each q and k head divided by its RMS (`qkNormEpsilon`; nil: none), q scaled by the
    /// rows' `temperatures` (empty: none), then K and V written into the cache. The default runs `rope`,
    /// `rmsNorm`, `scaleRows` and `storeKV` (`separateAttentionInputs`); GPU backends fuse them.
    func prepareAttentionInputs(q: Tensor, k: Tensor, v: Tensor, rows: Int, heads: Int, kvHeads: Int, headDim: Int, positions: [Int32],
                                rope: RoPE?, qkNormEpsilon: Float?, temperatures: [Float], cache: KVCache, layer: Int, batch: AttentionBatch)
    /// Softmax(q k^T * scale) v per head over each row's context; grouped-query (heads / kvHeads share a KV head).
    func attention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                   heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor)
    /// out = silu(gate) * up.
    func swiglu(gate: Tensor, up: Tensor, rows: Int, into out: Tensor)
    /// The SwiGLU feed-forward block (the default composes `matmuls`, `swiglu` and `matmul`; GPU backends
    /// feed the activation straight into the down product's input).
    func swigluMLP(_ x: Tensor, gate: Tensor, up: Tensor, down: Tensor, rows: Int, gateBuffer: Tensor, upBuffer: Tensor, into out: Tensor)
    /// y += x.
    func add(_ y: Tensor, _ x: Tensor, rows: Int)
    /// out[i] = x[indices[i]] (gathers the rows whose logits are wanted).
    func gatherRows(_ x: Tensor, indices: [Int], into out: Tensor)
    /// The first `rows` rows as host floats.
    func read(_ x: Tensor, rows: Int) -> [Float]

    // MARK: Llama 4 (mixture of experts, FP8 checkpoints)

    /// Takes an FP8 E4M3 weight `[out, in]` with one scale per output row (`rowScales`: `[out]` or
    /// `[out, 1]`, F32/BF16/F16): `W[o, i] = fp8[o, i] * scale[o]`. Backends without FP8 products
    /// dequantize here (the CPU backend stores BF16).
    func weight(_ host: HostTensor, rowScales: HostTensor) throws -> Tensor
    /// x[r] *= factors[r] for r in 0..<factors.count (routing weights on expert inputs, attention
    /// temperature on queries).
    func scaleRows(_ x: Tensor, factors: [Float])
    /// y[indices[i]] += x[i] (expert outputs back into their tokens' rows; an index may repeat).
    func scatterAddRows(_ x: Tensor, indices: [Int], into y: Tensor)

    // MARK: synthetic models

    /// A weight of seeded pseudo-random values (`SyntheticWeights` defines every element's bits), made
    /// where it will live: GPU backends generate it in device memory, never on the host.
    func syntheticWeight(_ spec: SyntheticWeightSpec) throws -> Tensor

    /// Free and total bytes of the device's memory now; nil for host-memory backends (the CPU).
    var deviceMemory: (free: Int, total: Int)? { get }

    // MARK: fused mixture of experts (optional)

    /// One MoE layer's routed experts (gate/up `[F, hidden]`, down `[hidden, F]` each) prepared to run in
    /// one go; nil when this backend has no fused path (the model then runs expert by expert).
    func prepareExperts(gate: [Tensor], up: [Tensor], down: [Tensor]) -> (any PreparedExperts)?
    /// `out[r] += sum over r's top-k experts e of expert_e(sigmoid(logit_e) * x[r])`, with routing (top-k by
    /// `routerLogits`, ties to the lower index), grouping and the experts' SwiGLU MLPs on the device; each
    /// row's chosen expert ids go to `choices` (`[rows, topK]`, as floats) for statistics. A pending branch
    /// (`branch`, the shared expert writing `out`) may overlap the routing and the experts; a backend that
    /// overlaps branches joins it (`joinBranches`) before it adds into `out`.
    func routedExperts(_ x: Tensor, routerLogits: Tensor, experts: any PreparedExperts, topK: Int, rows: Int,
                       choices: Tensor, into out: Tensor)

    // MARK: concurrent branches (optional)

    /// Runs `side`, ops of a `rows`-row step that a backend may overlap with the ops queued after it, up to
    /// `joinBranches()`: `side` must not touch what those ops touch (its own outputs and scratch only; it may
    /// read their shared inputs). `weights`: those of the products `side` runs (how they run decides whether
    /// a backend can overlap them). The default runs it in place.
    func branch(rows: Int, weights: [Tensor], _ side: () -> Void)
    /// Waits (on the device) for the pending branch, if any; the default does nothing.
    func joinBranches()

    // MARK: step graphs (optional)

    /// Runs `body`, the device work of one forward step, which must only queue work (no reads of device
    /// memory). Steps of a repeating `shape` (the model's key, e.g. decode steps of 64 rows) may be captured
    /// once and replayed (GPU backends: graphs); nil, or backends without graphs, just run `body`.
    func deviceStep<T>(shape: String?, _ body: () -> T) -> T

    // MARK: sampling on the device (optional)

    /// true when the engine should sample from `summarizeLogits` instead of reading whole logit rows (GPU
    /// backends: a row of a large vocabulary is costly to copy); false by default.
    var prefersDeviceSampling: Bool { get }
    /// Per row of `logits` (`rows` rows of `vocabulary` logits, row stride `logits.rowLength`): the `top`
    /// best logits, the max, the exp sums and a Gumbel-max draw under `requests[r]` (see `LogitSummary`).
    /// Only the summaries leave the device. The default reads the rows and runs `LogitSummary.host`.
    func summarizeLogits(_ logits: Tensor, rows: Int, vocabulary: Int, top: Int, requests: [LogitSummaryRequest]) -> [LogitSummary]
}

/// A backend's handle on one layer's experts (see `ComputeBackend.prepareExperts`).
public protocol PreparedExperts: AnyObject, Sendable {}

extension ComputeBackend {
    public var deviceMemory: (free: Int, total: Int)? { nil }
    public func addRMSNorm(_ residual: Tensor, _ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        add(residual, x, rows: rows)
        rmsNorm(residual, weight: weight, eps: eps, rows: rows, into: out)
    }
    public func prepareExperts(gate: [Tensor], up: [Tensor], down: [Tensor]) -> (any PreparedExperts)? { nil }
    public func deviceStep<T>(shape: String?, _ body: () -> T) -> T { body() }
    public func prepareAttentionInputs(q: Tensor, k: Tensor, v: Tensor, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                                       positions: [Int32], rope: RoPE?, qkNormEpsilon: Float?, temperatures: [Float], cache: KVCache,
                                       layer: Int, batch: AttentionBatch) {
        separateAttentionInputs(q: q, k: k, v: v, rows: rows, heads: heads, kvHeads: kvHeads, headDim: headDim, positions: positions,
                                rope: rope, qkNormEpsilon: qkNormEpsilon, temperatures: temperatures, cache: cache, layer: layer, batch: batch)
    }

    /// `prepareAttentionInputs` as separate ops.
    public func separateAttentionInputs(q: Tensor, k: Tensor, v: Tensor, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                                        positions: [Int32], rope: RoPE?, qkNormEpsilon: Float?, temperatures: [Float], cache: KVCache,
                                        layer: Int, batch: AttentionBatch) {
        if let rope {
            self.rope(q, rows: rows, heads: heads, headDim: headDim, positions: positions, rope: rope)
            self.rope(k, rows: rows, heads: kvHeads, headDim: headDim, positions: positions, rope: rope)
        }
        if let eps = qkNormEpsilon {  // after RoPE, per head, no weight
            // `[rows * heads, headDim]` views of the `[rows, heads * headDim]` activations.
            let qHeads = Tensor(dtype: q.dtype, shape: [q.rowCount * heads, q.rowLength / heads], data: q.data, byteCount: q.byteCount, owner: q)
            let kHeads = Tensor(dtype: k.dtype, shape: [k.rowCount * kvHeads, k.rowLength / kvHeads], data: k.data, byteCount: k.byteCount,
                                owner: k)
            rmsNorm(qHeads, weight: nil, eps: eps, rows: rows * heads, into: qHeads)
            rmsNorm(kHeads, weight: nil, eps: eps, rows: rows * kvHeads, into: kHeads)
        }
        if !temperatures.isEmpty { scaleRows(q, factors: temperatures) }
        storeKV(keys: k, values: v, cache: cache, layer: layer, batch: batch)
    }
    public var prefersDeviceSampling: Bool { false }

    public func summarizeLogits(_ logits: Tensor, rows: Int, vocabulary: Int, top: Int, requests: [LogitSummaryRequest]) -> [LogitSummary] {
        precondition(requests.count == rows && vocabulary <= logits.rowLength, "one request per row of at most rowLength logits")
        guard rows > 0 else { return [] }
        let values = read(logits, rows: rows)
        let stride = logits.rowLength
        return values.withUnsafeBufferPointer { all in
            (0..<rows).map { r in
                LogitSummary.host(UnsafeBufferPointer(rebasing: all[(r * stride)..<(r * stride + vocabulary)]), request: requests[r], top: top)
            }
        }
    }
    public func routedExperts(_ x: Tensor, routerLogits: Tensor, experts: any PreparedExperts, topK: Int, rows: Int,
                              choices: Tensor, into out: Tensor) {
        preconditionFailure("routedExperts on a backend whose prepareExperts returned nil")
    }

    public func branch(rows: Int, weights: [Tensor], _ side: () -> Void) { side() }
    public func joinBranches() {}

    /// A KV cache of `slots` positions for `layers` layers.
    public func makeKVCache(layers: Int, slots: Int, kvWidth: Int) -> KVCache {
        KVCache(keys: (0..<layers).map { _ in zeros([slots, kvWidth]) },
                values: (0..<layers).map { _ in zeros([slots, kvWidth]) }, slotCount: slots)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocks every llama-family model is built from, composed of the backend's ops.
extension ComputeBackend {
    /// The SwiGLU feed-forward block: out = down (silu(gate x) * (up x)). `gateBuffer` and `upBuffer` are
    /// `[rows, width]` scratch (what they hold afterwards is up to the backend).
    public func swigluMLP(_ x: Tensor, gate: Tensor, up: Tensor, down: Tensor, rows: Int,
                          gateBuffer: Tensor, upBuffer: Tensor, into out: Tensor) {
        matmuls(x, weights: [gate, up], rows: rows, into: [gateBuffer, upBuffer])
        swiglu(gate: gateBuffer, up: upBuffer, rows: rows, into: gateBuffer)
        matmul(gateBuffer, weight: down, rows: rows, into: out)
    }

    /// The final RMSNorm and output head for the rows in `indices` only: their logits, concatenated.
    public func headLogits(_ x: Tensor, indices: [Int], norm: Tensor, eps: Float, head: Tensor,
                           gathered: Tensor, normed: Tensor, logits: Tensor) -> [Float] {
        read(headLogitsTensor(x, indices: indices, norm: norm, eps: eps, head: head, gathered: gathered, normed: normed, logits: logits),
             rows: indices.count)
    }

    /// `headLogits` without the read: the logits stay on the backend, as a `[indices.count, vocab]` view of
    /// `logits` (valid until the buffer is next written).
    public func headLogitsTensor(_ x: Tensor, indices: [Int], norm: Tensor, eps: Float, head: Tensor,
                                 gathered: Tensor, normed: Tensor, logits: Tensor) -> Tensor {
        gatherRows(x, indices: indices, into: gathered)
        rmsNorm(gathered, weight: norm, eps: eps, rows: indices.count, into: normed)
        matmul(normed, weight: head, rows: indices.count, into: logits)
        return Tensor(dtype: logits.dtype, shape: [indices.count, logits.rowLength], data: logits.data,
                      byteCount: indices.count * logits.rowLength * 4, owner: logits)
    }
}
