import Compute
import Foundation
import Weights

/// Writes small GGUF files for tests: any metadata (all value types), tensors with raw bytes.
public struct GGUFWriter {
    public enum Value {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), u64(UInt64), i64(Int64)
        case f32(Float), f64(Double), bool(Bool), string(String)
        /// Element type id and values (all of that type).
        case array(UInt32, [Value])
    }
    public struct TensorEntry {
        public var name: String
        public var dims: [UInt64]
        public var type: UInt32
        public var data: [UInt8]
    }

    public var version: UInt32 = 3
    public var alignment = 32
    public var metadata: [(String, Value)] = []
    public var tensors: [TensorEntry] = []

    public init(version: UInt32 = 3) { self.version = version }

    public mutating func add(_ key: String, _ value: Value) { metadata.append((key, value)) }

    public mutating func addTensor(_ name: String, dims: [Int], type: DType, data: [UInt8]) {
        tensors.append(TensorEntry(name: name, dims: dims.map(UInt64.init), type: type.rawValue, data: data))
    }

    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out += Array(s.utf8) }
        func typeID(_ v: Value) -> UInt32 {
            switch v {
            case .u8: 0
            case .i8: 1
            case .u16: 2
            case .i16: 3
            case .u32: 4
            case .i32: 5
            case .f32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .u64: 10
            case .i64: 11
            case .f64: 12
            }
        }
        func putValue(_ v: Value) {
            switch v {
            case .u8(let x): put(x)
            case .i8(let x): put(x)
            case .u16(let x): put(x)
            case .i16(let x): put(x)
            case .u32(let x): put(x)
            case .i32(let x): put(x)
            case .u64(let x): put(x)
            case .i64(let x): put(x)
            case .f32(let x): put(x.bitPattern)
            case .f64(let x): put(x.bitPattern)
            case .bool(let x): put(UInt8(x ? 1 : 0))
            case .string(let s): putString(s)
            case .array(let type, let values):
                put(type)
                put(UInt64(values.count))
                values.forEach(putValue)
            }
        }
        out += Array("GGUF".utf8)
        put(version)
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key)
            put(typeID(value))
            putValue(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            putString(t.name)
            put(UInt32(t.dims.count))
            t.dims.forEach { put($0) }
            put(t.type)
            put(UInt64(o))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out += t.data
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// Writes the file to a fresh temporary path and returns it.
    public func write(name: String = "test") throws -> String {
        try TemporaryFile.write(bytes(), name: name + ".gguf")
    }
}

public enum TemporaryFile {
    /// Writes `bytes` to a new file in a per-process temporary folder.
    public static func write(_ bytes: [UInt8], name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("\(UUID().uuidString)-\(name)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
