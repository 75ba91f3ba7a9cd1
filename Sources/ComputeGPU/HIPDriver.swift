import CHerdGPU
import Foundation
import SharedLibraries

/// AMD GPUs through the HIP runtime (libamdhip64) and hiprtc, both loaded at run time. HIP's module API
/// mirrors CUDA's driver API call for call (hipModuleLoadData, hipModuleLaunchKernel, hipMemcpyHtoD...);
/// the differences that matter are handled here:
///
/// - The architecture is the runtime's `gcnArchName` with its feature flags ("gfx942:sramecc+:xnack-"),
///   passed to hiprtc as it is, so the code object matches the device's target ID exactly.
/// - The wavefront size comes from the device (hipDeviceAttributeWarpSize: 64 on CDNA, 32 on RDNA).
/// - HIP has a per-thread current device (hipSetDevice) where CUDA has a current context.
/// - gfx94x (MI300X) hardware FP8 is E4M3FNUZ, not the checkpoints' E4M3FN.
/// - hipDeviceProp_t changed layout in ROCm 6: the versioned hipGetDevicePropertiesR0600 is called when
///   the library has it (ROCm >= 6), the ROCm 5 entry point otherwise, each read at its own offset.
///
/// Nothing of this class has run on an AMD GPU yet; see README "Running on an MI300X node".
public final class HIPDriver: GPUDriver {
    var hip = herd_hip_api()
    let compiler: HIPCompiler
    private let ordinal: Int32
    public let vendor = "hip"
    public let deviceName: String
    public let architecture: String
    public let warpSize: Int
    /// Compute units, from the device (hipDeviceAttributeMultiprocessorCount: 304 on MI300X).
    public let multiprocessorCount: Int
    /// LDS (shared memory) one block may use, from the device: 64 KiB on CDNA 3.
    public let sharedMemoryPerBlock: Int
    public let compilerVersion: String
    public let codeObjectExtension = "hsaco"
    public let fp8Encoding: FP8Encoding
    /// The soname that loaded, for messages.
    public let runtimeLibrary: String
    /// The one stream every launch, asynchronous copy and event goes on (created, as CUDADriver's is, so
    /// that decode steps can be captured into graphs; blocking, so ordered with the null stream's copies).
    private var stream: herd_hipStream_t?

    /// ROCm 6.x, then Debian's ROCm 5 package, then whatever the unversioned name points at.
    public static let runtimeSonames = ["libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"]

