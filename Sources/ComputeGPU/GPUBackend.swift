import Compute
import Foundation

/// The GPU backend, one class for every vendor: the shared kernel tree compiled at run time for the GPU
/// present (cached on disk), weights uploaded to device memory, every op a kernel launch on the driver's
/// stream (decode steps may be replayed as graphs: GPUBackend+Graphs.swift). The vendor runtime sits behind
/// `GPUDriver`: `CUDADriver` (libcuda + NVRTC) or `HIPDriver` (libamdhip64 + hiprtc), both loaded at run time.
///
/// Weights: F32, F16 and BF16 are uploaded as they are; GGUF block-quantized types (Q4_0, Q4_1, Q8_0) are
/// dequantized on the host and uploaded as F16 (quantized GPU kernels are the speed issue's work).
/// The ops are in GPUBackend+Ops.swift.
///
/// `@unchecked Sendable`: the driver's device or context is made current on whichever thread issues an op
/// (the engine drives the backend from its own thread, one op at a time); the scratch arena is used inside
/// one op at a time.
public final class GPUBackend: ComputeBackend, @unchecked Sendable {
    public let driver: any GPUDriver
    /// Total device memory in bytes, read once at start.
    public let totalMemory: Int
    private var functions: [String: OpaquePointer] = [:]
    /// The thread on which the driver's device/context was last made current.
    private var currentThread: pthread_t?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    /// The pinned host side of the staging ring, and the next free byte of both rings.
    private var pinned: UnsafeMutableRawPointer?
    private var stagingOffset = 0
    /// The fused MoE path's buffers (GPUBackend+MoE.swift).
    var moeBuffers: MoEWorkspace?
    /// The tensor-core decode path's buffers (GPUBackend+MMA.swift), and a second set for ops running beside
    /// them on the second stream (`branch`).
    lazy var mmaBuffers = MMAWorkspace(empty: zeros([1]))
    lazy var sideMMABuffers = MMAWorkspace(empty: zeros([1]))
    /// While products of one input run one after another (`fusedMatmuls`), the split that input's BF16
    /// terms are in, so the next product skips splitting it again (GPUBackend+MMA.swift, `splitTerms`).
    var sharedSplit: SplitKey?
    var sharesSplits = false
    /// Split-context attention's per-partition softmax states, grown to the largest step seen
    /// (GPUBackend+Attention.swift).
    var attentionPartials: Tensor?
    /// Split long contexts of decode-sized steps over more blocks (GPUBackend+Attention.swift), aiming at
    /// `attentionBlocksPerUnit` blocks per multiprocessor. HERD_ATTENTION_SPLIT=0 turns it off (for
    /// comparisons), HERD_ATTENTION_SPLIT=N sets the blocks per multiprocessor.
    public var splitAttention = ProcessInfo.processInfo.environment["HERD_ATTENTION_SPLIT"] != "0"
    public var attentionBlocksPerUnit = GPUBackend.attentionSplitOverride ?? GPUBackend.defaultAttentionBlocksPerUnit
    /// The grouped decode kernel's aim (GPUBackend+AttentionGQA.swift); HERD_ATTENTION_SPLIT=N sets both.
    public var decodeBlocksPerUnit = GPUBackend.attentionSplitOverride ?? GPUBackend.defaultDecodeBlocksPerUnit
    private static let attentionSplitOverride = ProcessInfo.processInfo.environment["HERD_ATTENTION_SPLIT"].flatMap { Int($0) }
        .flatMap { $0 > 0 ? $0 : nil }
    /// Load FP8 checkpoint weights as the CPU backend does (BF16 of value x scale) instead of keeping FP8:
    /// for exact comparisons of the two engines on FP8 models.
    public var fp8AsBF16 = false
    /// How activations enter the tensor-core products of BF16/FP8 weights (NVIDIA sm_80+; GPUBackend+MMA.swift).
    public var tensorCoreActivations = TensorCoreActivations.f32
    /// Blocks (tiles x KV heads) below which attention leaves the tiled grouped-query kernel for the
    /// per-(row, head) ones, which fill the GPU better on small steps (GPUBackend+AttentionGQA.swift).
    public var gqaAttentionMinimumBlocks = 256
    /// Decode rows of grouped-query steps through herd_attention_gqa_decode* (contexts split over partitions
    /// on small steps); HERD_GQA_SPLIT=0 keeps them on the tile kernel (for comparisons).
    public var gqaDecodeKernel = ProcessInfo.processInfo.environment["HERD_GQA_SPLIT"] != "0"
    /// Shortest context partition of the grouped decode kernel (GPUBackend+AttentionGQA.swift): 64 keys
    /// (one 16-key chunk per warp) measured best at one request (H100: 4.50 -> 4.35 ms per step against 128,
    /// 4.70 at 256); HERD_DECODE_PARTITION=N (a multiple of 64) for comparisons.
    public var decodePartitionKeys = ProcessInfo.processInfo.environment["HERD_DECODE_PARTITION"].flatMap { Int($0) }
        .flatMap { $0 >= 64 && $0 % 64 == 0 ? $0 : nil } ?? 64
    /// Prefill tiles of grouped-query steps on the tensor cores (herd_attention_gqa_mma, NVIDIA sm_80+);
    /// HERD_TC_ATTENTION=0 keeps the CUDA-core tiles.
    public var tensorCoreAttention = ProcessInfo.processInfo.environment["HERD_TC_ATTENTION"] != "0"
    /// The tensor-core prefill tiles through herd_attention_gqa_mma2 / _mma2_tf32 (K and V split once per block
    /// into fragment-ordered shared tiles, 16-key steps, the next step's gather in flight; H100: prefill 2048
    /// 81.3 -> 75.0 ms) instead of herd_attention_gqa_mma; HERD_TC_ATTENTION_V2=0 runs the first version
    /// (kept as the comparison baseline and checked beside it).
    public var tensorCoreAttentionV2 = ProcessInfo.processInfo.environment["HERD_TC_ATTENTION_V2"] != "0"
    /// cuBLASLt for large BF16 products (GPUBackend+MMA.swift), when the library loads; why not otherwise.
    var blas: CUBLASLt?
    /// false runs Herd's own kernels where cuBLASLt would (checks compare both).
    public var useVendorBLAS = true
    /// Decode-sized BF16/FP8 products (dense `skinnyDenseRows(for:)`, expert groups of decode steps) on the
    /// tensor cores through herd_skinny_* (GPUBackend+MMA.swift); HERD_SKINNY=0 keeps the CUDA-core GEMV
    /// and the split-k path instead (for comparisons).
    public var useSkinnyMMA = ProcessInfo.processInfo.environment["HERD_SKINNY"] != "0"
    /// The MoE layers' shared expert runs beside the routing and the routed experts where `branchable`: one-row
    /// steps, and FP8 decode steps (`branchesFP8Decode`). HERD_BRANCHES=0 runs them one after the other (for
    /// comparisons); HERD_BRANCHES=1 branches one-row steps only.
    public var concurrentBranches = ProcessInfo.processInfo.environment["HERD_BRANCHES"] != "0"
    /// Branch FP8 decode steps above one row too, the side on its own tensor-core scratch: its arithmetic-bound
    /// dense products run beside the memory-bound routed experts (H100, FP8 decode-64: 11.52-11.58 -> 11.06-11.27
    /// ms with BF16 activations, 17.52-17.60 -> 16.15-16.24 exact; every graph replayed).
    public var branchesFP8Decode = ProcessInfo.processInfo.environment["HERD_BRANCHES"] != "1"
    /// A branch is queued and not yet joined.
    var branchPending = false
    /// Threads per block of the decode GEMVs (herd_gemv_*, herd_moe_gemv_*): 128 spreads a product of a few
    /// hundred blocks more evenly over the multiprocessors than 256 (an o projection was 160 blocks on 132;
    /// H200, one request: FP8 2.30/2.37 -> 2.17/2.28 ms, BF16 2.51/2.61 -> 2.49/2.58; 64 no better).
    /// HERD_GEMV_THREADS overrides.
    public var gemvBlockThreads: Int = {
        // A power of two from 32 to 256, so a block always holds whole groups of warps (gemvParts).
        guard let asked = ProcessInfo.processInfo.environment["HERD_GEMV_THREADS"].flatMap({ Int($0) }) else { return 128 }
        return [256, 128, 64, 32].first { $0 <= asked } ?? 32
    }()
    /// Slots per expert (on average) from which routed experts take herd_moe_skinny_* (GPUBackend+MoE.swift);
    /// HERD_SKINNY_EXPERT_SLOTS=N for comparisons.
    public var skinnyExpertSlots = ProcessInfo.processInfo.environment["HERD_SKINNY_EXPERT_SLOTS"].flatMap { Int($0) } ?? 2
    /// Row counts of dense products that take herd_skinny_*, for both weight types, instead of the measured
    /// defaults (`skinnyDenseRows(for:)`, GPUBackend+MMA.swift); HERD_SKINNY_DENSE=LO-HI sets it.
    public var skinnyDenseRowsOverride: ClosedRange<Int>? = {
        let parts = (ProcessInfo.processInfo.environment["HERD_SKINNY_DENSE"] ?? "").split(separator: "-").compactMap { Int($0) }
        return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : nil
    }()
    public var hasVendorBLAS: Bool { blas != nil }
    public private(set) var blasUnavailable: String?
    /// When set, every launch is timed on its own (GPUBackend+Profile.swift); nil in normal runs.
    public var profile: KernelProfile?
    /// Small decode products on two warps per group of output rows (`gemvParts`); HERD_GEMV_SPLIT=0 keeps one.
    public var gemvSplit = ProcessInfo.processInfo.environment["HERD_GEMV_SPLIT"] != "0"
    /// Rows up to which the norm kernels run 1024 threads per row (`normThreads`); HERD_NORM_WIDE_ROWS=N
    /// for comparisons.
    public var wideNormRows = ProcessInfo.processInfo.environment["HERD_NORM_WIDE_ROWS"].flatMap { Int($0) } ?? 8
    /// Decode steps captured into graphs and replayed (GPUBackend+Graphs.swift); HERD_GRAPHS=0 runs every
    /// step eagerly (for comparisons).
    public var useStepGraphs = ProcessInfo.processInfo.environment["HERD_GRAPHS"] != "0"
    /// Eager, capturing or replaying (GPUBackend+Graphs.swift).
    var graphMode = GraphMode.eager
    var stepGraphs = StepGraphs()
    public internal(set) var graphStats = GraphStats()
    /// Bytes and arrays staged since start (a step's share sizes its graph's staging area).
    var stagedBytes = 0, stagedArrays = 0
    /// The last array `stageShared` staged and where: a step's slot list, the same for each of its layers,
    /// goes up once. Holding the array keeps its storage alive, so equal storage means equal contents.
    var sharedStaging: (array: [Int32], pointer: UnsafeMutableRawPointer)?

