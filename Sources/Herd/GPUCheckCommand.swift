import ArgumentParser
import Compute
import ComputeCPU
import ComputeGPU
import Engine
import Foundation
import Models

/// Every GPU kernel against its CPU twin on fresh random inputs, then a whole model on both backends.
struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check",
        abstract: "Check the GPU backend against the CPU engine: each kernel on random inputs, then a model's logits and greedy tokens.",
        discussion: "Prints one line per check and 'N passed, N failed'; exits 1 on any failure or when no GPU can be used.")

    @Option(name: .long, help: ArgumentHelp("Model for the whole-model check (GGUF, checkpoint directory or synthetic:...); repeatable; skipped when absent.", valueName: "path"))
    var model: [String] = []
    @Option(name: .long, help: "Prompt for the whole-model check.")
    var prompt = "The capital of France is"
    @Option(name: .long, help: "Greedy tokens to compare.")
    var tokens = 16
    @Option(name: .long, parsing: .upToNextOption, help: "Also compare the last logits after prompts of these many tokens (the prompt's ids repeated): batched prefill through the tensor-core products (up to 256 rows: Herd's kernels; more: cuBLASLt where present) and grouped experts; 0 skips.")
    var prefillTokens = [160, 300]
    @Option(name: .long, help: "GPU to check: auto (HIP, else CUDA), cuda or hip.")
    var device: DeviceChoice = .auto

    func run() throws {
        guard device != .cpu else { throw CLIError("gpu-check compares a GPU with the CPU: --device auto, cuda or hip") }
        let gpu: GPUBackend
        do { gpu = try device.gpuBackend() } catch { throw CLIError("\(error)") }
        let fp8Bias = gpu.driver.fp8Encoding
        print("gpu: \(gpu.description)")
        if let memory = try? gpu.memoryInfo() {
            print("gpu memory: \(memory.free >> 20) MiB free of \(memory.total >> 20) MiB")
        }
        let cpu = CPUBackend(exactActivations: true)
        var results: [(String, Bool, String)] = []
        func record(_ name: String, _ ok: Bool, _ detail: String) {
            results.append((name, ok, detail))
            print("\(ok ? "ok  " : "FAIL") \(name): \(detail)")
        }
        var rng = SystemRandomNumberGenerator()
        func randoms(_ n: Int, _ scale: Float = 1) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        func load(_ b: any ComputeBackend, _ values: [Float], _ shape: [Int]) -> Tensor {
            let t = b.zeros(shape)
            if b === cpu {
                values.withUnsafeBytes { t.data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                return t
            }
            return values.withUnsafeBytes { try! b.weight(HostTensor(name: "x", dtype: .f32, shape: shape, bytes: $0, owner: cpu)) }
        }
        /// Relative max error of `a` against `b`; NaN never passes.
        func compare(_ name: String, _ a: [Float], _ b: [Float], tolerance: Float) {
            let bad = a.contains { $0.isNaN } || b.contains { $0.isNaN }
            let scale = max(b.map(abs).max() ?? 1, 1e-6)
            let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            record(name, !bad && err / scale <= tolerance, String(format: "max |diff| %.3g (relative %.3g, tolerance %.0e)", err, err / scale, tolerance))
        }

        // Kernel twins.
        let rows = 7, width = 256
        let x = randoms(rows * width)
        // Rows <= 8 take the decode kernels (herd_gemv_*), more rows the tiled ones: both, every float type.
        for dtype in [DType.f32, .f16, .bf16] {
            for rowCount in [rows, 13] {
                let n = 96
                let w = randoms(n * width, 0.1), xs = randoms(rowCount * width)
                var bytes: [UInt8]
                switch dtype {
                case .f32: bytes = w.withUnsafeBytes { Array($0) }
                case .f16: bytes = w.map { herdHalf($0) }.withUnsafeBytes { Array($0) }
                default: bytes = w.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { Array($0) }
                }
                var outs: [[Float]] = []
                for b in [cpu as any ComputeBackend, gpu] {
                    let wt = try bytes.withUnsafeBytes { try b.weight(HostTensor(name: "w", dtype: dtype, shape: [n, width], bytes: $0, owner: cpu)) }
                    let xt = load(b, xs, [rowCount, width]), yt = b.zeros([rowCount, n])
                    b.matmul(xt, weight: wt, rows: rowCount, into: yt)
                    outs.append(b.read(yt, rows: rowCount))
                }
                compare("matmul \(dtype.description.lowercased()) (\(rowCount) rows)", outs[1], outs[0], tolerance: 1e-5)
            }
        }
        do {
            let w = randoms(width).map { $0 + 1 }
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let wt = try w.withUnsafeBytes { try b.weight(HostTensor(name: "norm", dtype: .f32, shape: [width], bytes: $0, owner: cpu)) }
                let xt = load(b, x, [rows, width]), yt = b.zeros([rows, width])
                b.rmsNorm(xt, weight: wt, eps: 1e-5, rows: rows, into: yt)
                outs.append(b.read(yt, rows: rows))
            }
            compare("rms norm", outs[1], outs[0], tolerance: 1e-5)
        }
        for interleaved in [true, false] {
            let rope = RoPE.standard(headDim: 64, theta: 10000, interleaved: interleaved)
            let positions = (0..<Int32(rows)).map { $0 * 37 }
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let xt = load(b, x, [rows, width])
                b.rope(xt, rows: rows, heads: 4, headDim: 64, positions: positions, rope: rope)
                outs.append(b.read(xt, rows: rows))
            }
            compare("rope (\(interleaved ? "interleaved" : "half-split"))", outs[1], outs[0], tolerance: 1e-4)
        }
        do {
            // Attention over a paged cache: two sequences, scattered slots, causal rows, GQA 8:2.
            let heads = 8, kvHeads = 2, dim = 64, slots = 64
            let k = randoms(slots * kvHeads * dim), v = randoms(slots * kvHeads * dim), q = randoms(rows * heads * dim)
            let list: [Int32] = (0..<Int32(slots)).map { ($0 * 13) % Int32(slots) }
            var batchRows: [AttentionBatch.Row] = []
            for r in 0..<rows {
                let start: Int32 = r == 3 ? 4 : 0
                let end = Int32(10 + r * 4)
                batchRows.append(AttentionBatch.Row(sequence: Int32(r % 2), contextStart: start, contextEnd: end, writeSlot: 0, position: 0))
            }
            let batch = AttentionBatch(slots: list, sequenceSlotOffsets: [0, 20], rows: batchRows)
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let cache = KVCache(keys: [load(b, k, [slots, kvHeads * dim])], values: [load(b, v, [slots, kvHeads * dim])], slotCount: slots)
                let qt = load(b, q, [rows, heads * dim]), ot = b.zeros([rows, heads * dim])
                b.attention(queries: qt, cache: cache, layer: 0, batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, scale: 0.125, into: ot)
                outs.append(b.read(ot, rows: rows))
            }
            compare("paged attention (GQA, chunk start)", outs[1], outs[0], tolerance: 1e-4)
        }
        for (n, count) in [(width, rows), (9000, 3)] {
            // The residual add fused with the next norm (addRMSNorm) against the CPU's add then rmsNorm, both
            // outputs; the long rows go past what the kernel holds in registers and write the norm over the addend.
            let w = randoms(n).map { $0 + 1 }, residual = randoms(count * n), addend = randoms(count * n)
            var sums: [[Float]] = [], normed: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let wt = try w.withUnsafeBytes { try b.weight(HostTensor(name: "norm", dtype: .f32, shape: [n], bytes: $0, owner: cpu)) }
                let rt = load(b, residual, [count, n]), xt = load(b, addend, [count, n])
                let ot = n == width ? b.zeros([count, n]) : xt
                b.addRMSNorm(rt, xt, weight: wt, eps: 1e-5, rows: count, into: ot)
                sums.append(b.read(rt, rows: count))
                normed.append(b.read(ot, rows: count))
            }
            compare("add + rms norm fused, width \(n) (sum)", sums[1], sums[0], tolerance: 1e-5)
            compare("add + rms norm fused, width \(n) (norm)", normed[1], normed[0], tolerance: 1e-5)
        }
        do {
            // Long-context decode, which the GPU splits over partitions: two sequences of 3000 and 5000 slots
            // scattered over a paged cache in blocks of 16, the second row's context starting at 1000 (a chunk),
            // GQA 8:2, head_dim 128; against the CPU and against the GPU's unsplit kernel.
            let heads = 8, kvHeads = 2, dim = 128, blockSize = 16, slots = 8192, lengths = [3000, 5000]
            var blocks = Array(0..<(slots / blockSize))
            blocks.shuffle(using: &rng)
            var list: [Int32] = [], offsets: [Int] = [], used = 0
            for length in lengths {
                offsets.append(list.count)
                for i in 0..<length {
                    if i % blockSize == 0 { used += 1 }
                    list.append(Int32(blocks[used - 1] * blockSize + i % blockSize))
                }
            }
            let batchRows = [
                AttentionBatch.Row(sequence: 0, contextStart: 0, contextEnd: 3000, writeSlot: list[2999], position: 2999),
                AttentionBatch.Row(sequence: 1, contextStart: 1000, contextEnd: 5000, writeSlot: list[offsets[1] + 4999], position: 4999),
            ]
            let batch = AttentionBatch(slots: list, sequenceSlotOffsets: offsets, rows: batchRows)
            let k = randoms(slots * kvHeads * dim), v = randoms(slots * kvHeads * dim), q = randoms(2 * heads * dim)
            var split: (parts: Int, length: Int)?
            var outs: [[Float]] = []
            // The grouped-query decode kernel (the default for decode-only steps), split and not, and the
            // per-(row, head) kernels (kept for groups past 8 query heads per KV head), split.
            for (b, splitting, grouped) in [(cpu as any ComputeBackend, true, true), (gpu, true, true), (gpu, false, true), (gpu, true, false)] {
                let previous = (gpu.splitAttention, gpu.gqaDecodeKernel)
                (gpu.splitAttention, gpu.gqaDecodeKernel) = (splitting, grouped)
                defer { (gpu.splitAttention, gpu.gqaDecodeKernel) = previous }
                if b === gpu && splitting && grouped {
                    split = gpu.decodePartitions(rows: 2, kvHeads: kvHeads)
                }
                let cache = KVCache(keys: [load(b, k, [slots, kvHeads * dim])], values: [load(b, v, [slots, kvHeads * dim])], slotCount: slots)
                let qt = load(b, q, [2, heads * dim]), ot = b.zeros([2, heads * dim])
                b.attention(queries: qt, cache: cache, layer: 0, batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, scale: 0.25, into: ot)
                outs.append(b.read(ot, rows: 2))
            }
            let how = split.map { "\($0.parts) partitions per row of >= \(-$0.length) keys" } ?? "NOT split"
            compare("long decode attention, split (\(how))", outs[1], outs[0], tolerance: 1e-4)
            compare("long decode attention, split vs unsplit GPU", outs[1], outs[2], tolerance: 1e-5)
            compare("long decode attention, per-(row, head) kernels, split", outs[3], outs[0], tolerance: 1e-4)
            if split == nil { record("long decode attention takes the split path", false, "\(gpu.driver.multiprocessorCount) multiprocessors") }
        }
        do {
            // q/k/v-shaped products in one launch (herd_gemv3_* at 1-3 rows, herd_skinny_* at 8; 40 rows: one
            // split of the input for all three) give each product's bits alone.
            // k long enough for two warps per row group (gemvParts); 136, 40: partial column blocks. The second
            // set is of tiny products (at most GPUBackend.tinyProductOutputs rows: every warp of a block per group).
            for (dtype, ns) in [(DType.bf16, [160, 136, 132]), (.f8_e4m3, [160, 136, 132]), (.bf16, [96, 40, 32]), (.f8_e4m3, [96, 40, 32])] {
                let k = 2048
                let ws = try ns.indices.map { i in
                    try gpu.syntheticWeight(SyntheticWeightSpec(name: "m\(i)", shape: [ns[i], k], dtype: dtype, seed: UInt64(40 + i), std: 0.02))
                }
                for rowCount in [1, 3, 8, 40] {
                    let xs = randoms(rowCount * k)
                    let xt = load(gpu, xs, [rowCount, k])
                    let fused = ns.map { gpu.zeros([rowCount, $0]) }, alone = ns.map { gpu.zeros([rowCount, $0]) }
                    gpu.fusedMatmuls(xt, weights: ws, rows: rowCount, into: fused)
                    for i in ns.indices { gpu.matmul(xt, weight: ws[i], rows: rowCount, into: alone[i]) }
                    let a = fused.flatMap { gpu.read($0, rows: rowCount) }, b = alone.flatMap { gpu.read($0, rows: rowCount) }
                    let nonzero = a.contains { $0 != 0 }
                    record("three products in one launch = each alone (\(dtype), \(ns) outputs, \(rowCount) rows)", a == b && nonzero,
                           a == b ? (nonzero ? "bit for bit" : "all zero") : "differ")
                    // Against exact products on the host (the synthetic weights' values decoded exactly; rows go
                    // through as many warps per row group as gemvParts gives them).
                    var reference: [Float] = []
                    for i in ns.indices {
                        let spec = SyntheticWeightSpec(name: "m\(i)", shape: [ns[i], k], dtype: dtype, seed: UInt64(40 + i), std: 0.02)
                        let host = SyntheticWeights.host(spec).weight
                        let bytes = withExtendedLifetime(host) { Array(host.bytes) }  // the owner must outlive the copy
                        let value: (Int) -> Double = dtype == .bf16
                            ? { Double(Float(bitPattern: UInt32(bytes[2 * $0]) << 16 | UInt32(bytes[2 * $0 + 1]) << 24)) }
                            : { Double(FP8Encoding.e4m3fn.decode(bytes[$0]) * spec.fp8RowScale) }
                        for r in 0..<rowCount {
                            for o in 0..<ns[i] {
                                reference.append(Float((0..<k).reduce(0.0) { $0 + value(o * k + $1) * Double(xs[r * k + $1]) }))
                            }
                        }
                    }
                    // The host's order is [matrix][row][output], the GPU reads [matrix][row][output] too.
                    let how = gpu.takesGEMV(dtype, rows: rowCount, k: k, ldx: k)
                        ? ", \(gpu.gemvParts(k: k, dtype: dtype, outputs: ns[0])) warps per row group" : ""
                    compare("q/k/v-shaped products (\(dtype), \(ns) outputs, \(rowCount) rows, k \(k)\(how)) against exact host products", a,
                            reference, tolerance: 1e-5)
                }
            }
        }
        do {
            // An MLP's gate and up products writing their SwiGLU in one launch (herd_gemv_gated_*: BF16 at 1-3 rows,
            // FP8 at one row) give the bits of the two products and herd_swiglu (and at 8 rows, the down product
            // splitting silu(gate) * up itself gives those of herd_swiglu and then the product).
            let hidden = 1024, width = 2048
            for (dtype, rowCounts) in [(DType.bf16, [1, 3, 8]), (.f8_e4m3, [1])] {
                let spec = { (name: String, shape: [Int], seed: UInt64) in
                    SyntheticWeightSpec(name: name, shape: shape, dtype: dtype, seed: seed, std: 0.02)
                }
                let gate = try gpu.syntheticWeight(spec("gate", [width, hidden], 50))
                let up = try gpu.syntheticWeight(spec("up", [width, hidden], 51))
                let down = try gpu.syntheticWeight(spec("down", [hidden, width], 52))
                for rowCount in rowCounts {
                    let xt = load(gpu, randoms(rowCount * hidden), [rowCount, hidden])
                    let g = gpu.zeros([rowCount, width]), u = gpu.zeros([rowCount, width])
                    let fused = gpu.zeros([rowCount, hidden]), apart = gpu.zeros([rowCount, hidden])
                    gpu.swigluMLP(xt, gate: gate, up: up, down: down, rows: rowCount, gateBuffer: g, upBuffer: u, into: fused)
                    gpu.matmuls(xt, weights: [gate, up], rows: rowCount, into: [g, u])
                    gpu.swiglu(gate: g, up: u, rows: rowCount, into: g)
                    gpu.matmul(g, weight: down, rows: rowCount, into: apart)
                    let a = gpu.read(fused, rows: rowCount), b = gpu.read(apart, rows: rowCount)
                    let nonzero = a.contains { $0 != 0 }
                    record("MLP with SwiGLU in the gate/up launch = products, SwiGLU, product (\(dtype), \(rowCount) rows)", a == b && nonzero,
                           a == b ? (nonzero ? "bit for bit" : "all zero") : "differ")
                }
            }
        }
        do {
            // herd_qkv_prepare (RoPE, per-head norm, temperature and the cache writes in one launch) against the
            // CPU's separate ops: a RoPE layer with the norm, and a NoPE layer with temperatures.
            let heads = 8, kvHeads = 2, dim = 128, slots = 16
            let rope = RoPE.standard(headDim: dim, theta: 500_000, interleaved: true)
            let positions: [Int32] = [5, 700, 3000], writeSlots: [Int32] = [3, 9, 14]
            let batchRows = (0..<3).map { s in
                AttentionBatch.Row(sequence: Int32(s), contextStart: 0, contextEnd: positions[s] + 1, writeSlot: writeSlots[s], position: positions[s])
            }
            let batch = AttentionBatch(slots: [], sequenceSlotOffsets: [0, 0, 0], rows: batchRows)
            let q = randoms(3 * heads * dim), k = randoms(3 * kvHeads * dim), v = randoms(3 * kvHeads * dim)
            let layers: [(String, Bool, Bool, [Float])] = [("RoPE + per-head norm", true, true, []), ("temperature", false, false, [1.25, 0.5, 2])]
            for (name, layerRoPE, norm, temperatures) in layers {
                var outs: [[Float]] = []
                for b in [cpu as any ComputeBackend, gpu] {
                    let qt = load(b, q, [3, heads * dim]), kt = load(b, k, [3, kvHeads * dim]), vt = load(b, v, [3, kvHeads * dim])
                    let cache = b.makeKVCache(layers: 1, slots: slots, kvWidth: kvHeads * dim)
                    b.prepareAttentionInputs(q: qt, k: kt, v: vt, rows: 3, heads: heads, kvHeads: kvHeads, headDim: dim,
                                             positions: batch.positions, rope: layerRoPE ? rope : nil, qkNormEpsilon: norm ? 1e-5 : nil,
                                             temperatures: temperatures, cache: cache, layer: 0, batch: batch)
                    outs.append(b.read(qt, rows: 3) + b.read(cache.keys[0], rows: slots) + b.read(cache.values[0], rows: slots))
                }
                compare("attention inputs in one launch (\(name))", outs[1], outs[0], tolerance: 1e-5)
            }
        }
        do {
            let g = randoms(rows * width), u = randoms(rows * width)
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let gt = load(b, g, [rows, width]), ut = load(b, u, [rows, width]), ot = b.zeros([rows, width])
                b.swiglu(gate: gt, up: ut, rows: rows, into: ot)
                b.add(ot, gt, rows: rows)
                b.scaleRows(ot, factors: (0..<rows).map { Float($0) * 0.5 })
                let yt = b.zeros([rows, width])
                b.scatterAddRows(ot, indices: [2, 0, 2, 5, 1, 0, 6], into: yt)
                outs.append(b.read(yt, rows: rows))
            }
            compare("swiglu + add + scale + scatter-add", outs[1], outs[0], tolerance: 1e-5)
        }
        do {
            // Logit summaries for sampling on the device (herd_sampling.cu) against the host twin
            // (LogitSummary.host, the CPU backend's default): Llama 4's vocabulary, rows with ties, -inf, NaN and
            // all -inf, greedy and sampled. Top-N ids and logits and the Gumbel draw must be equal, sums within 1e-5.
            let vocab = 202048, top = LogitSummary.defaultTopCount
            var logitRows: [[Float]] = [randoms(vocab, 10), (0..<vocab).map { _ in Float(Int.random(in: 0...20, using: &rng)) }]
            var sparse = [Float](repeating: -.infinity, count: vocab)
            for _ in 0..<30 { sparse[Int.random(in: 0..<vocab, using: &rng)] = Float.random(in: -3...3, using: &rng) }
            var holes = randoms(vocab, 5)
            for _ in 0..<(vocab / 100) { holes[Int.random(in: 0..<vocab, using: &rng)] = .nan }
            logitRows += [sparse, holes, [Float](repeating: -.infinity, count: vocab), randoms(vocab, 30)]
            let temperatures: [Float] = [1, 0.7, 1.3, 0, 1, 0.5]
            let requests = temperatures.map { LogitSummaryRequest(temperature: $0, noiseKey: UInt64.random(in: .min ... .max, using: &rng)) }
            let flat = logitRows.flatMap { $0 }
            let want = cpu.summarizeLogits(load(cpu, flat, [logitRows.count, vocab]), rows: logitRows.count, vocabulary: vocab, top: top, requests: requests)
            let gpuLogits = load(gpu, flat, [logitRows.count, vocab])
            let got = gpu.summarizeLogits(gpuLogits, rows: logitRows.count, vocabulary: vocab, top: top, requests: requests)
            var problems: [String] = []
            var worst: Float = 0
            for r in 0..<logitRows.count {
                let a = got[r], b = want[r]
                if a.topIDs != b.topIDs { problems.append("row \(r) top ids") }
                if a.topLogits.map(\.bitPattern) != b.topLogits.map(\.bitPattern) { problems.append("row \(r) top logits") }
                if a.maxLogit.bitPattern != b.maxLogit.bitPattern { problems.append("row \(r) max") }
                if a.gumbelID != b.gumbelID || a.gumbelLogit.bitPattern != b.gumbelLogit.bitPattern {
                    problems.append("row \(r) draw \(a.gumbelID) vs \(b.gumbelID)")
                }
                for (x, y) in [(a.expSum, b.expSum), (a.unitExpSum, b.unitExpSum)] {
                    let err = abs(x - y) / max(abs(y), 1e-30)
                    if !(err <= 1e-5) { problems.append("row \(r) sum \(x) vs \(y)") }
                    worst = max(worst, y == 0 && x == 0 ? 0 : err)
                }
            }
            // The step it replaces: 64 rows summarized vs 64 rows read.
            let many = gpu.zeros([64, vocab]), manyRequests = (0..<64).map { LogitSummaryRequest(temperature: 1, noiseKey: UInt64($0)) }
            _ = gpu.summarizeLogits(many, rows: 64, vocabulary: vocab, top: top, requests: manyRequests)
            var clock = ContinuousClock.now
            for _ in 0..<5 { _ = gpu.summarizeLogits(many, rows: 64, vocabulary: vocab, top: top, requests: manyRequests) }
            let summarize = (ContinuousClock.now - clock) / 5
            clock = ContinuousClock.now
            for _ in 0..<5 { _ = gpu.read(many, rows: 64) }
            let read = (ContinuousClock.now - clock) / 5
            func ms(_ d: Duration) -> String { String(format: "%.3f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3) }
            record("logit summaries (top-\(top), sums, Gumbel draw; \(logitRows.count) rows x \(vocab))", problems.isEmpty,
                   (problems.isEmpty ? "ids equal" : problems.prefix(4).joined(separator: "; "))
                   + String(format: ", sums max relative diff %.3g", worst) + "; 64 rows: summaries \(ms(summarize)), read \(ms(read))")
        }

        for (rowCount, skinny) in [1, 7, 13].flatMap({ r in [true, false].map { (r, $0) } }) {
            // FP8 E4M3 with per-row scales against an exact host product (the CPU twin stores BF16); few rows
            // through the tensor-core skinny kernel where it runs and through the CUDA-core GEMV.
            let n = 72
            let (bytes, scales) = Self.randomFP8(rows: n, columns: width, rng: &rng)
            let xs = randoms(rowCount * width)
            var reference = [Float](repeating: 0, count: rowCount * n)
            for r in 0..<rowCount {
                for o in 0..<n {
                    var acc: Double = 0
                    for i in 0..<width { acc += Double(FP8Encoding.e4m3fn.decode(bytes[o * width + i])) * Double(xs[r * width + i]) }
                    reference[r * n + o] = Float(acc * Double(scales[o]))
                }
            }
            let wt = try Self.fp8Weight(bytes, scales: scales, rows: n, columns: width, gpu: gpu, cpu: cpu)
            let xt = load(gpu, xs, [rowCount, width]), yt = gpu.zeros([rowCount, n])
            gpu.useSkinnyMMA = skinny
            let path = skinny && gpu.usesSkinny(.f8_e4m3, k: width) && gpu.skinnyDenseRows(for: .f8_e4m3).contains(rowCount) ? ", tensor-core skinny" : ""
            gpu.matmul(xt, weight: wt, rows: rowCount, into: yt)
            gpu.useSkinnyMMA = true
            compare("matmul fp8 \(fp8Bias == .e4m3fn ? "e4m3fn" : "e4m3fnuz") (\(rowCount) rows\(path))", gpu.read(yt, rows: rowCount), reference,
                    tolerance: 1e-5)
        }
        if gpu.hasTensorCoreKernels {
            // Tensor-core products (herd_mma.cu) of every activation precision against an exact host product of
            // the activations as the kernel splits them; outputs not a multiple of 64; 100 rows (the decode path:
            // activations split once, k split over blocks) and 300 (the prefill path: split on the way).
            // Both paths where cuBLASLt is present: cuBLASLt (the default) and Herd's own kernels.
            // 5, 16 and 40 rows: the skinny decode kernels (herd_skinny_*; 40: three passes, the last partial).
            for (m, vendor) in [(5, false), (16, false), (40, false)] + [100, 300].flatMap({ m in (gpu.hasVendorBLAS ? [true, false] : [false]).map { (m, $0) } }) {
                let n = 200, k = 320
                let xs = randoms(m * k, 4)
                let w16 = randoms(n * k, 0.1).map { UInt16($0.bitPattern >> 16) }
                let (f8, scales) = Self.randomFP8(rows: n, columns: k, rng: &rng)
                let bf16 = try w16.withUnsafeBytes { try gpu.weight(HostTensor(name: "w", dtype: .bf16, shape: [n, k], bytes: $0, owner: cpu)) }
                let fp8 = try Self.fp8Weight(f8, scales: scales, rows: n, columns: k, gpu: gpu, cpu: cpu)
                let xt = load(gpu, xs, [m, k]), yt = gpu.zeros([m, n])
                for precision in [TensorCoreActivations.f32, .bf16x2, .bf16] {
                    let split = xs.map { TensorCoreActivations.split($0, terms: precision.terms) }
                    for (name, wt) in [("bf16", bf16), ("fp8", fp8)] {
                        var reference = [Float](repeating: 0, count: m * n)
                        for r in 0..<m {
                            for o in 0..<n {
                                var acc: Double = 0
                                for i in 0..<k {
                                    let wv = name == "bf16" ? Float(bitPattern: UInt32(w16[o * k + i]) << 16) : FP8Encoding.e4m3fn.decode(f8[o * k + i])
                                    acc += Double(wv) * Double(split[r * k + i])
                                }
                                reference[r * n + o] = Float(name == "bf16" ? acc : acc * Double(scales[o]))
                            }
                        }
                        gpu.tensorCoreActivations = precision
                        gpu.useVendorBLAS = vendor
                        let ranges = gpu.skinnyDenseRowsOverride
                        if m <= 64 { gpu.skinnyDenseRowsOverride = 1...64 }  // the skinny kernels whatever the defaults
                        gpu.matmul(xt, weight: wt, rows: m, into: yt)
                        gpu.skinnyDenseRowsOverride = ranges
                        gpu.useVendorBLAS = true
                        let path = m <= 64 ? ", skinny" : vendor ? "" : ", Herd's kernels"
                        compare("tensor-core matmul \(name), \(precision.rawValue) activations (\(m) rows\(path))",
                                gpu.read(yt, rows: m), reference, tolerance: 1e-5)
                    }
                }
            }
            gpu.tensorCoreActivations = .f32
            try Self.checkSkinnyExperts(gpu: gpu, cpu: cpu, rng: &rng, load: { load(gpu, $0, $1) }, compare: compare)
        } else {
            print("skip tensor-core matmul: \(gpu.driver.vendor) \(gpu.driver.architecture) has no tensor-core kernels in Herd yet")
        }
        for dim in [128, 64] {
            // The tiled grouped-query kernel (herd_attention_gqa), forced on: a 45-token prompt (causal, some rows
            // starting a local chunk) and 5 decode rows of other sequences, GQA 8:2, scattered slots.
            let heads = 8, kvHeads = 2, slots = 160, prompt = 45
            let k = randoms(slots * kvHeads * dim), v = randoms(slots * kvHeads * dim)
            let list: [Int32] = (0..<Int32(slots)).map { ($0 * 37) % Int32(slots) }
            var batchRows: [AttentionBatch.Row] = []
            for p in 0..<prompt {
                batchRows.append(AttentionBatch.Row(sequence: 0, contextStart: p >= 32 ? 32 : 0, contextEnd: Int32(p + 1), writeSlot: 0, position: Int32(p)))
            }
            for s in 1...5 { batchRows.append(AttentionBatch.Row(sequence: Int32(s), contextStart: 0, contextEnd: Int32(10 + 9 * s), writeSlot: 0, position: 0)) }
            let batch = AttentionBatch(slots: list, sequenceSlotOffsets: [0, 50, 60, 70, 80, 90], rows: batchRows)
            let q = randoms(batchRows.count * heads * dim)
            var outs: [[Float]] = []
            gpu.gqaAttentionMinimumBlocks = 0
            let kernelChoice = (gpu.gqaDecodeKernel, gpu.tensorCoreAttention)
            // The newer kernels (tensor-core prompt tiles where present, the decode kernel), then the tile kernel alone.
            for (b, newKernels) in [(cpu as any ComputeBackend, true), (gpu, true), (gpu, false)] {
                (gpu.gqaDecodeKernel, gpu.tensorCoreAttention) = (newKernels, newKernels)
                let cache = KVCache(keys: [load(b, k, [slots, kvHeads * dim])], values: [load(b, v, [slots, kvHeads * dim])], slotCount: slots)
                let qt = load(b, q, [batchRows.count, heads * dim]), ot = b.zeros([batchRows.count, heads * dim])
                b.attention(queries: qt, cache: cache, layer: 0, batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim,
                            scale: 1 / Float(dim).squareRoot(), into: ot)
                outs.append(b.read(ot, rows: batchRows.count))
            }
            (gpu.gqaDecodeKernel, gpu.tensorCoreAttention, gpu.gqaAttentionMinimumBlocks) = (kernelChoice.0, kernelChoice.1, 256)
            compare("grouped-query attention tiles (head_dim \(dim); prompt rows, chunk starts, decode rows)", outs[1], outs[0], tolerance: 1e-4)
            compare("grouped-query attention, CUDA-core tiles only (head_dim \(dim))", outs[2], outs[0], tolerance: 1e-4)
        }
        for (heads, kvHeads) in [(10, 2), (8, 2)] {
            // Busy decode through herd_attention_gqa_decode*, forced on: 64 rows of contexts 900-1100 (every 8th
            // starting a local chunk at 512), each sequence's slots in blocks of 16 drawn from a scattered cache,
            // GQA 5:1 (Scout's) and 4:1, head_dim 128. Split over partitions against the CPU, against one partition
            // per row, and against the tile kernel.
            let dim = 128, blockSize = 16, slots = 8192, rowCount = 64
            var list: [Int32] = [], offsets: [Int] = [], batchRows: [AttentionBatch.Row] = []
            for s in 0..<rowCount {
                let length = Int.random(in: 900...1100, using: &rng)
                var blocks = Array(0..<(slots / blockSize))
                blocks.shuffle(using: &rng)
                offsets.append(list.count)
                list += (0..<length).map { Int32(blocks[$0 / blockSize] * blockSize + $0 % blockSize) }
                batchRows.append(AttentionBatch.Row(sequence: Int32(s), contextStart: s % 8 == 3 ? 512 : 0, contextEnd: Int32(length),
                                                    writeSlot: list.last!, position: Int32(length - 1)))
            }
            let batch = AttentionBatch(slots: list, sequenceSlotOffsets: offsets, rows: batchRows)
            let k = randoms(slots * kvHeads * dim), v = randoms(slots * kvHeads * dim), q = randoms(rowCount * heads * dim)
            let choice = (gpu.splitAttention, gpu.gqaDecodeKernel)
            (gpu.gqaAttentionMinimumBlocks, gpu.gqaDecodeKernel) = (0, true)
            let plan = gpu.gqaAttentionPlan(batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, kvRowLength: kvHeads * dim)
            var outs: [[Float]] = []
            for (b, splitting, decodeKernel) in [(cpu as any ComputeBackend, true, true), (gpu, true, true), (gpu, false, true), (gpu, true, false)] {
                (gpu.splitAttention, gpu.gqaDecodeKernel) = (splitting, decodeKernel)
                let cache = KVCache(keys: [load(b, k, [slots, kvHeads * dim])], values: [load(b, v, [slots, kvHeads * dim])], slotCount: slots)
                let qt = load(b, q, [rowCount, heads * dim]), ot = b.zeros([rowCount, heads * dim])
                b.attention(queries: qt, cache: cache, layer: 0, batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, scale: 0.25, into: ot)
                outs.append(b.read(ot, rows: rowCount))
            }
            (gpu.splitAttention, gpu.gqaDecodeKernel, gpu.gqaAttentionMinimumBlocks) = (choice.0, choice.1, 256)
            let how = plan?.split.map { "\($0.parts) partitions per row of >= \(-$0.length) keys" } ?? "NOT split"
            compare("busy decode attention, GQA \(heads):\(kvHeads), split (\(how))", outs[1], outs[0], tolerance: 1e-4)
            compare("busy decode attention, GQA \(heads):\(kvHeads), split vs one partition", outs[1], outs[2], tolerance: 1e-5)
            compare("busy decode attention, GQA \(heads):\(kvHeads), split vs tile kernel", outs[1], outs[3], tolerance: 1e-5)
            if plan?.split == nil || plan?.decodeRows.count != rowCount {
                record("busy decode attention takes the split decode kernel", false, plan?.kernels.joined(separator: ", ") ?? "no grouped-query plan")
            }
        }
        if gpu.hasTensorCoreKernels {
            for (heads, kvHeads) in [(8, 2), (10, 2)] {
                // Prefill on the tensor cores (herd_attention_gqa_mma, 3xTF32), forced on: a 300-token prompt and a
                // 600-token prompt whose rows from 256 on start a local chunk at 256, scattered slots, head_dim 128.
                let dim = 128, slots = 1024, lengths = [300, 600], chunk: Int32 = 256
                var order = (0..<Int32(slots)).map { $0 }
                order.shuffle(using: &rng)
                var batchRows: [AttentionBatch.Row] = []
                for (s, length) in lengths.enumerated() {
                    for p in 0..<Int32(length) {
                        let start = s == 1 && p >= chunk ? chunk : 0
                        batchRows.append(AttentionBatch.Row(sequence: Int32(s), contextStart: start, contextEnd: p + 1, writeSlot: 0, position: p))
                    }
                }
                let batch = AttentionBatch(slots: Array(order.prefix(lengths.reduce(0, +))), sequenceSlotOffsets: [0, lengths[0]], rows: batchRows)
                let k = randoms(slots * kvHeads * dim), v = randoms(slots * kvHeads * dim), q = randoms(batchRows.count * heads * dim)
                let choice = gpu.tensorCoreAttention
                (gpu.gqaAttentionMinimumBlocks, gpu.tensorCoreAttention) = (0, true)
                let plan = gpu.gqaAttentionPlan(batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, kvRowLength: kvHeads * dim)
                var outs: [[Float]] = []
                // CPU, GPU 3xTF32 and plain TF32 (what --tensor-core-activations bf16 runs) through the first kernels
                // (HERD_TC_ATTENTION_V2=0), then both through the v2 kernels (herd_attention_gqa_mma2, the default).
                let v2Choice = gpu.tensorCoreAttentionV2
                for (b, activations, v2) in [(cpu as any ComputeBackend, TensorCoreActivations.f32, false), (gpu, .f32, false), (gpu, .bf16, false),
                                             (gpu, .f32, true), (gpu, .bf16, true)] {
                    gpu.tensorCoreActivations = activations
                    gpu.tensorCoreAttentionV2 = v2
                    let cache = KVCache(keys: [load(b, k, [slots, kvHeads * dim])], values: [load(b, v, [slots, kvHeads * dim])], slotCount: slots)
                    let qt = load(b, q, [batchRows.count, heads * dim]), ot = b.zeros([batchRows.count, heads * dim])
                    b.attention(queries: qt, cache: cache, layer: 0, batch: batch, heads: heads, kvHeads: kvHeads, headDim: dim, scale: 0.25, into: ot)
                    outs.append(b.read(ot, rows: batchRows.count))
                }
                gpu.tensorCoreActivations = .f32
                gpu.tensorCoreAttentionV2 = v2Choice
                (gpu.gqaAttentionMinimumBlocks, gpu.tensorCoreAttention) = (256, choice)
                compare("tensor-core prefill attention, GQA \(heads):\(kvHeads) (300 + 600 tokens, chunk starts)", outs[1], outs[0], tolerance: 1e-4)
                // TF32 keeps 11 significant bits: ~5e-4 relative per product, as BF16 attention would with 8.
                compare("tensor-core prefill attention, plain TF32 for BF16 activations, GQA \(heads):\(kvHeads)", outs[2], outs[0], tolerance: 5e-3)
                compare("tensor-core prefill attention v2, GQA \(heads):\(kvHeads)", outs[3], outs[0], tolerance: 1e-4)
                compare("tensor-core prefill attention v2, plain TF32 for BF16 activations, GQA \(heads):\(kvHeads)", outs[4], outs[0], tolerance: 5e-3)
                let kernels = plan?.kernels.joined(separator: ", ") ?? "no grouped-query plan"
                print("     kernels: \(kernels)")
                if plan.map({ $0.tensorTiles.isEmpty || !$0.coreTiles.isEmpty || !$0.decodeRows.isEmpty }) ?? true {
                    record("tensor-core prefill attention takes herd_attention_gqa_mma only", false, kernels)
                }
            }
        } else {
            print("skip tensor-core attention: \(gpu.driver.vendor) \(gpu.driver.architecture) has no tensor-core kernels in Herd yet")
        }
        do {
            // Synthetic weights: the device's generator gives the host's bits (BF16 rows gathered by embed,
            // FP8 columns picked by one-hot rows), and 16-bit embedding gathers.
            let vocab = 64, spec = SyntheticWeightSpec(name: "t", shape: [vocab, width], dtype: .bf16, seed: 99, std: 0.5)
            let tokens: [Int32] = [3, 63, 0, 17, 17, 42, 8]
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let table = try b.syntheticWeight(spec), out = b.zeros([tokens.count, width])
                b.embed(table, tokens: tokens, into: out)
                outs.append(b.read(out, rows: tokens.count))
            }
            compare("synthetic bf16 weights + bf16 embed (bit-exact)", outs[1], outs[0], tolerance: 0)
            let half = (0..<(vocab * width)).map { _ in herdHalf(Float.random(in: -2...2, using: &rng)) }
            outs = []
            for b in [cpu as any ComputeBackend, gpu] {
                let table = try half.withUnsafeBytes { try b.weight(HostTensor(name: "e", dtype: .f16, shape: [vocab, width], bytes: $0, owner: cpu)) }
                let out = b.zeros([tokens.count, width])
                b.embed(table, tokens: tokens, into: out)
                outs.append(b.read(out, rows: tokens.count))
            }
            compare("f16 embed", outs[1], outs[0], tolerance: 0)

            let n = 96, fp8 = SyntheticWeightSpec(name: "f", shape: [n, width], dtype: .f8_e4m3, seed: 7, std: 0.02)
            let (host, _) = SyntheticWeights.host(fp8)
            let hostBytes = Array(host.bytes)
            let columns = [0, 5, 77, 128, 200, 255, 31]
            var onehot = [Float](repeating: 0, count: columns.count * width)
            for (r, c) in columns.enumerated() { onehot[r * width + c] = 1 }
            var reference = [Float](repeating: 0, count: columns.count * n)
            for (r, c) in columns.enumerated() {
                for o in 0..<n { reference[r * n + o] = FP8Encoding.e4m3fn.decode(hostBytes[o * width + c]) * fp8.fp8RowScale }
            }
            let wt = try gpu.syntheticWeight(fp8)
            let xt = load(gpu, onehot, [columns.count, width]), yt = gpu.zeros([columns.count, n])
            gpu.matmul(xt, weight: wt, rows: columns.count, into: yt)
            compare("synthetic fp8 weights (bit-exact)", gpu.read(yt, rows: columns.count), reference, tolerance: 0)
        }

        // The whole model on both backends.
        for path in model {
            let onCPU = try ModelLoader.load(path: path, backend: cpu)
            // FP8 weights as the CPU holds them (BF16 of value x scale) for the exact comparison; native FP8 below.
            gpu.fp8AsBF16 = true
            let onGPU = try ModelLoader.load(path: path, backend: gpu)
            gpu.fp8AsBF16 = false
            let ids = onCPU.tokenizer.encode(prompt).map(Int32.init)
            /// The prompt's last logits and the greedy continuation.
            func greedy(_ m: any LanguageModel) -> ([Float], [Int32]) {
                let cache = m.makeKVCache(slots: ids.count + tokens)
                var logits = m.forward(tokens: ids, batch: .contiguous(start: 0, count: ids.count), cache: cache, logitRows: [ids.count - 1])
                let first = logits
                var generated: [Int32] = []
                for i in 0..<tokens {
                    let t = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                    generated.append(t)
                    logits = m.forward(tokens: [t], batch: .contiguous(start: ids.count + i, count: 1), cache: cache, logitRows: [0])
                }
                return (first, generated)
            }
            let (cpuLogits, cpuTokens) = greedy(onCPU.model)
            let (gpuLogits, gpuTokens) = greedy(onGPU.model)
            compare("model logits (\(onCPU.name))", gpuLogits, cpuLogits, tolerance: 2e-3)
            if let top = cpuLogits.indices.max(by: { cpuLogits[$0] < cpuLogits[$1] }) {
                print("     logits: \(cpuLogits.count) values, top id \(top) (\(cpuLogits[top]) cpu, \(gpuLogits[top]) gpu)")
            }
            record("model greedy tokens", cpuTokens == gpuTokens, "cpu \(cpuTokens.prefix(8)) gpu \(gpuTokens.prefix(8))")
            // Decode steps replayed from a captured graph give the eager steps' logits bit for bit: the same
            // tokens fed with graphs on (captured on the second step, replayed after) and off.
            func decodeLogits(graphs: Bool) -> [Float] {
                gpu.useStepGraphs = graphs
                defer { gpu.useStepGraphs = true }
                let m = onGPU.model, cache = m.makeKVCache(slots: ids.count + tokens)
                var all = m.forward(tokens: ids, batch: .contiguous(start: 0, count: ids.count), cache: cache, logitRows: [ids.count - 1])
                for (i, t) in cpuTokens.enumerated() {
                    all += m.forward(tokens: [t], batch: .contiguous(start: ids.count + i, count: 1), cache: cache, logitRows: [0])
                }
                return all
            }
            let before = gpu.graphStats
            let replayed = decodeLogits(graphs: true)
            let stats = gpu.graphStats
            let eager = decodeLogits(graphs: false)
            record("decode steps replayed from a graph = eager, bit for bit", replayed == eager && stats.replays > before.replays,
                   "\(stats.replays - before.replays) replays, \(stats.captures - before.captures) captures, "
                   + "\(stats.mismatches - before.mismatches) mismatches, \(stats.failedCaptures - before.failedCaptures) failed captures")
            // A busy batch gives each request the tokens it gets alone: 12 prompts of different lengths prefilled
            // together (ragged rows, grouped-expert and tensor-core paths) and decoded together, against each
            // prompt run by itself (single rows: the GEMV paths).
            let prompts = (0..<12).map { s in ids + (0..<s).map { ids[$0 % ids.count] } }
            let steps = min(tokens, 8)
            let together = Self.greedy(onGPU.model, prompts: prompts, steps: steps)
            let alone = prompts.map { Self.greedy(onGPU.model, prompts: [$0], steps: steps)[0] }
            let differing = zip(together, alone).filter { $0 != $1 }.count
            record("busy batch = each request alone (\(prompts.count) requests, \(steps) greedy tokens, GPU)", differing == 0,
                   differing == 0 ? "all equal" : "\(differing) of \(prompts.count) requests differ")
            for prefill in prefillTokens where prefill > ids.count {
                let count = min(prefill, onCPU.model.contextLength)
                let last = { (m: any LanguageModel) in Self.lastLogits(m, prompt: ids, count: count) }
                // Small models' steps are below the tiled attention's size threshold: force it here.
                gpu.gqaAttentionMinimumBlocks = 0
                compare("model logits after a \(count)-token prefill (\(onCPU.name))", last(onGPU.model), last(onCPU.model), tolerance: 2e-3)
                gpu.gqaAttentionMinimumBlocks = 256
            }
            // Native FP8 products are exact in f32 where the CPU's BF16 copy rounds each weight (2^-9): they
            // differ by that rounding only, so a looser bound.
            let native = try ModelLoader.load(path: path, backend: gpu)
            let (nativeLogits, nativeTokens) = greedy(native.model)
            if nativeLogits != gpuLogits {
                compare("model logits, FP8 kept on the GPU (\(onCPU.name))", nativeLogits, cpuLogits, tolerance: 2e-2)
                print("     greedy with FP8 kept: \(nativeTokens.prefix(8)) (\(zip(nativeTokens, cpuTokens).prefix { $0 == $1 }.count) of \(tokens) equal to the CPU's before diverging)")
                // The longest prefill too: FP8 products of prefill size (cuBLASLt on widened weights where present).
                if let prefill = prefillTokens.max(), prefill > ids.count {
                    let count = min(prefill, onCPU.model.contextLength)
                    let last = { (m: any LanguageModel) in Self.lastLogits(m, prompt: ids, count: count) }
                    compare("model logits after a \(count)-token prefill, FP8 kept on the GPU (\(onCPU.name))", last(native.model), last(onCPU.model),
                            tolerance: 2e-2)
                }
            }
        }
        let failed = results.filter { !$0.1 }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}


