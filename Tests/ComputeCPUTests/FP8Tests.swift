import CHerdKernels
import Compute
import ComputeCPU
import Testing

/// FP8 E4M3 decoding and the CPU backend's FP8 weight path (dequantized to BF16 with per-row scales).
struct FP8Tests {
    @Test func e4m3Values() {
        let cases: [(UInt8, Float)] = [(0x00, 0), (0x80, -0), (0x38, 1), (0xB8, -1), (0x40, 2), (0x3C, 1.5), (0x7E, 448), (0xFE, -448),
                                       (0x01, 1.0 / 512), (0x07, 7.0 / 512), (0x08, 1.0 / 64), (0x30, 0.5)]
        for (bits, value) in cases { #expect(herd_fp8_e4m3_to_f32(bits) == value, "0x\(String(bits, radix: 16))") }
        #expect(herd_fp8_e4m3_to_f32(0x7F).isNaN && herd_fp8_e4m3_to_f32(0xFF).isNaN)
        // Every other byte is finite and the encoding is monotonic on the positive half.
        let positives = (0..<0x7F).map { herd_fp8_e4m3_to_f32(UInt8($0)) }
        #expect(zip(positives, positives.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func scaledWeightIsDequantizedPerRow() throws {
        let fp8: [UInt8] = [0x38, 0x40, 0xB8, 0x3C, 0x38, 0x38, 0x30, 0x7E]  // [[1, 2, -1, 1.5], [1, 1, 0.5, 448]]
        let scales: [Float] = [0.5, 3]
        let backend = CPUBackend(threads: 1)
        let w = try fp8.withUnsafeBytes { wb in
            try scales.withUnsafeBytes { sb in
                try backend.weight(HostTensor(name: "w", dtype: .f8_e4m3, shape: [2, 4], bytes: wb, owner: backend),
                                   rowScales: HostTensor(name: "w_scale", dtype: .f32, shape: [2, 1], bytes: sb, owner: backend))
            }
        }
        #expect(w.dtype == .bf16 && w.shape == [2, 4])
        let x = backend.zeros([1, 4]), y = backend.zeros([1, 2])
        x.data.assumingMemoryBound(to: Float.self).update(from: [1, 1, 1, 1], count: 4)
        backend.matmul(x, weight: w, rows: 1, into: y)
        #expect(backend.read(y, rows: 1) == [0.5 * 3.5, 3 * 450.5])
        // Scales that do not match the rows are refused with the tensor's name.
        #expect(throws: CPUScaledWeightError.self) {
            try fp8.withUnsafeBytes { wb in
                try scales.withUnsafeBytes { sb in
                    _ = try backend.weight(HostTensor(name: "w", dtype: .f8_e4m3, shape: [2, 4], bytes: wb, owner: backend),
                                           rowScales: HostTensor(name: "w_scale", dtype: .f32, shape: [1], bytes: UnsafeRawBufferPointer(rebasing: sb[0..<4]), owner: backend))
                }
            }
        }
    }

    @Test func scaleAndScatterRows() {
        let b = CPUBackend(threads: 1)
        let x = b.zeros([3, 2]), y = b.zeros([4, 2])
        x.data.assumingMemoryBound(to: Float.self).update(from: [1, 2, 3, 4, 5, 6], count: 6)
        b.scaleRows(x, factors: [2, 0.5])
        #expect(b.read(x, rows: 3) == [2, 4, 1.5, 2, 5, 6])  // the third row has no factor: untouched
        b.scatterAddRows(x, indices: [3, 0, 3], into: y)
        #expect(b.read(y, rows: 4) == [1.5, 2, 0, 0, 0, 0, 7, 10])
    }
}