    /// Every kernel the ops launch, looked up once at start so that a missing one fails there.
    /// Adding a kernel: write it in a part of the kernel tree (`HERD_KERNEL`; parts listed in
    /// Sources/CHerdGPU/gpu.c), add its name to that part's list, and launch it from an op with
    /// `launch(name, grid:, block:, [arguments in order])`.
    static func kernelNames(vendor: String) -> [String] {
        coreKernelNames + attentionKernelNames + gqaAttentionKernelNames + samplingKernelNames
            + (vendor == "cuda" ? mmaKernelNames + gqaTensorCoreKernelNames : [])
    }

    /// herd_kernels.cu
    static let coreKernelNames = [
        "herd_embed_f32", "herd_rms_norm", "herd_add_rms_norm", "herd_add_rms_norm_1024", "herd_gemm_f32", "herd_gemm_f16",
        "herd_gemm_bf16", "herd_gemm_fp8", "herd_rope", "herd_store_kv", "herd_qkv_prepare", "herd_swiglu", "herd_add", "herd_gather_rows",
        "herd_scatter_add_rows",
        "herd_scale_rows", "herd_gemv_bf16", "herd_gemv_f16", "herd_gemv_fp8", "herd_gemv3_bf16", "herd_gemv3_fp8",
        "herd_gemv_fp8_1", "herd_gemv3_fp8_1", "herd_moe_gemv_fp8_1", "herd_embed_16",
        "herd_synthetic_fill", "herd_moe_route", "herd_moe_gather", "herd_moe_gemm_bf16", "herd_moe_gemm_f16", "herd_moe_gemm_f32",
        "herd_moe_gemm_fp8", "herd_moe_combine", "herd_moe_gemv_bf16", "herd_moe_gemv_f16", "herd_moe_gemv_fp8",
        "herd_gemv_gated_bf16", "herd_gemv_gated_fp8_1", "herd_moe_gemv_gated_bf16", "herd_moe_gemv_gated_fp8_1",
    ]