    public init(ordinal: Int = 0) throws(GPUError) {
        let library: SharedLibrary
        do { library = try SharedLibrary.open(Self.runtimeSonames, purpose: "HIP runtime (libamdhip64)") } catch { throw GPUError(error) }
        runtimeLibrary = library.name
        func sym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T {
            do { return try library.symbol(n, as: t) } catch { throw GPUError(error) }
        }
        hip.hipInit = try sym("hipInit", type(of: hip.hipInit))
        hip.hipRuntimeGetVersion = try sym("hipRuntimeGetVersion", type(of: hip.hipRuntimeGetVersion))
        hip.hipGetDeviceCount = try sym("hipGetDeviceCount", type(of: hip.hipGetDeviceCount))
        hip.hipSetDevice = try sym("hipSetDevice", type(of: hip.hipSetDevice))
        hip.hipDeviceGetName = try sym("hipDeviceGetName", type(of: hip.hipDeviceGetName))
        hip.hipDeviceGetAttribute = try sym("hipDeviceGetAttribute", type(of: hip.hipDeviceGetAttribute))
        hip.hipDeviceSynchronize = try sym("hipDeviceSynchronize", type(of: hip.hipDeviceSynchronize))
        hip.hipEventCreate = try sym("hipEventCreate", type(of: hip.hipEventCreate))
        hip.hipEventRecord = try sym("hipEventRecord", type(of: hip.hipEventRecord))
        hip.hipEventSynchronize = try sym("hipEventSynchronize", type(of: hip.hipEventSynchronize))
        hip.hipEventElapsedTime = try sym("hipEventElapsedTime", type(of: hip.hipEventElapsedTime))
        hip.hipEventDestroy = try sym("hipEventDestroy", type(of: hip.hipEventDestroy))
        hip.hipMemGetInfo = try sym("hipMemGetInfo", type(of: hip.hipMemGetInfo))
        hip.hipMalloc = try sym("hipMalloc", type(of: hip.hipMalloc))
        hip.hipFree = try sym("hipFree", type(of: hip.hipFree))
        hip.hipMemcpyHtoD = try sym("hipMemcpyHtoD", type(of: hip.hipMemcpyHtoD))
        hip.hipHostMalloc = try sym("hipHostMalloc", type(of: hip.hipHostMalloc))
        hip.hipHostFree = try sym("hipHostFree", type(of: hip.hipHostFree))
        hip.hipMemcpyHtoDAsync = try sym("hipMemcpyHtoDAsync", type(of: hip.hipMemcpyHtoDAsync))
        hip.hipMemcpyDtoH = try sym("hipMemcpyDtoH", type(of: hip.hipMemcpyDtoH))
        hip.hipMemsetD8 = try sym("hipMemsetD8", type(of: hip.hipMemsetD8))
        hip.hipModuleLoadData = try sym("hipModuleLoadData", type(of: hip.hipModuleLoadData))
        hip.hipModuleGetFunction = try sym("hipModuleGetFunction", type(of: hip.hipModuleGetFunction))
        hip.hipModuleLaunchKernel = try sym("hipModuleLaunchKernel", type(of: hip.hipModuleLaunchKernel))
        hip.hipGetErrorName = try sym("hipGetErrorName", type(of: hip.hipGetErrorName))
        hip.hipGetErrorString = try sym("hipGetErrorString", type(of: hip.hipGetErrorString))
        hip.hipStreamCreate = try sym("hipStreamCreate", type(of: hip.hipStreamCreate))
        hip.hipStreamBeginCapture = try sym("hipStreamBeginCapture", type(of: hip.hipStreamBeginCapture))
        hip.hipStreamEndCapture = try sym("hipStreamEndCapture", type(of: hip.hipStreamEndCapture))
        hip.hipGraphInstantiate = try sym("hipGraphInstantiate", type(of: hip.hipGraphInstantiate))
        hip.hipGraphLaunch = try sym("hipGraphLaunch", type(of: hip.hipGraphLaunch))
        hip.hipGraphExecDestroy = try sym("hipGraphExecDestroy", type(of: hip.hipGraphExecDestroy))
        hip.hipGraphDestroy = try sym("hipGraphDestroy", type(of: hip.hipGraphDestroy))
        // The properties entry point whose struct layout we know the gcnArchName offset of (see CHerdGPU.h).
        let archOffset: Int32
        if let versioned = library.optionalSymbol("hipGetDevicePropertiesR0600", as: type(of: hip.hipGetDeviceProperties)) {
            hip.hipGetDeviceProperties = versioned
            archOffset = HERD_HIP_PROPS_R0600_GCN_ARCH_NAME_OFFSET
        } else {
            hip.hipGetDeviceProperties = try sym("hipGetDeviceProperties", type(of: hip.hipGetDeviceProperties))
            archOffset = HERD_HIP_PROPS_R0000_GCN_ARCH_NAME_OFFSET
        }

        // hipInit fails on a machine without an AMD GPU (ROCm 5.2 says hipErrorInvalidDevice, later ones
        // hipErrorNoDevice): report the runtime's words, the device count and where to look.
        let initStatus = hip.hipInit(0)
        var count: Int32 = 0
        let countStatus = hip.hipGetDeviceCount(&count)
        guard initStatus == 0, countStatus == 0, count > 0 else {
            let visible = ProcessInfo.processInfo.environment["HIP_VISIBLE_DEVICES"].map { ", HIP_VISIBLE_DEVICES=\($0)" } ?? ""
            let first = initStatus != 0 ? "hipInit failed: \(Self.errorText(hip, initStatus))"
                                        : "hipGetDeviceCount: \(countStatus == 0 ? "0 devices" : Self.errorText(hip, countStatus))"
            throw GPUError("HIP (\(library.name)): \(first); no AMD GPU is usable here "
                           + "(hipGetDeviceCount: \(countStatus == 0 ? "\(count)" : Self.errorText(hip, countStatus))\(visible); "
                           + "the ROCm runtime needs /dev/kfd and /dev/dri/renderD*)")
        }
        guard count > ordinal else { throw GPUError("HIP: no device \(ordinal) (\(count) present)") }
        self.ordinal = Int32(ordinal)
        var status = hip.hipSetDevice(Int32(ordinal))
        if status != 0 { throw GPUError("hipSetDevice(\(ordinal)): \(Self.errorText(hip, status))") }
        status = hip.hipStreamCreate(&stream)
        if status != 0 { throw GPUError("hipStreamCreate: \(Self.errorText(hip, status))") }

        var name = [CChar](repeating: 0, count: 256)
        _ = hip.hipDeviceGetName(&name, 256, Int32(ordinal))
        deviceName = string(fromCBuffer: name)
        var warp: Int32 = 0, lds: Int32 = 0
        status = hip.hipDeviceGetAttribute(&warp, UInt32(HERD_HIP_ATTR_WARP_SIZE), Int32(ordinal))
        guard status == 0, warp > 0 else { throw GPUError("hipDeviceGetAttribute(warp size): \(Self.errorText(hip, status))") }
        warpSize = Int(warp)
        _ = hip.hipDeviceGetAttribute(&lds, UInt32(HERD_HIP_ATTR_MAX_SHARED_MEMORY_PER_BLOCK), Int32(ordinal))
        sharedMemoryPerBlock = Int(lds)
        var units: Int32 = 0
        _ = hip.hipDeviceGetAttribute(&units, UInt32(HERD_HIP_ATTR_MULTIPROCESSOR_COUNT), Int32(ordinal))
        multiprocessorCount = Int(units)

        // gcnArchName from a zeroed buffer larger than any hipDeviceProp_t, at the offset of the layout
        // that entry point fills; a name not starting with "gfx" means the layout is not the one expected.
        let props = UnsafeMutableRawPointer.allocate(byteCount: Int(HERD_HIP_PROPS_BUFFER_BYTES), alignment: 16)
        defer { props.deallocate() }
        props.initializeMemory(as: UInt8.self, repeating: 0, count: Int(HERD_HIP_PROPS_BUFFER_BYTES))
        status = hip.hipGetDeviceProperties(OpaquePointer(props), Int32(ordinal))
        if status != 0 { throw GPUError("hipGetDeviceProperties: \(Self.errorText(hip, status))") }
        let archBytes = UnsafeRawBufferPointer(start: props + Int(archOffset), count: Int(HERD_HIP_PROPS_GCN_ARCH_NAME_LENGTH))
        let arch = String(decoding: archBytes.prefix { $0 != 0 }, as: UTF8.self)
        guard arch.hasPrefix("gfx") else {
            throw GPUError("HIP (\(library.name)): the device properties give architecture \"\(arch)\", not a gfx name: "
                           + "this ROCm's hipDeviceProp_t layout is not one Herd knows (ROCm 5.x or 6.x expected)")
        }
        architecture = arch
        fp8Encoding = Self.fp8Encoding(architecture: arch)

        compiler = try HIPCompiler(runtime: library)
        var runtimeVersion: Int32 = 0
        _ = hip.hipRuntimeGetVersion(&runtimeVersion)
        compilerVersion = "\(compiler.version)-hip\(runtimeVersion)"
    }

