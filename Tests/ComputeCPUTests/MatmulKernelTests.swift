import CHerdKernels
import Compute
import ComputeCPU
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The whole-matrix-product kernels (herd_matmul: AVX-512 VNNI microkernels over several rows, the thread
/// pool) against their scalar twins, batch invariance (bit-identical outputs whatever the batch), the
/// grouped attention kernel against the per-head scalar one, and the thread pool itself.
struct MatmulKernelTests {
    typealias RNG = KernelTests.RNG

    /// Runs herd_matmul on a fresh pool of `threads`; `rows` activation rows of `k`, outputs `n`.
    static func matmul(_ type: DType, weights: [UInt8], n: Int, k: Int, x: [Float], rows: Int, threads: Int,
                       simd: Bool, exact: Bool = false) -> [Float] {
        let pool = herd_pool_create(Int32(threads))
        defer { herd_pool_destroy(pool) }
        let rowBytes = herd_row_bytes(Int32(type.rawValue), Int64(k))
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: herd_matmul_scratch_bytes(Int64(k), Int64(rows)), alignment: 64)
        defer { scratch.deallocate() }
        var y = [Float](repeating: .nan, count: rows * n)
        let flags = (simd ? Int32(HERD_MM_SIMD) : 0) | (exact ? Int32(HERD_MM_EXACT) : 0)
        weights.withUnsafeBytes { w in
            herd_matmul(pool, Int32(type.rawValue), w.baseAddress, rowBytes, Int64(k), Int64(n), x, Int64(k), Int64(rows),
                        &y, Int64(n), scratch, flags)
        }
        return y
    }

    /// SIMD (the best path on this machine) against the scalar twin, for block counts odd and even, row
    /// counts around the microkernel's tile and output counts around the task split.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func simdMatchesScalarTwin(type: DType) {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        for (k, n, rows) in [(32, 7, 1), (96, 33, 3), (576, 50, 1), (288, 50, 9), (576, 64, 5), (1536, 19, 17)] {
            let weights = KernelTests.randomWeights(type, rows: n, k: k, &rng)
            let x = KernelTests.randomFloats(rows * k, &rng, scale: 2)
            let simd = Self.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 2, simd: true)
            let scalar = Self.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 2, simd: false)
            // Same integer sums and scales, summed in another order: a few float roundings apart.
            var magnitude = [Float](repeating: 0, count: rows * n)
            var w = [Float](repeating: 0, count: k)
            let rowBytes = Int(herd_row_bytes(Int32(type.rawValue), Int64(k)))
            weights.withUnsafeBytes { raw in
                for j in 0..<n {
                    herd_dequantize_row(Int32(type.rawValue), raw.baseAddress! + j * rowBytes, &w, Int64(k))
                    for r in 0..<rows { magnitude[r * n + j] = (0..<k).reduce(Float(0)) { $0 + abs(w[$1] * x[r * k + $1]) } }
                }
            }
            for i in 0..<(rows * n) {
                #expect(abs(simd[i] - scalar[i]) <= 1e-5 * magnitude[i] + 1e-6,
                        "seed \(seed) \(type) k \(k) [\(i)]: simd \(simd[i]) scalar \(scalar[i])")
            }
        }
    }

    /// A row's outputs are bit-identical alone, at any place in a batch of any size, and on any thread count.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0, .f16])
    func batchInvariance(type: DType) {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        let k = 576, n = 77, rows = 23
        let weights = type == .f16
            ? KernelTests.randomFloats(n * k, &rng, scale: 0.1).map { herd_f32_to_f16($0) }.withUnsafeBytes { Array($0) }
            : KernelTests.randomWeights(type, rows: n, k: k, &rng)
        let x = KernelTests.randomFloats(rows * k, &rng, scale: 3)
        let batch = Self.matmul(type, weights: weights, n: n, k: k, x: x, rows: rows, threads: 2, simd: true)
        for r in 0..<rows {
            let alone = Self.matmul(type, weights: weights, n: n, k: k, x: Array(x[(r * k)..<((r + 1) * k)]), rows: 1,
                                    threads: 1 + r % 3, simd: true)
            for j in 0..<n {
                #expect(alone[j].bitPattern == batch[r * n + j].bitPattern,
                        "seed \(seed) \(type) row \(r) out \(j): alone \(alone[j]) in batch \(batch[r * n + j])")
            }
        }
        // The same rows in another batch: a shifted window (rows land in other tiles and tasks).
        let shifted = Self.matmul(type, weights: weights, n: n, k: k, x: Array(x[(3 * k)...]), rows: rows - 3, threads: 3, simd: true)
        for i in 0..<shifted.count {
            #expect(shifted[i].bitPattern == batch[3 * n + i].bitPattern, "seed \(seed) \(type) shifted [\(i)]")
        }
    }

    /// Several matrices in one call (q/k/v, gate/up): each output has the bits of its own herd_matmul, on every
    /// path (the one-row kernel that takes four weight rows at a time included), and matches the scalar twin.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func multiMatmulMatchesSeparateProducts(type: DType) {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        let k = 320, sizes = [37, 64, 6]
        let weights = sizes.map { KernelTests.randomWeights(type, rows: $0, k: k, &rng) }
        let rowBytes = herd_row_bytes(Int32(type.rawValue), Int64(k))
        for rows in [1, 2, 9] {
            let x = KernelTests.randomFloats(rows * k, &rng, scale: 2)
            for simd in [true, false] {
                let pool = herd_pool_create(2)
                defer { herd_pool_destroy(pool) }
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: herd_matmul_scratch_bytes(Int64(k), Int64(rows)), alignment: 64)
                defer { scratch.deallocate() }
                var outs = sizes.map { [Float](repeating: .nan, count: rows * $0) }
                let flags = simd ? Int32(HERD_MM_SIMD) : 0
                // Raw buffers: the C call holds every weight and output pointer at once.
                let w = weights.map { bytes in
                    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
                    bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                    return p
                }
                let y = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: rows * $0) }
                defer { w.forEach { $0.deallocate() }; y.forEach { $0.deallocate() } }
                let specs = sizes.indices.map { i in
                    herd_mm_out(w: w[i], row_bytes: rowBytes, n: Int64(sizes[i]), y: y[i], ldy: Int64(sizes[i]))
                }
                herd_matmul_multi(pool, Int32(type.rawValue), Int64(k), x, Int64(k), Int64(rows), specs, Int32(specs.count), scratch, flags)
                for i in sizes.indices { outs[i] = Array(UnsafeBufferPointer(start: y[i], count: rows * sizes[i])) }
                for (i, n) in sizes.enumerated() {
                    let alone = Self.matmul(type, weights: weights[i], n: n, k: k, x: x, rows: rows, threads: 2, simd: simd)
                    #expect(alone.map(\.bitPattern) == outs[i].map(\.bitPattern),
                            "seed \(seed) \(type) rows \(rows) simd \(simd) matrix \(i)")
                }
            }
        }
    }

    /// Through the backend too: one row's logits alone and inside a batch of many rows.
    @Test func backendMatmulBatchInvariance() throws {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let k = 288, n = 100, rows = 41
        let weights = KernelTests.randomWeights(.q4_1, rows: n, k: k, &rng)
        let x = KernelTests.randomFloats(rows * k, &rng)
        let backend = CPUBackend(threads: 2)
        try weights.withUnsafeBytes { raw in
            let wt = try backend.weight(HostTensor(name: "w", dtype: .q4_1, shape: [n, k], bytes: raw, owner: backend))
            let xt = backend.zeros([rows, k]), yt = backend.zeros([rows, n])
            x.withUnsafeBytes { xt.data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            backend.matmul(xt, weight: wt, rows: rows, into: yt)
            let batch = backend.read(yt, rows: rows)
            for r in [0, 5, 40] {
                let x1 = backend.zeros([1, k]), y1 = backend.zeros([1, n])
                x.withUnsafeBytes { x1.data.copyMemory(from: $0.baseAddress! + r * k * 4, byteCount: k * 4) }
                backend.matmul(x1, weight: wt, rows: 1, into: y1)
                let alone = backend.read(y1, rows: 1)
                #expect(alone.map(\.bitPattern) == batch[(r * n)..<((r + 1) * n)].map(\.bitPattern), "row \(r)")
            }
        }
    }

    /// Grouped attention: SIMD against the scalar per-head kernel; per head bit-identical whatever the group.
    @Test func attentionGroupMatchesPerHead() {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let seed = rng.state
        for (headDim, group, ctx) in [(64, 3, 1), (64, 3, 15), (64, 3, 16), (64, 1, 17), (64, 4, 100), (128, 5, 40), (32, 2, 33)] {
            let slotsInCache = ctx + 7, stride = headDim * 2 + 3
            let k = KernelTests.randomFloats(slotsInCache * stride, &rng), v = KernelTests.randomFloats(slotsInCache * stride, &rng)
            let q = KernelTests.randomFloats(group * headDim, &rng, scale: 2)
            let slots: [Int32] = (0..<Int32(slotsInCache)).shuffled(using: &rng).prefix(ctx).map { $0 }
            var scores = [Float](repeating: 0, count: group * ctx)
            var simd = [Float](repeating: 0, count: group * headDim), scalar = simd
            herd_attention_group(q, k, v, stride, slots, Int64(ctx), Int64(headDim), Int64(group), 0.125, &scores, &simd, 1)
            herd_attention_group(q, k, v, stride, slots, Int64(ctx), Int64(headDim), Int64(group), 0.125, &scores, &scalar, 0)
            for i in 0..<simd.count {
                #expect(abs(simd[i] - scalar[i]) <= 2e-5, "seed \(seed) d \(headDim) g \(group) ctx \(ctx) [\(i)]: \(simd[i]) vs \(scalar[i])")
            }
            for g in 0..<group {
                var one = [Float](repeating: 0, count: headDim)
                Array(q[(g * headDim)..<((g + 1) * headDim)]).withUnsafeBufferPointer { qg in
                    herd_attention_group(qg.baseAddress, k, v, stride, slots, Int64(ctx), Int64(headDim), 1, 0.125, &scores, &one, 1)
                }
                #expect(one.map(\.bitPattern) == simd[(g * headDim)..<((g + 1) * headDim)].map(\.bitPattern),
                        "seed \(seed) head \(g) of \(group), ctx \(ctx)")
            }
        }
    }

    /// SwiGLU (vectorized exp where AVX-512 is present) against the libm formula, including large |gate|.
    @Test func swigluMatchesFormula() {
        var rng = RNG(state: UInt64.random(in: 1...UInt64.max))
        let n = 1000 + Int.random(in: 0..<16, using: &rng)
        var gate = KernelTests.randomFloats(n, &rng, scale: 12)
        gate[0] = -100; gate[1] = 100; gate[2] = 0; gate[3] = -88.5; gate[4] = 90
        let up = KernelTests.randomFloats(n, &rng, scale: 3)
        var out = [Float](repeating: .nan, count: n)
        herd_swiglu(gate, up, &out, Int64(n))
        for i in 0..<n {
            let expected = gate[i] / (1 + exp(-gate[i])) * up[i]
            #expect(abs(out[i] - expected) <= 4e-7 * abs(expected) + 1e-30, "[\(i)] gate \(gate[i]): \(out[i]) vs \(expected)")
        }
    }

    /// Per-task hit counters in raw memory (each task writes only its own element: no shared Swift state).
    final class Counts: @unchecked Sendable {
        let hits: UnsafeMutablePointer<Int32>
        let tasks: Int
        let threads: Int
        let badWorker = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        init(tasks: Int, threads: Int) {
            hits = .allocate(capacity: tasks)
            hits.initialize(repeating: 0, count: tasks)
            badWorker.initialize(to: 0)
            self.tasks = tasks
            self.threads = threads
        }
        deinit { hits.deallocate(); badWorker.deallocate() }
    }

    /// Every task of every region runs exactly once, on a worker index below the thread count, including
    /// after the workers have gone to sleep.
    @Test func poolRunsEveryTaskOnce() {
        for threads in [1, 2, 4] {
            let pool = herd_pool_create(Int32(threads))
            defer { herd_pool_destroy(pool) }
            #expect(herd_pool_threads(pool) == Int32(threads))
            for (round, tasks) in [1, 2, 3, 17, 1000, 5, 64].enumerated() {
                if round == 4 { usleep(20_000) }  // long enough for the workers to sleep
                let counts = Counts(tasks: tasks, threads: threads)
                let context = Unmanaged.passRetained(counts)
                herd_pool_run(pool, Int32(tasks), { ctx, task, worker in
                    let c = Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue()
                    c.hits[Int(task)] += 1
                    if worker < 0 || Int(worker) >= c.threads { c.badWorker.pointee = 1 }
                }, context.toOpaque())
                context.release()
                #expect((0..<tasks).allSatisfy { counts.hits[$0] == 1 }, "threads \(threads) round \(round)")
                #expect(counts.badWorker.pointee == 0)
            }
        }
    }
}
