import Compute

/// One MoE layer's experts on the device: a table of the experts' weight addresses per matrix, so one
/// launch runs every expert (each block looks up its expert's matrix).
final class GPUExperts: PreparedExperts, @unchecked Sendable {
    let dtype: DType
    let hidden: Int
    let width: Int
    let count: Int
    /// [3][count] device addresses: gate, up, down.
    let table: Tensor
    /// Keeps the weights alive as long as the table points at them.
    let weights: [Tensor]

    init(dtype: DType, hidden: Int, width: Int, count: Int, table: Tensor, weights: [Tensor]) {
        self.dtype = dtype
        self.hidden = hidden
        self.width = width
        self.count = count
        self.table = table
        self.weights = weights
    }
}

/// Per-step buffers of the fused MoE path, grown to the largest step seen.
final class MoEWorkspace {
    let slots: Int, hidden: Int, width: Int, experts: Int
    let slotRows, slotWeights, slotOf, choiceIDs, offsets, active: Tensor
    let xg, g, u, o: Tensor
    init(backend: GPUBackend, slots: Int, hidden: Int, width: Int, experts: Int) {
        self.slots = slots; self.hidden = hidden; self.width = width; self.experts = experts
        slotRows = backend.zeros([slots]); slotWeights = backend.zeros([slots]); slotOf = backend.zeros([slots])
        choiceIDs = backend.zeros([slots]); offsets = backend.zeros([experts + 1]); active = backend.zeros([experts])
        xg = backend.zeros([slots, hidden]); o = backend.zeros([slots, hidden])
        g = backend.zeros([slots, width]); u = backend.zeros([slots, width])
    }
    func fits(slots: Int, hidden: Int, width: Int, experts: Int) -> Bool {
        slots <= self.slots && hidden == self.hidden && width == self.width && experts <= self.experts
    }
}

extension GPUBackend {
    public func prepareExperts(gate: [Tensor], up: [Tensor], down: [Tensor]) -> (any PreparedExperts)? {
        guard let first = gate.first, gate.count == up.count, gate.count == down.count else { return nil }
        let all = gate + up + down
        let width = first.rowCount, hidden = first.rowLength
        guard [.f32, .f16, .bf16, .f8_e4m3].contains(first.dtype), all.allSatisfy({ $0.dtype == first.dtype }),
              (gate + up).allSatisfy({ $0.shape == [width, hidden] }), down.allSatisfy({ $0.shape == [hidden, width] }),
              gate.count <= 1024 else { return nil }
        let addresses = all.map { UInt64(UInt(bitPattern: $0.data)) }
        let table = addresses.withUnsafeBytes { bytes in
            deviceTensor(.i64, [3, gate.count], upload(bytes), bytes: bytes.count)
        }
        return GPUExperts(dtype: first.dtype, hidden: hidden, width: width, count: gate.count, table: table, weights: all)
    }

