import Compute

/// How the f32 activations enter tensor-core products (herd_mma.cu): each activation is split into BF16
/// terms whose sum is the activation, one tensor-core product per term.
public enum TensorCoreActivations: String, CaseIterable, Sendable {
    /// 3 terms: exactly the f32 activation, so the product is the CPU engine's f32 x BF16 (the default:
    /// the GPU checks compare against the CPU at unchanged tolerances).
    case f32
    /// 2 terms: 16 significant bits of each activation.
    case bf16x2
    /// 1 term: BF16 activations, as vLLM and PyTorch run BF16 models (fastest prefill).
    case bf16
    /// No tensor cores: the CUDA-core tiles of herd_kernels.cu.
    case off

    /// `x` as the kernel sees it: the sum of its first `terms` BF16 parts (round to nearest even), for checks.
    public static func split(_ x: Float, terms: Int) -> Float {
        var rest = x, sum: Float = 0
        for _ in 0..<terms {
            let b = rest.bitPattern
            let part = Float(bitPattern: ((b &+ 0x7fff &+ ((b >> 16) & 1)) >> 16) << 16)
            sum += part
            rest -= part
        }
        return sum
    }

    public var terms: Int {
        switch self {
        case .f32: 3
        case .bf16x2: 2
        case .bf16: 1
        case .off: 0
        }
    }
}

extension GPUBackend {
    /// herd_mma.cu (CUDA only: tensor-core instructions)
    static let mmaKernelNames = ["herd_mma_bf16", "herd_mma_fp8", "herd_moe_mma_bf16", "herd_moe_mma_fp8", "herd_mma_split",
                                 "herd_mma_bf16_splitk", "herd_mma_fp8_splitk", "herd_mma_reduce", "herd_fp8_widen",
                                 "herd_scale_columns", "herd_skinny_bf16", "herd_skinny_fp8", "herd_moe_skinny_bf16",
                                 "herd_moe_skinny_fp8", "herd_moe_skinny_bf16_terms"]

    /// Products of at most this many rows take the decode path (activations split once, k split over blocks).
    static let splitKRows = 256
    /// Blocks a decode-sized product aims for: enough to keep every SM of an H100/H200 (132) streaming.
    static let splitKTargetBlocks = 4 * 132
    /// Dense row counts where herd_skinny_* beat the alternatives on an H100 (BENCHMARKS.md, v13 and v18):
    /// BF16 from 5 rows (fewer: the GEMV) to 8 (more: cuBLASLt with stacked terms); FP8 from 2 rows while
    /// rows x activation terms <= 96 (more: the split-k tiles; each pass of 16 rows re-reads the weight, so
    /// at 64 rows of 3 terms the tiles win, at 64 rows of 1 term the skinny kernel).
    public func skinnyDenseRows(for dtype: DType) -> ClosedRange<Int> {
        if let skinnyDenseRowsOverride { return skinnyDenseRowsOverride }
        return dtype == .f8_e4m3 ? 2...max(2, 96 / max(tensorCoreActivations.terms, 1)) : 5...8
    }
    /// Output rows per herd_skinny_* block (HERD_SKINNY_ROWS), activation rows per pass (HERD_SKINNY_PASS).
    static let skinnyBlockRows = 32
    static let skinnyPassRows = 32

    /// Whether `dtype` weights with rows `k` long take herd_skinny_*: k a whole number of its 64-byte k blocks.
    public func usesSkinny(_ dtype: DType, k: Int) -> Bool {
        useSkinnyMMA && tensorCoreActivations.terms > 0 && hasTensorCoreKernels
            && (dtype == .bf16 ? k % 32 == 0 : dtype == .f8_e4m3 ? k % 64 == 0 : false)
    }

    /// Whether a dense product of `rows` rows takes herd_skinny_*.
    public func takesSkinny(_ dtype: DType, rows: Int, k: Int) -> Bool {
        rows <= Self.splitKRows && skinnyDenseRows(for: dtype).contains(rows) && usesSkinny(dtype, k: k)
    }

    /// out = W x (with `swigluUp`: W (silu(x) * swigluUp)) on the tensor cores: the skinny kernel at its row
    /// counts, else the tiles or cuBLASLt, unless the GEMV takes the product (`matmul`'s order); false
    /// (nothing queued) when neither does, or when the product would not split its input for `swigluUp`.
    func tensorCoreProduct(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor, swigluUp: Tensor? = nil) -> Bool {
        if skinnyMatmuls(x, weights: [weight], rows: rows, into: [out], swigluUp: swigluUp) { return true }
        guard !takesGEMV(weight.dtype, rows: rows, k: weight.rowLength, ldx: x.rowLength) else { return false }
        return tensorCoreMatmul(x, weight: weight, rows: rows, into: out, swigluUp: swigluUp)
    }

