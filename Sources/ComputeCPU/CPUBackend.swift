import CHerdKernels
import Compute

#if canImport(Glibc)
import Glibc
#endif

public enum CPUBackendError: Error, CustomStringConvertible {
    case unsupportedWeight(name: String, dtype: DType)
    case badShape(name: String, shape: [Int])
    public var description: String {
        switch self {
        case .unsupportedWeight(let name, let dtype):
            "tensor \"\(name)\": the CPU backend cannot multiply \(dtype) weights (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K)"
        case .badShape(let name, let shape):
            "tensor \"\(name)\": row length of shape \(shape) is not a whole number of quantization blocks"
        }
    }
}

/// Owns one zeroed heap buffer (activations, KV cache). Freed when the last tensor using it goes.
/// `calloc` gets large buffers as fresh zero pages from the kernel, so a big KV cache costs resident
/// memory only as it is written.
final class HostBuffer {
    let pointer: UnsafeMutableRawPointer
    init(bytes: Int) {
        guard let p = calloc(max(bytes, 64), 1) else { fatalError("out of memory allocating \(bytes) bytes") }
        pointer = p
    }
    deinit { free(pointer) }
}

/// The CPU compute backend: weights used in place from the mapped file, f32 activations, C SIMD kernels,
/// matrix products split across `threads` worker threads.
///
/// `@unchecked Sendable`: the only mutable state is the scratch arena, used inside one op at a time; the
/// engine issues ops from one thread.
public final class CPUBackend: MultiMatmulBackend, @unchecked Sendable {
    public let threads: Int
    /// Quantized weights times f32 activations (exact, slower) instead of 8-bit quantized activations.
    public let exactActivations: Bool
    /// false runs the scalar twins of the SIMD kernels (tests compare the two).
    public let useSIMD: Bool
    /// Scratch for quantized activations, grown on demand and reused (no allocation per step once warm).
    private var q8Scratch: UnsafeMutableRawPointer?
    private var q8ScratchBytes = 0
    private var attnScratch: [UnsafeMutablePointer<Float>] = []
    private var attnScratchLength = 0
    /// Persistent worker threads (threads - 1 of them; the calling thread is the last worker), started on the
    /// first parallel op.
    private var pool: OpaquePointer?

    public init(threads: Int? = nil, exactActivations: Bool = false, useSIMD: Bool = true) {
        self.exactActivations = exactActivations
        self.useSIMD = useSIMD
        let available = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        self.threads = max(1, threads ?? available)
    }

    deinit {
        if let pool { herd_pool_destroy(pool) }
        q8Scratch?.deallocate()
        attnScratch.forEach { $0.deallocate() }
    }

    public var description: String {
        "cpu (\(String(cString: herd_matmul_isa(useSIMD ? 1 : 0)))\(exactActivations ? ", exact activations" : ""), \(threads) threads)"
    }

    public func weight(_ host: HostTensor) throws -> Tensor {
        let is1D = host.shape.count == 1
        if !is1D {
            guard herd_wtype_supported(Int32(host.dtype.rawValue)) != 0 else {
                throw CPUBackendError.unsupportedWeight(name: host.name, dtype: host.dtype)
            }
            if host.dtype.isQuantized, (host.shape.last ?? 0) % host.dtype.blockSize != 0 {
                throw CPUBackendError.badShape(name: host.name, shape: host.shape)
            }
        }
        if is1D && host.dtype != .f32 {
            // Norm weights are used as f32 vectors: convert the (small) vector once.
            let n = host.shape[0]
            let buffer = HostBuffer(bytes: n * 4)
            herd_dequantize_row(Int32(host.dtype.rawValue), host.bytes.baseAddress, buffer.pointer.assumingMemoryBound(to: Float.self), Int64(n))
            return Tensor(dtype: .f32, shape: host.shape, data: buffer.pointer, byteCount: n * 4, owner: buffer)
        }
        return Tensor(dtype: host.dtype, shape: host.shape, data: UnsafeMutableRawPointer(mutating: host.bytes.baseAddress!),
                      byteCount: host.bytes.count, owner: host.owner)
    }

    public func zeros(_ shape: [Int]) -> Tensor {
        let bytes = shape.reduce(1, *) * 4
        let buffer = HostBuffer(bytes: bytes)
        return Tensor(dtype: .f32, shape: shape, data: buffer.pointer, byteCount: bytes, owner: buffer)
    }

    // MARK: ops