    public func routedExperts(_ x: Tensor, routerLogits: Tensor, experts prepared: any PreparedExperts, topK: Int, rows: Int,
                              choices: Tensor, into out: Tensor) {
        guard let e = prepared as? GPUExperts else { preconditionFailure("experts prepared by another backend") }
        precondition(topK >= 1 && topK <= 8 && topK <= e.count, "top-k \(topK) of \(e.count) experts")
        let slots = rows * topK
        let w = moeWorkspace(slots: slots, hidden: e.hidden, width: e.width, experts: e.count)
        launch("herd_moe_route", grid: (1, 1), block: 1024,
               [.ptr(routerLogits.data), .i32(rows), .i32(e.count), .i32(topK), .i32(routerLogits.rowLength), .ptr(choices.data),
                .ptr(w.slotRows.data), .ptr(w.slotWeights.data), .ptr(w.slotOf.data), .ptr(w.offsets.data), .ptr(w.choiceIDs.data),
                .ptr(w.active.data)])
        launch("herd_moe_gather", grid: (slots, columnBlocks(rows: slots, n: e.hidden)), block: 256,
               [.ptr(x.data), .ptr(w.slotRows.data), .ptr(w.slotWeights.data), .ptr(w.xg.data), .i32(e.hidden), .i32(x.rowLength), .i32(e.hidden)])
        let table = e.table.data
        let stride = e.count * 8
        if rows > Self.splitKRows, usesTensorCores(e.dtype, k: e.hidden, ldx: e.hidden), usesTensorCores(e.dtype, k: e.width, ldx: e.width),
           useVendorBLAS, let blas {
            vendorExperts(e, blas: blas, workspace: w, slots: slots, rows: rows)
        } else if rows <= 64, slots >= skinnyExpertSlots * e.count, usesSkinny(e.dtype, k: e.hidden), usesSkinny(e.dtype, k: e.width) {
            // Decode steps with a couple of slots per expert or more (a single slot streams faster on the GEMV).
            skinnyExperts(e, workspace: w, slots: slots)
        } else {
            // Gate and up with their SwiGLU in one launch where they run on the GEMV; three launches otherwise.
            if !groupedGated(e, x: w.xg, y: w.g, routing: w, rows: rows, slots: slots) {
                grouped(e, weights: table, n: e.width, k: e.hidden, x: w.xg, y: w.g, routing: w, rows: rows, slots: slots)
                grouped(e, weights: table + stride, n: e.width, k: e.hidden, x: w.xg, y: w.u, routing: w, rows: rows, slots: slots)
                swiglu(gate: w.g, up: w.u, rows: slots, into: w.g)
            }
            grouped(e, weights: table + 2 * stride, n: e.hidden, k: e.width, x: w.g, y: w.o, routing: w, rows: rows, slots: slots)
        }
        joinBranches()  // the shared expert (a branch beside this) writes `out` first
        launch("herd_moe_combine", grid: (rows, columnBlocks(rows: rows, n: e.hidden)), block: 256,
               [.ptr(w.o.data), .ptr(w.slotOf.data), .i32(topK), .ptr(out.data), .i32(e.hidden), .i32(e.hidden), .i32(out.rowLength)])
    }

    /// Prefill-sized expert products through cuBLASLt, one per expert: the experts' slot counts are read
    /// back first (one short wait per MoE layer, small beside a prefill step's products). With several
    /// activation terms, each row's terms are stacked as rows of the expert's one product (the split laid out
    /// by row) and added in term order afterwards (herd_mma_reduce): an expert's weight is read once, not
    /// once per term (at ~128 rows per expert these products are bound by reading the weights). An expert
    /// matrix cuBLASLt has no algorithm for runs on Herd's grouped kernel instead.
    private func vendorExperts(_ e: GPUExperts, blas: CUBLASLt, workspace w: MoEWorkspace, slots: Int, rows: Int) {
        var offsets = [Int32](repeating: 0, count: e.count + 1)
        offsets.withUnsafeMutableBytes { copyToHost($0.baseAddress!, from: w.offsets.data, bytes: $0.count) }
        let terms = tensorCoreActivations.terms, fp8 = e.dtype == .f8_e4m3, width = max(e.hidden, e.width)
        let buffers = mmaWorkspace(splitBytes: terms * slots * width * 2, partialBytes: terms > 1 ? terms * slots * width * 4 : 0,
                                   widenedBytes: fp8 ? e.hidden * e.width * 2 : 0)
        let split = buffers.split, partial = buffers.partial
        /// y[s] = W_e x[s] for every expert from x split into terms; false when cuBLASLt declined a shape.
        func products(_ matrices: ArraySlice<Tensor>, x: Tensor, k: Int, y: Tensor, n: Int, split alreadySplit: Bool = false,
                      swigluUp: Tensor? = nil) -> Bool {
            if !alreadySplit { splitTerms(x, rows: slots, k: k, into: split, byRow: true, up: swigluUp) }
            var ok = true
            let run = {
                for (expert, matrix) in matrices.enumerated() {
                    let first = Int(offsets[expert]), count = Int(offsets[expert + 1]) - first
                    guard count > 0 else { continue }
                    // FP8: this expert's matrix widened to BF16 (exact), its row scales applied after the products.
                    let weights = fp8 ? self.widen(matrix, into: buffers.widened) : matrix.data
                    let rowsOut = y.data + first * y.rowLength * 4
                    // One term: straight into y; more: into the partial buffer, [row][term][n].
                    let target = terms > 1 ? partial.data + first * terms * n * 4 : rowsOut
                    ok = self.blasMatmul(blas, a: split.data + first * terms * k * 2, w: weights, d: target, m: terms * count, n: n, k: k,
                                         ldd: terms > 1 ? n : y.rowLength, accumulate: false)
                    if !ok { return }
                    let scales = fp8 ? FP8Layout.scales(of: matrix) : nil
                    if terms > 1 {
                        self.reduceParts(target, parts: terms, partStride: n, rowStride: terms * n, scales: scales, into: rowsOut,
                                         ldy: y.rowLength, rows: count, n: n)
                    } else if let scales {
                        self.scaleColumns(rowsOut, rows: count, ldy: y.rowLength, scales: scales, n: n)
                    }
                }
            }
            if let profile { profiled(fp8 ? "(cuBLASLt fp8 widened experts)" : "(cuBLASLt bf16 experts)", profile, run) } else { run() }
            return ok
        }
        let table = e.table.data, stride = e.count * 8
        let gate = e.weights[0..<e.count], up = e.weights[e.count..<(2 * e.count)], down = e.weights[(2 * e.count)...]
        if !products(gate, x: w.xg, k: e.hidden, y: w.g, n: e.width) {
            grouped(e, weights: table, n: e.width, k: e.hidden, x: w.xg, y: w.g, routing: w, rows: rows, slots: slots)
        }
        if !products(up, x: w.xg, k: e.hidden, y: w.u, n: e.width, split: true) {  // the same input as gate's
            grouped(e, weights: table + stride, n: e.width, k: e.hidden, x: w.xg, y: w.u, routing: w, rows: rows, slots: slots)
        }
        // The down products' input is split from gate and up directly (silu(gate) * up, never written in f32).
        if !products(down, x: w.g, k: e.width, y: w.o, n: e.hidden, swigluUp: w.u) {
            swiglu(gate: w.g, up: w.u, rows: slots, into: w.g)
            grouped(e, weights: table + 2 * stride, n: e.hidden, k: e.width, x: w.g, y: w.o, routing: w, rows: rows, slots: slots)
        }
    }

