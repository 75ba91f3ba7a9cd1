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

    @Option(name: .long, help: ArgumentHelp("Model file for the whole-model check (GGUF); skipped when absent.", valueName: "path"))
    var model: String?
    @Option(name: .long, help: "Prompt for the whole-model check.")
    var prompt = "The capital of France is"
    @Option(name: .long, help: "Greedy tokens to compare.")
    var tokens = 16
    @Option(name: .long, help: "GPU to check: auto (HIP, else CUDA), cuda or hip.")
    var device: DeviceChoice = .auto

    func run() throws {
        guard device != .cpu else { throw CLIError("gpu-check compares a GPU with the CPU: --device auto, cuda or hip") }
        let gpu: GPUBackend
        do { gpu = try device.gpuBackend() } catch { throw CLIError("\(error)") }
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
        for (name, dtype) in [("matmul f32", DType.f32), ("matmul f16", .f16), ("matmul bf16", .bf16)] {
            let n = 96
            let w = randoms(n * width, 0.1)
            var bytes: [UInt8]
            switch dtype {
            case .f32: bytes = w.withUnsafeBytes { Array($0) }
            case .f16: bytes = w.map { herdHalf($0) }.withUnsafeBytes { Array($0) }
            default: bytes = w.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { Array($0) }
            }
            var outs: [[Float]] = []
            for b in [cpu as any ComputeBackend, gpu] {
                let wt = try bytes.withUnsafeBytes { try b.weight(HostTensor(name: "w", dtype: dtype, shape: [n, width], bytes: $0, owner: cpu)) }
                let xt = load(b, x, [rows, width]), yt = b.zeros([rows, n])
                b.matmul(xt, weight: wt, rows: rows, into: yt)
                outs.append(b.read(yt, rows: rows))
            }
            compare(name, outs[1], outs[0], tolerance: 1e-5)
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

        // The whole model on both backends.
        if let path = model {
            let onCPU = try ModelLoader.load(path: path, backend: cpu)
            let onGPU = try ModelLoader.load(path: path, backend: gpu)
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
            record("model greedy tokens", cpuTokens == gpuTokens, "cpu \(cpuTokens.prefix(8)) gpu \(gpuTokens.prefix(8))")
        }
        let failed = results.filter { !$0.1 }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}


import CHerdKernels
func herdHalf(_ f: Float) -> UInt16 { herd_f32_to_f16(f) }