    /// gfx940/941/942 (MI300 series) do FP8 in E4M3FNUZ; others with FP8 (gfx950, gfx12) use the OCP format.
    public static func fp8Encoding(architecture: String) -> FP8Encoding {
        let base = architecture.split(separator: ":").first.map(String.init) ?? architecture
        return ["gfx940", "gfx941", "gfx942"].contains(base) ? .e4m3fnuz : .e4m3fn
    }

    static func errorText(_ api: herd_hip_api, _ status: herd_hipError_t) -> String {
        let name = api.hipGetErrorName.flatMap { f in f(status).map { String(cString: $0) } } ?? "hipError \(status)"
        let text = api.hipGetErrorString.flatMap { f in f(status).map { String(cString: $0) } } ?? ""
        return text.isEmpty || text == name ? name : "\(name) (\(text))"
    }

    private func check(_ status: herd_hipError_t, _ what: @autoclosure () -> String) throws(GPUError) {
        if status != 0 { throw GPUError("\(what()) failed: \(Self.errorText(hip, status))") }
    }

    public func makeCurrent() throws(GPUError) { try check(hip.hipSetDevice(ordinal), "hipSetDevice(\(ordinal))") }

    public func memoryInfo() throws(GPUError) -> (free: Int, total: Int) {
        var free = 0, total = 0
        try check(hip.hipMemGetInfo(&free, &total), "hipMemGetInfo")
        return (free, total)
    }

