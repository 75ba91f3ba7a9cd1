import CHerdGPU
import CHerdKernels
import Compute
import Foundation

/// The CUDA backend: libcuda (driver API) and NVRTC loaded at run time, the shared kernel tree compiled for
/// the GPU present (cached on disk), weights uploaded to device memory, every op a kernel launch on the
/// default stream.
///
/// Weights: F32, F16 and BF16 are uploaded as they are; GGUF block-quantized types (Q4_0, Q4_1, Q8_0) are
/// dequantized on the host and uploaded as F16 (quantized GPU kernels are the speed issue's work).
///
/// `@unchecked Sendable`: the context is current on the engine thread that issues every op; the scratch
/// arena is used inside one op at a time.
public final class CUDABackend: ComputeBackend, @unchecked Sendable {
    var cu = herd_cuda_api()
    var nvrtc = herd_nvrtc_api()
    let device: herd_CUdevice
    public let deviceName: String
    public let computeCapability: (major: Int, minor: Int)
    public let totalMemory: Int
    private var functions: [String: herd_CUfunction] = [:]
    private var context: herd_CUcontext?
    /// The thread whose current context is ours; the engine may drive the backend from its own thread.
    private var contextThread: pthread_t?
    private var scratch: herd_CUdeviceptr = 0
    private var scratchBytes = 0

