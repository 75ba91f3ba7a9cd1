import SharedLibraries

/// The few things `GPUBackend` needs from a GPU vendor's runtime and run-time compiler. CUDA (libcuda +
/// NVRTC) and HIP (libamdhip64 + hiprtc) implement it with their module APIs, which mirror each other
/// call for call; everything above this line (ops, weight upload, kernel cache, scratch) is shared.
///
/// Device addresses are raw pointers, kernels and modules opaque pointers. Calls that fail throw a
/// `GPUError` naming the vendor function and the runtime's own error string.
public protocol GPUDriver: AnyObject {
    /// "cuda" or "hip": the backend's name in descriptions and errors.
    var vendor: String { get }
    var deviceName: String { get }
    /// The architecture the kernels are compiled for, as the runtime reports it: "sm_90", "gfx942:sramecc+:xnack-".
    var architecture: String { get }
    /// Lanes per warp (NVIDIA, 32) or wavefront (AMD CDNA, 64), from the device.
    var warpSize: Int { get }
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD), from the device: how many blocks it runs
    /// side by side (the attention op splits long contexts when a step has too few blocks for them).
    var multiprocessorCount: Int { get }
    /// The run-time compiler and its version, part of the kernel cache key: "nvrtc12.4", "hiprtc6.2.41133".
    var compilerVersion: String { get }
    /// File extension of cached code objects: "cubin", "hsaco".
    var codeObjectExtension: String { get }
    /// How 8-bit E4M3 floats are encoded on this device's hardware (FNUZ on AMD gfx94x, FN elsewhere).
    var fp8Encoding: FP8Encoding { get }

    /// Makes this driver's device (HIP) or context (CUDA) current on the calling thread.
    func makeCurrent() throws(GPUError)
    /// Free and total device memory in bytes.
    func memoryInfo() throws(GPUError) -> (free: Int, total: Int)
    func allocate(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer
    func free(_ pointer: UnsafeMutableRawPointer)
    func copyToDevice(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError)
    func copyToHost(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError)
    /// Page-locked host memory, the source of asynchronous copies.
    func allocatePinned(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer
    func freePinned(_ pointer: UnsafeMutableRawPointer)
    /// A copy from pinned host memory queued on the default stream: ordered before every later launch,
    /// returns at once. The source must stay unchanged until the stream has passed it.
    func copyToDeviceAsync(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) throws(GPUError)
    func fill(_ destination: UnsafeMutableRawPointer, byte: UInt8, bytes: Int) throws(GPUError)
    func synchronize() throws(GPUError)
    /// Events on the default stream (the kernel profile's timestamps): `record` queues one; `milliseconds`
    /// waits for `end` and returns the device time between two recorded events.
    func makeEvent() throws(GPUError) -> OpaquePointer
    func record(_ event: OpaquePointer) throws(GPUError)
    func milliseconds(from start: OpaquePointer, to end: OpaquePointer) throws(GPUError) -> Float
    func destroy(_ event: OpaquePointer)
    /// Waits until the device has passed `event`.
    func waitFor(_ event: OpaquePointer) throws(GPUError)

    /// The stream everything above goes on (cuBLASLt calls are queued on it too); nil: the default stream.
    var streamHandle: UnsafeMutableRawPointer? { get }
    /// Concurrent branches (GPUBackend.branch): `fork` makes a second stream wait for the work queued so far and
    /// sends the launches, copies and events queued next there (`streamHandle` follows; cuBLASLt keeps the
    /// stream it was created on, so a branch must not call it); `endFork` sends work to the main stream again;
    /// `join` makes the main stream wait for the second's work. Inside a capture the two streams become
    /// parallel branches of the graph.
    var supportsBranches: Bool { get }
    func fork() throws(GPUError)
    func endFork()
    func join() throws(GPUError)
    /// Graphs (GPUBackend+Graphs.swift): from `beginCapture` to `endCapture` the stream's launches and
    /// copies are recorded, not run (relaxed mode: other threads' calls are not checked); `endCapture`
    /// returns the recorded work as an executable graph, which `launchGraph` queues on the stream.
    func beginCapture() throws(GPUError)
    func endCapture() throws(GPUError) -> OpaquePointer
    func launchGraph(_ graph: OpaquePointer) throws(GPUError)
    func destroyGraph(_ graph: OpaquePointer)

    /// Compiles the kernel source (which includes `header` as "vendor.h") for `architecture`; the code
    /// object, or an error carrying the compiler's full log.
    func compile(source: String, header: String) throws(GPUError) -> [UInt8]
    func loadModule(_ image: [UInt8]) throws(GPUError) -> OpaquePointer
    func function(_ name: String, in module: OpaquePointer) throws(GPUError) -> OpaquePointer
    /// Launches `function` on a (gridX, gridY) grid of 1-D blocks of `block` threads on the default
    /// stream; `parameters` points at one address per kernel argument.
    func launch(_ function: OpaquePointer, grid: (x: Int, y: Int), block: Int,
                parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError)
}

extension GPUDriver {
    /// Unknown (drivers that do not read it, test doubles): nothing is sized by it.
    public var multiprocessorCount: Int { 0 }
    public var streamHandle: UnsafeMutableRawPointer? { nil }
    public func waitFor(_ event: OpaquePointer) throws(GPUError) { try synchronize() }
    /// Drivers without graphs (test doubles): capture fails, so every step runs eagerly.
    public func beginCapture() throws(GPUError) { throw GPUError("\(vendor): no graph capture") }
    public func endCapture() throws(GPUError) -> OpaquePointer { throw GPUError("\(vendor): no graph capture") }
    public func launchGraph(_ graph: OpaquePointer) throws(GPUError) { throw GPUError("\(vendor): no graph capture") }
    public func destroyGraph(_ graph: OpaquePointer) {}
    /// Drivers without a second stream (HIP here, test doubles): branches run in order.
    public var supportsBranches: Bool { false }
    public func fork() throws(GPUError) { throw GPUError("\(vendor): no concurrent branches") }
    public func endFork() {}
    public func join() throws(GPUError) { throw GPUError("\(vendor): no concurrent branches") }
}

/// Why the GPU backend could not start or run: names the library, function or kernel at fault.
public struct GPUError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
    init(_ error: SharedLibraryError) { description = error.description }
}
