import CHerdKernels
import Compute

/// The model ops as kernel launches, the same on every vendor. Each op's CPU twin is the same-named op of
/// `CPUBackend`. An op stages its small host arrays (`stage`), then launches a kernel by name with its
/// grid, block and arguments in the kernel's parameter order (see `GPUBackend.kernelNames(vendor:)`).
extension GPUBackend {
    public func weight(_ host: HostTensor) throws -> Tensor {
        let rows = host.shape.count == 1 ? 1 : host.shape.dropLast().reduce(1, *)
        let k = host.shape.last ?? 1
        switch host.dtype {
        case .f32 where host.shape.count == 1, .f32:
            return deviceTensor(.f32, host.shape, upload(host.bytes), bytes: host.bytes.count)
        case .f16, .bf16:
            if host.shape.count == 1 { return try floatVector(host) }
            return deviceTensor(host.dtype, host.shape, upload(host.bytes), bytes: host.bytes.count)
        case .q4_0, .q4_1, .q8_0, .q4_K, .q6_K:
            // Dequantized row by row to f32, stored as f16 (quantized GPU kernels are the speed work's).
            guard k % host.dtype.blockSize == 0 else {
                throw GPUError("tensor \"\(host.name)\": row length \(k) is not a multiple of \(host.dtype)'s block of \(host.dtype.blockSize)")
            }
            let rowBytes = Int(herd_row_bytes(Int32(host.dtype.rawValue), Int64(k)))
            var row = [Float](repeating: 0, count: k)
            var halves = [UInt16](repeating: 0, count: rows * k)
            for r in 0..<rows {
                herd_dequantize_row(Int32(host.dtype.rawValue), host.bytes.baseAddress! + r * rowBytes, &row, Int64(k))
                for i in 0..<k { halves[r * k + i] = herd_f32_to_f16(row[i]) }
            }
            return halves.withUnsafeBytes { deviceTensor(.f16, host.shape, upload($0), bytes: $0.count) }
        default:
            throw GPUError("tensor \"\(host.name)\": the \(driver.vendor) backend cannot use \(host.dtype) weights yet")
        }
    }

    /// 1-D weights (norms) become f32 vectors.
    private func floatVector(_ host: HostTensor) throws -> Tensor {
        let n = host.shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        herd_dequantize_row(Int32(host.dtype.rawValue), host.bytes.baseAddress, &values, Int64(n))
        return values.withUnsafeBytes { deviceTensor(.f32, host.shape, upload($0), bytes: $0.count) }
    }

