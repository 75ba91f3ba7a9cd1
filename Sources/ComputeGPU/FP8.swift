/// The two 8-bit E4M3 float encodings (1 sign, 4 exponent, 3 mantissa bits, no infinities).
///
/// - `e4m3fn` (OCP FP8, NVIDIA Hopper, the published FP8 checkpoints): exponent bias 7, 0x80 is -0,
///   0x7F / 0xFF are NaN, largest 448.
/// - `e4m3fnuz` (AMD MI300X / gfx94x hardware FP8): exponent bias 8, no negative zero, 0x80 is the only
///   NaN, largest 240.
///
/// The same bits mean exactly half as much in FNUZ (normal and subnormal alike: the bias is one larger),
/// so a checkpoint row converts without rounding by keeping its bits and doubling its scale; only -0 and
/// NaN change bits. (Re-encoding at the same scale would not do: FN values above 240 have no FNUZ bits.)
public enum FP8Encoding: Sendable, Equatable {
    case e4m3fn
    case e4m3fnuz

    /// The exponent bias: 7 in FN, 8 in FNUZ (the GPU kernels take it as an argument).
    public var exponentBias: Int { self == .e4m3fn ? 7 : 8 }

    /// The value of `byte` in this encoding.
    public func decode(_ byte: UInt8) -> Float {
        let negative = byte & 0x80 != 0
        let exponent = Int((byte >> 3) & 0x0f), mantissa = Float(byte & 0x07)
        switch self {
        case .e4m3fn where byte & 0x7f == 0x7f: return .nan
        case .e4m3fnuz where byte == 0x80: return .nan
        default: break
        }
        let bias = exponentBias
        // Subnormals (exponent 0): mantissa/8 * 2^(1 - bias); normals: (1 + mantissa/8) * 2^(exponent - bias).
        let magnitude = exponent == 0
            ? mantissa / 8 * Float(sign: .plus, exponent: 1 - bias, significand: 1)
            : (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - bias, significand: 1)
        return negative ? -magnitude : magnitude
    }

    /// An E4M3FN byte as the E4M3FNUZ byte that means half its value, so that with the row's scale
    /// doubled the weight is unchanged: -0 becomes +0 (0x80 is NaN in FNUZ), NaN becomes 0x80, every
    /// other byte is kept.
    public static func fnToFNUZ(_ byte: UInt8) -> UInt8 {
        if byte == 0x80 { return 0x00 }
        if byte & 0x7f == 0x7f { return 0x80 }
        return byte
    }

    /// A checkpoint's E4M3FN weight (rows of bytes, one f32 scale per row) in this device encoding: the
    /// bytes to upload and the scales that go with them (`W[o, i] = decode(bytes[o, i]) * scales[o]`).
    public func fromCheckpoint(bytes: UnsafeRawBufferPointer, rowScales: [Float]) -> (bytes: [UInt8], rowScales: [Float]) {
        switch self {
        case .e4m3fn: return (Array(bytes), rowScales)
        case .e4m3fnuz: return (bytes.map(Self.fnToFNUZ), rowScales.map { $0 * 2 })
        }
    }
}