    public init(ordinal: Int = 0) throws(GPUError) {
        let libcuda = try SharedLibrary.open(["libcuda.so.1", "libcuda.so"], purpose: "CUDA driver (libcuda)")
        func sym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T { try libcuda.symbol(n, as: t) }
        cu.cuInit = try sym("cuInit", type(of: cu.cuInit))
        cu.cuDriverGetVersion = try sym("cuDriverGetVersion", type(of: cu.cuDriverGetVersion))
        cu.cuDeviceGetCount = try sym("cuDeviceGetCount", type(of: cu.cuDeviceGetCount))
        cu.cuDeviceGet = try sym("cuDeviceGet", type(of: cu.cuDeviceGet))
        cu.cuDeviceGetName = try sym("cuDeviceGetName", type(of: cu.cuDeviceGetName))
        cu.cuDeviceGetAttribute = try sym("cuDeviceGetAttribute", type(of: cu.cuDeviceGetAttribute))
        cu.cuDevicePrimaryCtxRetain = try sym("cuDevicePrimaryCtxRetain", type(of: cu.cuDevicePrimaryCtxRetain))
        cu.cuCtxSetCurrent = try sym("cuCtxSetCurrent", type(of: cu.cuCtxSetCurrent))
        cu.cuCtxSynchronize = try sym("cuCtxSynchronize", type(of: cu.cuCtxSynchronize))
        cu.cuMemGetInfo = try sym("cuMemGetInfo_v2", type(of: cu.cuMemGetInfo))
        cu.cuMemAlloc = try sym("cuMemAlloc_v2", type(of: cu.cuMemAlloc))
        cu.cuMemFree = try sym("cuMemFree_v2", type(of: cu.cuMemFree))
        cu.cuMemcpyHtoD = try sym("cuMemcpyHtoD_v2", type(of: cu.cuMemcpyHtoD))
        cu.cuMemcpyDtoH = try sym("cuMemcpyDtoH_v2", type(of: cu.cuMemcpyDtoH))
        cu.cuMemcpyDtoD = try sym("cuMemcpyDtoD_v2", type(of: cu.cuMemcpyDtoD))
        cu.cuMemsetD8 = try sym("cuMemsetD8_v2", type(of: cu.cuMemsetD8))
        cu.cuModuleLoadData = try sym("cuModuleLoadData", type(of: cu.cuModuleLoadData))
        cu.cuModuleGetFunction = try sym("cuModuleGetFunction", type(of: cu.cuModuleGetFunction))
        cu.cuLaunchKernel = try sym("cuLaunchKernel", type(of: cu.cuLaunchKernel))
        cu.cuGetErrorString = try sym("cuGetErrorString", type(of: cu.cuGetErrorString))

        var status = cu.cuInit(0)
        if status != 0 { throw GPUError("cuInit failed: \(Self.errorText(cu, status)) (no NVIDIA GPU or driver?)") }
        var count: Int32 = 0
        _ = cu.cuDeviceGetCount(&count)
        guard count > ordinal else { throw GPUError("CUDA: no device \(ordinal) (\(count) present)") }
        var dev: herd_CUdevice = 0
        status = cu.cuDeviceGet(&dev, Int32(ordinal))
        if status != 0 { throw GPUError("cuDeviceGet: \(Self.errorText(cu, status))") }
        device = dev
        var name = [CChar](repeating: 0, count: 256)
        _ = cu.cuDeviceGetName(&name, 256, dev)
        deviceName = String(cString: name)
        var major: Int32 = 0, minor: Int32 = 0
        _ = cu.cuDeviceGetAttribute(&major, HERD_CU_ATTR_CC_MAJOR, dev)
        _ = cu.cuDeviceGetAttribute(&minor, HERD_CU_ATTR_CC_MINOR, dev)
        computeCapability = (Int(major), Int(minor))
        var context: herd_CUcontext?
        status = cu.cuDevicePrimaryCtxRetain(&context, dev)
        if status != 0 { throw GPUError("cuDevicePrimaryCtxRetain: \(Self.errorText(cu, status))") }
        _ = cu.cuCtxSetCurrent(context)
        self.context = context
        contextThread = pthread_self()
        var free = 0, total = 0
        _ = cu.cuMemGetInfo(&free, &total)
        totalMemory = total

        let libnvrtc = try SharedLibrary.open(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], purpose: "NVRTC (libnvrtc)")
        func nsym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T { try libnvrtc.symbol(n, as: t) }
        nvrtc.nvrtcVersion = try nsym("nvrtcVersion", type(of: nvrtc.nvrtcVersion))
        nvrtc.nvrtcCreateProgram = try nsym("nvrtcCreateProgram", type(of: nvrtc.nvrtcCreateProgram))
        nvrtc.nvrtcCompileProgram = try nsym("nvrtcCompileProgram", type(of: nvrtc.nvrtcCompileProgram))
        nvrtc.nvrtcGetProgramLogSize = try nsym("nvrtcGetProgramLogSize", type(of: nvrtc.nvrtcGetProgramLogSize))
        nvrtc.nvrtcGetProgramLog = try nsym("nvrtcGetProgramLog", type(of: nvrtc.nvrtcGetProgramLog))
        nvrtc.nvrtcGetCUBINSize = try nsym("nvrtcGetCUBINSize", type(of: nvrtc.nvrtcGetCUBINSize))
        nvrtc.nvrtcGetCUBIN = try nsym("nvrtcGetCUBIN", type(of: nvrtc.nvrtcGetCUBIN))
        nvrtc.nvrtcDestroyProgram = try nsym("nvrtcDestroyProgram", type(of: nvrtc.nvrtcDestroyProgram))
        nvrtc.nvrtcGetErrorString = try nsym("nvrtcGetErrorString", type(of: nvrtc.nvrtcGetErrorString))
        try loadKernels()
    }

    public var description: String {
        "cuda (\(deviceName), sm_\(computeCapability.major)\(computeCapability.minor), \(totalMemory >> 30) GiB)"
    }

    static func errorText(_ api: herd_cuda_api, _ status: herd_CUresult) -> String {
        var text: UnsafePointer<CChar>?
        _ = api.cuGetErrorString(status, &text)
        return text.map { String(cString: $0) } ?? "CUDA error \(status)"
    }

    func check(_ status: herd_CUresult, _ what: @autoclosure () -> String) {
        // A failing launch or copy mid-step is a bug or a lost device: stop with the reason.
        precondition(status == 0, "CUDA \(what()) failed: \(Self.errorText(cu, status))")
    }

    // MARK: kernels

    static let kernelNames = [
        "herd_embed_f32", "herd_rms_norm", "herd_matmul_f32", "herd_matmul_f16", "herd_matmul_bf16", "herd_rope",
        "herd_store_kv", "herd_attention", "herd_swiglu", "herd_add", "herd_gather_rows", "herd_scatter_add_rows",
        "herd_scale_rows",
    ]

    /// Compiles the kernel tree with NVRTC for this GPU, or loads the cubin cached on disk under a key of
    /// source hash, compiler version and architecture. A compile failure carries the full log.
    private func loadKernels() throws(GPUError) {
        var source = String(cString: herd_gpu_kernels_source())
        var header = String(cString: herd_gpu_vendor_header())
        // Kernel developers can point HERD_GPU_KERNELS_DIR at an edited tree instead of the embedded one.
        if let dir = ProcessInfo.processInfo.environment["HERD_GPU_KERNELS_DIR"] {
            guard let s = try? String(contentsOfFile: dir + "/herd_kernels.cu", encoding: .utf8),
                  let h = try? String(contentsOfFile: dir + "/vendor.h", encoding: .utf8)
            else { throw GPUError("HERD_GPU_KERNELS_DIR=\(dir): herd_kernels.cu or vendor.h cannot be read") }
            source = s
            header = h
        }
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtc.nvrtcVersion(&major, &minor)
        let arch = "sm_\(computeCapability.major)\(computeCapability.minor)"
        let key = "\(fnv1a(source + header))-nvrtc\(major).\(minor)-\(arch)"
        let cacheDir = (ProcessInfo.processInfo.environment["HERD_CACHE"] ?? NSHomeDirectory() + "/.cache/herd") + "/kernels"
        let cachePath = cacheDir + "/herd-\(key).cubin"
        var cubin: [UInt8]
        if let cached = FileManager.default.contents(atPath: cachePath), !cached.isEmpty {
            cubin = [UInt8](cached)
        } else {
            var program: herd_nvrtcProgram?
            let created = source.withCString { src in
                header.withCString { hdr in
                    "vendor.h".withCString { inc in
                        var headers: [UnsafePointer<CChar>?] = [hdr]
                        var names: [UnsafePointer<CChar>?] = [inc]
                        return nvrtc.nvrtcCreateProgram(&program, src, "herd_kernels.cu", 1, &headers, &names)
                    }
                }
            }
            guard created == 0, let program else { throw GPUError("nvrtcCreateProgram failed (\(created))") }
            let options = ["--gpu-architecture=\(arch)", "-std=c++17"]
            let compiled = withCStrings(options) { nvrtc.nvrtcCompileProgram(program, Int32(options.count), $0) }
            var logSize = 0
            _ = nvrtc.nvrtcGetProgramLogSize(program, &logSize)
            var log = [CChar](repeating: 0, count: max(logSize, 1))
            _ = nvrtc.nvrtcGetProgramLog(program, &log)
            guard compiled == 0 else {
                var p: herd_nvrtcProgram? = program
                _ = nvrtc.nvrtcDestroyProgram(&p)
                throw GPUError("NVRTC could not compile the kernel tree for \(arch):\n\(String(cString: log))")
            }
            var size = 0
            _ = nvrtc.nvrtcGetCUBINSize(program, &size)
            var bytes = [CChar](repeating: 0, count: size)
            _ = nvrtc.nvrtcGetCUBIN(program, &bytes)
            var p: herd_nvrtcProgram? = program
            _ = nvrtc.nvrtcDestroyProgram(&p)
            cubin = bytes.map { UInt8(bitPattern: $0) }
            try? FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: cachePath, contents: Data(cubin))
        }
        var module: herd_CUmodule?
        let loaded = cubin.withUnsafeBytes { cu.cuModuleLoadData(&module, $0.baseAddress) }
        guard loaded == 0 else { throw GPUError("cuModuleLoadData: \(Self.errorText(cu, loaded))") }
        for name in Self.kernelNames {
            var f: herd_CUfunction?
            let status = cu.cuModuleGetFunction(&f, module, name)
            guard status == 0, let f else { throw GPUError("kernel \(name) missing from the module: \(Self.errorText(cu, status))") }
            functions[name] = f
        }
    }

    enum Arg {
        case ptr(UnsafeMutableRawPointer?)
        case i32(Int)
        case f32(Float)
    }

    /// CUDA contexts are current per thread: make ours current on whichever thread calls now.
    func ensureContext() {
        let me = pthread_self()
        if let t = contextThread, pthread_equal(t, me) != 0 { return }
        check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        contextThread = me
    }

    func launch(_ name: String, grid: (Int, Int), block: Int, _ args: [Arg]) {
        ensureContext()
        let storage = UnsafeMutableRawPointer.allocate(byteCount: args.count * 8, alignment: 8)
        defer { storage.deallocate() }
        var params: [UnsafeMutableRawPointer?] = []
        for (i, a) in args.enumerated() {
            let slot = storage + i * 8
            switch a {
            case .ptr(let p): slot.storeBytes(of: UInt64(UInt(bitPattern: p)), as: UInt64.self)
            case .i32(let v): slot.storeBytes(of: Int32(v), as: Int32.self)
            case .f32(let v): slot.storeBytes(of: v, as: Float.self)
            }
            params.append(slot)
        }
        guard grid.0 > 0 && grid.1 > 0 else { return }
        let status = params.withUnsafeMutableBufferPointer {
            herd_cuda_launch(&cu, functions[name]!, UInt32(grid.0), UInt32(grid.1), UInt32(block), $0.baseAddress)
        }
        check(status, "launch of \(name)")
    }

    // MARK: memory

    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        ensureContext()
        var p: herd_CUdeviceptr = 0
        check(cu.cuMemAlloc(&p, max(bytes, 256)), "cuMemAlloc(\(bytes))")
        check(cu.cuMemsetD8(p, 0, max(bytes, 256)), "cuMemsetD8")
        return UnsafeMutableRawPointer(bitPattern: UInt(p))!
    }

    func upload(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let p = allocate(bytes.count)
        check(cu.cuMemcpyHtoD(herd_CUdeviceptr(UInt(bitPattern: p)), bytes.baseAddress, bytes.count), "cuMemcpyHtoD")
        return p
    }

    /// Copies small host arrays (token ids, positions, slots) into a reused device scratch buffer; returns
    /// their device addresses. The copy is synchronous, so the next op may overwrite the scratch.
    func stage(_ arrays: [[Int32]]) -> [UnsafeMutableRawPointer] {
        ensureContext()
        let total = arrays.reduce(0) { $0 + ($1.count + 64) * 4 }
        if total > scratchBytes {
            if scratch != 0 { _ = cu.cuMemFree(scratch) }
            scratchBytes = max(total, scratchBytes * 2, 1 << 20)
            check(cu.cuMemAlloc(&scratch, scratchBytes), "cuMemAlloc(scratch)")
        }
        var offset = 0
        var out: [UnsafeMutableRawPointer] = []
        for a in arrays {
            let dst = scratch + UInt64(offset)
            if !a.isEmpty { a.withUnsafeBytes { _ = cu.cuMemcpyHtoD(dst, $0.baseAddress, $0.count) } }
            out.append(UnsafeMutableRawPointer(bitPattern: UInt(dst))!)
            offset += (a.count + 64) * 4
        }
        return out
    }

    func stageFloats(_ values: [Float]) -> UnsafeMutableRawPointer {
        stage([values.map { Int32(bitPattern: $0.bitPattern) }])[0]
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

func fnv1a(_ s: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return String(h, radix: 16)
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    let pointers = duplicated.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
