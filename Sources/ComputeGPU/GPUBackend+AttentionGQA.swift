import Compute

extension GPUBackend {
    /// herd_attention_gqa.cu
    static let gqaAttentionKernelNames = ["herd_attention_gqa"]

    /// Attention through herd_attention_gqa: consecutive rows of one sequence share tiles, each block a KV
    /// head and its query heads; false when the step is too small to fill the GPU that way (fewer blocks
    /// than `gqaAttentionMinimumBlocks`: few decode rows, where the per-(row, head) kernels split long
    /// contexts instead) or the shape
    /// does not fit the kernel (head_dim <= 128, at most 32 query heads per KV head).
    func gqaAttention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                      heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) -> Bool {
        let group = heads / kvHeads
        guard headDim <= 128, kvHeads * group == heads, group <= 32 else { return false }
        let rowsPerTile = 32 / group
        var tiles: [Int32] = []
        var r = 0
        while r < batch.rows.count {
            var count = 1
            while count < rowsPerTile && r + count < batch.rows.count && batch.rows[r + count].sequence == batch.rows[r].sequence { count += 1 }
            tiles += [Int32(r), Int32(count)]
            r += count
        }
        guard tiles.count / 2 * kvHeads >= gqaAttentionMinimumBlocks else { return false }
        let staged = stage([batch.slots, attentionRowInfo(batch), tiles])
        launch("herd_attention_gqa", grid: (tiles.count / 2, kvHeads), block: 256,
               [.ptr(queries.data), .ptr(cache.keys[layer].data), .ptr(cache.values[layer].data), .ptr(staged[0]), .ptr(staged[1]),
                .ptr(staged[2]), .ptr(out.data), .i32(heads), .i32(kvHeads), .i32(headDim), .f32(scale), .i32(queries.rowLength),
                .i32(out.rowLength), .i32(cache.keys[layer].rowLength)])
        return true
    }
}
