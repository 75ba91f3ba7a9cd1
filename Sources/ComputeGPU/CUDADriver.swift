import CHerdGPU
import Foundation
import SharedLibraries

/// NVIDIA GPUs through the CUDA driver API (libcuda) and NVRTC, both loaded at run time. Function
/// pointers are the versioned `_v2` entry points; the table types are in CHerdGPU.h.
///
/// CUDA contexts are current per thread: `makeCurrent` sets the device's primary context on the caller.
public final class CUDADriver: GPUDriver {
    var cu = herd_cuda_api()
    var nvrtc = herd_nvrtc_api()
    private let context: herd_CUcontext?
    /// The stream launches, asynchronous copies and events go on: the main stream, or the side stream between
    /// `fork` and `endFork` (cuBLASLt keeps the main stream, which it was created on). Both are created (not the legacy default stream) because
    /// only created streams can be captured into graphs, and blocking, so the synchronous copies and fills
    /// (which run on the legacy stream) stay ordered with them.
    public private(set) var stream: herd_CUstream?
    private var mainStream, sideStream: herd_CUstream?
    /// Recorded by `fork` on the main stream and by `join` on the side stream, for the other to wait on.
    private var forkEvent, joinEvent: herd_CUevent?
    /// The streams were created with different priorities (HERD_STREAM_PRIORITY).
    private var usesStreamPriorities = false
    public let vendor = "cuda"
    public let deviceName: String
    public let computeCapability: (major: Int, minor: Int)
    public let architecture: String
    public let warpSize: Int
    public let multiprocessorCount: Int
    public let compilerVersion: String
    public let codeObjectExtension = "cubin"
    /// Hopper's (and Ada's) FP8 is the OCP E4M3FN of the checkpoints.
    public let fp8Encoding = FP8Encoding.e4m3fn
    /// Launches allow programmatic dependent launch (sm_90 and later, cuLaunchKernelEx present): each kernel
    /// may start while the one before it drains, and every kernel of the tree waits for its predecessor
    /// (herd_grid_wait) before it touches what that one wrote; weight streams start before the wait.
    /// HERD_PDL=0 turns it off (for comparisons). Cleared for good if the driver refuses such a launch.
    public private(set) var overlapsLaunches: Bool

