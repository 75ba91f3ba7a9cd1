import CHerdGPU
@testable import ComputeGPU
import Foundation
import SharedLibraries
import Testing

/// The HIP path on machines without an AMD GPU: the runtime's own failure, reported clearly, and the
/// kernel tree compiled by hiprtc (which needs no GPU) through the same code the MI300X path runs.
// Serialized: ROCm 5.2's hiprtc (inside libamdhip64) crashes when two programs compile at once.
@Suite(.serialized) struct HIPDriverTests {
    /// An AMD GPU is usable only where the ROCm kernel driver's device exists.
    static let hasAMDGPU = FileManager.default.fileExists(atPath: "/dev/kfd")
    static let compiler = try? HIPCompiler.load()

    @Test(.enabled(if: !hasAMDGPU, "/dev/kfd exists: an AMD GPU may be here, so HIP is expected to start"))
    func withoutAnAMDGPUTheErrorSaysWhatIsMissing() {
        let runtimeLoads = (try? SharedLibrary.open(HIPDriver.runtimeSonames, purpose: "probe")) != nil
        #expect {
            _ = try GPUBackend.hip()
        } throws: { error in
            let text = "\(error)"
            if runtimeLoads {
                // The library is here (Debian's libamdhip64.so.5 in CI): the runtime's own error names.
                return text.contains("hipError") && text.contains("no AMD GPU is usable here") && text.contains("libamdhip64.so")
            }
            return text.contains("HIP runtime (libamdhip64) not available")
                && HIPDriver.runtimeSonames.allSatisfy { text.contains($0) }
        }
    }

    @Test func fp8EncodingFollowsTheArchitecture() {
        #expect(HIPDriver.fp8Encoding(architecture: "gfx942:sramecc+:xnack-") == .e4m3fnuz)
        #expect(HIPDriver.fp8Encoding(architecture: "gfx940") == .e4m3fnuz)
        #expect(HIPDriver.fp8Encoding(architecture: "gfx950:sramecc+:xnack-") == .e4m3fn)
        #expect(HIPDriver.fp8Encoding(architecture: "gfx90a:sramecc+:xnack-") == .e4m3fn)
    }

    @Test(.enabled(if: compiler != nil, "hiprtc is not installed (libamdhip64 from ROCm 5 or libhiprtc from ROCm 6)"))
    func hiprtcCompilesTheKernelTreeWithEveryKernel() throws {
        let compiler = try #require(Self.compiler)
        let (source, header) = try KernelCache.source()
        // gfx90a: the newest target Debian's ROCm 5.2 compiler knows; the target ID form is what MI300X
        // reports (gfx942:sramecc+:xnack-).
        let image = try compiler.compile(source: source, header: header, architecture: "gfx90a:sramecc+:xnack-")
        #expect(image.starts(with: [0x7f, 0x45, 0x4c, 0x46]), "an AMDGPU code object is an ELF file")
        let text = String(decoding: image, as: UTF8.self)
        for name in GPUBackend.kernelNames(vendor: "hip") {
            #expect(text.contains(name), "kernel \(name) missing from the code object")
        }
    }

    @Test(.enabled(if: compiler != nil, "hiprtc is not installed (libamdhip64 from ROCm 5 or libhiprtc from ROCm 6)"))
    func aCompileErrorCarriesHiprtcsLog() throws {
        let compiler = try #require(Self.compiler)
        #expect {
            _ = try compiler.compile(source: "#include \"vendor.h\"\nHERD_KERNEL void broken(float *x) { x[0] = undeclared_name; }\n",
                                     header: try KernelCache.source().header, architecture: "gfx90a")
        } throws: { error in
            let text = "\(error)"
            return text.contains("hiprtc could not compile the kernel tree for gfx90a") && text.contains("undeclared_name")
        }
    }
}