    /// Decode-sized expert products on the tensor cores (herd_moe_skinny_*): the gathered rows split into
    /// BF16 terms once, gate and up in one launch that writes their SwiGLU, that split once for down.
    private func skinnyExperts(_ e: GPUExperts, workspace w: MoEWorkspace, slots: Int) {
        let terms = tensorCoreActivations.terms, fp8 = e.dtype == .f8_e4m3
        let split = mmaWorkspace(splitBytes: terms * slots * max(e.hidden, e.width) * 2, partialBytes: 0).split
        let table = e.table.data, stride = e.count * 8
        func products(_ weights: UnsafeMutableRawPointer, up: UnsafeMutableRawPointer?, n: Int, k: Int, y: Tensor) {
            skinnyGrouped(dtype: e.dtype, count: e.count, weights: weights, upWeights: up,
                          scalesOffset: fp8 ? FP8Layout(rows: n, columns: k).scalesOffset : 0, n: n, k: k, split: split, slots: slots, y: y,
                          offsets: w.offsets)
        }
        splitTerms(w.xg, rows: slots, k: e.hidden, into: split, fp8Order: fp8)
        products(table, up: table + stride, n: e.width, k: e.hidden, y: w.g)
        splitTerms(w.g, rows: slots, k: e.width, into: split, fp8Order: fp8)
        products(table + 2 * stride, up: nil, n: e.hidden, k: e.width, y: w.o)
    }

    func moeWorkspace(slots: Int, hidden: Int, width: Int, experts: Int) -> MoEWorkspace {
        if let w = moeBuffers, w.fits(slots: slots, hidden: hidden, width: width, experts: experts) { return w }
        let w = MoEWorkspace(backend: self, slots: max(slots, 64, moeBuffers?.slots ?? 0), hidden: hidden, width: width, experts: experts)
        moeBuffers = w
        return w
    }