    public func embed(_ table: Tensor, tokens: [Int32], into out: Tensor) {
        let width = table.rowLength
        let rowBytes = herd_row_bytes(Int32(table.dtype.rawValue), Int64(width))
        let dst = out.data.assumingMemoryBound(to: Float.self)
        for (r, token) in tokens.enumerated() {
            precondition(token >= 0 && Int(token) < table.rowCount, "token id \(token) outside the embedding table")
            herd_dequantize_row(Int32(table.dtype.rawValue), table.data + Int(token) * rowBytes, dst + r * out.rowLength, Int64(width))
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, rows: Int, into out: Tensor) {
        let n = x.rowLength
        let src = x.data.assumingMemoryBound(to: Float.self), dst = out.data.assumingMemoryBound(to: Float.self)
        let w = weight.map { UnsafePointer($0.data.assumingMemoryBound(to: Float.self)) }
        for r in 0..<rows { herd_rms_norm(src + r * n, w, dst + r * out.rowLength, Int64(n), eps) }
    }

    public func matmul(_ x: Tensor, weight: Tensor, rows: Int, into out: Tensor) {
        fusedMatmuls(x, weights: CollectionOfOne(weight), rows: rows, into: CollectionOfOne(out))
    }

    /// Several products of the same activations in one C call (q/k/v, gate/up): the activations are quantized
    /// once and all products share one pool region. Weights of different types or row lengths go one by one.
    public func fusedMatmuls(_ x: Tensor, weights: [Tensor], rows: Int, into outs: [Tensor]) {
        fusedMatmuls(x, weights: weights[...], rows: rows, into: outs[...])
    }

    private func fusedMatmuls<W: Collection<Tensor>, O: Collection<Tensor>>(_ x: Tensor, weights: W, rows: Int, into outs: O) {
        precondition(weights.count == outs.count, "one output per weight")
        guard let first = weights.first else { return }
        let k = first.rowLength
        guard weights.allSatisfy({ $0.dtype == first.dtype && $0.rowLength == k }) else {
            for (w, out) in zip(weights, outs) { matmul(x, weight: w, rows: rows, into: out) }
            return
        }
        precondition(x.rowLength >= k, "matmul shapes: x \(x.shape), w \(first.shape)")
        let wtype = Int32(first.dtype.rawValue)
        let rowBytes = herd_row_bytes(wtype, Int64(k))
        // Quantizing the activations, splitting rows and outputs into tasks and running them on the pool all
        // happen in C (one call for the whole group).
        let scratch = first.dtype.isQuantized && !exactActivations ? scratch(bytes: herd_matmul_scratch_bytes(Int64(k), Int64(rows))) : nil
        let flags = (useSIMD ? Int32(HERD_MM_SIMD) : 0) | (exactActivations ? Int32(HERD_MM_EXACT) : 0)
        withUnsafeTemporaryAllocation(of: herd_mm_out.self, capacity: weights.count) { specs in
            for (i, (w, out)) in zip(weights, outs).enumerated() {
                precondition(out.rowLength >= w.rowCount, "matmul shapes: w \(w.shape), out \(out.shape)")
                specs[i] = herd_mm_out(w: w.data, row_bytes: rowBytes, n: Int64(w.rowCount),
                                       y: out.data.assumingMemoryBound(to: Float.self), ldy: Int64(out.rowLength))
            }
            herd_matmul_multi(workerPool(), wtype, Int64(k), x.data.assumingMemoryBound(to: Float.self), Int64(x.rowLength),
                              Int64(rows), specs.baseAddress, Int32(specs.count), scratch, flags)
        }
    }

    public func rope(_ x: Tensor, rows: Int, heads: Int, headDim: Int, positions: [Int32], rope: RoPE) {
        let p = x.data.assumingMemoryBound(to: Float.self)
        rope.inverseFrequencies.withUnsafeBufferPointer { freqs in
            for r in 0..<rows {
                herd_rope(p + r * x.rowLength, Int64(heads), Int64(headDim), Float(positions[r]), freqs.baseAddress, rope.interleaved ? 1 : 0)
            }
        }
    }

    public func storeKV(keys: Tensor, values: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch) {
        let width = cache.keys[layer].rowLength
        let kc = cache.keys[layer].data.assumingMemoryBound(to: Float.self)
        let vc = cache.values[layer].data.assumingMemoryBound(to: Float.self)
        let ks = keys.data.assumingMemoryBound(to: Float.self), vs = values.data.assumingMemoryBound(to: Float.self)
        for (r, row) in batch.rows.enumerated() {
            let slot = Int(row.writeSlot)
            precondition(slot >= 0 && slot < cache.slotCount, "KV slot \(slot) outside the cache")
            (kc + slot * width).update(from: ks + r * keys.rowLength, count: width)
            (vc + slot * width).update(from: vs + r * values.rowLength, count: width)
        }
    }

    public func attention(queries: Tensor, cache: KVCache, layer: Int, batch: AttentionBatch,
                          heads: Int, kvHeads: Int, headDim: Int, scale: Float, into out: Tensor) {
        let width = cache.keys[layer].rowLength
        let kc = UnsafePointer(cache.keys[layer].data.assumingMemoryBound(to: Float.self))
        let vc = UnsafePointer(cache.values[layer].data.assumingMemoryBound(to: Float.self))
        let q = UnsafePointer(queries.data.assumingMemoryBound(to: Float.self))
        let o = out.data.assumingMemoryBound(to: Float.self)
        let group = heads / kvHeads
        var longest = 0
        for row in batch.rows { longest = max(longest, Int(row.contextEnd - row.contextStart)) }
        // One item = one token row and one KV head with its `group` query heads (keys and values read once).
        // With few rows (decode) that is too few items to keep the threads busy: then one item per query
        // head (per head the kernel's arithmetic is the same either way).
        let split = batch.rows.count * kvHeads < threads * 4 ? group : 1
        let sub = group / split
        let items = batch.rows.count * kvHeads * split
        let scratch = attentionScratch(workers: threads, length: longest * group)
        let simd: Int32 = useSIMD ? 1 : 0
        // Tasks of several items each: enough tasks to balance the threads, few enough to cost nothing.
        let perTask = max(1, items / (threads * 8))
        let tasks = (items + perTask - 1) / perTask
        batch.rows.withUnsafeBufferPointer { rows in
            batch.sequenceSlotOffsets.withUnsafeBufferPointer { offsets in
                batch.slots.withUnsafeBufferPointer { slots in
                    parallel(tasks) { task, worker in
                        for item in (task * perTask)..<min(items, (task + 1) * perTask) {
                            let r = item / (kvHeads * split), kvh = item % (kvHeads * split) / split, part = item % split
                            let row = rows[r]
                            let list = slots.baseAddress! + offsets[Int(row.sequence)] + Int(row.contextStart)
                            let kvOffset = kvh * headDim, qOffset = (kvh * group + part * sub) * headDim
                            herd_attention_group(q + r * queries.rowLength + qOffset, kc + kvOffset, vc + kvOffset, width,
                                                 list, Int64(row.contextEnd - row.contextStart), Int64(headDim),
                                                 Int64(sub), scale, scratch[worker], o + r * out.rowLength + qOffset, simd)
                        }
                    }
                }
            }
        }
    }

    public func swiglu(gate: Tensor, up: Tensor, rows: Int, into out: Tensor) {
        let n = gate.rowLength
        let g = gate.data.assumingMemoryBound(to: Float.self), u = up.data.assumingMemoryBound(to: Float.self)
        let o = out.data.assumingMemoryBound(to: Float.self)
        for r in 0..<rows { herd_swiglu(g + r * n, u + r * up.rowLength, o + r * out.rowLength, Int64(n)) }
    }

    public func add(_ y: Tensor, _ x: Tensor, rows: Int) {
        let n = y.rowLength
        herd_add(y.data.assumingMemoryBound(to: Float.self), x.data.assumingMemoryBound(to: Float.self), Int64(rows * n))
    }

    public func gatherRows(_ x: Tensor, indices: [Int], into out: Tensor) {
        let src = x.data.assumingMemoryBound(to: Float.self), dst = out.data.assumingMemoryBound(to: Float.self)
        for (i, r) in indices.enumerated() { (dst + i * out.rowLength).update(from: src + r * x.rowLength, count: x.rowLength) }
    }

    public func read(_ x: Tensor, rows: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: x.data.assumingMemoryBound(to: Float.self), count: rows * x.rowLength))
    }

    // MARK: helpers

    /// The worker pool, started on first use (a backend that never runs an op starts no threads).
    private func workerPool() -> OpaquePointer? {
        if threads == 1 { return nil }
        if pool == nil { pool = herd_pool_create(Int32(threads)) }
        return pool
    }

    /// Runs `body(task, worker)` for task in 0..<count on the pool; worker in 0..<threads names the thread
    /// (for per-thread scratch). Inline when there is one thread or task.
    private func parallel(_ count: Int, _ body: (Int, Int) -> Void) {
        if count <= 1 || threads == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        // herd_pool_run returns only when every task has run, so `body` never escapes.
        withoutActuallyEscaping(body) { body in
            var body = body
            withUnsafeMutablePointer(to: &body) { context in
                herd_pool_run(workerPool(), Int32(count), { context, task, worker in
                    context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(task), Int(worker))
                }, context)
            }
        }
    }

    /// Scratch for quantized activations (64-byte aligned), grown on demand and reused.
    private func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > q8ScratchBytes {
            q8Scratch?.deallocate()
            q8Scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            q8ScratchBytes = bytes
        }
        return q8Scratch!
    }

    private func attentionScratch(workers: Int, length: Int) -> [UnsafeMutablePointer<Float>] {
        if attnScratch.count < workers || attnScratchLength < length {
            attnScratch.forEach { $0.deallocate() }
            attnScratchLength = max(length, attnScratchLength, 1024)
            attnScratch = (0..<max(workers, threads)).map { _ in .allocate(capacity: attnScratchLength) }
        }
        return attnScratch
    }
}
