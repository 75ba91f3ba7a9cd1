import CHerdKernels
import Compute

/// The ops Llama 4 adds to the backend protocol: FP8 weights, per-row scaling and scatter-add for
/// mixture-of-experts dispatch. Row counts here are small (the tokens routed to one expert), so these run
/// on the calling thread.
extension CPUBackend {
    public func weight(_ host: HostTensor, rowScales: HostTensor) throws -> Tensor {
        guard host.dtype == .f8_e4m3, host.shape.count == 2 else {
            throw CPUScaledWeightError(name: host.name, reason: "expected an F8_E4M3 matrix, got \(host.dtype) \(host.shape)")
        }
        let rows = host.shape[0], cols = host.shape[1]
        guard rowScales.shape.reduce(1, *) == rows, [.f32, .bf16, .f16].contains(rowScales.dtype) else {
            throw CPUScaledWeightError(name: rowScales.name,
                reason: "expected \(rows) F32/BF16/F16 row scales, got \(rowScales.dtype) \(rowScales.shape)")
        }
        var scales = [Float](repeating: 0, count: rows)
        scales.withUnsafeMutableBufferPointer { s in
            herd_dequantize_row(Int32(rowScales.dtype.rawValue), rowScales.bytes.baseAddress, s.baseAddress, Int64(rows))
        }
        // The CPU has no FP8 products: store BF16, as transformers' W8A16 dequantization does.
        let bytes = rows * cols * 2
        let buffer = HostBuffer(bytes: bytes)
        let src = host.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = buffer.pointer.assumingMemoryBound(to: UInt16.self)
        for r in 0..<rows { herd_dequantize_fp8_e4m3_row_bf16(src + r * cols, scales[r], dst + r * cols, Int64(cols)) }
        return Tensor(dtype: .bf16, shape: host.shape, data: buffer.pointer, byteCount: bytes, owner: buffer)
    }

    public func scaleRows(_ x: Tensor, factors: [Float]) {
        let p = x.data.assumingMemoryBound(to: Float.self), n = x.rowLength
        for (r, f) in factors.enumerated() {
            let row = p + r * n
            for i in 0..<n { row[i] *= f }
        }
    }

    public func scatterAddRows(_ x: Tensor, indices: [Int], into y: Tensor) {
        precondition(x.rowLength == y.rowLength, "scatterAddRows widths: \(x.shape) into \(y.shape)")
        let src = x.data.assumingMemoryBound(to: Float.self), dst = y.data.assumingMemoryBound(to: Float.self)
        let n = x.rowLength
        for (i, r) in indices.enumerated() {
            precondition(r >= 0 && r < y.rowCount, "scatterAddRows index \(r) outside \(y.shape)")
            herd_add(dst + r * n, src + i * n, Int64(n))
        }
    }
}

/// A scaled (FP8) weight the CPU backend cannot take; names the tensor.
public struct CPUScaledWeightError: Error, CustomStringConvertible {
    public let name: String
    public let reason: String
    public var description: String { "tensor \"\(name)\": \(reason)" }
}