    /// FP8 weights stay FP8 on the device (half the bytes of BF16 to stream per token), in the device's
    /// encoding (`GPUDriver.fp8Encoding`), followed by their per-row F32 scales: see `FP8Layout`.
    public func weight(_ host: HostTensor, rowScales: HostTensor) throws -> Tensor {
        guard host.dtype == .f8_e4m3, host.shape.count == 2 else {
            throw GPUError("tensor \"\(host.name)\": expected an F8_E4M3 matrix, got \(host.dtype) \(host.shape)")
        }
        let rows = host.shape[0], cols = host.shape[1]
        guard rowScales.shape.reduce(1, *) == rows, [.f32, .bf16, .f16].contains(rowScales.dtype) else {
            throw GPUError("tensor \"\(rowScales.name)\": expected \(rows) F32/BF16/F16 row scales, got \(rowScales.dtype) \(rowScales.shape)")
        }
        var scales = [Float](repeating: 0, count: rows)
        herd_dequantize_row(Int32(rowScales.dtype.rawValue), rowScales.bytes.baseAddress, &scales, Int64(rows))
        if fp8AsBF16 {
            // The CPU backend's BF16 weights, bit for bit (herd gpu-check compares the two engines exactly).
            var bf16 = [UInt16](repeating: 0, count: rows * cols)
            let src = host.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            bf16.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { herd_dequantize_fp8_e4m3_row_bf16(src + r * cols, scales[r], dst.baseAddress! + r * cols, Int64(cols)) }
            }
            return bf16.withUnsafeBytes { deviceTensor(.bf16, host.shape, upload($0), bytes: $0.count) }
        }
        let (bytes, deviceScales) = driver.fp8Encoding.fromCheckpoint(bytes: host.bytes, rowScales: scales)
        let layout = FP8Layout(rows: rows, columns: cols)
        let p = allocate(layout.byteCount)
        bytes.withUnsafeBytes { copyToDevice(p, from: $0.baseAddress!, bytes: $0.count) }
        deviceScales.withUnsafeBytes { copyToDevice(p + layout.scalesOffset, from: $0.baseAddress!, bytes: $0.count) }
        return deviceTensor(.f8_e4m3, host.shape, p, bytes: layout.byteCount)
    }

    public func zeros(_ shape: [Int]) -> Tensor {
        let bytes = shape.reduce(1, *) * 4
        return deviceTensor(.f32, shape, allocate(bytes), bytes: bytes)
    }

    public func embed(_ table: Tensor, tokens: [Int32], into out: Tensor) {
        precondition([.f32, .f16, .bf16].contains(table.dtype), "embedding table type \(table.dtype)")
        let ids = stage([tokens])[0]
        if table.dtype == .f32 {
            launch("herd_embed_f32", grid: (tokens.count, columnBlocks(rows: tokens.count, n: table.rowLength)), block: 256,
                   [.ptr(table.data), .ptr(ids), .ptr(out.data), .i32(table.rowLength), .i32(out.rowLength)])
        } else {
            launch("herd_embed_16", grid: (tokens.count, columnBlocks(rows: tokens.count, n: table.rowLength)), block: 256,
                   [.ptr(table.data), .ptr(ids), .ptr(out.data), .i32(table.rowLength), .i32(out.rowLength), .i32(table.dtype == .bf16 ? 1 : 0)])
        }
    }

    /// Threads per row of the norm kernels: a whole block per row, and at few rows a row's serial loads are
    /// the whole wait, so four times the threads.
    func normThreads(rows: Int) -> Int { rows <= wideNormRows ? 1024 : 256 }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        launch("herd_rms_norm", grid: (rows, 1), block: normThreads(rows: rows),
               [.ptr(x.data), .ptr(weight?.data), .ptr(out.data), .i32(x.rowLength), .f32(eps), .i32(x.rowLength), .i32(out.rowLength)])
    }

    /// herd_add then herd_rms_norm in one kernel (one pass over the rows, the same sums).
    public func addRMSNorm(_ residual: Tensor, _ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        let threads = normThreads(rows: rows)
        launch(threads == 1024 ? "herd_add_rms_norm_1024" : "herd_add_rms_norm", grid: (rows, 1), block: threads,
               [.ptr(residual.data), .ptr(x.data), .ptr(weight?.data), .ptr(out.data), .i32(residual.rowLength), .f32(eps),
                .i32(residual.rowLength), .i32(x.rowLength), .i32(out.rowLength)])
    }

    /// gridDim.y of the row-wise elementwise kernels over `rows` x `n` (256 threads per block): a few rows
    /// still spread over enough blocks to fill the GPU (one block per row would leave a one-row step on one
    /// multiprocessor).
    func columnBlocks(rows: Int, n: Int) -> Int {
        max(1, min((n + 255) / 256, (Self.splitKTargetBlocks + rows - 1) / max(rows, 1)))
    }

    /// The FP8 GEMV kernel `name` for `rows` rows: its one-row build (`_1`: one accumulator per output, half
    /// the registers, more warps in flight; measured faster for FP8 only) for a single row.
    func oneRow(_ name: String, _ rows: Int) -> String { rows == 1 ? name + "_1" : name }

    /// Warps sharing each group of GEMV output rows (herd_gemv_at's kparts): 2 for FP8 rows of at least four
    /// stripes per warp, so that the small products (o and down projections, one expert's products at one
    /// request: 160-256 blocks alone) fill the GPU twice over (H100, FP8 one request: 3.28/3.38 -> 3.17/3.04
    /// ms per step). BF16 keeps 1: its 8-row kernels' registers leave no room for the extra warps (3.72/3.69
    /// -> 3.89/4.05 ms). A function of k and the weight type alone, so a row gets the same bits in a fused
    /// launch (herd_gemv3_*) as alone. HERD_GEMV_SPLIT=0 keeps 1.
    public func gemvParts(k: Int, dtype: DType) -> Int {
        let chunks = k / (dtype == .f8_e4m3 ? 16 : 8)
        return gemvSplit && dtype == .f8_e4m3 && chunks >= 4 * driver.warpSize ? 2 : 1
    }

    /// The same for a product of `outputs` rows: a tiny one (the MoE router, 16 outputs: one block whose 4 busy
    /// warps walked 5120-element rows load after load, 15 us on an H200 under ncu; 7 us so) is bound by load
    /// latency, so every warp of a block shares each group of rows. `fusedMatmuls` launches products together
    /// only where each alone takes the same split, and with it (so a row's bits do not depend on the fusion).
    public func gemvParts(k: Int, dtype: DType, outputs: Int) -> Int {
        outputs <= Self.tinyProductOutputs ? 256 / driver.warpSize : gemvParts(k: k, dtype: dtype)
    }
    static let tinyProductOutputs = 128

    /// Threads per GEMV block: `gemvBlockThreads`, or more where a block must hold a group of `parts` warps.
    func gemvThreads(parts: Int) -> Int { max(gemvBlockThreads, parts * driver.warpSize) }

    /// Blocks of `gemvThreads(parts:)` threads for `outputs` GEMV output rows, HERD_GEMV_OUTS rows per group of
    /// `parts` warps.
    func gemvBlocks(outputs: Int, parts: Int) -> Int {
        let groupsPerBlock = gemvThreads(parts: parts) / driver.warpSize / parts
        return (outputs + groupsPerBlock * 4 - 1) / (groupsPerBlock * 4)
    }

    /// Whether a product of `rows` rows takes herd_gemv_* (decode-sized, not on the tensor cores' skinny path).
    public func takesGEMV(_ dtype: DType, rows: Int, k: Int, ldx: Int) -> Bool {
        let vector = dtype == .f8_e4m3 ? 16 : 8
        return rows <= 8 && [.f16, .bf16, .f8_e4m3].contains(dtype) && k % vector == 0 && ldx % 4 == 0
            && !takesSkinny(dtype, rows: rows, k: k)
    }

    public func matmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor) {
        let n = weight.rowCount, k = weight.rowLength
        let bias = driver.fp8Encoding.exponentBias
        // The tensor cores where they take the product (decode-shaped: herd_skinny_*), else decode-shaped
        // products stream each weight row once with 16-byte loads on the CUDA cores (herd_gemv_*).
        if tensorCoreProduct(x, weight: weight, rows: rows, into: out) { return }
        if takesGEMV(weight.dtype, rows: rows, k: k, ldx: x.rowLength) {
            let parts = gemvParts(k: k, dtype: weight.dtype, outputs: n)
            let grid = (gemvBlocks(outputs: n, parts: parts), 1)
            switch weight.dtype {
            case .f8_e4m3:
                let scales = FP8Layout.scales(of: weight)
                launch(oneRow("herd_gemv_fp8", rows), grid: grid, block: gemvThreads(parts: parts),
                       [.ptr(weight.data), .ptr(scales), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength),
                        .i32(out.rowLength), .i32(driver.warpSize), .i32(bias), .i32(parts)])
            default:
                launch(weight.dtype == .bf16 ? "herd_gemv_bf16" : "herd_gemv_f16", grid: grid, block: gemvThreads(parts: parts),
                       [.ptr(weight.data), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength), .i32(out.rowLength),
                        .i32(driver.warpSize), .i32(parts)])
            }
            return
        }
        let grid = ((n + 63) / 64, (rows + 63) / 64)
        switch weight.dtype {
        case .f8_e4m3:
            let scales = FP8Layout.scales(of: weight)
            launch("herd_gemm_fp8", grid: grid, block: 256, [.ptr(weight.data), .ptr(scales), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k),
                                                             .i32(rows), .i32(x.rowLength), .i32(out.rowLength), .i32(bias)])
        case .f32, .f16, .bf16:
            let name = weight.dtype == .f32 ? "herd_gemm_f32" : weight.dtype == .f16 ? "herd_gemm_f16" : "herd_gemm_bf16"
            launch(name, grid: grid, block: 256,
                   [.ptr(weight.data), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength), .i32(out.rowLength)])
        default: preconditionFailure("matmul weight type \(weight.dtype) on \(driver.vendor)")
        }
    }

    public func rope(_ x: Tensor, rows: Int, heads: Int, headDim: Int, positions: [Int32], rope: RoPE) {
        let staged = stage([positions, rope.inverseFrequencies.map { Int32(bitPattern: $0.bitPattern) }])
        launch("herd_rope", grid: (rows, 1), block: 128,
               [.ptr(x.data), .ptr(staged[0]), .ptr(staged[1]), .i32(heads), .i32(headDim), .i32(x.rowLength), .i32(rope.interleaved ? 1 : 0)])
    }

    public func storeKV(keys: Tensor, values: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch) {
        let slots = stage([batch.rows.map(\.writeSlot)])[0]
        launch("herd_store_kv", grid: (batch.rows.count, 1), block: 128,
               [.ptr(keys.data), .ptr(values.data), .ptr(cache.keys[layer].data), .ptr(cache.values[layer].data), .ptr(slots),
                .i32(cache.keys[layer].rowLength), .i32(keys.rowLength), .i32(values.rowLength)])
    }

    /// RoPE, the per-head norm, the temperature and the cache writes in one launch (herd_qkv_prepare) where
    /// its layout holds: head_dim 128, interleaved RoPE pairs (Llama 4's), f32 rows of 16-byte alignment;
    /// the separate ops otherwise.
    public func prepareAttentionInputs(q: Tensor, k: Tensor, v: Tensor, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                                       positions: [Int32], rope: RoPE?, qkNormEpsilon: Float?, temperatures: [Float], cache: KVCache,
                                       layer: Int, batch: AttentionBatch) {
        let keys = cache.keys[layer], values = cache.values[layer]
        let fits = headDim == 128 && (rope.map { $0.interleaved && $0.inverseFrequencies.count == 64 } ?? true)
            && [q.rowLength, k.rowLength, v.rowLength, keys.rowLength].allSatisfy { $0 % 4 == 0 } && rows == batch.rows.count
        guard fits else {
            return separateAttentionInputs(q: q, k: k, v: v, rows: rows, heads: heads, kvHeads: kvHeads, headDim: headDim, positions: positions,
                                           rope: rope, qkNormEpsilon: qkNormEpsilon, temperatures: temperatures, cache: cache, layer: layer,
                                           batch: batch)
        }
        var arrays = [positions, batch.rows.map(\.writeSlot)]
        if let rope { arrays.append(rope.inverseFrequencies.map { Int32(bitPattern: $0.bitPattern) }) }
        if !temperatures.isEmpty { arrays.append(temperatures.map { Int32(bitPattern: $0.bitPattern) }) }
        let staged = stage(arrays)
        let frequencies = rope == nil ? nil : staged[2], factors = temperatures.isEmpty ? nil : staged[arrays.count - 1]
        launch("herd_qkv_prepare", grid: (rows, (heads + kvHeads + 7) / 8), block: 256,
               [.ptr(q.data), .ptr(k.data), .ptr(v.data), .ptr(keys.data), .ptr(values.data), .ptr(staged[0]), .ptr(frequencies), .ptr(factors),
                .ptr(staged[1]), .i32(heads), .i32(kvHeads), .i32(q.rowLength), .i32(k.rowLength), .i32(v.rowLength), .i32(keys.rowLength),
                .i32(qkNormEpsilon == nil ? 0 : 1), .f32(qkNormEpsilon ?? 0)])
    }

    public func swiglu(gate: Tensor, up: Tensor, rows: Int, into out: Tensor) {
        launch("herd_swiglu", grid: (rows, columnBlocks(rows: rows, n: gate.rowLength)), block: 256,
               [.ptr(gate.data), .ptr(up.data), .ptr(out.data), .i32(gate.rowLength), .i32(gate.rowLength), .i32(up.rowLength), .i32(out.rowLength)])
    }

    /// As the default, except that SwiGLU never takes a launch of its own where it can ride on a product:
    /// decode-sized gate and up products on the GEMV write silu(gate) * up themselves (herd_gemv_gated_*:
    /// one launch, neither product written), and a down product that splits its input into BF16 terms
    /// (skinny, split-k tiles, cuBLASLt) splits silu(gate) * up directly (herd_mma_split with `up`).
    public func swigluMLP(_ x: Tensor, gate: Tensor, up: Tensor, down: Tensor, rows: Int, gateBuffer: Tensor, upBuffer: Tensor,
                          into out: Tensor) {
        if gatedGEMV(x, gate: gate, up: up, rows: rows, into: gateBuffer) {
            matmul(gateBuffer, weight: down, rows: rows, into: out)
            return
        }
        matmuls(x, weights: [gate, up], rows: rows, into: [gateBuffer, upBuffer])
        if tensorCoreProduct(gateBuffer, weight: down, rows: rows, into: out, swigluUp: upBuffer) { return }
        swiglu(gate: gateBuffer, up: upBuffer, rows: rows, into: gateBuffer)
        matmul(gateBuffer, weight: down, rows: rows, into: out)
    }

    /// out = silu(gate x) * (up x) in one GEMV launch (BF16; FP8 at one row, where the one-row build runs)
    /// where both products would take the GEMV, with the bits of the two products and herd_swiglu; false
    /// (nothing launched) otherwise.
    func gatedGEMV(_ x: Tensor, gate: Tensor, up: Tensor, rows: Int, into out: Tensor) -> Bool {
        let n = gate.rowCount, k = gate.rowLength, dtype = gate.dtype
        guard up.dtype == dtype, up.rowCount == n, up.rowLength == k, dtype == .bf16 || (dtype == .f8_e4m3 && rows == 1),
              takesGEMV(dtype, rows: rows, k: k, ldx: x.rowLength) else { return false }
        let parts = gemvParts(k: k, dtype: dtype, outputs: n)
        let grid = (gemvBlocks(outputs: 2 * n, parts: parts), 1)  // two outputs (four rows) per group of warps
        let io: [Arg] = [.ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength), .i32(out.rowLength), .i32(driver.warpSize)]
        if dtype == .f8_e4m3 {
            launch("herd_gemv_gated_fp8_1", grid: grid, block: gemvThreads(parts: parts),
                   [.ptr(gate.data), .ptr(up.data), .ptr(FP8Layout.scales(of: gate)), .ptr(FP8Layout.scales(of: up))] + io
                   + [.i32(driver.fp8Encoding.exponentBias), .i32(parts)])
        } else {
            launch("herd_gemv_gated_bf16", grid: grid, block: gemvThreads(parts: parts), [.ptr(gate.data), .ptr(up.data)] + io + [.i32(parts)])
        }
        return true
    }

    public func add(_ y: Tensor, _ x: Tensor, rows: Int) {
        launch("herd_add", grid: (rows, columnBlocks(rows: rows, n: y.rowLength)), block: 256,
               [.ptr(y.data), .ptr(x.data), .i32(y.rowLength), .i32(y.rowLength), .i32(x.rowLength)])
    }

    public func gatherRows(_ x: Tensor, indices: [Int], into out: Tensor) {
        let staged = stage([indices.map { Int32($0) }])[0]
        launch("herd_gather_rows", grid: (indices.count, columnBlocks(rows: indices.count, n: x.rowLength)), block: 256,
               [.ptr(x.data), .ptr(staged), .ptr(out.data), .i32(x.rowLength), .i32(x.rowLength), .i32(out.rowLength)])
    }

    public func scaleRows(_ x: Tensor, factors: [Float]) {
        let staged = stageFloats(factors)
        launch("herd_scale_rows", grid: (factors.count, 1), block: 256, [.ptr(x.data), .ptr(staged), .i32(x.rowLength), .i32(x.rowLength)])
    }

    public func scatterAddRows(_ x: Tensor, indices: [Int], into y: Tensor) {
        guard let top = indices.max() else { return }
        let staged = stage([indices.map { Int32($0) }])[0]
        launch("herd_scatter_add_rows", grid: (top + 1, 1), block: 256,
               [.ptr(x.data), .ptr(staged), .i32(indices.count), .ptr(y.data), .i32(y.rowLength), .i32(x.rowLength), .i32(y.rowLength)])
    }

    public func read(_ x: Tensor, rows: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * x.rowLength)
        out.withUnsafeMutableBytes { dst in copyToHost(dst.baseAddress!, from: x.data, bytes: dst.count) }
        return out
    }
}

