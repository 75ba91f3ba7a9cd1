import SharedLibraries

extension SharedLibrary {
    /// The dlopen handle of the first of `names` that loads (the shared `SharedLibrary` does the work);
    /// a failure becomes `TelemetryUnavailable` naming every soname tried and dlerror's reason.
    static func open(_ names: [String]) throws(TelemetryUnavailable) -> UnsafeMutableRawPointer {
        do { return try SharedLibrary.open(names, purpose: names.first ?? "library").handle }
        catch { throw TelemetryUnavailable(error.description) }
    }
}

/// A NUL-terminated C buffer as a Swift string.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
