import CTelemetry

/// dlopen of a vendor library by its first soname that loads. Vendor libraries are never linked at build
/// time, so the same binary runs where they are absent and says which names it tried.
enum SharedLibrary {
    /// The handle of the first name that loads, or an error naming every name tried and the last dlerror.
    static func open(_ names: [String]) throws(TelemetryUnavailable) -> UnsafeMutableRawPointer {
        var lastError = "not found"
        for name in names {
            var error: UnsafePointer<CChar>? = nil
            if let handle = herd_dlopen(name, &error) { return handle }
            if let error { lastError = String(cString: error) }
        }
        throw TelemetryUnavailable("\(names.joined(separator: ", ")) not loadable (\(lastError))")
    }
}

/// A NUL-terminated C buffer as a Swift string.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
