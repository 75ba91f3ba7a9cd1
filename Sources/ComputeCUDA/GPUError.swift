/// Why the GPU backend could not start or run: names the library, function or kernel at fault.
public struct GPUError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

#if canImport(Glibc)
import Glibc
#endif

/// A shared library opened at run time (never linked), with typed symbol lookup.
struct SharedLibrary {
    let handle: UnsafeMutableRawPointer
    let name: String

    /// Opens the first of `names` that loads; the error lists what was tried and dlerror's reason.
    static func open(_ names: [String], purpose: String) throws(GPUError) -> SharedLibrary {
        var reasons: [String] = []
        for name in names {
            if let h = dlopen(name, RTLD_NOW | RTLD_LOCAL) { return SharedLibrary(handle: h, name: name) }
            reasons.append(dlerror().map { String(cString: $0) } ?? name)
        }
        throw GPUError("\(purpose) not available: none of \(names.joined(separator: ", ")) could be loaded (\(reasons.last ?? "unknown"))")
    }

    func symbol<T>(_ name: String, as: T.Type) throws(GPUError) -> T {
        guard let p = dlsym(handle, name) else { throw GPUError("\(self.name): missing symbol \(name)") }
        return unsafeBitCast(p, to: T.self)
    }
}
