/// GPT-2's `bytes_to_unicode`: byte-level BPE vocabularies spell every byte as a printable character, so
/// that tokens are valid strings. Printable Latin-1 bytes stand for themselves; the other 68 bytes
/// (controls, space, 0x7F-0xA0, soft hyphen) are shifted to U+0100 and up, in byte order.
enum ByteAlphabet {
    /// byte -> the scalar that spells it.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var shifted: UInt32 = 0
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = 256 + shifted
                shifted += 1
            }
        }
        return table
    }()

    /// scalar -> the byte it spells, for scalars below `byteForScalar.count`; -1 where none.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 256 + 68)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    /// UTF-8 of each byte's spelling, for building vocabulary keys from raw bytes.
    static let spellingForByte: [[UInt8]] = scalarForByte.map { Array(String(Unicode.Scalar($0)!).utf8) }

    private static func isPrintable(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The raw bytes a vocabulary string spells, or nil if it uses characters outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return nil }
            bytes.append(UInt8(byteForScalar[value]))
        }
        return bytes
    }
}