    /// outs[i] = weights[i] x for up to three matrices of one type and row length in one launch (each with
    /// the bits it gets alone); false (nothing queued) when they do not all qualify (`takesSkinny`).
    /// With `swigluUp`, the input is silu(x) * swigluUp (split on the fly).
    func skinnyMatmuls(_ x: Tensor, weights: [Tensor], rows: Int, into outs: [Tensor], swigluUp: Tensor? = nil) -> Bool {
        let dtype = weights[0].dtype, k = weights[0].rowLength, terms = tensorCoreActivations.terms
        guard (1...3).contains(weights.count), weights.allSatisfy({ $0.dtype == dtype && $0.rowLength == k }),
              takesSkinny(dtype, rows: rows, k: k) else { return false }
        let w = mmaWorkspace(splitBytes: terms * rows * k * 2, partialBytes: 0)
        splitTerms(x, rows: rows, k: k, into: w.split, fp8Order: dtype == .f8_e4m3, up: swigluUp)
        let columnBlocks = weights.reduce(0) { $0 + ($1.rowCount + Self.skinnyBlockRows - 1) / Self.skinnyBlockRows }
        let grid = (columnBlocks, (rows + Self.skinnyPassRows - 1) / Self.skinnyPassRows)
        let (matrices, scales, products) = threeProductArgs(weights, outs)
        if dtype == .f8_e4m3 {
            launch("herd_skinny_fp8", grid: grid, block: 256, matrices + scales + products
                   + [.ptr(w.split.data), .i32(k), .i32(rows), .i32(driver.fp8Encoding.exponentBias), .i32(terms)])
        } else {
            launch("herd_skinny_bf16", grid: grid, block: 256, matrices + products + [.ptr(w.split.data), .i32(k), .i32(rows), .i32(terms)])
        }
        return true
    }

    /// y[s] = W_e x[s] for every expert's slots, from activations already split into terms (`split`: all
    /// `slots` rows, laid out by `splitTerms`, FP8 in its order), on the tensor cores (herd_moe_skinny_*).
    /// With `upWeights` (the up matrices' address table), y[s] = silu(gate) * up of the two products.
    func skinnyGrouped(dtype: DType, count: Int, weights: UnsafeMutableRawPointer, upWeights: UnsafeMutableRawPointer? = nil,
                       scalesOffset: Int, n: Int, k: Int, split: Tensor, slots: Int, y: Tensor, offsets: Tensor) {
        let rowsPerBlock = upWeights == nil ? Self.skinnyBlockRows : Self.skinnyBlockRows / 2
        let grid = ((n + rowsPerBlock - 1) / rowsPerBlock, count), terms = tensorCoreActivations.terms
        if dtype == .f8_e4m3 {
            launch("herd_moe_skinny_fp8", grid: grid, block: 256,
                   [.ptr(weights), .ptr(upWeights), .u64(UInt64(scalesOffset)), .ptr(offsets.data), .ptr(split.data), .i32(slots), .ptr(y.data),
                    .i32(n), .i32(k), .i32(y.rowLength), .i32(driver.fp8Encoding.exponentBias), .i32(terms)])
        } else {
            // Two or three activation terms: the build held to 3 blocks per multiprocessor (herd_mma.cu says why).
            launch(terms > 1 ? "herd_moe_skinny_bf16_terms" : "herd_moe_skinny_bf16", grid: grid, block: 256,
                   [.ptr(weights), .ptr(upWeights), .ptr(offsets.data), .ptr(split.data), .i32(slots), .ptr(y.data), .i32(n), .i32(k),
                    .i32(y.rowLength), .i32(terms)])
        }
    }

    /// NVIDIA sm_80 and later run mma.sync with BF16 operands.
    public var hasTensorCoreKernels: Bool {
        driver.vendor == "cuda" && (Int(driver.architecture.dropFirst(3)) ?? 0) >= 80
    }

    /// Whether a product of `dtype` weights with rows `k` long and activations `ldx` apart takes the
    /// tensor-core kernels: BF16 or FP8 weights, k a multiple of the 32-wide k step, 16-byte aligned rows.
    func usesTensorCores(_ dtype: DType, k: Int, ldx: Int) -> Bool {
        tensorCoreActivations.terms > 0 && hasTensorCoreKernels && (dtype == .bf16 || dtype == .f8_e4m3) && k % 32 == 0 && ldx % 4 == 0
    }

