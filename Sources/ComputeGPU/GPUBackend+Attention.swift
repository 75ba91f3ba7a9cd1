import Compute

extension GPUBackend {
    /// herd_attention.cu
    static let attentionKernelNames = ["herd_attention", "herd_attention_split", "herd_attention_combine"]

    /// Shortest partition of a split context, in keys: below it a partition's fixed costs (the query load,
    /// the state it writes and the combine reads) outweigh the parallelism gained.
    static let minimumPartition = 256
    /// Most partitions per context.
    static let maximumPartitions = 64
    /// Blocks per multiprocessor a split aims at (`attentionBlocksPerUnit`'s default): a 128-thread block
    /// runs one key (QK) or one dependent product chain (PV) per thread at a time, so it takes many resident
    /// blocks to keep the memory system busy.
    static let defaultAttentionBlocksPerUnit = 8
    /// The same for the grouped decode kernel: twice as many (H100, FP8 decode-64 at ctx 1024: 11.85 ->
    /// 11.60 ms against 8, at 12 11.65; one request unchanged, its partitions being capped by length).
    static let defaultDecodeBlocksPerUnit = 16

    /// How a step's attention is split, or nil for one block per (row, head): split when those blocks are
    /// fewer than `attentionBlocksPerUnit` per multiprocessor and the longest context is at least two
    /// partitions. Partitions are `length` keys (a multiple of 64) of each row's context, `parts` of them for
    /// the longest, about `attentionBlocksPerUnit` blocks per multiprocessor in all.
    public func attentionPartitions(rows: Int, heads: Int, longest: Int) -> (parts: Int, length: Int)? {
        guard let fill = partitionsToFill(blocks: rows * heads) else { return nil }
        let wanted = min(fill, longest / Self.minimumPartition)
        guard wanted >= 2 else { return nil }
        let length = ((longest + wanted - 1) / wanted + 63) / 64 * 64
        return ((longest + length - 1) / length, length)
    }

    /// Partitions per (row, head) that bring `blocks` blocks to `attentionBlocksPerUnit` per multiprocessor,
    /// at most `maximumPartitions`; nil when splitting is off or the device's size is unknown.
    func partitionsToFill(blocks: Int, perUnit: Int? = nil) -> Int? {
        let units = driver.multiprocessorCount
        guard splitAttention, units > 0, blocks > 0 else { return nil }
        return min(((perUnit ?? attentionBlocksPerUnit) * units + blocks - 1) / blocks, Self.maximumPartitions)
    }

    /// The split-context state buffer (`attentionPartials`), grown to at least `floats`.
    func attentionPartials(floats: Int) -> Tensor {
        if (attentionPartials?.shape[0] ?? 0) < floats { attentionPartials = zeros([max(floats, 1 << 16)]) }
        return attentionPartials!
    }

    /// Per batch row {slot list offset, context start, context end}: the attention kernels' `row_info`.
    func attentionRowInfo(_ batch: AttentionBatch) -> [Int32] {
        var info: [Int32] = []
        info.reserveCapacity(3 * batch.rows.count)
        for row in batch.rows {
            info += [Int32(batch.sequenceSlotOffsets[Int(row.sequence)]), row.contextStart, row.contextEnd]
        }
        return info
    }

    public func attention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                          heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) {
        precondition(headDim <= 128, "attention kernel supports head_dim <= 128")
        // Steps of many rows: the tiled grouped-query kernel (GPUBackend+AttentionGQA.swift).
        if gqaAttention(queries: queries, cache: cache, layer: layer, batch: batch, heads: heads, kvHeads: kvHeads, headDim: headDim,
                        scale: scale, into: out) { return }
        let rows = batch.rows.count
        let longest = batch.rows.map { Int($0.contextEnd - $0.contextStart) }.max() ?? 0
        let staged = [stageShared(batch.slots)] + stage([attentionRowInfo(batch)])
        let keys = cache.keys[layer], values = cache.values[layer]
        guard let split = attentionPartitions(rows: rows, heads: heads, longest: longest) else {
            launch("herd_attention", grid: (rows, heads), block: 128,
                   [.ptr(queries.data), .ptr(keys.data), .ptr(values.data), .ptr(staged[0]), .ptr(staged[1]),
                    .ptr(out.data), .i32(heads), .i32(kvHeads), .i32(headDim), .f32(scale), .i32(queries.rowLength), .i32(out.rowLength),
                    .i32(keys.rowLength)])
            return
        }
        // One block per (row, head, partition), then one per (row, head) merging the partitions' states.
        let partials = attentionPartials(floats: rows * heads * split.parts * (headDim + 2))
        launch("herd_attention_split", grid: (rows * split.parts, heads), block: 128,
               [.ptr(queries.data), .ptr(keys.data), .ptr(values.data), .ptr(staged[0]), .ptr(staged[1]),
                .ptr(partials.data), .i32(heads), .i32(kvHeads), .i32(headDim), .f32(scale), .i32(queries.rowLength),
                .i32(keys.rowLength), .i32(split.parts), .i32(split.length)])
        launch("herd_attention_combine", grid: (rows, heads), block: 128,
               [.ptr(partials.data), .ptr(out.data), .i32(heads), .i32(headDim), .i32(out.rowLength), .i32(split.parts), .ptr(nil)])
    }
}