extension GPUBackend {
    /// The arguments the three-product kernels (herd_gemv3_*, herd_skinny_*) take for up to three products of
    /// one input: the matrices, their FP8 row scales (FP8 kernels only), then the outputs, their row counts
    /// and their row lengths; an unused slot repeats the first product with 0 rows.
    func threeProductArgs(_ weights: [Tensor], _ outs: [Tensor]) -> (matrices: [Arg], scales: [Arg], products: [Arg]) {
        func at<T>(_ values: [T], _ i: Int, _ none: T) -> T { i < values.count ? values[i] : none }
        let matrices: [Arg] = (0..<3).map { .ptr(at(weights, $0, weights[0]).data) }
        let scales: [Arg] = weights[0].dtype == .f8_e4m3 ? (0..<3).map { .ptr(FP8Layout.scales(of: at(weights, $0, weights[0]))) } : []
        let n = weights.map(\.rowCount)
        let products: [Arg] = (0..<3).map { .ptr(at(outs, $0, outs[0]).data) } + (0..<3).map { .i32(at(n, $0, 0)) }
            + (0..<3).map { .i32(at(outs, $0, outs[0]).rowLength) }
        return (matrices, scales, products)
    }
}

extension GPUBackend: MultiMatmulBackend {
    /// Two or three products of the same activations (q/k/v, gate/up) in one launch where each would take
    /// the GEMV (herd_gemv3_*) or the skinny kernel (herd_skinny_*) alone, with the same bits; one product
    /// each otherwise, splitting the input into BF16 terms once.
    public func fusedMatmuls(_ x: Tensor, weights: [Tensor], rows: Int, into outs: [Tensor]) {
        precondition(weights.count == outs.count, "one output per weight")
        let dtype = weights[0].dtype, k = weights[0].rowLength
        guard (2...3).contains(weights.count), dtype == .bf16 || dtype == .f8_e4m3,
              weights.allSatisfy({ $0.dtype == dtype && $0.rowLength == k }), weights.dropLast().allSatisfy({ $0.rowCount % 4 == 0 }),
              takesGEMV(dtype, rows: rows, k: k, ldx: x.rowLength) else {
            if skinnyMatmuls(x, weights: weights, rows: rows, into: outs) { return }
            // One product each; where they split the input into BF16 terms, once for all (no output is the input).
            sharesSplits = !outs.contains { $0.data == x.data }
            sharedSplit = nil
            defer { sharesSplits = false; sharedSplit = nil }
            for (w, out) in zip(weights, outs) { matmul(x, weight: w, rows: rows, into: out) }
            return
        }
        let n = weights.map(\.rowCount)
        let parts = gemvParts(k: k, dtype: dtype, outputs: n[0])
        guard n.allSatisfy({ gemvParts(k: k, dtype: dtype, outputs: $0) == parts }) else {
            for (w, out) in zip(weights, outs) { matmul(x, weight: w, rows: rows, into: out) }
            return
        }
        let grid = (gemvBlocks(outputs: n.reduce(0, +), parts: parts), 1)
        let (matrices, scales, products) = threeProductArgs(weights, outs)
        if dtype == .f8_e4m3 {
            launch(oneRow("herd_gemv3_fp8", rows), grid: grid, block: gemvThreads(parts: parts), matrices + scales + products
                   + [.ptr(x.data), .i32(k), .i32(rows), .i32(x.rowLength), .i32(driver.warpSize), .i32(driver.fp8Encoding.exponentBias),
                      .i32(parts)])
        } else {
            launch("herd_gemv3_bf16", grid: grid, block: gemvThreads(parts: parts), matrices + products
                   + [.ptr(x.data), .i32(k), .i32(rows), .i32(x.rowLength), .i32(driver.warpSize), .i32(parts)])
        }
    }
}