extension GPUCheck {
    /// Random FP8 E4M3 bytes of an n x k weight (NaN codes replaced: they are not weights) and its row scales.
    static func randomFP8(rows n: Int, columns k: Int, rng: inout SystemRandomNumberGenerator) -> (bytes: [UInt8], scales: [Float]) {
        var bytes = (0..<(n * k)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for i in bytes.indices where bytes[i] & 0x7f == 0x7f { bytes[i] = 0x38 }
        return (bytes, (0..<n).map { _ in Float.random(in: 0.001...0.01, using: &rng) })
    }

    /// Those bytes and scales as an FP8 weight on `gpu`, the scales given as a checkpoint's per-row scale tensor.
    static func fp8Weight(_ bytes: [UInt8], scales: [Float], rows n: Int, columns k: Int, gpu: GPUBackend, cpu: CPUBackend) throws -> Tensor {
        try bytes.withUnsafeBytes { b in
            try scales.withUnsafeBytes { s in
                try gpu.weight(HostTensor(name: "w", dtype: .f8_e4m3, shape: [n, k], bytes: b, owner: cpu),
                               rowScales: HostTensor(name: "w_scale", dtype: .f32, shape: [n, 1], bytes: s, owner: cpu))
            }
        }
    }

    /// Decode-sized routed experts (herd_moe_skinny_*, the default where tensor cores run) against the same
    /// experts through the CUDA-core grouped GEMV: BF16 and FP8 experts, 40 rows routed top-2 over 8
    /// experts (some experts past one pass of 16 slots), one expert left without rows.
    static func checkSkinnyExperts(gpu: GPUBackend, cpu: CPUBackend, rng: inout SystemRandomNumberGenerator,
                                   load: ([Float], [Int]) -> Tensor, compare: (String, [Float], [Float], Float) -> Void) throws {
        let experts = 8, hidden = 256, width = 320, rows = 40, topK = 2
        func randoms(_ n: Int, _ scale: Float, _ rng: inout some RandomNumberGenerator) -> [Float] {
            (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
        }
        func matrix(_ dtype: DType, rows n: Int, columns k: Int, _ rng: inout SystemRandomNumberGenerator) throws -> Tensor {
            if dtype == .bf16 {
                let w = randoms(n * k, 0.1, &rng).map { UInt16($0.bitPattern >> 16) }
                return try w.withUnsafeBytes { try gpu.weight(HostTensor(name: "w", dtype: .bf16, shape: [n, k], bytes: $0, owner: cpu)) }
            }
            let (bytes, scales) = randomFP8(rows: n, columns: k, rng: &rng)
            return try fp8Weight(bytes, scales: scales, rows: n, columns: k, gpu: gpu, cpu: cpu)
        }
        for dtype in [DType.bf16, .f8_e4m3] {
            let gate = try (0..<experts).map { _ in try matrix(dtype, rows: width, columns: hidden, &rng) }
            let up = try (0..<experts).map { _ in try matrix(dtype, rows: width, columns: hidden, &rng) }
            let down = try (0..<experts).map { _ in try matrix(dtype, rows: hidden, columns: width, &rng) }
            guard let prepared = gpu.prepareExperts(gate: gate, up: up, down: down) else {
                compare("routed experts \(dtype) (prepared)", [1], [0], 0)
                continue
            }
            // Expert 5 never wins; experts 0 and 1 win most rows.
            var logits = randoms(rows * experts, 1, &rng)
            for r in 0..<rows {
                logits[r * experts + 5] = -50
                if r % 3 != 2 { logits[r * experts + r % 2] = 10 }
            }
            let x = load(randoms(rows * hidden, 1, &rng), [rows, hidden]), router = load(logits, [rows, experts])
            var outs: [[Float]] = []
            for skinny in [true, false] {
                gpu.useSkinnyMMA = skinny
                let out = gpu.zeros([rows, hidden]), choices = gpu.zeros([rows, topK])
                gpu.routedExperts(x, routerLogits: router, experts: prepared, topK: topK, rows: rows, choices: choices, into: out)
                outs.append(gpu.read(out, rows: rows))
            }
            gpu.useSkinnyMMA = true
            let name = dtype == .bf16 ? "bf16" : "fp8"
            compare("routed experts \(name), \(rows) rows top-\(topK): skinny tensor-core vs grouped GEMV", outs[0], outs[1], 1e-5)
        }
    }

    /// The last row's logits after one prefill of `count` tokens: `prompt` repeated.
    static func lastLogits(_ m: any LanguageModel, prompt: [Int32], count: Int) -> [Float] {
        let tokens = (0..<count).map { prompt[$0 % prompt.count] }
        return m.forward(tokens: tokens, batch: .contiguous(start: 0, count: count), cache: m.makeKVCache(slots: count), logitRows: [count - 1])
    }

    /// Greedy tokens for `prompts` run as one batch: every prompt prefilled in one ragged step, then one
    /// decode row per prompt per step; prompt s owns cache slots s * L ..< (s + 1) * L.
    static func greedy(_ m: any LanguageModel, prompts: [[Int32]], steps: Int) -> [[Int32]] {
        let span = (prompts.map(\.count).max() ?? 0) + steps + 1
        let cache = m.makeKVCache(slots: span * prompts.count)
        let vocab = m.vocabularySize
        func step(_ inputs: [[Int32]], starts: [Int]) -> [Int32] {
            var tokens: [Int32] = [], rows: [AttentionBatch.Row] = [], slots: [Int32] = [], offsets: [Int] = [], logitRows: [Int] = []
            for (s, input) in inputs.enumerated() {
                offsets.append(slots.count)
                slots += (0..<(starts[s] + input.count)).map { Int32(s * span + $0) }
                for (i, token) in input.enumerated() {
                    let p = starts[s] + i
                    tokens.append(token)
                    rows.append(AttentionBatch.Row(sequence: Int32(s), contextStart: 0, contextEnd: Int32(p + 1), writeSlot: Int32(s * span + p),
                                                   position: Int32(p)))
                }
                logitRows.append(rows.count - 1)
            }
            let logits = m.forward(tokens: tokens, batch: AttentionBatch(slots: slots, sequenceSlotOffsets: offsets, rows: rows), cache: cache,
                                   logitRows: logitRows)
            return (0..<inputs.count).map { r in Int32((0..<vocab).max { logits[r * vocab + $0] < logits[r * vocab + $1] }!) }
        }
        var lengths = prompts.map(\.count)
        var last = step(prompts, starts: [Int](repeating: 0, count: prompts.count))
        var out = last.map { [$0] }
        for _ in 1..<max(steps, 1) {
            last = step(last.map { [$0] }, starts: lengths)
            for s in prompts.indices {
                lengths[s] += 1
                out[s].append(last[s])
            }
        }
        return out
    }
}

import CHerdKernels
func herdHalf(_ f: Float) -> UInt16 { herd_f32_to_f16(f) }