    /// out = W x on the tensor cores; false when this product does not qualify (see `usesTensorCores`).
    /// With `swigluUp`, the input is silu(x) * swigluUp, split on the fly; false (nothing queued) where the
    /// product would not split its input (the tiles that read f32 rows).
    func tensorCoreMatmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor, swigluUp: Tensor? = nil) -> Bool {
        let n = weight.rowCount, k = weight.rowLength
        guard usesTensorCores(weight.dtype, k: k, ldx: x.rowLength) else { return false }
        let grid = ((n + 63) / 64, (rows + 63) / 64), terms = tensorCoreActivations.terms
        if rows <= Self.splitKRows {
            if weight.dtype == .bf16, useVendorBLAS, let blas,
               vendorDecodeMatmul(blas, x, weight: weight, rows: rows, into: out, swigluUp: swigluUp) { return true }
            splitKMatmul(x, weight: weight, rows: rows, into: out, tiles: grid.0 * grid.1, swigluUp: swigluUp)
            return true
        }
        if useVendorBLAS, let blas, vendorMatmul(blas, x, weight: weight, rows: rows, into: out, swigluUp: swigluUp) { return true }
        if swigluUp != nil { return false }
        if weight.dtype == .f8_e4m3 {
            let scales = FP8Layout.scales(of: weight)
            launch("herd_mma_fp8", grid: grid, block: 128,
                   [.ptr(weight.data), .ptr(scales), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength),
                    .i32(out.rowLength), .i32(driver.fp8Encoding.exponentBias), .i32(terms)])
        } else {
            launch("herd_mma_bf16", grid: grid, block: 128,
                   [.ptr(weight.data), .ptr(x.data), .ptr(out.data), .i32(n), .i32(k), .i32(rows), .i32(x.rowLength), .i32(out.rowLength),
                    .i32(terms)])
        }
        return true
    }

    /// The decode path: the rows split into BF16 terms once, k split over enough blocks to fill the GPU,
    /// partial sums added in a fixed order (herd_mma_reduce), so results do not depend on timing.
    private func splitKMatmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor, tiles: Int, swigluUp: Tensor? = nil) {
        let n = weight.rowCount, k = weight.rowLength, terms = tensorCoreActivations.terms
        let kSteps = k / 32
        // At least 4 k steps per split; no more splits than fill the target.
        let splits = max(1, min(kSteps / 4, (Self.splitKTargetBlocks + tiles - 1) / tiles))
        let w = mmaWorkspace(splitBytes: terms * rows * k * 2, partialBytes: splits > 1 ? splits * rows * n * 4 : 0)
        splitTerms(x, rows: rows, k: k, into: w.split, up: swigluUp)
        let grid = ((n + 63) / 64, ((rows + 63) / 64) * splits)
        let scales = weight.dtype == .f8_e4m3 ? FP8Layout.scales(of: weight) : nil
        if weight.dtype == .f8_e4m3 {
            launch("herd_mma_fp8_splitk", grid: grid, block: 128,
                   [.ptr(weight.data), .ptr(scales), .ptr(w.split.data), .ptr(out.data), .ptr(w.partial.data), .i32(n), .i32(k), .i32(rows),
                    .i32(out.rowLength), .i32(driver.fp8Encoding.exponentBias), .i32(terms), .i32(splits)])
        } else {
            launch("herd_mma_bf16_splitk", grid: grid, block: 128,
                   [.ptr(weight.data), .ptr(w.split.data), .ptr(out.data), .ptr(w.partial.data), .i32(n), .i32(k), .i32(rows),
                    .i32(out.rowLength), .i32(terms), .i32(splits)])
        }
        if splits > 1 {
            reduceParts(w.partial.data, parts: splits, partStride: rows * n, rowStride: n, scales: scales, into: out.data, ldy: out.rowLength,
                        rows: rows, n: n)
        }
    }

    /// A prefill-sized product through cuBLASLt: the activations split into BF16 terms once (herd_mma_split),
    /// one product per term accumulated into `out`; FP8 weights are widened to BF16 first (exact;
    /// herd_fp8_widen) and their row scales applied to the product. false (nothing queued) when cuBLASLt
    /// has no algorithm for the shape.
    /// With `swigluUp`, the product's input is silu(x) * swigluUp (split on the fly).
    private func vendorMatmul(_ blas: CUBLASLt, _ x: Tensor, weight: Tensor, rows: Int, into out: Tensor, swigluUp: Tensor? = nil) -> Bool {
        let n = weight.rowCount, k = weight.rowLength, terms = tensorCoreActivations.terms
        let fp8 = weight.dtype == .f8_e4m3
        let w = mmaWorkspace(splitBytes: terms * rows * k * 2, partialBytes: 0, widenedBytes: fp8 ? n * k * 2 : 0)
        splitTerms(x, rows: rows, k: k, into: w.split, up: swigluUp)
        let matrix = fp8 ? widen(weight, into: w.widened) : weight.data
        var queued = true
        let run = {
            for t in 0..<terms {
                let a = w.split.data + t * rows * k * 2
                queued = self.blasMatmul(blas, a: a, w: matrix, d: out.data, m: rows, n: n, k: k, ldd: out.rowLength, accumulate: t > 0)
                if !queued { return }
            }
        }
        if let profile { profiled(fp8 ? "(cuBLASLt fp8 widened)" : "(cuBLASLt bf16)", profile, run) } else { run() }
        if queued && fp8 { scaleColumns(out, rows: rows, scales: FP8Layout.scales(of: weight), n: n) }
        return queued
    }

    /// A decode-sized BF16 product through cuBLASLt reading the weight once: the activations' BF16 terms are
    /// stacked as `terms x rows` rows of one product (the split buffer is laid out that way), and
    /// herd_mma_reduce adds the terms' row blocks in a fixed order. (FP8 weights stay on herd_mma_fp8_splitk:
    /// widening them for cuBLASLt would stream more bytes than the product reads.)
    private func vendorDecodeMatmul(_ blas: CUBLASLt, _ x: Tensor, weight: Tensor, rows: Int, into out: Tensor,
                                    swigluUp: Tensor? = nil) -> Bool {
        let n = weight.rowCount, k = weight.rowLength, terms = tensorCoreActivations.terms
        let w = mmaWorkspace(splitBytes: terms * rows * k * 2, partialBytes: terms > 1 ? terms * rows * n * 4 : 0)
        splitTerms(x, rows: rows, k: k, into: w.split, up: swigluUp)
        // One term: straight into `out`; more: into the partial buffer, [term][row][n].
        let target = terms > 1 ? w.partial.data : out.data, ld = terms > 1 ? n : out.rowLength
        var queued = false
        let run = {
            queued = self.blasMatmul(blas, a: w.split.data, w: weight.data, d: target, m: terms * rows, n: n, k: k, ldd: ld, accumulate: false)
        }
        if let profile { profiled("(cuBLASLt bf16 decode)", profile, run) } else { run() }
        guard queued else { return false }
        if terms > 1 {
            reduceParts(w.partial.data, parts: terms, partStride: rows * n, rowStride: n, scales: nil, into: out.data, ldy: out.rowLength,
                        rows: rows, n: n)
        }
        return true
    }

    /// The first `rows` rows of `x` (`k` wide) as this precision's BF16 terms in `buffer`, laid out
    /// [term][row][k] (herd_mma_split): the A operand of every split product. `fp8Order`: pairs in the order
    /// herd_skinny_fp8 widens its weights in; `byRow`: laid out [row][term][k] instead; with `up`, what is
    /// split is silu(x) * up (a SwiGLU's activation, never written in f32). Inside `fusedMatmuls` a split
    /// identical to the last one (same input, shape, layout and buffer) is skipped: q/k/v and gate/up read
    /// one input.
    func splitTerms(_ x: Tensor, rows: Int, k: Int, into buffer: Tensor, fp8Order: Bool = false, byRow: Bool = false, up: Tensor? = nil) {
        let flags = (fp8Order ? 1 : 0) | (byRow ? 2 : 0), terms = tensorCoreActivations.terms
        let key = SplitKey(source: x.data, up: up?.data, target: buffer.data, rows: rows, k: k, ldx: x.rowLength, terms: terms, flags: flags)
        if sharesSplits && sharedSplit == key { return }
        launch("herd_mma_split", grid: (rows, columnBlocks(rows: rows, n: k / 2)), block: 256,
               [.ptr(x.data), .ptr(up?.data), .ptr(buffer.data), .i32(rows), .i32(k), .i32(x.rowLength), .i32(up?.rowLength ?? 0), .i32(terms),
                .i32(flags)])
        sharedSplit = sharesSplits ? key : nil
    }

    /// y[r] = (scales *) the sum of `parts` partial rows in part order (herd_mma_reduce): row r's part s at
    /// `partial` + (r * rowStride + s * partStride) floats.
    func reduceParts(_ partial: UnsafeMutableRawPointer, parts: Int, partStride: Int, rowStride: Int, scales: UnsafeMutableRawPointer?,
                     into y: UnsafeMutableRawPointer, ldy: Int, rows: Int, n: Int) {
        launch("herd_mma_reduce", grid: (rows, columnBlocks(rows: rows, n: n)), block: 256,
               [.ptr(partial), .ptr(scales), .ptr(y), .i32(n), .i32(ldy), .i32(parts), .i32(partStride), .i32(rowStride)])
    }

    /// An FP8 weight's values as BF16 in `buffer` (exact; the row scales are not applied).
    func widen(_ weight: Tensor, into buffer: Tensor) -> UnsafeMutableRawPointer {
        let count = weight.rowCount * weight.rowLength
        launch("herd_fp8_widen", grid: ((count + 4095) / 4096, 1), block: 256,
               [.ptr(weight.data), .ptr(buffer.data), .u64(UInt64(count)), .i32(driver.fp8Encoding.exponentBias)])
        return buffer.data
    }

    /// y[r, i] *= scales[i] for the first `rows` rows.
    func scaleColumns(_ y: UnsafeMutableRawPointer, rows: Int, ldy: Int, scales: UnsafeMutableRawPointer, n: Int) {
        launch("herd_scale_columns", grid: (rows, 1), block: 256, [.ptr(y), .ptr(scales), .i32(n), .i32(ldy)])
    }
    func scaleColumns(_ y: Tensor, rows: Int, scales: UnsafeMutableRawPointer, n: Int) {
        scaleColumns(y.data, rows: rows, ldy: y.rowLength, scales: scales, n: n)
    }

    /// The decode path's buffers, grown to the largest product seen.
    func mmaWorkspace(splitBytes: Int, partialBytes: Int, widenedBytes: Int = 0) -> MMAWorkspace {
        let w = mmaBuffers
        if w.split.byteCount < splitBytes {
            w.split = deviceTensor(.i8, [splitBytes], allocate(splitBytes), bytes: splitBytes)
            sharedSplit = nil  // a new buffer may reuse the old one's address
        }
        if w.partial.byteCount < partialBytes { w.partial = deviceTensor(.i8, [partialBytes], allocate(partialBytes), bytes: partialBytes) }
        if w.widened.byteCount < widenedBytes { w.widened = deviceTensor(.i8, [widenedBytes], allocate(widenedBytes), bytes: widenedBytes) }
        return w
    }

    /// y[s] = W_e x[s] for every expert's slots on the tensor cores; false when it does not qualify.
    func tensorCoreGrouped(dtype: DType, count: Int, weights: UnsafeMutableRawPointer, scalesOffset: Int, n: Int, k: Int,
                           x: Tensor, y: Tensor, offsets: Tensor) -> Bool {
        guard usesTensorCores(dtype, k: k, ldx: x.rowLength) else { return false }
        let grid = ((n + 63) / 64, count), terms = tensorCoreActivations.terms
        if dtype == .f8_e4m3 {
            launch("herd_moe_mma_fp8", grid: grid, block: 128,
                   [.ptr(weights), .u64(UInt64(scalesOffset)), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k),
                    .i32(x.rowLength), .i32(y.rowLength), .i32(driver.fp8Encoding.exponentBias), .i32(terms)])
        } else {
            launch("herd_moe_mma_bf16", grid: grid, block: 128,
                   [.ptr(weights), .ptr(offsets.data), .ptr(x.data), .ptr(y.data), .i32(n), .i32(k), .i32(x.rowLength), .i32(y.rowLength),
                    .i32(terms)])
        }
        return true
    }
}

/// Scratch of the tensor-core paths: activations split into BF16 terms, per-split partial sums, an FP8
/// weight widened to BF16 for cuBLASLt.
final class MMAWorkspace {
    var split: Tensor
    var partial: Tensor
    var widened: Tensor
    init(empty: Tensor) {
        split = empty
        partial = empty
        widened = empty
    }
}

/// What a split of activations into BF16 terms (herd_mma_split) holds: which input, shape and layout, in
/// which buffer.
struct SplitKey: Equatable {
    var source: UnsafeMutableRawPointer
    var up: UnsafeMutableRawPointer?
    var target: UnsafeMutableRawPointer
    var rows: Int, k: Int, ldx: Int, terms: Int, flags: Int
}