    public func allocate(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer {
        var p: UnsafeMutableRawPointer?
        try check(hip.hipMalloc(&p, bytes), "hipMalloc(\(bytes))")
        guard let p else { throw GPUError("hipMalloc(\(bytes)) returned no memory") }
        return p
    }

    public func free(_ pointer: UnsafeMutableRawPointer) { _ = hip.hipFree(pointer) }

    public func copyToDevice(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(hip.hipMemcpyHtoD(destination, source, bytes), "hipMemcpyHtoD")
    }

    public func allocatePinned(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer {
        var p: UnsafeMutableRawPointer?
        try check(hip.hipHostMalloc(&p, bytes, 0), "hipHostMalloc(\(bytes))")
        return p!
    }

    public func freePinned(_ pointer: UnsafeMutableRawPointer) { _ = hip.hipHostFree(pointer) }

    public func copyToDeviceAsync(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(hip.hipMemcpyHtoDAsync(destination, source, bytes, stream), "hipMemcpyHtoDAsync")
    }

    public func copyToHost(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        try check(hip.hipMemcpyDtoH(destination, UnsafeMutableRawPointer(mutating: source), bytes), "hipMemcpyDtoH")
    }

    public func fill(_ destination: UnsafeMutableRawPointer, byte: UInt8, bytes: Int) throws(GPUError) {
        try check(hip.hipMemsetD8(destination, byte, bytes), "hipMemsetD8")
    }

    public func synchronize() throws(GPUError) { try check(hip.hipDeviceSynchronize(), "hipDeviceSynchronize") }

    public func makeEvent() throws(GPUError) -> OpaquePointer {
        var event: herd_hipEvent_t?
        try check(hip.hipEventCreate(&event), "hipEventCreate")
        return event!
    }

    public func record(_ event: OpaquePointer) throws(GPUError) {
        try check(hip.hipEventRecord(event, stream), "hipEventRecord")
    }

    public func milliseconds(from start: OpaquePointer, to end: OpaquePointer) throws(GPUError) -> Float {
        try check(hip.hipEventSynchronize(end), "hipEventSynchronize")
        var ms: Float = 0
        try check(hip.hipEventElapsedTime(&ms, start, end), "hipEventElapsedTime")
        return ms
    }

    public func destroy(_ event: OpaquePointer) { _ = hip.hipEventDestroy(event) }

    public func waitFor(_ event: OpaquePointer) throws(GPUError) { try check(hip.hipEventSynchronize(event), "hipEventSynchronize") }

    public var streamHandle: UnsafeMutableRawPointer? { stream.map { UnsafeMutableRawPointer($0) } }

    public func beginCapture() throws(GPUError) {
        try check(hip.hipStreamBeginCapture(stream, 2), "hipStreamBeginCapture")  // hipStreamCaptureModeRelaxed
    }

    public func endCapture() throws(GPUError) -> OpaquePointer {
        var graph: herd_hipGraph_t?
        try check(hip.hipStreamEndCapture(stream, &graph), "hipStreamEndCapture")
        guard let graph else { throw GPUError("hipStreamEndCapture returned no graph") }
        defer { _ = hip.hipGraphDestroy(graph) }
        var exec: herd_hipGraphExec_t?
        try check(hip.hipGraphInstantiate(&exec, graph, nil, nil, 0), "hipGraphInstantiate")
        return exec!
    }

    public func launchGraph(_ graph: OpaquePointer) throws(GPUError) { try check(hip.hipGraphLaunch(graph, stream), "hipGraphLaunch") }

    public func destroyGraph(_ graph: OpaquePointer) { _ = hip.hipGraphExecDestroy(graph) }

    public func compile(source: String, header: String) throws(GPUError) -> [UInt8] {
        try compiler.compile(source: source, header: header, architecture: architecture)
    }

    public func loadModule(_ image: [UInt8]) throws(GPUError) -> OpaquePointer {
        var module: herd_hipModule_t?
        let status = image.withUnsafeBytes { hip.hipModuleLoadData(&module, $0.baseAddress) }
        try check(status, "hipModuleLoadData (code object for \(architecture))")
        guard let module else { throw GPUError("hipModuleLoadData returned no module") }
        return module
    }

    public func function(_ name: String, in module: OpaquePointer) throws(GPUError) -> OpaquePointer {
        var f: herd_hipFunction_t?
        let status = hip.hipModuleGetFunction(&f, module, name)
        guard status == 0, let f else { throw GPUError("kernel \(name) missing from the module: \(Self.errorText(hip, status))") }
        return f
    }

    public func launch(_ function: OpaquePointer, grid: (x: Int, y: Int), block: Int,
                       parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError) {
        try check(herd_hip_launch(&hip, function, UInt32(grid.x), UInt32(grid.y), UInt32(block), parameters, stream),
                  "hipModuleLaunchKernel")
    }
}

/// hiprtc: compiles the kernel tree to an AMD code object. Needs no GPU, so the compile path is tested on
/// machines without one (for gfx90a, which Debian's ROCm can target).
public struct HIPCompiler: Sendable {
    var rtc = herd_hiprtc_api()
    /// "hiprtc<major>.<minor>".
    public let version: String
    /// The library that provides hiprtc.
    public let library: String

    /// ROCm 6 ships hiprtc as its own library; ROCm 5 has it inside libamdhip64 (`runtime`).
    public static let sonames = ["libhiprtc.so.6", "libhiprtc.so"]

    public init(runtime: SharedLibrary?) throws(GPUError) {
        var lib: SharedLibrary
        do { lib = try SharedLibrary.open(Self.sonames, purpose: "hiprtc (libhiprtc)") } catch {
            guard let runtime, runtime.optionalSymbol("hiprtcCreateProgram", as: UnsafeRawPointer.self) != nil else {
                throw GPUError("\(error.description); the HIP runtime\(runtime.map { " (\($0.name))" } ?? "") does not contain hiprtc either")
            }
            lib = runtime
        }
        library = lib.name
        func sym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T {
            do { return try lib.symbol(n, as: t) } catch { throw GPUError(error) }
        }
        rtc.hiprtcVersion = try sym("hiprtcVersion", type(of: rtc.hiprtcVersion))
        rtc.hiprtcCreateProgram = try sym("hiprtcCreateProgram", type(of: rtc.hiprtcCreateProgram))
        rtc.hiprtcCompileProgram = try sym("hiprtcCompileProgram", type(of: rtc.hiprtcCompileProgram))
        rtc.hiprtcGetProgramLogSize = try sym("hiprtcGetProgramLogSize", type(of: rtc.hiprtcGetProgramLogSize))
        rtc.hiprtcGetProgramLog = try sym("hiprtcGetProgramLog", type(of: rtc.hiprtcGetProgramLog))
        rtc.hiprtcGetCodeSize = try sym("hiprtcGetCodeSize", type(of: rtc.hiprtcGetCodeSize))
        rtc.hiprtcGetCode = try sym("hiprtcGetCode", type(of: rtc.hiprtcGetCode))
        rtc.hiprtcDestroyProgram = try sym("hiprtcDestroyProgram", type(of: rtc.hiprtcDestroyProgram))
        rtc.hiprtcGetErrorString = try sym("hiprtcGetErrorString", type(of: rtc.hiprtcGetErrorString))
        var major: Int32 = 0, minor: Int32 = 0
        _ = rtc.hiprtcVersion(&major, &minor)
        version = "hiprtc\(major).\(minor)"
    }

    /// hiprtc loaded on its own (for tests and tools): libhiprtc, or the HIP runtime that contains it.
    public static func load() throws(GPUError) -> HIPCompiler {
        let runtime = try? SharedLibrary.open(HIPDriver.runtimeSonames, purpose: "HIP runtime (libamdhip64)")
        return try HIPCompiler(runtime: runtime)
    }

    private func text(_ status: herd_hiprtcResult) -> String {
        rtc.hiprtcGetErrorString(status).map { String(cString: $0) } ?? "hiprtc error \(status)"
    }

    /// The kernel source (including `header` as "vendor.h") compiled for `architecture` (a gfx target
    /// ID, feature flags allowed); the code object, or an error carrying hiprtc's full log.
    public func compile(source: String, header: String, architecture: String) throws(GPUError) -> [UInt8] {
        var program: herd_hiprtcProgram?
        let created = source.withCString { src in
            header.withCString { hdr in
                "vendor.h".withCString { inc in
                    var headers: [UnsafePointer<CChar>?] = [hdr]
                    var names: [UnsafePointer<CChar>?] = [inc]
                    return rtc.hiprtcCreateProgram(&program, src, "herd_kernels.cu", 1, &headers, &names)
                }
            }
        }
        guard created == 0, let program else { throw GPUError("hiprtcCreateProgram failed: \(text(created))") }
        var p: herd_hiprtcProgram? = program
        defer { _ = rtc.hiprtcDestroyProgram(&p) }
        let options = ["--gpu-architecture=\(architecture)", "-O3", "-std=c++17"]
        let compiled = withCStrings(options) { rtc.hiprtcCompileProgram(program, Int32(options.count), UnsafeMutablePointer(mutating: $0)) }
        var logSize = 0
        _ = rtc.hiprtcGetProgramLogSize(program, &logSize)
        var log = [CChar](repeating: 0, count: max(logSize + 1, 1))
        if logSize > 0 { _ = rtc.hiprtcGetProgramLog(program, &log) }
        guard compiled == 0 else {
            throw GPUError("hiprtc could not compile the kernel tree for \(architecture) (\(text(compiled))):\n\(string(fromCBuffer: log))")
        }
        var size = 0
        _ = rtc.hiprtcGetCodeSize(program, &size)
        guard size > 0 else { throw GPUError("hiprtc produced no code object for \(architecture)") }
        var bytes = [CChar](repeating: 0, count: size)
        _ = rtc.hiprtcGetCode(program, &bytes)
        return bytes.map { UInt8(bitPattern: $0) }
    }
}
