/// Element types of weights and activations.
///
/// Raw values are the ggml type ids used by GGUF files, so a GGUF tensor's type maps here without a table;
/// safetensors dtypes map onto the same cases. Quantized types store `blockSize` elements in
/// `blockBytes` bytes. Types ggml does not have get raw values from 0x100 up, above every ggml id (ggml's
/// ids are below 64), so the two numberings can never collide.
public enum DType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case bf16 = 30
    /// 8-bit float, 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities (safetensors `F8_E4M3`,
    /// the FP8 checkpoints' weights). Not a ggml type: raw value 0x100.
    case f8_e4m3 = 0x100

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: 256
        default: 1
        }
    }

    /// Bytes per block (per element for plain types); layouts as in ggml's `ggml-common.h`.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .f8_e4m3: 1
        case .i64, .f64: 8
        case .q4_0: 2 + 16            // f16 scale, 32 x 4-bit
        case .q4_1: 2 + 2 + 16        // f16 scale, f16 min, 32 x 4-bit
        case .q5_0: 2 + 4 + 16        // f16 scale, 32 high bits, 32 x 4-bit
        case .q5_1: 2 + 2 + 4 + 16
        case .q8_0: 2 + 32            // f16 scale, 32 x int8
        case .q8_1: 4 + 4 + 32        // f32 scale, f32 sum, 32 x int8
        case .q2_K: 16 + 64 + 2 + 2
        case .q3_K: 32 + 64 + 12 + 2
        case .q4_K: 2 + 2 + 12 + 128
        case .q5_K: 2 + 2 + 12 + 32 + 128
        case .q6_K: 128 + 64 + 16 + 2
        case .q8_K: 4 + 256 + 32
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks or overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f8_e4m3: "F8_E4M3"
        case .f64: "F64"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        }
    }
}
