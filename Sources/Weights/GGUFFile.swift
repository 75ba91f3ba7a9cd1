import Compute

/// A GGUF model file (versions 2 and 3), memory-mapped.
///
/// Format: magic "GGUF", version, tensor count, metadata count, then key/value pairs, then tensor infos
/// (name, dims, type, offset), then the tensor data at the next multiple of `general.alignment`
/// (default 32). Every count, length and offset is checked against the file size before it is used, so a
/// truncated or hostile file gives a `ModelFileError` naming the file and the problem, never a crash or a
/// huge allocation.
public final class GGUFFile: Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order, and by key.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Offset of the tensor data section in the file.
    public let dataOffset: Int
    private let tensorIndex: [String: Int]
    private let file: MappedFile

    public convenience init(path: String) throws(ModelFileError) {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(ModelFileError) {
        self.file = file
        self.path = file.path
        var reader = ByteReader(bytes: file.bytes, path: file.path)

        let magic = try reader.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw ModelFileError(path, "not a GGUF file (magic bytes are \(hex(magic)), expected \"GGUF\")")
        }
        version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw ModelFileError(path, "unsupported GGUF version \(version) (supported: 2, 3)")
        }
        let tensorCount = try reader.count(minBytesEach: 4 + 8 + 4 + 4 + 8, "tensor count")
        let kvCount = try reader.count(minBytesEach: 8 + 4 + 1, "metadata count")

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        for index in 0..<kvCount {
            let key = try reader.string("key of metadata entry \(index)")
            guard values[key] == nil else { throw ModelFileError(path, "duplicate metadata key \"\(key)\"") }
            let type = try reader.read(UInt32.self, "type of \"\(key)\"")
            values[key] = try reader.value(type: type, depth: 0, key)
            keys.append(key)
        }
        metadataKeys = keys
        metadata = values

        var alignment = 32
        if let value = values["general.alignment"] {
            guard let a = value.intValue, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw ModelFileError(path, "general.alignment must be a power of two, got \(value.summary)")
            }
            alignment = a
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try reader.string("name of tensor \(i)")
            guard index[name] == nil else { throw ModelFileError(path, "duplicate tensor \"\(name)\"") }
            let nDims = try reader.read(UInt32.self, "dimension count of tensor \"\(name)\"")
            guard (1...4).contains(nDims) else {
                throw ModelFileError(path, "tensor \"\(name)\" has \(nDims) dimensions (1 to 4 allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try reader.read(UInt64.self, "dimensions of tensor \"\(name)\"")
                guard d > 0, d < 1 << 40 else {
                    throw ModelFileError(path, "tensor \"\(name)\" has an absurd dimension \(d)")
                }
                dims.append(Int(d))
            }
            let rawType = try reader.read(UInt32.self, "type of tensor \"\(name)\"")
            guard let type = DType(rawValue: rawType) else {
                throw ModelFileError(path, "tensor \"\(name)\" has unknown or unsupported type id \(rawType)")
            }
            let offset = try reader.read(UInt64.self, "offset of tensor \"\(name)\"")
            var elements = 1
            for d in dims {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, p < 1 << 48 else {
                    throw ModelFileError(path, "tensor \"\(name)\" has too many elements \(dims)")
                }
                elements = p
            }
            guard dims[0] % type.blockSize == 0, let size = type.byteCount(elements: elements) else {
                throw ModelFileError(path,
                    "tensor \"\(name)\": row length \(dims[0]) is not a multiple of \(type)'s block size \(type.blockSize)")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw ModelFileError(path, "tensor \"\(name)\" offset \(offset) is not aligned to \(alignment)")
            }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(clamping: offset), byteCount: size))
        }

        let headerEnd = reader.offset
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        let dataBytes = file.bytes.count - min(dataOffset, file.bytes.count)
        for info in infos {
            let (end, overflow) = info.offset.addingReportingOverflow(info.byteCount)
            guard !overflow, end <= dataBytes else {
                throw ModelFileError(path,
                    "tensor \"\(info.name)\" (\(info.byteCount) bytes at data offset \(info.offset)) lies past the end of the file: truncated? (\(dataBytes) data bytes present)")
            }
        }
        tensors = infos
        tensorIndex = index
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes, in place in the mapping (valid while this `GGUFFile` lives).
    public func data(for tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    /// The mapping that backs tensor data; holding it keeps `data(for:)` pointers valid.
    public var mapping: MappedFile { file }

    // MARK: typed metadata access; errors name the key and the file.

    public func value(_ key: String) throws(ModelFileError) -> GGUFValue {
        guard let v = metadata[key] else { throw ModelFileError(path, "missing metadata key \"\(key)\"") }
        return v
    }

    public func string(_ key: String) throws(ModelFileError) -> String {
        guard case .string(let s) = try value(key) else { throw wrongType(key, "string") }
        return s
    }

    public func optionalString(_ key: String) -> String? {
        if case .string(let s) = metadata[key] { return s }
        return nil
    }

    public func int(_ key: String) throws(ModelFileError) -> Int {
        guard let i = try value(key).intValue else { throw wrongType(key, "integer") }
        return i
    }

    public func optionalInt(_ key: String) -> Int? { metadata[key]?.intValue }

    public func double(_ key: String) throws(ModelFileError) -> Double {
        guard let d = try value(key).doubleValue else { throw wrongType(key, "number") }
        return d
    }

    public func optionalDouble(_ key: String) -> Double? { metadata[key]?.doubleValue }

    public func optionalBool(_ key: String) -> Bool? {
        if case .bool(let b) = metadata[key] { return b }
        return nil
    }

    public func stringArray(_ key: String) throws(ModelFileError) -> [String] {
        guard case .array(let a) = try value(key) else { throw wrongType(key, "array of strings") }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a.values {
            guard case .string(let s) = v else { throw wrongType(key, "array of strings") }
            out.append(s)
        }
        return out
    }

    public func int32Array(_ key: String) throws(ModelFileError) -> [Int32] {
        guard case .array(let a) = try value(key) else { throw wrongType(key, "array of integers") }
        var out: [Int32] = []
        out.reserveCapacity(a.count)
        for v in a.values {
            guard let i = v.intValue, let i32 = Int32(exactly: i) else { throw wrongType(key, "array of int32") }
            out.append(i32)
        }
        return out
    }

    private func wrongType(_ key: String, _ expected: String) -> ModelFileError {
        ModelFileError(path, "metadata \"\(key)\" should be \(expected), found \(metadata[key]?.typeName ?? "nothing")")
    }
}

