import Compute

/// What the engine needs from a decoder-only model: run a ragged batch of tokens over a KV cache and give
/// the logits of chosen rows. Models hold their weights on one backend and know nothing of scheduling.
public protocol LanguageModel: AnyObject {
    var architecture: String { get }
    var vocabularySize: Int { get }
    /// Longest context the model was trained for.
    var contextLength: Int { get }
    var layerCount: Int { get }
    /// Floats per cached position per layer for K (and again for V).
    var kvWidth: Int { get }
    var backend: any ComputeBackend { get }
    /// MoE layers x experts, for expert-routing counts; nil for dense models.
    var routingShape: RoutingShape? { get }

    /// Runs `tokens` (one per row of `batch`) through the model, writing their K/V into `cache`, and
    /// returns the logits of the rows listed in `logitRows`, concatenated (`logitRows.count * vocabularySize`).
    /// MoE models add the step's expert choices to `routing` when it is given.
    func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> [Float]

    /// `forward` with the logits left on the backend: a `[logitRows.count, vocabularySize]` f32 tensor, valid
    /// until the next forward; nil when `logitRows` is empty. The default runs `forward` and hands its floats
    /// to the backend (models override it; `forward` is then `readingForward`, a read of this).
    func forwardLogits(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> Tensor?
}

extension LanguageModel {
    public func makeKVCache(slots: Int) -> KVCache {
        backend.makeKVCache(layers: layerCount, slots: slots, kvWidth: kvWidth)
    }

    public func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int]) -> [Float] {
        forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: nil)
    }

    public func forwardLogits(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> Tensor? {
        let values = forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing)
        guard !logitRows.isEmpty else { return nil }
        let host = HostFloats(values)
        let tensor = HostTensor(name: "logits", dtype: .f32, shape: [logitRows.count, vocabularySize],
                                bytes: UnsafeRawBufferPointer(host.values), owner: host)
        do { return try backend.weight(tensor) } catch { preconditionFailure("logits onto \(backend.description): \(error)") }
    }

    /// `forwardLogits` read to the host: the logits `forward` returns (`[]` when `logitRows` is empty).
    public func readingForward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int], routing: RoutingCounts?) -> [Float] {
        guard let logits = forwardLogits(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows, routing: routing) else { return [] }
        return backend.read(logits, rows: logitRows.count)
    }
}

/// Floats in memory of their own, for a `HostTensor` that outlives the array they came from.
final class HostFloats {
    let values: UnsafeMutableBufferPointer<Float>
    init(_ array: [Float]) {
        values = .allocate(capacity: max(array.count, 1))
        _ = values.initialize(from: array)
    }
    deinit { values.deallocate() }
}

/// The MoE layers of a model and their expert count.
public struct RoutingShape: Sendable, Equatable {
    /// Decoder layer index of each MoE layer, in order (row r of the counts is layer `moeLayers[r]`).
    public var moeLayers: [Int]
    public var experts: Int
    public init(moeLayers: [Int], experts: Int) {
        self.moeLayers = moeLayers
        self.experts = experts
    }
}

/// Tokens routed to each expert, per MoE layer, split by prefill and decode rows.
///
/// The engine fills `isDecodeRow` (one flag per batch row) before a step; the model adds one count per
/// (row, chosen expert) for every MoE layer. Counts are `moeLayers.count x experts`, row-major.
public final class RoutingCounts {
    public let shape: RoutingShape
    public var isDecodeRow: [Bool] = []
    public private(set) var prefill: [UInt32]
    public private(set) var decode: [UInt32]

    public init(shape: RoutingShape) {
        self.shape = shape
        prefill = [UInt32](repeating: 0, count: shape.moeLayers.count * shape.experts)
        decode = prefill
    }

    /// Records that batch row `row` chose `expert` in MoE layer number `moeIndex` (0-based among MoE layers).
    @inline(__always)
    public func record(moeIndex: Int, row: Int, expert: Int) {
        let i = moeIndex * shape.experts + expert
        if row < isDecodeRow.count && isDecodeRow[row] { decode[i] &+= 1 } else { prefill[i] &+= 1 }
    }

    public func reset() {
        for i in prefill.indices { prefill[i] = 0; decode[i] = 0 }
    }
}
