import Compute

/// How an FP8 weight sits in device memory: the `[rows, columns]` E4M3 bytes (device encoding), then,
/// 256-byte aligned, one F32 scale per row. One allocation, so the tensor owns both.
struct FP8Layout {
    let rows: Int
    let columns: Int
    var scalesOffset: Int { (rows * columns + 255) / 256 * 256 }
    var byteCount: Int { scalesOffset + rows * 4 }

    /// The device address of an FP8 weight's row scales.
    static func scales(of weight: Tensor) -> UnsafeMutableRawPointer {
        weight.data + FP8Layout(rows: weight.rowCount, columns: weight.rowLength).scalesOffset
    }
}

extension GPUBackend {
    /// Synthetic weights are generated in device memory by `herd_synthetic_fill`, bit for bit what
    /// `SyntheticWeights.fill` makes on the host: a full-width Scout layer never crosses the bus.
    public func syntheticWeight(_ spec: SyntheticWeightSpec) throws -> Tensor {
        let count = spec.elementCount
        let kind: Int
        switch spec.dtype {
        case .f32: kind = 0
        case .bf16: kind = 1
        case .f8_e4m3 where spec.shape.count == 2 && !fp8AsBF16: kind = 2
        case .f8_e4m3: return try hostSyntheticWeight(spec)  // through weight(_:rowScales:), as a checkpoint
        default: throw GPUError("synthetic weight \"\(spec.name)\": \(spec.dtype) is not F32, BF16 or F8_E4M3")
        }
        let layout = FP8Layout(rows: spec.shape.first ?? 1, columns: count / max(spec.shape.first ?? 1, 1))
        let bytes = kind == 2 ? layout.byteCount : count * spec.dtype.blockBytes
        let p = allocate(bytes)
        let blocks = min((count + 255) / 256, 65_535)
        launch("herd_synthetic_fill", grid: (blocks, 1), block: 256,
               [.ptr(p), .u64(UInt64(count)), .u64(spec.seed), .f32(spec.amplitude), .i32(kind)])
        if kind == 2 {
            // Synthetic FP8 bytes (exponent fields 4...8) are never -0 or NaN, so they mean the same in FNUZ
            // at twice the scale (FP8Encoding.fromCheckpoint without a byte pass).
            let scale = spec.fp8RowScale * (driver.fp8Encoding == .e4m3fnuz ? 2 : 1)
            let scales = [Float](repeating: scale, count: layout.rows)
            scales.withUnsafeBytes { copyToDevice(p + layout.scalesOffset, from: $0.baseAddress!, bytes: $0.count) }
        }
        return deviceTensor(spec.dtype, spec.shape, p, bytes: bytes)
    }
}