/// Where one tensor lies in a GGUF file. `dims[0]` is the innermost (row) length, as in ggml.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let dims: [Int]
    public let type: DType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { dims.reduce(1, *) }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

/// A bounds-checked little-endian cursor over the mapped header.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0
    /// Nested arrays deeper than this are refused (real files use none).
    static let maxDepth = 4

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(ModelFileError) -> T {
        guard remaining >= MemoryLayout<T>.size else {
            throw ModelFileError(path, "truncated header: file ends while reading \(what()) at byte \(offset)")
        }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    /// A u64 count of items that each take at least `minBytesEach` bytes: refused if the rest of the file
    /// could not hold that many, so a hostile count never turns into a huge allocation.
    mutating func count(minBytesEach: Int, _ what: @autoclosure () -> String) throws(ModelFileError) -> Int {
        let n = try read(UInt64.self, what())
        guard n <= UInt64(remaining / minBytesEach) else {
            throw ModelFileError(path, "\(what()) \(n) is impossible for a file of \(bytes.count) bytes")
        }
        return Int(n)
    }

    mutating func string(_ what: @autoclosure () -> String) throws(ModelFileError) -> String {
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw ModelFileError(path, "truncated header: \(what()) claims \(length) bytes, \(remaining) left")
        }
        let n = Int(length)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func value(type: UInt32, depth: Int, _ key: String) throws(ModelFileError) -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, "value of \"\(key)\""))
        case 1: return .int8(try read(Int8.self, "value of \"\(key)\""))
        case 2: return .uint16(try read(UInt16.self, "value of \"\(key)\""))
        case 3: return .int16(try read(Int16.self, "value of \"\(key)\""))
        case 4: return .uint32(try read(UInt32.self, "value of \"\(key)\""))
        case 5: return .int32(try read(Int32.self, "value of \"\(key)\""))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, "value of \"\(key)\"")))
        case 7:
            let b = try read(UInt8.self, "value of \"\(key)\"")
            guard b <= 1 else { throw ModelFileError(path, "metadata \"\(key)\": bool byte is \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string("value of \"\(key)\""))
        case 9:
            guard depth < Self.maxDepth else { throw ModelFileError(path, "metadata \"\(key)\": arrays nested too deeply") }
            let elementType = try read(UInt32.self, "array type of \"\(key)\"")
            guard let size = Self.minSize(of: elementType) else {
                throw ModelFileError(path, "metadata \"\(key)\": unknown array element type \(elementType)")
            }
            let n = try count(minBytesEach: size, "length of array \"\(key)\"")
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(type: elementType, depth: depth + 1, key)) }
            return .array(GGUFArray(values: values))
        case 10: return .uint64(try read(UInt64.self, "value of \"\(key)\""))
        case 11: return .int64(try read(Int64.self, "value of \"\(key)\""))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, "value of \"\(key)\"")))
        default: throw ModelFileError(path, "metadata \"\(key)\" has unknown value type \(type)")
        }
    }

    /// The fewest bytes one value of a GGUF type can take (used to bound array lengths).
    static func minSize(of type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 8: 8
        case 9: 12
        case 10, 11, 12: 8
        default: nil
        }
    }
}