    /// A backend on `driver`'s device: compiles (or loads from the cache: `kernelCache`, by default
    /// $HERD_CACHE/kernels) and looks up every kernel.
    public init(driver: any GPUDriver, kernelCache: String? = nil) throws(GPUError) {
        self.driver = driver
        try driver.makeCurrent()
        currentThread = pthread_self()
        totalMemory = try driver.memoryInfo().total
        let module = try driver.loadModule(KernelCache.codeObject(for: driver, directory: kernelCache ?? KernelCache.defaultDirectory))
        for name in Self.kernelNames(vendor: driver.vendor) {
            functions[name] = try driver.function(name, in: module)
        }
        // NVIDIA's BLAS for large BF16 products where it is installed (HERD_VENDOR_BLAS=0: Herd's kernels only).
        if driver.vendor == "cuda" && ProcessInfo.processInfo.environment["HERD_VENDOR_BLAS"] != "0" {
            let bytes = 32 << 20
            if let workspace = try? driver.allocate(bytes) {
                do { blas = try CUBLASLt(workspace: workspace, workspaceBytes: bytes, stream: driver.streamHandle) } catch {
                    driver.free(workspace)
                    blasUnavailable = "\(error)"
                }
            }
        }
    }

    /// NVIDIA GPU `ordinal` through libcuda and NVRTC.
    public static func cuda(ordinal: Int = 0) throws(GPUError) -> GPUBackend {
        try GPUBackend(driver: CUDADriver(ordinal: ordinal))
    }

