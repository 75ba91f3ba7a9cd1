import CHerdKernels
import Compute
import ComputeCPU
import Foundation
import Testing

/// ggml's K-quants (Q4_K, Q6_K): the dequantizer against the `gguf` Python package's reference values
/// (KQuantFixtures.swift, scripts/make_kquant_fixtures.py), and the matrix products (integer path with 8-bit
/// activations, exact path, scalar and AVX2, on the thread pool) against dequantize-then-multiply.
struct KQuantTests {
    typealias RNG = KernelTests.RNG

    static func decode(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64)!) }

    /// Bit-for-bit equal to gguf.quants.dequantize: same formulas, same float operation order.
    @Test func dequantizeMatchesGGUFReference() throws {
        for (name, blocksB64, refB64) in KQuantFixtures.cases {
            let type: DType = name == "q4_K" ? .q4_K : .q6_K
            let blocks = Self.decode(blocksB64)
            let reference = Self.decode(refB64).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(blocks.count % type.blockBytes == 0 && reference.count == blocks.count / type.blockBytes * 256)
            #expect(herd_row_bytes(Int32(type.rawValue), Int64(reference.count)) == blocks.count)
            var out = [Float](repeating: .nan, count: reference.count)
            herd_dequantize_row(Int32(type.rawValue), blocks, &out, Int64(out.count))
            var mismatches = 0
            for i in out.indices where out[i].bitPattern != reference[i].bitPattern {
                if mismatches < 5 { Issue.record("\(name)[\(i)]: \(out[i]) vs gguf \(reference[i])") }
                mismatches += 1
            }
            #expect(mismatches == 0, "\(name): \(mismatches) of \(out.count) values differ")
            // The fixture is not degenerate: values of both signs, many distinct.
            #expect(Set(reference).count > 100 && reference.contains { $0 < 0 } && reference.contains { $0 > 0 }, "\(name)")
        }
    }

    /// Random super-blocks with sane f16 scales (every other byte random).
    static func randomBlocks(_ type: DType, count: Int, _ rng: inout RNG) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<count {
            var block = (0..<type.blockBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
            func setHalf(_ offset: Int, _ value: Float) {
                let h = herd_f32_to_f16(value)
                block[offset] = UInt8(h & 0xff)
                block[offset + 1] = UInt8(h >> 8)
            }
            if type == .q4_K {
                setHalf(0, Float.random(in: 0.0005...0.003, using: &rng))   // d
                setHalf(2, Float.random(in: 0.0005...0.005, using: &rng))   // dmin
            } else {
                setHalf(208, Float.random(in: -0.0005...0.0005, using: &rng))  // d (scales are int8)
            }
            bytes += block
        }
        return bytes
    }

    /// Every path of herd_matmul on K-quant weights against dequantize-then-multiply in double: the exact
    /// path to float rounding, the 8-bit-activation path to the activation quantization error, SIMD and
    /// scalar bit-identical, and each output independent of the batch it is computed in.
    @Test(arguments: [DType.q4_K, .q6_K])
    func matmulMatchesDequantizedProduct(type: DType) {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        for (k, n, rows) in [(256, 5, 1), (512, 33, 3), (1024, 17, 9)] {
            let weights = Self.randomBlocks(type, count: n * k / 256, &rng)
            let x = KernelTests.randomFloats(rows * k, &rng, scale: 2)
            // Reference and the scale of each dot product's terms (to size the tolerances).
            var reference = [Double](repeating: 0, count: rows * n), magnitude = [Double](repeating: 0, count: rows * n)
            var w = [Float](repeating: 0, count: k)
            let rowBytes = Int(herd_row_bytes(Int32(type.rawValue), Int64(k)))
            weights.withUnsafeBytes { raw in
                for j in 0..<n {
                    herd_dequantize_row(Int32(type.rawValue), raw.baseAddress! + j * rowBytes, &w, Int64(k))
                    for r in 0..<rows {
                        for i in 0..<k {
                            reference[r * n + j] += Double(w[i]) * Double(x[r * k + i])
                            magnitude[r * n + j] += abs(Double(w[i]) * Double(x[r * k + i]))
                        }
                    }
                }
            }
            let exact = MatmulKernelTests.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 2, simd: true, exact: true)
            let simd = MatmulKernelTests.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 2, simd: true)
            let scalar = MatmulKernelTests.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 1, simd: false)
            for i in 0..<(rows * n) {
                let context = "seed \(seed) \(type) k \(k) rows \(rows) [\(i)]"
                #expect(abs(Double(exact[i]) - reference[i]) <= 1e-5 * magnitude[i] + 1e-6, "\(context): exact \(exact[i]) vs \(reference[i])")
                // 8-bit activations: each activation off by at most half a step of amax/127, ~0.4% of the terms.
                #expect(abs(Double(simd[i]) - reference[i]) <= 0.01 * magnitude[i] + 1e-6, "\(context): q8 \(simd[i]) vs \(reference[i])")
                #expect(simd[i].bitPattern == scalar[i].bitPattern, "\(context): simd \(simd[i]) scalar \(scalar[i])")
            }
            // Batch invariance: the last row alone gives the same bits as inside the batch.
            let last = Array(x[((rows - 1) * k)...])
            let alone = MatmulKernelTests.matmul(type, weights: weights, n: n, k: k, x: last, rows: 1, threads: 2, simd: true)
            #expect(alone == Array(simd[((rows - 1) * n)...]), "seed \(seed) \(type): row alone differs from row in batch")
        }
    }

    /// The CPU backend takes K-quant matrices in place and rejects rows that are not whole super-blocks.
    @Test func backendTakesKQuantWeightsInPlace() throws {
        var rng = RNG(state: 7)
        let bytes = Self.randomBlocks(.q6_K, count: 4, &rng)
        try bytes.withUnsafeBytes { raw in
            let backend = CPUBackend(threads: 1)
            let host = HostTensor(name: "w", dtype: .q6_K, shape: [4, 256], bytes: raw, owner: backend)
            let t = try backend.weight(host)
            #expect(t.dtype == .q6_K && t.data == UnsafeMutableRawPointer(mutating: raw.baseAddress!))
            let bad = HostTensor(name: "bad", dtype: .q4_K, shape: [8, 128], bytes: UnsafeRawBufferPointer(rebasing: raw[0..<(4 * 144)]), owner: backend)
            #expect(throws: CPUBackendError.self) { try backend.weight(bad) }
        }
    }
}
