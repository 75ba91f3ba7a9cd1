import Foundation

/// Seeded pseudo-random weights for synthetic models (benchmarks and demos without a download).
///
/// Element `i` of a tensor with seed `s` is a pure function of `(s, i)` (a SplitMix64 hash, no state), so a
/// GPU kernel can fill any slice of a tensor in parallel and produce the very same bits as this host
/// code: the CPU and GPU engines run identical synthetic models and their logits can be compared.
///
/// Values: `uniform(s, i) * amplitude` with `uniform` in [-1, 1) on a 2^-23 grid, rounded to the
/// tensor's dtype (F32 as is, BF16 round-to-nearest-even). FP8 (E4M3) bytes are drawn directly from the
/// hash (random sign, exponent field 4...8, random mantissa: magnitudes 0.125...3.75) with one F32
/// scale per row that brings the row's expected RMS to the requested standard deviation.
public struct SyntheticWeightSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    /// `.f32`, `.bf16` or `.f8_e4m3` (row-scaled; needs a 2-D shape).
    public var dtype: DType
    public var seed: UInt64
    /// The values' standard deviation (uniform: amplitude = std * sqrt(3)).
    public var std: Float

    public init(name: String, shape: [Int], dtype: DType, seed: UInt64, std: Float) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.seed = seed
        self.std = std
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Half-width of the uniform distribution with this standard deviation.
    public var amplitude: Float { std * Float(3).squareRoot() }
    /// The scale of every row of an FP8 tensor.
    public var fp8RowScale: Float { std / SyntheticWeights.fp8RMS }
}

public enum SyntheticWeights {
    /// SplitMix64's finalizer: a bijective 64-bit mix (Steele, Lea, Flood 2014).
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash of element `index` of the tensor seeded `seed`.
    @inline(__always)
    public static func bits(seed: UInt64, index: UInt64) -> UInt64 {
        mix(seed &* 0xD1B5_4A32_D192_ED03 ^ index)
    }

    /// Uniform in [-1, 1) on a 2^-23 grid (exact in F32).
    @inline(__always)
    public static func uniform(seed: UInt64, index: UInt64) -> Float {
        Float(Int32(truncatingIfNeeded: bits(seed: seed, index: index) >> 40) - 8_388_608) * (1 / 8_388_608)
    }

    /// F32 -> BF16 bits, round to nearest even (values here are finite).
    @inline(__always)
    public static func bf16Bits(_ value: Float) -> UInt16 {
        let b = value.bitPattern
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// An E4M3 byte from a hash: sign bit 63, exponent field 4 + (bits 40... mod 5), mantissa bits 56-58.
    @inline(__always)
    public static func fp8Byte(_ h: UInt64) -> UInt8 {
        let sign = UInt8(truncatingIfNeeded: h >> 63) << 7
        let exponent = UInt8(4 + (h >> 40) % 5)
        let mantissa = UInt8(truncatingIfNeeded: h >> 56) & 7
        return sign | exponent << 3 | mantissa
    }

    /// RMS of `fp8Byte`'s values (every exponent and mantissa equally likely).
    public static let fp8RMS: Float = {
        var sum: Double = 0
        for e in 4...8 { for m in 0..<8 { let v = Double(8 + m) / 8 * pow(2, Double(e - 7)); sum += v * v } }
        return Float((sum / 40).squareRoot())
    }()

    /// A stable 64-bit seed for a named tensor of a model seeded `seed` (FNV-1a of the name, then mixed).
    public static func seed(model seed: UInt64, tensor name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return mix(h ^ mix(seed))
    }

    /// Fills `count` elements starting at element `start` of the tensor described by `spec` into `out`
    /// (raw bytes of `spec.dtype`).
    public static func fill(_ spec: SyntheticWeightSpec, start: Int, count: Int, into out: UnsafeMutableRawPointer) {
        let seed = spec.seed, amplitude = spec.amplitude
        switch spec.dtype {
        case .f32:
            let p = out.assumingMemoryBound(to: Float.self)
            for i in 0..<count { p[i] = uniform(seed: seed, index: UInt64(start + i)) * amplitude }
        case .bf16:
            let p = out.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { p[i] = bf16Bits(uniform(seed: seed, index: UInt64(start + i)) * amplitude) }
        case .f8_e4m3:
            let p = out.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { p[i] = fp8Byte(bits(seed: seed, index: UInt64(start + i))) }
        default:
            preconditionFailure("synthetic weights are F32, BF16 or F8_E4M3, not \(spec.dtype)")
        }
    }

    /// The whole tensor in host memory (filled on all cores), with its FP8 row scales when FP8.
    public static func host(_ spec: SyntheticWeightSpec) -> (weight: HostTensor, rowScales: HostTensor?) {
        let count = spec.elementCount
        let bytes = OwnedHostBytes(count: count * spec.dtype.blockBytes)
        let chunk = 1 << 20
        let chunks = (count + chunk - 1) / chunk
        let base = UnsafeSendablePointer(bytes.pointer), width = spec.dtype.blockBytes
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * chunk
            fill(spec, start: start, count: min(chunk, count - start), into: base.pointer + start * width)
        }
        let weight = HostTensor(name: spec.name, dtype: spec.dtype, shape: spec.shape, bytes: bytes.buffer, owner: bytes)
        guard spec.dtype == .f8_e4m3 else { return (weight, nil) }
        let rows = spec.shape.first ?? 1
        let scales = OwnedHostBytes(count: rows * 4)
        let s = scales.pointer.assumingMemoryBound(to: Float.self)
        for r in 0..<rows { s[r] = spec.fp8RowScale }
        return (weight, HostTensor(name: spec.name + "_scale", dtype: .f32, shape: [rows], bytes: scales.buffer, owner: scales))
    }
}

/// Host bytes owned by a tensor made at run time (not mapped from a file).
public final class OwnedHostBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    public init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// A raw pointer handed to concurrent workers that write disjoint ranges.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}

extension ComputeBackend {
    /// The default: generate on the host (all cores) and take the result like any loaded weight.
    public func syntheticWeight(_ spec: SyntheticWeightSpec) throws -> Tensor { try hostSyntheticWeight(spec) }

    /// Generates on the host and takes the result like any loaded weight (GPU backends that generate in
    /// device memory fall back to it for small tensors).
    public func hostSyntheticWeight(_ spec: SyntheticWeightSpec) throws -> Tensor {
        let (weight, scales) = SyntheticWeights.host(spec)
        if let scales { return try self.weight(weight, rowScales: scales) }
        return try self.weight(weight)
    }
}