    /// y[s] = W_e x[s] for every expert's slots, one launch. Decode-sized steps (`rows` <= 64: a few slots
    /// per expert) take the warp-per-output kernel, larger ones the 64 x 64 tiles.
    /// On the GEMV, only the experts with slots get blocks (`routing.active`, min(experts, slots) of them).
    private func grouped(_ e: GPUExperts, weights: UnsafeMutableRawPointer, n: Int, k: Int, x: Tensor, y: Tensor, routing: MoEWorkspace, rows: Int,
                         slots: Int) {
        let offsets = routing.offsets
        let bias = driver.fp8Encoding.exponentBias
        let scalesOffset = e.dtype == .f8_e4m3 ? FP8Layout(rows: n, columns: k).scalesOffset : 0
        let vector = e.dtype == .f8_e4m3 ? 16 : 8
        if rows <= 64 && e.dtype != .f32 && k % vector == 0 && x.rowLength % 4 == 0 {
            let parts = gemvParts(k: k, dtype: e.dtype)
            let grid = (gemvBlocks(outputs: n, parts: parts), min(e.count, slots))
            if e.dtype == .f8_e4m3 {
                // One token row: at most one slot per expert, so the one-row build.
                launch(oneRow("herd_moe_gemv_fp8", rows), grid: grid, block: gemvThreads(parts: parts),
                       [.ptr(weights), .u64(UInt64(scalesOffset)), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k),
                        .i32(x.rowLength), .i32(y.rowLength), .i32(driver.warpSize), .i32(bias), .i32(parts), .ptr(routing.active.data)])
            } else {
                launch(e.dtype == .bf16 ? "herd_moe_gemv_bf16" : "herd_moe_gemv_f16", grid: grid, block: gemvThreads(parts: parts),
                       [.ptr(weights), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k), .i32(x.rowLength), .i32(y.rowLength),
                        .i32(driver.warpSize), .i32(parts), .ptr(routing.active.data)])
            }
            return
        }
        if tensorCoreGrouped(dtype: e.dtype, count: e.count, weights: weights, scalesOffset: scalesOffset, n: n, k: k, x: x, y: y,
                             offsets: offsets) { return }
        let grid = ((n + 63) / 64, e.count)
        switch e.dtype {
        case .f8_e4m3:
            launch("herd_moe_gemm_fp8", grid: grid, block: 256,
                   [.ptr(weights), .u64(UInt64(scalesOffset)), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k),
                    .i32(x.rowLength), .i32(y.rowLength), .i32(bias)])
        default:
            let name = e.dtype == .bf16 ? "herd_moe_gemm_bf16" : e.dtype == .f16 ? "herd_moe_gemm_f16" : "herd_moe_gemm_f32"
            launch(name, grid: grid, block: 256,
                   [.ptr(weights), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k), .i32(x.rowLength), .i32(y.rowLength)])
        }
    }

    /// y[s] = silu(G_e x[s]) * (U_e x[s]) for every expert's slots in one GEMV launch (herd_moe_gemv_gated_*:
    /// BF16, and FP8 at one row), with the bits of `grouped` twice and herd_swiglu; false (nothing launched)
    /// where the grouped products would not run on the GEMV.
    private func groupedGated(_ e: GPUExperts, x: Tensor, y: Tensor, routing: MoEWorkspace, rows: Int, slots: Int) -> Bool {
        let n = e.width, k = e.hidden, fp8 = e.dtype == .f8_e4m3
        guard rows <= 64, e.dtype == .bf16 || (fp8 && rows == 1), k % (fp8 ? 16 : 8) == 0, x.rowLength % 4 == 0 else { return false }
        let parts = gemvParts(k: k, dtype: e.dtype)
        // Two outputs (four rows) per group of warps; the experts with slots only, as `grouped`.
        let grid = (gemvBlocks(outputs: 2 * n, parts: parts), min(e.count, slots))
        let table = e.table.data, stride = e.count * 8
        let io: [Arg] = [.ptr(routing.offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k), .i32(x.rowLength), .i32(y.rowLength),
                         .i32(driver.warpSize)]
        if fp8 {
            launch("herd_moe_gemv_gated_fp8_1", grid: grid, block: gemvThreads(parts: parts),
                   [.ptr(table), .ptr(table + stride), .u64(UInt64(FP8Layout(rows: n, columns: k).scalesOffset))] + io
                   + [.i32(driver.fp8Encoding.exponentBias), .i32(parts), .ptr(routing.active.data)])
        } else {
            launch("herd_moe_gemv_gated_bf16", grid: grid, block: gemvThreads(parts: parts),
                   [.ptr(table), .ptr(table + stride)] + io + [.i32(parts), .ptr(routing.active.data)])
        }
        return true
    }
}
