import CHerdKernels
@testable import ComputeGPU
import Testing

/// E4M3FN (checkpoints, NVIDIA) to E4M3FNUZ (MI300X): every byte, against values computed here from the
/// formats' definitions, independently of `FP8Encoding.decode`.
@Suite struct FP8EncodingTests {
    /// The value of an E4M3 byte with exponent `bias`, straight from the definition:
    /// (-1)^s * 2^(e - bias) * (1 + m/8), or 2^(1 - bias) * m/8 when e = 0.
    static func reference(_ b: UInt8, bias: Int) -> Double {
        let s = b >> 7, e = Int((b >> 3) & 15), m = Double(b & 7)
        let v = e == 0 ? pow2(1 - bias) * m / 8 : pow2(e - bias) * (1 + m / 8)
        return s == 1 ? -v : v
    }
    static func pow2(_ n: Int) -> Double { n >= 0 ? Double(1 << n) : 1 / Double(1 << -n) }

    @Test func decodeMatchesTheDefinitions() {
        for b in 0...255 {
            let byte = UInt8(b)
            let fn = FP8Encoding.e4m3fn.decode(byte), fnuz = FP8Encoding.e4m3fnuz.decode(byte)
            if byte & 0x7f == 0x7f { #expect(fn.isNaN, "FN \(b)") } else { #expect(Double(fn) == Self.reference(byte, bias: 7), "FN \(b)") }
            if byte == 0x80 { #expect(fnuz.isNaN, "FNUZ \(b)") } else { #expect(Double(fnuz) == Self.reference(byte, bias: 8), "FNUZ \(b)") }
        }
        // The ends of each range.
        #expect(FP8Encoding.e4m3fn.decode(0x7e) == 448)
        #expect(FP8Encoding.e4m3fnuz.decode(0x7f) == 240)
        #expect(FP8Encoding.e4m3fn.decode(0x01) == 1.0 / 512)   // smallest FN subnormal, 2^-9
        #expect(FP8Encoding.e4m3fnuz.decode(0x01) == 1.0 / 1024) // smallest FNUZ subnormal, 2^-10
        #expect(FP8Encoding.e4m3fn.decode(0x80).sign == .minus)  // FN has -0
    }

    /// Every FN byte, converted, times the doubled scale, is exactly the FN value: NaN stays NaN, -0
    /// becomes +0, and no converted byte is FNUZ's NaN unless the input was NaN.
    @Test func fnToFNUZKeepsEveryValueWithTheScaleDoubled() {
        var nanCount = 0
        for b in 0...255 {
            let byte = UInt8(b)
            let converted = FP8Encoding.fnToFNUZ(byte)
            let original = Self.reference(byte, bias: 7)
            let isNaN = byte & 0x7f == 0x7f
            if isNaN {
                nanCount += 1
                #expect(converted == 0x80, "NaN \(b) must become FNUZ NaN 0x80")
                #expect(FP8Encoding.e4m3fnuz.decode(converted).isNaN)
                continue
            }
            #expect(converted != 0x80, "finite \(b) must not become FNUZ NaN")
            let value = Double(FP8Encoding.e4m3fnuz.decode(converted)) * 2
            #expect(value == original, "byte \(b): \(value) != \(original)")
            if byte == 0x80 { #expect(converted == 0x00) } else { #expect(converted == byte) }
        }
        #expect(nanCount == 2)
    }

    @Test func checkpointRowsConvertForTheDevice() {
        let bytes: [UInt8] = [0x7e, 0x80, 0x7f, 0x01, 0xc8, 0x38]
        let scales: [Float] = [0.5, 3]
        bytes.withUnsafeBytes { raw in
            let fn = FP8Encoding.e4m3fn.fromCheckpoint(bytes: raw, rowScales: scales)
            #expect(fn.bytes == bytes && fn.rowScales == scales)
            let fnuz = FP8Encoding.e4m3fnuz.fromCheckpoint(bytes: raw, rowScales: scales)
            #expect(fnuz.bytes == [0x7e, 0x00, 0x80, 0x01, 0xc8, 0x38])
            #expect(fnuz.rowScales == [1, 6])
            for (i, b) in bytes.enumerated() where b & 0x7f != 0x7f {
                let row = i / 3
                #expect(FP8Encoding.e4m3fnuz.decode(fnuz.bytes[i]) * fnuz.rowScales[row]
                        == FP8Encoding.e4m3fn.decode(b) * scales[row])
            }
        }
    }
}
