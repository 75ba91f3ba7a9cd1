import Compute

extension GPUBackend {
    /// herd_attention_gqa.cu, every vendor: the CUDA-core tile kernel and the decode kernels (one per group size).
    static let gqaAttentionKernelNames = ["herd_attention_gqa"] + (1...maximumDecodeGroup).map { "herd_attention_gqa_decode\($0)" }
    /// herd_attention_gqa.cu, CUDA only (mma.sync; looked up on CUDA as `mmaKernelNames` is).
    static let gqaTensorCoreKernelNames = ["herd_attention_gqa_mma", "herd_attention_gqa_mma_tf32", "herd_attention_gqa_mma2",
                                           "herd_attention_gqa_mma2_tf32"]
    /// Largest group (query heads per KV head) with a decode kernel.
    static let maximumDecodeGroup = 8
    /// Query vectors (rows x group) per tensor-core tile: 4 warps of 16.
    static let tensorCoreTileVectors = 64

    /// How a step's grouped-query attention is divided among the kernels. Runs of consecutive rows of one
    /// sequence are cut into tiles; a run of one row (a decode row) is a tile of its own.
    public struct GQAPlan {
        /// Decode rows for herd_attention_gqa_decode<group>, one block per (row, partition, KV head).
        public var decodeRows: [Int32] = []
        /// The decode rows' context partitions (`decodePartitions`); nil: one per row, written directly.
        public var split: (parts: Int, length: Int)?
        /// (first row, rows) pairs for herd_attention_gqa_mma: runs of at least a tile's rows (prefill).
        public var tensorTiles: [Int32] = []
        /// (first row, rows) pairs for herd_attention_gqa: the rest.
        public var coreTiles: [Int32] = []

        /// The kernels the plan launches, for reports.
        public var kernels: [String] {
            var names: [String] = []
            if !tensorTiles.isEmpty { names.append("herd_attention_gqa_mma (\(tensorTiles.count / 2) tiles)") }
            if !coreTiles.isEmpty { names.append("herd_attention_gqa (\(coreTiles.count / 2) tiles)") }
            if !decodeRows.isEmpty {
                let how = split.map { ", up to \($0.parts) partitions of >= \(-$0.length) keys + herd_attention_combine" } ?? ""
                names.append("herd_attention_gqa_decode (\(decodeRows.count) rows\(how))")
            }
            return names
        }
    }

    /// The grouped-query plan of a step, or nil when a step with prompt rows is too small to fill the GPU
    /// that way (fewer tiles x KV heads than `gqaAttentionMinimumBlocks`; steps of decode rows only take the
    /// decode kernel at any size) or the shape does not fit the kernels (head_dim <= 128, at most 32 query
    /// heads per KV head). `kvRowLength`: floats per cache row.
    public func gqaAttentionPlan(batch: AttentionBatch, heads: Int, kvHeads: Int, headDim: Int, kvRowLength: Int) -> GQAPlan? {
        let group = heads / kvHeads
        guard headDim <= 128, kvHeads * group == heads, group <= 32 else { return nil }
        var runs: [(first: Int, count: Int)] = []
        for (r, row) in batch.rows.enumerated() {
            if let last = runs.last, batch.rows[last.first].sequence == row.sequence {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((r, 1))
            }
        }
        // The tile kernel's rows per tile; its tile count decides, as before the other kernels existed.
        let coreRows = 32 / group
        let coreTileCount = runs.reduce(0) { $0 + ($1.count + coreRows - 1) / coreRows }
        let aligned = headDim % 4 == 0 && kvRowLength % 4 == 0  // the 16-byte loads of both new kernels
        let decode = gqaDecodeKernel && aligned && group <= Self.maximumDecodeGroup
        // Steps of decode rows only take the decode kernel at any size (it splits contexts into partitions of
        // down to `decodePartitionKeys` keys to fill the GPU); otherwise too few tiles leave the step to the
        // per-(row, head) kernels.
        let decodeOnly = decode && runs.allSatisfy { $0.count == 1 }
        guard decodeOnly || coreTileCount * kvHeads >= gqaAttentionMinimumBlocks else { return nil }
        let tensorRows = Self.tensorCoreTileVectors / group
        let tensor = tensorCoreAttention && hasTensorCoreKernels && aligned && headDim == 128
        var plan = GQAPlan()
        for run in runs {
            if decode && run.count == 1 {
                plan.decodeRows.append(Int32(run.first))
                continue
            }
            let onTensorCores = tensor && run.count >= tensorRows
            let size = onTensorCores ? tensorRows : coreRows
            for first in stride(from: run.first, to: run.first + run.count, by: size) {
                let tile = [Int32(first), Int32(min(size, run.first + run.count - first))]
                if onTensorCores { plan.tensorTiles += tile } else { plan.coreTiles += tile }
            }
        }
        if !plan.decodeRows.isEmpty { plan.split = decodePartitions(rows: plan.decodeRows.count, kvHeads: kvHeads) }
        return plan
    }

