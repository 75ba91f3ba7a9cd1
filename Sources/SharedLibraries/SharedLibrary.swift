#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A vendor library opened at run time with `dlopen`, never linked at build time, so one binary builds
/// and runs on machines without it and can say exactly what is missing. Used by the GPU backends
/// (libcuda, NVRTC, libamdhip64, hiprtc) and by telemetry (NVML, rocm-smi).
///
/// `@unchecked Sendable`: the handle is never closed and dlsym is thread-safe.
public struct SharedLibrary: @unchecked Sendable {
    public let handle: UnsafeMutableRawPointer
    /// The soname that loaded.
    public let name: String

    /// Opens the first of `names` that loads. The error names `purpose`, every soname tried and dlerror's
    /// reason for each, e.g. "HIP runtime (libamdhip64) not available: tried libamdhip64.so.6 (...), ...".
    public static func open(_ names: [String], purpose: String) throws(SharedLibraryError) -> SharedLibrary {
        var reasons: [String] = []
        for name in names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) { return SharedLibrary(handle: handle, name: name) }
            reasons.append(dlerror().map { String(cString: $0) } ?? "\(name): not loadable")
        }
        throw SharedLibraryError(
            "\(purpose) not available: none of \(names.joined(separator: ", ")) could be loaded (\(reasons.last ?? "unknown"))")
    }

    /// The symbol's address as a C function pointer type, or an error naming the library and symbol.
    public func symbol<T>(_ symbol: String, as type: T.Type) throws(SharedLibraryError) -> T {
        guard let address = dlsym(handle, symbol) else { throw SharedLibraryError("\(name): missing symbol \(symbol)") }
        return unsafeBitCast(address, to: T.self)
    }

    /// The symbol's address, or nil when this version of the library lacks it.
    public func optionalSymbol<T>(_ symbol: String, as type: T.Type) -> T? {
        dlsym(handle, symbol).map { unsafeBitCast($0, to: T.self) }
    }
}

/// Why a vendor library or one of its symbols could not be loaded.
public struct SharedLibraryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