    /// AMD GPU `ordinal` through libamdhip64 and hiprtc.
    public static func hip(ordinal: Int = 0) throws(GPUError) -> GPUBackend {
        try GPUBackend(driver: HIPDriver(ordinal: ordinal))
    }

    public var description: String {
        // A wavefront of 64 is worth saying; NVIDIA's 32-lane warps are the default reader's assumption.
        let lanes = driver.warpSize == 32 ? "" : ", wavefront \(driver.warpSize)"
        let vendorBLAS = blas.map { ", cuBLASLt \($0.version)" } ?? ""
        return "\(driver.vendor) (\(driver.deviceName), \(driver.architecture)\(lanes), \(totalMemory >> 30) GiB\(vendorBLAS))"
    }

    /// Free and total device memory now, in bytes (the budget the KV cache is sized from).
    public func memoryInfo() throws(GPUError) -> (free: Int, total: Int) {
        makeCurrent()
        return try driver.memoryInfo()
    }

    public var deviceMemory: (free: Int, total: Int)? { try? memoryInfo() }

    /// Runs a driver call that must not fail mid-step: a failing launch or copy there is a bug or a lost
    /// device, so stop with the reason.
    func must<T>(_ call: () throws(GPUError) -> T) -> T {
        do { return try call() } catch { fatalError("\(driver.vendor): \(error)") }
    }

    /// The device (HIP) or context (CUDA) is current per thread: make ours current on whichever thread
    /// calls now.
    func makeCurrent() {
        let me = pthread_self()
        if let t = currentThread, pthread_equal(t, me) != 0 { return }
        must { () throws(GPUError) in try driver.makeCurrent() }
        currentThread = me
    }

    // MARK: launches

    /// One kernel argument; each travels in its own 8-byte slot.
    enum Arg {
        case ptr(UnsafeMutableRawPointer?)
        case i32(Int)
        case f32(Float)
        case u64(UInt64)
    }