    public static let driverSonames = ["libcuda.so.1", "libcuda.so"]
    public static let nvrtcSonames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]

    public init(ordinal: Int = 0) throws(GPUError) {
        let libcuda: SharedLibrary
        do { libcuda = try SharedLibrary.open(Self.driverSonames, purpose: "CUDA driver (libcuda)") } catch { throw GPUError(error) }
        func sym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T {
            do { return try libcuda.symbol(n, as: t) } catch { throw GPUError(error) }
        }
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
        cu.cuMemAllocHost = try sym("cuMemAllocHost_v2", type(of: cu.cuMemAllocHost))
        cu.cuMemFreeHost = try sym("cuMemFreeHost", type(of: cu.cuMemFreeHost))
        cu.cuMemcpyHtoDAsync = try sym("cuMemcpyHtoDAsync_v2", type(of: cu.cuMemcpyHtoDAsync))
        cu.cuModuleLoadData = try sym("cuModuleLoadData", type(of: cu.cuModuleLoadData))
        cu.cuModuleGetFunction = try sym("cuModuleGetFunction", type(of: cu.cuModuleGetFunction))
        cu.cuLaunchKernel = try sym("cuLaunchKernel", type(of: cu.cuLaunchKernel))
        // Typed by name: `type(of: cu.cuLaunchKernelEx)` would unwrap the still-empty slot (an implicitly
        // unwrapped optional) and trap.
        cu.cuLaunchKernelEx = libcuda.optionalSymbol("cuLaunchKernelEx", as: herd_cuLaunchKernelEx_fn.self)
        cu.cuGetErrorString = try sym("cuGetErrorString", type(of: cu.cuGetErrorString))
        cu.cuEventCreate = try sym("cuEventCreate", type(of: cu.cuEventCreate))
        cu.cuEventRecord = try sym("cuEventRecord", type(of: cu.cuEventRecord))
        cu.cuEventSynchronize = try sym("cuEventSynchronize", type(of: cu.cuEventSynchronize))
        cu.cuEventElapsedTime = try sym("cuEventElapsedTime", type(of: cu.cuEventElapsedTime))
        cu.cuEventDestroy = try sym("cuEventDestroy_v2", type(of: cu.cuEventDestroy))
        cu.cuStreamCreateWithPriority = try sym("cuStreamCreateWithPriority", type(of: cu.cuStreamCreateWithPriority))
        cu.cuCtxGetStreamPriorityRange = try sym("cuCtxGetStreamPriorityRange", type(of: cu.cuCtxGetStreamPriorityRange))
        cu.cuStreamWaitEvent = try sym("cuStreamWaitEvent", type(of: cu.cuStreamWaitEvent))
        cu.cuStreamBeginCapture = try sym("cuStreamBeginCapture_v2", type(of: cu.cuStreamBeginCapture))
        cu.cuStreamEndCapture = try sym("cuStreamEndCapture", type(of: cu.cuStreamEndCapture))
        cu.cuGraphInstantiateWithFlags = try sym("cuGraphInstantiateWithFlags", type(of: cu.cuGraphInstantiateWithFlags))
        cu.cuGraphLaunch = try sym("cuGraphLaunch", type(of: cu.cuGraphLaunch))
        cu.cuGraphExecDestroy = try sym("cuGraphExecDestroy", type(of: cu.cuGraphExecDestroy))
        cu.cuGraphDestroy = try sym("cuGraphDestroy", type(of: cu.cuGraphDestroy))

        var status = cu.cuInit(0)
        if status != 0 { throw GPUError("cuInit failed: \(Self.errorText(cu, status)) (no NVIDIA GPU or driver?)") }
        var count: Int32 = 0
        _ = cu.cuDeviceGetCount(&count)
        guard count > ordinal else { throw GPUError("CUDA: no device \(ordinal) (\(count) present)") }
        var dev: herd_CUdevice = 0
        status = cu.cuDeviceGet(&dev, Int32(ordinal))
        if status != 0 { throw GPUError("cuDeviceGet: \(Self.errorText(cu, status))") }
        var name = [CChar](repeating: 0, count: 256)
        _ = cu.cuDeviceGetName(&name, 256, dev)
        deviceName = string(fromCBuffer: name)
        var major: Int32 = 0, minor: Int32 = 0, warp: Int32 = 0, sms: Int32 = 0
        _ = cu.cuDeviceGetAttribute(&major, HERD_CU_ATTR_CC_MAJOR, dev)
        _ = cu.cuDeviceGetAttribute(&minor, HERD_CU_ATTR_CC_MINOR, dev)
        _ = cu.cuDeviceGetAttribute(&warp, HERD_CU_ATTR_WARP_SIZE, dev)
        _ = cu.cuDeviceGetAttribute(&sms, HERD_CU_ATTR_SM_COUNT, dev)
        multiprocessorCount = Int(sms)
        computeCapability = (Int(major), Int(minor))
        architecture = "sm_\(major)\(minor)"
        warpSize = Int(warp)
        overlapsLaunches = major >= 9 && cu.cuLaunchKernelEx != nil && ProcessInfo.processInfo.environment["HERD_PDL"] != "0"
        var context: herd_CUcontext?
        status = cu.cuDevicePrimaryCtxRetain(&context, dev)
        if status != 0 { throw GPUError("cuDevicePrimaryCtxRetain: \(Self.errorText(cu, status))") }
        self.context = context
        status = cu.cuCtxSetCurrent(context)
        if status != 0 { throw GPUError("cuCtxSetCurrent: \(Self.errorText(cu, status))") }
        // HERD_STREAM_PRIORITY=main or side: that stream's kernels take free multiprocessors first (captured
        // graphs keep the priorities per kernel); otherwise both streams have the default priority. Off by
        // default: on an H100, FP8 decode-64 with the side favoured went 11.15-11.32 -> 11.05-11.12 ms with BF16
        // activations but 16.4 -> 17.3 ms exact; the main stream favoured, within the spread.
        let favoured = ProcessInfo.processInfo.environment["HERD_STREAM_PRIORITY"]
        var least: Int32 = 0, greatest: Int32 = 0
        _ = cu.cuCtxGetStreamPriorityRange(&least, &greatest)
        usesStreamPriorities = favoured == "main" || favoured == "side"
        var stream: herd_CUstream?, side: herd_CUstream?
        // Flags 0 (CU_STREAM_DEFAULT): blocking, ordered with the legacy stream.
        status = cu.cuStreamCreateWithPriority(&stream, 0, favoured == "main" ? greatest : least)
        if status == 0 { status = cu.cuStreamCreateWithPriority(&side, 0, favoured == "side" ? greatest : least) }
        if status != 0 { throw GPUError("cuStreamCreateWithPriority: \(Self.errorText(cu, status))") }
        self.stream = stream
        mainStream = stream
        sideStream = side
        var fork: herd_CUevent?, join: herd_CUevent?
        status = cu.cuEventCreate(&fork, 2)  // CU_EVENT_DISABLE_TIMING: ordering only
        if status == 0 { status = cu.cuEventCreate(&join, 2) }
        if status != 0 { throw GPUError("cuEventCreate: \(Self.errorText(cu, status))") }
        forkEvent = fork
        joinEvent = join

        let libnvrtc: SharedLibrary
        do { libnvrtc = try SharedLibrary.open(Self.nvrtcSonames, purpose: "NVRTC (libnvrtc)") } catch { throw GPUError(error) }
        func nsym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T {
            do { return try libnvrtc.symbol(n, as: t) } catch { throw GPUError(error) }
        }
        nvrtc.nvrtcVersion = try nsym("nvrtcVersion", type(of: nvrtc.nvrtcVersion))
        nvrtc.nvrtcCreateProgram = try nsym("nvrtcCreateProgram", type(of: nvrtc.nvrtcCreateProgram))
        nvrtc.nvrtcCompileProgram = try nsym("nvrtcCompileProgram", type(of: nvrtc.nvrtcCompileProgram))
        nvrtc.nvrtcGetProgramLogSize = try nsym("nvrtcGetProgramLogSize", type(of: nvrtc.nvrtcGetProgramLogSize))
        nvrtc.nvrtcGetProgramLog = try nsym("nvrtcGetProgramLog", type(of: nvrtc.nvrtcGetProgramLog))
        nvrtc.nvrtcGetCUBINSize = try nsym("nvrtcGetCUBINSize", type(of: nvrtc.nvrtcGetCUBINSize))
        nvrtc.nvrtcGetCUBIN = try nsym("nvrtcGetCUBIN", type(of: nvrtc.nvrtcGetCUBIN))
        nvrtc.nvrtcDestroyProgram = try nsym("nvrtcDestroyProgram", type(of: nvrtc.nvrtcDestroyProgram))
        nvrtc.nvrtcGetErrorString = try nsym("nvrtcGetErrorString", type(of: nvrtc.nvrtcGetErrorString))
        var nvrtcMajor: Int32 = 0, nvrtcMinor: Int32 = 0
        _ = nvrtc.nvrtcVersion(&nvrtcMajor, &nvrtcMinor)
        compilerVersion = "nvrtc\(nvrtcMajor).\(nvrtcMinor)"
    }

    static func errorText(_ api: herd_cuda_api, _ status: herd_CUresult) -> String {
        var text: UnsafePointer<CChar>?
        _ = api.cuGetErrorString(status, &text)
        return text.map { String(cString: $0) } ?? "CUDA error \(status)"
    }

    private func check(_ status: herd_CUresult, _ what: @autoclosure () -> String) throws(GPUError) {
        if status != 0 { throw GPUError("\(what()) failed: \(Self.errorText(cu, status))") }
    }

    private static func address(_ p: UnsafeRawPointer) -> herd_CUdeviceptr { herd_CUdeviceptr(UInt(bitPattern: p)) }

    public func makeCurrent() throws(GPUError) { try check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent") }

    public func memoryInfo() throws(GPUError) -> (free: Int, total: Int) {
        var free = 0, total = 0
        try check(cu.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }

    public func allocate(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer {
        var p: herd_CUdeviceptr = 0
        try check(cu.cuMemAlloc(&p, bytes), "cuMemAlloc(\(bytes))")
        return UnsafeMutableRawPointer(bitPattern: UInt(p))!
    }

    public func free(_ pointer: UnsafeMutableRawPointer) { _ = cu.cuMemFree(Self.address(pointer)) }

    public func copyToDevice(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(cu.cuMemcpyHtoD(Self.address(destination), source, bytes), "cuMemcpyHtoD")
    }

    public func allocatePinned(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer {
        var p: UnsafeMutableRawPointer?
        try check(cu.cuMemAllocHost(&p, bytes), "cuMemAllocHost(\(bytes))")
        return p!
    }

    public func freePinned(_ pointer: UnsafeMutableRawPointer) { _ = cu.cuMemFreeHost(pointer) }

    public func copyToDeviceAsync(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(cu.cuMemcpyHtoDAsync(Self.address(destination), source, bytes, stream), "cuMemcpyHtoDAsync")
    }

    public func copyToHost(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(cu.cuMemcpyDtoH(destination, Self.address(source), bytes), "cuMemcpyDtoH")
    }

    public func fill(_ destination: UnsafeMutableRawPointer, byte: UInt8, bytes: Int) throws(GPUError) {
        try check(cu.cuMemsetD8(Self.address(destination), byte, bytes), "cuMemsetD8")
    }

    public func synchronize() throws(GPUError) { try check(cu.cuCtxSynchronize(), "cuCtxSynchronize") }

    public func makeEvent() throws(GPUError) -> OpaquePointer {
        var event: herd_CUevent?
        try check(cu.cuEventCreate(&event, 0), "cuEventCreate")
        return OpaquePointer(event!)
    }

    public func record(_ event: OpaquePointer) throws(GPUError) {
        try check(cu.cuEventRecord(UnsafeMutableRawPointer(event), stream), "cuEventRecord")
    }

    public func milliseconds(from start: OpaquePointer, to end: OpaquePointer) throws(GPUError) -> Float {
        try check(cu.cuEventSynchronize(UnsafeMutableRawPointer(end)), "cuEventSynchronize")
        var ms: Float = 0
        try check(cu.cuEventElapsedTime(&ms, UnsafeMutableRawPointer(start), UnsafeMutableRawPointer(end)), "cuEventElapsedTime")
        return ms
    }

    public func destroy(_ event: OpaquePointer) { _ = cu.cuEventDestroy(UnsafeMutableRawPointer(event)) }

    public func waitFor(_ event: OpaquePointer) throws(GPUError) {
        try check(cu.cuEventSynchronize(UnsafeMutableRawPointer(event)), "cuEventSynchronize")
    }

    public var streamHandle: UnsafeMutableRawPointer? { stream }

    public var supportsBranches: Bool { true }

    public func fork() throws(GPUError) {
        try check(cu.cuEventRecord(forkEvent, mainStream), "cuEventRecord")
        try check(cu.cuStreamWaitEvent(sideStream, forkEvent, 0), "cuStreamWaitEvent")
        stream = sideStream
    }

    public func endFork() { stream = mainStream }

    public func join() throws(GPUError) {
        try check(cu.cuEventRecord(joinEvent, sideStream), "cuEventRecord")
        try check(cu.cuStreamWaitEvent(mainStream, joinEvent, 0), "cuStreamWaitEvent")
    }

    public func beginCapture() throws(GPUError) {
        try check(cu.cuStreamBeginCapture(stream, 2), "cuStreamBeginCapture")  // CU_STREAM_CAPTURE_MODE_RELAXED
    }

    public func endCapture() throws(GPUError) -> OpaquePointer {
        var graph: herd_CUgraph?
        try check(cu.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture")
        guard let graph else { throw GPUError("cuStreamEndCapture returned no graph") }
        defer { _ = cu.cuGraphDestroy(graph) }
        var exec: herd_CUgraphExec?
        // CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY: each kernel keeps the priority of the stream it was captured on.
        try check(cu.cuGraphInstantiateWithFlags(&exec, graph, usesStreamPriorities ? 8 : 0), "cuGraphInstantiateWithFlags")
        return OpaquePointer(exec!)
    }

    public func launchGraph(_ graph: OpaquePointer) throws(GPUError) {
        try check(cu.cuGraphLaunch(UnsafeMutableRawPointer(graph), stream), "cuGraphLaunch")
    }

    public func destroyGraph(_ graph: OpaquePointer) { _ = cu.cuGraphExecDestroy(UnsafeMutableRawPointer(graph)) }

    public func compile(source: String, header: String) throws(GPUError) -> [UInt8] {
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
        var p: herd_nvrtcProgram? = program
        defer { _ = nvrtc.nvrtcDestroyProgram(&p) }
        let options = ["--gpu-architecture=\(architecture)", "-std=c++17"]
        let compiled = withCStrings(options) { nvrtc.nvrtcCompileProgram(program, Int32(options.count), $0) }
        var logSize = 0
        _ = nvrtc.nvrtcGetProgramLogSize(program, &logSize)
        var log = [CChar](repeating: 0, count: max(logSize, 1))
        _ = nvrtc.nvrtcGetProgramLog(program, &log)
        guard compiled == 0 else {
            throw GPUError("NVRTC could not compile the kernel tree for \(architecture):\n\(string(fromCBuffer: log))")
        }
        var size = 0
        _ = nvrtc.nvrtcGetCUBINSize(program, &size)
        var bytes = [CChar](repeating: 0, count: size)
        _ = nvrtc.nvrtcGetCUBIN(program, &bytes)
        return bytes.map { UInt8(bitPattern: $0) }
    }

    public func loadModule(_ image: [UInt8]) throws(GPUError) -> OpaquePointer {
        var module: herd_CUmodule?
        let loaded = image.withUnsafeBytes { cu.cuModuleLoadData(&module, $0.baseAddress) }
        try check(loaded, "cuModuleLoadData")
        return OpaquePointer(module!)
    }

    public func function(_ name: String, in module: OpaquePointer) throws(GPUError) -> OpaquePointer {
        var f: herd_CUfunction?
        let status = cu.cuModuleGetFunction(&f, UnsafeMutableRawPointer(module), name)
        guard status == 0, let f else { throw GPUError("kernel \(name) missing from the module: \(Self.errorText(cu, status))") }
        return OpaquePointer(f)
    }

    public func launch(_ function: OpaquePointer, grid: (x: Int, y: Int), block: Int,
                       parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError) {
        let f = UnsafeMutableRawPointer(function)
        if overlapsLaunches {
            let status = herd_cuda_launch(&cu, f, UInt32(grid.x), UInt32(grid.y), UInt32(block), parameters, stream, 1)
            if status == 0 { return }
            overlapsLaunches = false  // a driver that refuses the attribute: plain launches from now on
        }
        let status = herd_cuda_launch(&cu, f, UInt32(grid.x), UInt32(grid.y), UInt32(block), parameters, stream, 0)
        try check(status, "cuLaunchKernel")
    }
}
