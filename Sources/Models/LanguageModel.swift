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

    /// Runs `tokens` (one per row of `batch`) through the model, writing their K/V into `cache`, and
    /// returns the logits of the rows listed in `logitRows`, concatenated (`logitRows.count * vocabularySize`).
    func forward(tokens: [Int32], batch: AttentionBatch, cache: KVCache, logitRows: [Int]) -> [Float]
}

extension LanguageModel {
    public func makeKVCache(slots: Int) -> KVCache {
        backend.makeKVCache(layers: layerCount, slots: slots, kvWidth: kvWidth)
    }
}
