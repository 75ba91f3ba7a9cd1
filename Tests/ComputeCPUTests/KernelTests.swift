import CHerdKernels
import Compute
import ComputeCPU
import Testing

/// The SIMD kernels against their scalar twins and against dequantize-then-multiply, on fresh random inputs.
struct KernelTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state ^ (state >> 29) }
    }

    static func randomFloats(_ n: Int, _ rng: inout RNG, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    /// Random blocks of a quantized type with valid f16 scales.
    static func randomWeights(_ type: DType, rows: Int, k: Int, _ rng: inout RNG) -> [UInt8] {
        let blocks = rows * k / 32
        var bytes: [UInt8] = []
        for _ in 0..<blocks {
            let d = herd_f32_to_f16(Float.random(in: 0.001...0.05, using: &rng))
            let m = herd_f32_to_f16(Float.random(in: -0.2...0.0, using: &rng))
            switch type {
            case .q4_0:
                bytes += [UInt8(d & 0xff), UInt8(d >> 8)] + (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case .q4_1:
                bytes += [UInt8(d & 0xff), UInt8(d >> 8), UInt8(m & 0xff), UInt8(m >> 8)] + (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case .q8_0:
                bytes += [UInt8(d & 0xff), UInt8(d >> 8)] + (0..<32).map { _ in UInt8(bitPattern: Int8.random(in: -127...127, using: &rng)) }
            default: fatalError("not a block type")
            }
        }
        return bytes
    }

    @Test func halfConversionsMatchSwiftFloat16() {
        for bits in stride(from: 0, through: 0xffff, by: 1) {
            let h = UInt16(bits)
            let ours = herd_f16_to_f32(h), swift = Float(Float16(bitPattern: h))
            #expect(ours == swift || (ours.isNaN && swift.isNaN), "f16 \(bits)")
        }
        var rng = RNG(state: 7)
        for _ in 0..<20000 {
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            let ours = herd_f32_to_f16(f), swift = Float16(f).bitPattern
            #expect(ours == swift || (f.isNaN && Float16(bitPattern: ours).isNaN), "f32 \(f)")
        }
    }

    /// For each weight type: SIMD matmul == scalar matmul (same arithmetic), and both are within activation
    /// rounding of dequantized weights times f32 activations; the exact path matches that closely.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0, .f32, .f16, .bf16])
    func matmulPathsAgree(type: DType) throws {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        let rows = 37, k = 256, m = 5
        let weights: [UInt8]
        switch type {
        case .q4_0, .q4_1, .q8_0: weights = Self.randomWeights(type, rows: rows, k: k, &rng)
        case .f32: weights = Self.randomFloats(rows * k, &rng, scale: 0.1).withUnsafeBytes { Array($0) }
        case .f16: weights = Self.randomFloats(rows * k, &rng, scale: 0.1).map { herd_f32_to_f16($0) }.withUnsafeBytes { Array($0) }
        default: weights = Self.randomFloats(rows * k, &rng, scale: 0.1).map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { Array($0) }
        }
        let x = Self.randomFloats(m * k, &rng)
        // Reference: dequantize each row, multiply in double.
        var w = [Float](repeating: 0, count: rows * k)
        let rowBytes = Int(herd_row_bytes(Int32(type.rawValue), Int64(k)))
        weights.withUnsafeBytes { raw in
            for r in 0..<rows { herd_dequantize_row(Int32(type.rawValue), raw.baseAddress! + r * rowBytes, &w[r * k], Int64(k)) }
        }
        var reference = [Float](repeating: 0, count: m * rows)
        for i in 0..<m { for r in 0..<rows {
            var s = 0.0
            for j in 0..<k { s += Double(w[r * k + j]) * Double(x[i * k + j]) }
            reference[i * rows + r] = Float(s)
        } }

        func run(exact: Bool, scalar: Bool) -> [Float] {
            let backend = CPUBackend(threads: 2, exactActivations: exact, useSIMD: !scalar)
            return weights.withUnsafeBytes { raw in
                let owner = CPUBackend()
                let wt = try! backend.weight(HostTensor(name: "w", dtype: type, shape: [rows, k], bytes: raw, owner: owner))
                let xt = backend.zeros([m, k]), yt = backend.zeros([m, rows])
                x.withUnsafeBytes { xt.data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                backend.matmul(xt, weight: wt, rows: m, into: yt)
                return backend.read(yt, rows: m)
            }
        }
        // Worst case of 8-bit activation rounding: each x_j moves by at most half its block's step (amax/127),
        // so a product moves by at most sum_j |w_j| * step_j / 2.
        var bound = [Float](repeating: 0, count: m * rows)
        for i in 0..<m { for r in 0..<rows {
            var b: Float = 0
            for blk in 0..<(k / 32) {
                let xs = x[(i * k + blk * 32)..<(i * k + blk * 32 + 32)]
                let step = xs.map { abs($0) }.max()! / 127
                for j in (blk * 32)..<(blk * 32 + 32) { b += abs(w[r * k + j]) * step / 2 }
            }
            bound[i * rows + r] = b
        } }
        let simd = run(exact: false, scalar: false), scalar = run(exact: false, scalar: true)
        let exact = run(exact: true, scalar: false)
        for i in 0..<(m * rows) {
            let tolerance = 1e-4 * max(1, abs(reference[i]))
            #expect(abs(simd[i] - scalar[i]) <= tolerance, "seed \(seed) \(type) [\(i)]: simd \(simd[i]) scalar \(scalar[i])")
            #expect(abs(exact[i] - reference[i]) <= tolerance, "seed \(seed) \(type) [\(i)]: exact \(exact[i]) ref \(reference[i])")
            let fastBound = type.isQuantized ? bound[i] * 1.01 + tolerance : tolerance
            #expect(abs(simd[i] - reference[i]) <= fastBound, "seed \(seed) \(type) [\(i)]: fast \(simd[i]) ref \(reference[i]) bound \(fastBound)")
        }
        #expect(!simd.contains { $0.isNaN })
    }

    @Test func ropeRotatesPairsAndKeepsNorms() {
        var x: [Float] = (0..<16).map { Float($0 + 1) }
        let original = x
        let freqs: [Float] = (0..<4).map { 1 / pow(10000, Float(2 * $0) / 8) }
        herd_rope(&x, 2, 8, 3, freqs, 1)
        // Interleaved: pair (0, 1) of head 0 turns by 3 rad.
        #expect(abs(x[0] - (1 * cos(3) - 2 * sin(3))) < 1e-5)
        #expect(abs(x[1] - (1 * sin(3) + 2 * cos(3))) < 1e-5)
        var y = original
        herd_rope(&y, 2, 8, 3, freqs, 0)
        // Half-split: pair (0, 4).
        #expect(abs(y[0] - (1 * cos(3) - 5 * sin(3))) < 1e-5)
        let norm = { (v: ArraySlice<Float>) in v.reduce(0) { $0 + $1 * $1 } }
        #expect(abs(norm(x[0..<8]) - norm(original[0..<8])) < 1e-3)
        #expect(abs(norm(y[8..<16]) - norm(original[8..<16])) < 1e-3)
    }

    @Test(arguments: [true, false])
    func attentionHeadIsSoftmaxWeightedValues(simd: Bool) {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let d = 8, n = 5
        let q = Self.randomFloats(d, &rng), k = Self.randomFloats(n * d, &rng), v = Self.randomFloats(n * d, &rng)
        let slots: [Int32] = [4, 0, 2, 1, 3]  // any order of cache rows
        var scores = [Float](repeating: 0, count: n), out = [Float](repeating: 0, count: d)
        herd_attention_head(q, k, v, d, slots, Int64(n), Int64(d), 0.5, &scores, &out, simd ? 1 : 0)
        var s = slots.map { j in (0..<d).reduce(Float(0)) { $0 + q[$1] * k[Int(j) * d + $1] } * 0.5 }
        let mx = s.max()!
        s = s.map { exp($0 - mx) }
        let total = s.reduce(0, +)
        for c in 0..<d {
            let expected = zip(slots, s).reduce(Float(0)) { $0 + $1.1 / total * v[Int($1.0) * d + c] }
            #expect(abs(out[c] - expected) < 1e-5)
        }
    }
}

import Foundation
