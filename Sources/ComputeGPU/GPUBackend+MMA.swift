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
    static let mmaKernelNames = ["herd_mma_bf16", "herd_mma_fp8", "herd_moe_mma_bf16", "herd_moe_mma_fp8"]

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
    func tensorCoreMatmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor) -> Bool {
        let n = weight.rowCount, k = weight.rowLength
        guard usesTensorCores(weight.dtype, k: k, ldx: x.rowLength) else { return false }
        let grid = ((n + 63) / 64, (rows + 63) / 64), terms = tensorCoreActivations.terms
        if weight.dtype == .f8_e4m3 {
            let scales = weight.data + FP8Layout(rows: n, columns: k).scalesOffset
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