    /// Partitions per decode row: enough blocks for `decodeBlocksPerUnit` per multiprocessor, from the row
    /// count alone (so a step's launches do not change as its contexts grow: a replayed graph needs that).
    /// The kernel cuts each row's own context into that many partitions of at least `decodePartitionKeys`
    /// keys (the negative length tells it to) and leaves the rest empty. nil: one partition per row.
    public func decodePartitions(rows: Int, kvHeads: Int) -> (parts: Int, length: Int)? {
        guard let parts = partitionsToFill(blocks: rows * kvHeads, perUnit: decodeBlocksPerUnit), parts >= 2 else { return nil }
        return (parts, -decodePartitionKeys)
    }

    /// Attention through the grouped-query kernels (see `gqaAttentionPlan`); false when the plan is nil.
    func gqaAttention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                      heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) -> Bool {
        let keys = cache.keys[layer], values = cache.values[layer]
        guard let plan = gqaAttentionPlan(batch: batch, heads: heads, kvHeads: kvHeads, headDim: headDim, kvRowLength: keys.rowLength)
        else { return false }
        let slots = stageShared(batch.slots)
        let staged = stage([attentionRowInfo(batch), plan.coreTiles, plan.tensorTiles, plan.decodeRows])
        let inputs: [Arg] = [.ptr(queries.data), .ptr(keys.data), .ptr(values.data), .ptr(slots), .ptr(staged[0])]
        launch("herd_attention_gqa", grid: (plan.coreTiles.count / 2, kvHeads), block: 256,
               inputs + [.ptr(staged[1]), .ptr(out.data), .i32(heads), .i32(kvHeads), .i32(headDim), .f32(scale), .i32(queries.rowLength),
                         .i32(out.rowLength), .i32(keys.rowLength)])
        // 3xTF32 (near f32) unless the activations are BF16 anyway (--tensor-core-activations bf16): plain TF32.
        // tensorCoreAttentionV2 (the default; HERD_TC_ATTENTION_V2=0: the first version): the same tiles and arguments.
        let tensorBase = tensorCoreAttentionV2 ? "herd_attention_gqa_mma2" : "herd_attention_gqa_mma"
        let tensorKernel = tensorCoreActivations == .bf16 ? tensorBase + "_tf32" : tensorBase
        launch(tensorKernel, grid: (plan.tensorTiles.count / 2, kvHeads), block: 128,
               inputs + [.ptr(staged[2]), .ptr(out.data), .i32(heads), .i32(kvHeads), .f32(scale), .i32(queries.rowLength),
                         .i32(out.rowLength), .i32(keys.rowLength)])
        guard !plan.decodeRows.isEmpty else { return true }
        let rows = plan.decodeRows.count, decode = "herd_attention_gqa_decode\(heads / kvHeads)"
        guard let split = plan.split else {
            // One partition per row, as long as the row (Int32.max: the kernel clips it to the context).
            launch(decode, grid: (rows, kvHeads), block: 128,
                   inputs + [.ptr(staged[3]), .ptr(out.data), .ptr(nil), .i32(heads), .i32(headDim), .f32(scale), .i32(queries.rowLength),
                             .i32(out.rowLength), .i32(keys.rowLength), .i32(1), .i32(Int(Int32.max))])
            return true
        }
        let partials = attentionPartials(floats: rows * heads * split.parts * (headDim + 2))
        launch(decode, grid: (rows * split.parts, kvHeads), block: 128,
               inputs + [.ptr(staged[3]), .ptr(out.data), .ptr(partials.data), .i32(heads), .i32(headDim), .f32(scale),
                         .i32(queries.rowLength), .i32(out.rowLength), .i32(keys.rowLength), .i32(split.parts), .i32(split.length)])
        launch("herd_attention_combine", grid: (rows, heads), block: 128,
               [.ptr(partials.data), .ptr(out.data), .i32(heads), .i32(headDim), .i32(out.rowLength), .i32(split.parts), .ptr(staged[3])])
        return true
    }
}
