import CHerdGPU
import Foundation

/// The kernel tree and its compiled code objects on disk.
///
/// The source is the tree embedded at build time (Sources/CHerdGPU/kernels, one CUDA/HIP dialect), or
/// the files in `HERD_GPU_KERNELS_DIR` for kernel work without rebuilding. Code objects are cached under
/// `$HERD_CACHE/kernels/herd-<source hash>-<compiler><version>-<arch>.<cubin|hsaco>`, so a change of
/// source, compiler or GPU compiles afresh.
enum KernelCache {
    /// The tree's files in compilation order, concatenated into one source (as Sources/CHerdGPU/gpu.c
    /// embeds them; a test keeps the two lists equal).
    static let parts = ["herd_kernels.cu", "herd_attention.cu", "herd_attention_gqa.cu", "herd_mma.cu", "herd_sampling.cu"]

    /// The kernel source and its vendor header.
    static func source() throws(GPUError) -> (source: String, header: String) {
        if let dir = ProcessInfo.processInfo.environment["HERD_GPU_KERNELS_DIR"] {
            var texts: [String] = []
            for name in parts + ["vendor.h"] {
                guard let text = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) else {
                    throw GPUError("HERD_GPU_KERNELS_DIR=\(dir): \(name) cannot be read")
                }
                texts.append(text)
            }
            return (texts.dropLast().joined(separator: "\n"), texts.last!)
        }
        return (String(cString: herd_gpu_kernels_source()), String(cString: herd_gpu_vendor_header()))
    }

    /// `$HERD_CACHE/kernels`, by default `~/.cache/herd/kernels`.
    static var defaultDirectory: String {
        (ProcessInfo.processInfo.environment["HERD_CACHE"] ?? NSHomeDirectory() + "/.cache/herd") + "/kernels"
    }

    /// The file a code object for this source, compiler and architecture is cached in.
    static func path(source: String, header: String, compilerVersion: String, architecture: String,
                     extension ext: String, directory: String = defaultDirectory) -> String {
        // gfx942:sramecc+:xnack- carries ':' (awkward in file names on other systems): keep it readable as '_'.
        let arch = architecture.replacingOccurrences(of: ":", with: "_")
        return directory + "/herd-\(fnv1a(source + header))-\(compilerVersion)-\(arch).\(ext)"
    }

    /// The cached code object for `driver`'s GPU, compiled and stored first when absent.
    static func codeObject(for driver: any GPUDriver, directory: String = defaultDirectory) throws(GPUError) -> [UInt8] {
        let (source, header) = try source()
        let path = path(source: source, header: header, compilerVersion: driver.compilerVersion,
                        architecture: driver.architecture, extension: driver.codeObjectExtension, directory: directory)
        if let cached = FileManager.default.contents(atPath: path), !cached.isEmpty { return [UInt8](cached) }
        let image = try driver.compile(source: source, header: header)
        // A cache that cannot be written only costs a compile next time.
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(image))
        return image
    }
}

/// 64-bit FNV-1a of the text, in hex: the cache key of a kernel source.
func fnv1a(_ s: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return String(h, radix: 16)
}

/// A NUL-terminated C buffer (a name or compile log a vendor call filled in) as a Swift string.
func string(fromCBuffer buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Calls `body` with a C array of C strings (compiler options) that live for the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    let pointers = duplicated.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
