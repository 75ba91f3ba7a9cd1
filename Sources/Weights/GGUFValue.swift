/// One GGUF metadata value (all thirteen GGUF value types).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

    /// The value as an integer, for any integer type (and bool), when it fits in `Int`.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        case .bool(let v): v ? 1 : 0
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: intValue.map(Double.init)
        }
    }

    public var typeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float32: "float32"
        case .float64: "float64"
        case .bool: "bool"
        case .string: "string"
        case .array(let a): "array[\(a.count)]"
        }
    }

    /// A short human-readable rendering (long arrays and strings are elided), for `herd info`.
    public var summary: String {
        switch self {
        case .string(let s):
            let flat = s.replacingOccurrences(of: "\n", with: "\\n")
            return flat.count > 60 ? "\"\(flat.prefix(57))...\" (\(s.utf8.count) bytes)" : "\"\(flat)\""
        case .array(let a):
            let head = a.values.prefix(4).map(\.summary).joined(separator: ", ")
            return a.count > 4 ? "[\(head), ...] (\(a.count) items)" : "[\(head)]"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return intValue.map(String.init) ?? typeName
        }
    }
}

/// A GGUF array: homogeneous values of one element type.
public struct GGUFArray: Sendable, Equatable {
    public let values: [GGUFValue]
    public var count: Int { values.count }
    public init(values: [GGUFValue]) { self.values = values }
}

import Foundation  // replacingOccurrences in `summary` only
