import CHerdKernels
import Compute
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

public enum CPUBackendError: Error, CustomStringConvertible {
    case unsupportedWeight(name: String, dtype: DType)
    case badShape(name: String, shape: [Int])
    public var description: String {
        switch self {
        case .unsupportedWeight(let name, let dtype):
            "tensor \"\(name)\": the CPU backend cannot multiply \(dtype) weights (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)"
        case .badShape(let name, let shape):
            "tensor \"\(name)\": row length of shape \(shape) is not a multiple of 32"
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
public final class CPUBackend: ComputeBackend, @unchecked Sendable {
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

    public init(threads: Int? = nil, exactActivations: Bool = false, useSIMD: Bool = true) {
        self.exactActivations = exactActivations
        self.useSIMD = useSIMD
        let available = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        self.threads = max(1, threads ?? available)
    }

    deinit {
        q8Scratch?.deallocate()
        attnScratch.forEach { $0.deallocate() }
    }

    public var description: String {
        "cpu (\(useSIMD ? String(cString: herd_kernels_isa()) : "scalar")\(exactActivations ? ", exact activations" : ""), \(threads) threads)"
    }

    public func weight(_ host: HostTensor) throws -> Tensor {
        let is1D = host.shape.count == 1
        if !is1D {
            guard herd_wtype_supported(Int32(host.dtype.rawValue)) != 0 else {
                throw CPUBackendError.unsupportedWeight(name: host.name, dtype: host.dtype)
            }
            if host.dtype.isQuantized, (host.shape.last ?? 0) % 32 != 0 {
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
        let k = weight.rowLength, n = weight.rowCount
        precondition(x.rowLength >= k && out.rowLength >= n, "matmul shapes: x \(x.shape), w \(weight.shape), out \(out.shape)")
        let wtype = Int32(weight.dtype.rawValue)
        let rowBytes = herd_row_bytes(wtype, Int64(k))
        let xf = UnsafePointer(x.data.assumingMemoryBound(to: Float.self))
        var xq: UnsafePointer<herd_block_q8>? = nil
        if weight.dtype.isQuantized && !exactActivations {
            let blocks = k / 32
            let q = scratchQ8(blocks: rows * blocks)
            parallel(rows) { r in herd_quantize_row_q8(xf + r * x.rowLength, q + r * blocks, Int64(k)) }
            xq = UnsafePointer(q)
        }
        let y = out.data.assumingMemoryBound(to: Float.self)
        let ldx = Int64(x.rowLength), ldy = Int64(out.rowLength)
        // Split output features across threads in chunks (multiples of 4 rows keep cache lines apart).
        let chunks = threads == 1 ? 1 : threads * 4
        let per = (n + chunks - 1) / chunks
        parallel(chunks) { c in
            let begin = c * per, end = min(n, begin + per)
            guard begin < end else { return }
            herd_matmul_rows(wtype, weight.data, rowBytes, Int64(k), xq, xf, ldx, Int64(rows), y, ldy, Int64(begin), Int64(end), useSIMD ? 1 : 0)
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
        let longest = batch.rows.map { Int($0.contextEnd - $0.contextStart) }.max() ?? 0
        let workers = min(threads, max(1, batch.rows.count * heads))
        let scratch = attentionScratch(workers: workers, length: longest)
        let items = batch.rows.count * heads
        batch.slots.withUnsafeBufferPointer { slots in
            parallel(workers) { w in
                var item = w
                while item < items {
                    let r = item / heads, h = item % heads
                    let row = batch.rows[r]
                    let list = slots.baseAddress! + batch.sequenceSlotOffsets[Int(row.sequence)] + Int(row.contextStart)
                    let kvOffset = (h / group) * headDim
                    herd_attention_head(q + r * queries.rowLength + h * headDim, kc + kvOffset, vc + kvOffset, width,
                                        list, Int64(row.contextEnd - row.contextStart), Int64(headDim), scale,
                                        scratch[w], o + r * out.rowLength + h * headDim, useSIMD ? 1 : 0)
                    item += workers
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

    /// Runs `body(i)` for i in 0..<count across the worker threads (inline when there is one thread or item).
    private func parallel(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads == 1 {
            for i in 0..<count { body(i) }
        } else {
            // concurrentPerform returns only when every iteration has run, so `body` never escapes.
            withoutActuallyEscaping(body) { body in
                let unchecked = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: count) { unchecked.value($0) }
            }
        }
    }

    private func scratchQ8(blocks: Int) -> UnsafeMutablePointer<herd_block_q8> {
        let bytes = blocks * MemoryLayout<herd_block_q8>.stride
        if bytes > q8ScratchBytes {
            q8Scratch?.deallocate()
            q8Scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            q8ScratchBytes = bytes
        }
        return q8Scratch!.bindMemory(to: herd_block_q8.self, capacity: blocks)
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

/// Carries a non-Sendable closure into `concurrentPerform`, whose iterations touch disjoint memory.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