/// The on-disk kernel cache: keyed by source, compiler and architecture; a second start loads the file.
@Suite struct KernelCacheTests {
    @Test func theKeyChangesWithSourceCompilerAndArchitecture() {
        let base = KernelCache.path(source: "a", header: "h", compilerVersion: "hiprtc6.2-hip60241134",
                                    architecture: "gfx942:sramecc+:xnack-", extension: "hsaco", directory: "/c")
        #expect(base.hasPrefix("/c/herd-") && base.hasSuffix("-hiprtc6.2-hip60241134-gfx942_sramecc+_xnack-.hsaco"))
        #expect(base != KernelCache.path(source: "b", header: "h", compilerVersion: "hiprtc6.2-hip60241134",
                                         architecture: "gfx942:sramecc+:xnack-", extension: "hsaco", directory: "/c"))
        #expect(base != KernelCache.path(source: "a", header: "h", compilerVersion: "hiprtc6.3-hip60342134",
                                         architecture: "gfx942:sramecc+:xnack-", extension: "hsaco", directory: "/c"))
        #expect(base != KernelCache.path(source: "a", header: "h", compilerVersion: "hiprtc6.2-hip60241134",
                                         architecture: "gfx90a:sramecc+:xnack-", extension: "hsaco", directory: "/c"))
    }

    /// gpu.c embeds the parts in the order `HERD_GPU_KERNELS_DIR` reads them, so both give the same source.
    @Test func theEmbeddedTreeAndTheKernelsDirectoryAgree() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/CHerdGPU").standardized.path
        let gpuC = try String(contentsOfFile: dir + "/gpu.c", encoding: .utf8)
        let embedded = gpuC.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("#embed \"kernels/"), !line.contains("vendor.h") else { return nil }
            return String(line.dropFirst("#embed \"kernels/".count).dropLast())
        }
        #expect(embedded == KernelCache.parts)
        setenv("HERD_GPU_KERNELS_DIR", dir + "/kernels", 1)
        defer { unsetenv("HERD_GPU_KERNELS_DIR") }
        let fromFiles = try KernelCache.source()
        unsetenv("HERD_GPU_KERNELS_DIR")
        let fromBinary = try KernelCache.source()
        #expect(fromFiles.source == fromBinary.source && fromFiles.header == fromBinary.header)
    }

    @Test func aCachedCodeObjectIsNotCompiledAgain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-kernel-cache-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let driver = CompileCountingDriver()
        let first = try KernelCache.codeObject(for: driver, directory: dir)
        let second = try KernelCache.codeObject(for: driver, directory: dir)
        #expect(first == [1, 2, 3] && second == first)
        #expect(driver.compiles == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 1)
    }
}

/// A driver that only compiles (to a fixed code object) and counts how often.
final class CompileCountingDriver: GPUDriver {
    var compiles = 0
    let vendor = "test", deviceName = "none", architecture = "gfx000:xnack-", compilerVersion = "test1.0"
    let codeObjectExtension = "bin", warpSize = 64, fp8Encoding = FP8Encoding.e4m3fn
    func compile(source: String, header: String) throws(GPUError) -> [UInt8] {
        compiles += 1
        return [1, 2, 3]
    }
    func makeCurrent() throws(GPUError) {}
    func memoryInfo() throws(GPUError) -> (free: Int, total: Int) { (0, 0) }
    func allocate(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer { throw GPUError("no device") }
    func free(_ pointer: UnsafeMutableRawPointer) {}
    func copyToDevice(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) { throw GPUError("no device") }
    func copyToHost(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) { throw GPUError("no device") }
    func fill(_ d: UnsafeMutableRawPointer, byte: UInt8, bytes: Int) throws(GPUError) { throw GPUError("no device") }
    func allocatePinned(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer { throw GPUError("no device") }
    func freePinned(_ pointer: UnsafeMutableRawPointer) {}
    func copyToDeviceAsync(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) { throw GPUError("no device") }
    func synchronize() throws(GPUError) {}
    func makeEvent() throws(GPUError) -> OpaquePointer { throw GPUError("no device") }
    func record(_ event: OpaquePointer) throws(GPUError) { throw GPUError("no device") }
    func milliseconds(from start: OpaquePointer, to end: OpaquePointer) throws(GPUError) -> Float { throw GPUError("no device") }
    func destroy(_ event: OpaquePointer) {}
    func loadModule(_ image: [UInt8]) throws(GPUError) -> OpaquePointer { throw GPUError("no device") }
    func function(_ name: String, in module: OpaquePointer) throws(GPUError) -> OpaquePointer { throw GPUError("no device") }
    func launch(_ f: OpaquePointer, grid: (x: Int, y: Int), block: Int,
                parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError) { throw GPUError("no device") }
}
