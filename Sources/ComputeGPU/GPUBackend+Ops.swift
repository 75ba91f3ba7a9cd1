import CHerdKernels
import Compute

/// The model ops as kernel launches, the same on every vendor. Each op's CPU twin is the same-named op of
/// `CPUBackend`. An op stages its small host arrays (`stage`), then launches a kernel by name with its
/// grid, block and arguments in the kernel's parameter order (see `GPUBackend.kernelNames`).
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
        case .q4_0, .q4_1, .q8_0:
            // Dequantized row by row to f32, stored as f16 (exact for the 8-bit grid; see the type's doc).
            guard k % 32 == 0 else { throw GPUError("tensor \"\(host.name)\": row length \(k) is not a multiple of 32") }
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

    /// An FP8 checkpoint weight: its E4M3FN bytes are first put in the device's own FP8 encoding
    /// (E4M3FNUZ on MI300X: same bits, scales doubled, see `FP8Encoding`), the form an FP8 matrix kernel
    /// will read. Until that kernel exists, those device bytes are expanded to BF16 on the host and the BF16
    /// kernel multiplies them (twice the memory of FP8; bit-identical to the CPU backend's BF16 weights).
    public func weight(_ host: HostTensor, rowScales: HostTensor) throws -> Tensor {
        guard host.dtype == .f8_e4m3, host.shape.count == 2 else {
            throw GPUError("tensor \"\(host.name)\": expected a 2-D F8_E4M3 weight, got \(host.dtype) \(host.shape)")
        }
        let rows = host.shape[0], k = host.shape[1]
        guard rowScales.shape.reduce(1, *) == rows, [.f32, .bf16, .f16].contains(rowScales.dtype) else {
            throw GPUError("tensor \"\(rowScales.name)\": expected \(rows) F32/BF16/F16 row scales, got \(rowScales.dtype) \(rowScales.shape)")
        }
        var scales = [Float](repeating: 0, count: rows)
        herd_dequantize_row(Int32(rowScales.dtype.rawValue), rowScales.bytes.baseAddress, &scales, Int64(rows))
        let encoding = driver.fp8Encoding
        let device = encoding.fromCheckpoint(bytes: host.bytes, rowScales: scales)
        let bf16 = Self.bf16Rows(fp8: device.bytes, rowScales: device.rowScales, rowLength: k, encoding: encoding)
        return bf16.withUnsafeBytes { deviceTensor(.bf16, host.shape, upload($0), bytes: $0.count) }
    }

    /// BF16 (round to nearest even) of `decode(byte) * rowScale` for every byte of rows of `rowLength`.
    static func bf16Rows(fp8: [UInt8], rowScales: [Float], rowLength: Int, encoding: FP8Encoding) -> [UInt16] {
        let table = (0...255).map { encoding.decode(UInt8($0)) }
        var out = [UInt16](repeating: 0, count: fp8.count)
        for i in 0..<fp8.count {
            let bits = (table[Int(fp8[i])] * rowScales[i / rowLength]).bitPattern
            out[i] = Float(bitPattern: bits).isNaN
                ? UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
                : UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
        }
        return out
    }

    public func zeros(_ shape: [Int]) -> Tensor {
        let bytes = shape.reduce(1, *) * 4
        return deviceTensor(.f32, shape, allocate(bytes), bytes: bytes)
    }

    public func embed(_ table: Tensor, tokens: [Int32], into out: Tensor) {
        precondition(table.dtype == .f32 || table.dtype == .f16, "embedding table type \(table.dtype)")
        let ids = stage([tokens])[0]
        if table.dtype == .f32 {
            launch("herd_embed_f32", grid: (tokens.count, 1), block: 256, [.ptr(table.data), .ptr(ids), .ptr(out.data), .i32(table.rowLength), .i32(out.rowLength)])
        } else {
            // An f16 table (dequantized GGUF embeddings): gather rows as a matmul-free copy through f32.
            gatherHalfRows(table, ids: tokens, into: out)
        }
    }

    /// Embedding lookup from an f16 table: the rows come back to the host, widen, and go up again.
    /// (Only at prefill-sized row counts; an f16 gather kernel is part of the speed work.)
    private func gatherHalfRows(_ table: Tensor, ids: [Int32], into out: Tensor) {
        let width = table.rowLength
        var halves = [UInt16](repeating: 0, count: width)
        var floats = [Float](repeating: 0, count: width)
        for (r, id) in ids.enumerated() {
            halves.withUnsafeMutableBytes { dst in
                copyToHost(dst.baseAddress!, from: table.data + Int(id) * width * 2, bytes: width * 2)
            }
            for i in 0..<width { floats[i] = herd_f16_to_f32(halves[i]) }
            floats.withUnsafeBytes { src in
                copyToDevice(out.data + r * out.rowLength * 4, from: src.baseAddress!, bytes: width * 4)
            }
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        launch("herd_rms_norm", grid: (rows, 1), block: 256,
               [.ptr(x.data), .ptr(weight?.data), .ptr(out.data), .i32(x.rowLength), .f32(eps), .i32(x.rowLength), .i32(out.rowLength)])
    }

    public func matmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor) {
        let name: String
        switch weight.dtype {
        case .f32: name = "herd_matmul_f32"
        case .f16: name = "herd_matmul_f16"
        case .bf16: name = "herd_matmul_bf16"
        default: preconditionFailure("matmul weight type \(weight.dtype) on \(driver.vendor)")
        }
        launch(name, grid: (weight.rowCount, (rows + 3) / 4), block: 256,
               [.ptr(weight.data), .ptr(x.data), .ptr(out.data), .i32(weight.rowLength), .i32(rows), .i32(x.rowLength), .i32(out.rowLength)])
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

    public func attention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                          heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) {
        precondition(headDim <= 128, "attention kernel supports head_dim <= 128")
        var info: [Int32] = []
        for row in batch.rows {
            info += [Int32(batch.sequenceSlotOffsets[Int(row.sequence)]), row.contextStart, row.contextEnd]
        }
        let staged = stage([batch.slots, info])
        launch("herd_attention", grid: (batch.rows.count, heads), block: 64,
               [.ptr(queries.data), .ptr(cache.keys[layer].data), .ptr(cache.values[layer].data), .ptr(staged[0]), .ptr(staged[1]),
                .ptr(out.data), .i32(heads), .i32(kvHeads), .i32(headDim), .f32(scale), .i32(queries.rowLength), .i32(out.rowLength),
                .i32(cache.keys[layer].rowLength)])
    }

    public func swiglu(gate: Tensor, up: Tensor, rows: Int, into out: Tensor) {
        launch("herd_swiglu", grid: (rows, 1), block: 256,
               [.ptr(gate.data), .ptr(up.data), .ptr(out.data), .i32(gate.rowLength), .i32(gate.rowLength), .i32(up.rowLength), .i32(out.rowLength)])
    }

    public func add(_ y: Tensor, _ x: Tensor, rows: Int) {
        launch("herd_add", grid: (rows, 1), block: 256, [.ptr(y.data), .ptr(x.data), .i32(y.rowLength), .i32(y.rowLength), .i32(x.rowLength)])
    }

    public func gatherRows(_ x: Tensor, indices: [Int], into out: Tensor) {
        let staged = stage([indices.map { Int32($0) }])[0]
        launch("herd_gather_rows", grid: (indices.count, 1), block: 256,
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
