/// Turns a stream of token bytes into text as it arrives. A token can end in the middle of a UTF-8
/// sequence (emoji and CJK are often split over several byte tokens), so a trailing sequence that is
/// incomplete but still valid so far is held back until the next push. Invalid bytes are not held:
/// they come out as U+FFFD right away, exactly as decoding all bytes at once would produce them.
public struct StreamingDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Adds `bytes` and returns the text that is now complete.
    public mutating func push(_ bytes: [UInt8]) -> String {
        pending += bytes
        let cut = pending.count - Self.incompleteSuffixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held back (an incomplete sequence becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the trailing bytes that form a valid but unfinished UTF-8 sequence (0 to 3).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        // The sequence start is at most 3 bytes back; continuation bytes are 10xxxxxx.
        var start = bytes.count - 1
        while start >= 0 && start >= bytes.count - 3 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0 else { return 0 }
        let lead = bytes[start]
        let needed: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0: needed = 3; secondRange = 0xA0...0xBF
        case 0xED: needed = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEF: needed = 3
        case 0xF0: needed = 4; secondRange = 0x90...0xBF
        case 0xF4: needed = 4; secondRange = 0x80...0x8F
        case 0xF1...0xF3: needed = 4
        default: return 0  // ASCII or an invalid lead byte: nothing to wait for
        }
        let have = bytes.count - start
        guard have < needed else { return 0 }
        // Hold back only if what we have can still become valid.
        if have >= 2 && !secondRange.contains(bytes[start + 1]) { return 0 }
        return have
    }
}