    /// Launches kernel `name` on a (grid.0, grid.1) grid of `block` threads; an empty grid launches nothing.
    func launch(_ name: String, grid: (Int, Int), block: Int, _ args: [Arg]) {
        makeCurrent()
        guard grid.0 > 0 && grid.1 > 0 else { return }
        guard let function = functions[name] else { preconditionFailure("kernel \(name) is not in GPUBackend.kernelNames") }
        switch graphMode {
        case .eager: break
        case .capturing(let recorder):
            Self.signature(function: function, grid: grid, block: block, args: args, into: &recorder.signature)
        case .replaying(let check):
            var words: [UInt64] = []
            Self.signature(function: function, grid: grid, block: block, args: args, into: &words)
            check.check(words)
            return
        }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: args.count * 8, alignment: 8)
        defer { storage.deallocate() }
        var params: [UnsafeMutableRawPointer?] = []
        for (i, a) in args.enumerated() {
            let slot = storage + i * 8
            switch a {
            case .ptr(let p): slot.storeBytes(of: UInt64(UInt(bitPattern: p)), as: UInt64.self)
            case .i32(let v): slot.storeBytes(of: Int32(v), as: Int32.self)
            case .f32(let v): slot.storeBytes(of: v, as: Float.self)
            case .u64(let v): slot.storeBytes(of: v, as: UInt64.self)
            }
            params.append(slot)
        }
        let run = {
            params.withUnsafeMutableBufferPointer { buffer in
                do { try self.driver.launch(function, grid: (grid.0, grid.1), block: block, parameters: buffer.baseAddress!) } catch {
                    // A capture that broke (the graph is discarded and the step run eagerly) is not a lost device.
                    if case .capturing(let recorder) = self.graphMode { recorder.spoiled = true; return }
                    fatalError("\(self.driver.vendor): launch of \(name): \(error)")
                }
            }
        }
        if let profile { profiled(name, profile, run) } else { run() }
    }

    // MARK: memory

    /// Zero-filled device memory (at least 256 bytes).
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        makeCurrent()
        let p = must { () throws(GPUError) in try driver.allocate(max(bytes, 256)) }
        let zero = { self.must { () throws(GPUError) in try self.driver.fill(p, byte: 0, bytes: max(bytes, 256)) } }
        // A buffer that appears mid-capture moved the step's addresses: the capture is discarded, and the fill
        // (a copy on the legacy stream, which a capture forbids) waits until it has ended.
        if case .capturing(let recorder) = graphMode {
            recorder.spoiled = true
            recorder.deferred.append(zero)
        } else {
            zero()
        }
        return p
    }

    func upload(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let p = allocate(bytes.count)
        if bytes.count > 0 { copyToDevice(p, from: bytes.baseAddress!, bytes: bytes.count) }
        return p
    }

    func copyToHost(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) {
        makeCurrent()
        // Inside a graph step nothing has run yet: a read there cannot be answered, so the step goes eager
        // (the zeros read here are never used: the step is run again).
        if isInGraphStep {
            graphMode.markUnusable()
            destination.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            return
        }
        let copy = { self.must { () throws(GPUError) in try self.driver.copyToHost(destination, from: source, bytes: bytes) } }
        if let profile { profiled("(copy to host)", profile, copy) } else { copy() }
    }

    func copyToDevice(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) {
        makeCurrent()
        // A synchronous copy cannot join a capture: the capture is discarded and the copy made after it.
        if case .capturing(let recorder) = graphMode {
            let owned = [UInt8](UnsafeRawBufferPointer(start: source, count: bytes))
            recorder.spoiled = true
            recorder.deferred.append { owned.withUnsafeBytes { self.copyToDevice(destination, from: $0.baseAddress!, bytes: bytes) } }
            return
        }
        must { () throws(GPUError) in try driver.copyToDevice(destination, from: source, bytes: bytes) }
    }

    var isInGraphStep: Bool {
        if case .eager = graphMode { return false }
        return true
    }

    /// A tensor over device memory that is freed with the last tensor using it.
    func deviceTensor(_ dtype: DType, _ shape: [Int], _ pointer: UnsafeMutableRawPointer, bytes: Int) -> Tensor {
        let buffer = DeviceBuffer(pointer) { [driver] p in driver.free(p) }
        return Tensor(dtype: dtype, shape: shape, data: pointer, byteCount: bytes, owner: buffer)
    }

    /// Copies small host arrays (token ids, positions, slots) to the device and returns their device
    /// addresses, without stopping the GPU: the arrays go into a ring of pinned host memory and an
    /// asynchronous copy to the matching device ring is queued before the op's launch. A region is reused
    /// only after the ring wraps, and wrapping first waits for the device (rare: the ring holds many steps).
    func stage(_ arrays: [[Int32]]) -> [UnsafeMutableRawPointer] {
        makeCurrent()
        if isInGraphStep { return arrays.map(stageInGraph) }
        let total = arrays.reduce(0) { $0 + ($1.count + 64) * 4 }
        stagedBytes += total
        stagedArrays += arrays.count
        if stagingOffset + total > scratchBytes {
            must { () throws(GPUError) in try driver.synchronize() }
            stagingOffset = 0
            sharedStaging = nil  // its region is about to be reused
            if total > scratchBytes {
                if let old = scratch { driver.free(old) }
                if let old = pinned { driver.freePinned(old) }
                scratchBytes = max(total, scratchBytes * 2, 8 << 20)
                scratch = must { () throws(GPUError) in try driver.allocate(scratchBytes) }
                pinned = must { () throws(GPUError) in try driver.allocatePinned(scratchBytes) }
            }
        }
        var out: [UnsafeMutableRawPointer] = []
        for a in arrays {
            let dst = scratch! + stagingOffset, src = pinned! + stagingOffset
            if !a.isEmpty {
                a.withUnsafeBytes { src.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                must { () throws(GPUError) in try driver.copyToDeviceAsync(dst, from: src, bytes: a.count * 4) }
            }
            out.append(dst)
            stagingOffset += (a.count + 64) * 4
        }
        return out
    }

    func stageFloats(_ values: [Float]) -> UnsafeMutableRawPointer {
        stage([values.map { Int32(bitPattern: $0.bitPattern) }])[0]
    }

    /// `stage` for an array that ops of one step pass again and again (the slot list every layer's
    /// attention reads): staged once while the same array keeps coming.
    func stageShared(_ array: [Int32]) -> UnsafeMutableRawPointer {
        if let last = sharedStaging, last.array.count == array.count,
           last.array.withUnsafeBufferPointer({ a in array.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }) {
            return last.pointer
        }
        let pointer = stage([array])[0]
        sharedStaging = (array, pointer)
        return pointer
    }

    /// A staged array's place inside a graph step: its slot in the graph's staging area, written on the host
    /// side (copied up with the whole area before the graph runs).
    private func stageInGraph(_ array: [Int32]) -> UnsafeMutableRawPointer {
        let slot: GraphSlot?, area: GraphStaging
        switch graphMode {
        case .eager: preconditionFailure("stageInGraph outside a graph step")
        case .capturing(let recorder):
            slot = recorder.slot(count: array.count)
            if slot == nil { recorder.spoiled = true }
            area = recorder.staging
        case .replaying(let check):
            slot = check.nextSlot(count: array.count)
            area = check.graph.staging
        }
        // A step that outgrew its slots gets a harmless address (it is run again eagerly, never this way).
        guard let slot else { return area.device }
        if !array.isEmpty {
            array.withUnsafeBytes { (area.host + slot.offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        return area.device + slot.offset
    }

    /// cuBLASLt's product (`CUBLASLt.matmul`) as part of a step: recorded in a capture's signature,
    /// checked and skipped in a replay. false when cuBLASLt has no algorithm for the shape.
    func blasMatmul(_ blas: CUBLASLt, a: UnsafeRawPointer, w: UnsafeRawPointer, d: UnsafeMutableRawPointer, m: Int, n: Int, k: Int,
                    ldd: Int, accumulate: Bool) -> Bool {
        var words: [UInt64] = [0xB1A5, UInt64(UInt(bitPattern: a)), UInt64(UInt(bitPattern: w)), UInt64(UInt(bitPattern: d)),
                               UInt64(m), UInt64(n), UInt64(k), UInt64(ldd), accumulate ? 1 : 0]
        switch graphMode {
        case .replaying(let check):
            // The capture recorded whether cuBLASLt took the shape (the last word).
            let taken = check.failed || check.word + words.count >= check.graph.signature.count ? 0
                : check.graph.signature[check.word + words.count]
            words.append(taken)
            check.check(words)
            return taken == 1
        case .capturing(let recorder):
            var queued = false
            do { queued = try blas.matmul(a: a, w: w, d: d, m: m, n: n, k: k, ldd: ldd, accumulate: accumulate) } catch {
                recorder.spoiled = true
            }
            words.append(queued ? 1 : 0)
            recorder.signature += words
            return queued
        case .eager:
            return must { () throws(GPUError) in try blas.matmul(a: a, w: w, d: d, m: m, n: n, k: k, ldd: ldd, accumulate: accumulate) }
        }
    }
}

/// Device memory owned by tensors; freed with the last tensor that uses it.
final class DeviceBuffer {
    let pointer: UnsafeMutableRawPointer
    let free: (UnsafeMutableRawPointer) -> Void
    init(_ pointer: UnsafeMutableRawPointer, free: @escaping (UnsafeMutableRawPointer) -> Void) {
        self.pointer = pointer
        self.free = free
    }
    deinit { free(pointer) }
}
