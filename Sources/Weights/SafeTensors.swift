import Compute

/// One tensor of a safetensors file: where its bytes are and what they hold.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    /// The header's dtype string ("BF16", "F8_E4M3", ...).
    public let dtypeName: String
    /// nil for dtypes Herd has no `DType` for (U8, BOOL, F8_E5M2, ...): such tensors (vision parts,
    /// say) may be present, but asking for their data is an error.
    public let dtype: DType?
    public let shape: [Int]
    /// Absolute byte range in the file (the header's `data_offsets` plus the data section's start).
    public let range: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON header (an object: tensor name ->
/// `{"dtype", "shape", "data_offsets": [begin, end]}` with offsets relative to the data section, plus an
/// optional `"__metadata__"` object of strings), then the data section. Every length and offset is checked
/// against the file before use: the header must fit in the file, each tensor's range must lie inside the
/// data section, match dtype x shape exactly and not overlap another tensor.
public final class SafeTensorsFile: Sendable {
    public let path: String
    /// Tensors in header order.
    public let tensors: [SafeTensorInfo]
    public let metadata: [String: String]
    /// Offset of the data section in the file (8 + header length).
    public let dataOffset: Int
    private let index: [String: Int]
    public let mapping: MappedFile

    /// Headers larger than this are refused before parsing (the format's reference reader uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Bytes per element of every dtype the format defines (so that tensors of dtypes Herd cannot use are
    /// still checked and can be skipped).
    static let elementBytes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
    ]
    static let dtypes: [String: DType] = [
        "F32": .f32, "F16": .f16, "BF16": .bf16, "F8_E4M3": .f8_e4m3, "F64": .f64,
        "I8": .i8, "I16": .i16, "I32": .i32, "I64": .i64,
    ]

    public convenience init(path: String) throws(ModelFileError) {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(ModelFileError) {
        mapping = file
        path = file.path
        let bytes = file.bytes
        let path = file.path
        guard bytes.count >= 8 else {
            throw ModelFileError(path, "truncated safetensors file: \(bytes.count) bytes, the header length alone needs 8")
        }
        let declared = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard declared <= UInt64(bytes.count - 8) else {
            throw ModelFileError(path, "safetensors header length \(declared) runs past the end of the file (\(bytes.count) bytes)")
        }
        guard declared <= UInt64(Self.maxHeaderBytes) else {
            throw ModelFileError(path, "safetensors header length \(declared) exceeds the \(Self.maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(declared)
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw ModelFileError(path, "not a safetensors file (the header does not start with a JSON object)")
        }
        let header: JSONValue
        do {
            header = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]))
        } catch {
            throw ModelFileError(path, "safetensors header: \(error)")
        }
        guard let members = header.objectValue else {
            throw ModelFileError(path, "safetensors header is \(header.kind), expected an object")
        }
        dataOffset = 8 + headerLength
        let dataSize = bytes.count - dataOffset

        var tensors: [SafeTensorInfo] = []
        var metadata: [String: String] = [:]
        var index: [String: Int] = [:]
        for (name, entry) in members {
            if name == "__metadata__" {
                guard let pairs = entry.objectValue else {
                    throw ModelFileError(path, "safetensors __metadata__ is \(entry.kind), expected an object of strings")
                }
                for (key, value) in pairs {
                    guard let s = value.stringValue else {
                        throw ModelFileError(path, "safetensors __metadata__ \"\(key)\" is \(value.kind), expected a string")
                    }
                    metadata[key] = s
                }
                continue
            }
            let info = try Self.tensorInfo(name: name, entry: entry, dataSize: dataSize, dataOffset: dataOffset, path: path)
            index[name] = tensors.count  // duplicates were already refused by the JSON parser
            tensors.append(info)
        }
        // No two tensors may share bytes (a hostile header could alias one tensor's data as another's).
        let byStart = tensors.filter { !$0.range.isEmpty }.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw ModelFileError(path, "tensors \"\(a.name)\" and \"\(b.name)\" overlap in the data section")
        }
        self.tensors = tensors
        self.metadata = metadata
        self.index = index
    }

    private static func tensorInfo(name: String, entry: JSONValue, dataSize: Int, dataOffset: Int,
                                   path: String) throws(ModelFileError) -> SafeTensorInfo {
        func bad(_ reason: String) -> ModelFileError { ModelFileError(path, "tensor \"\(name)\": \(reason)") }
        guard entry.objectValue != nil else { throw bad("header entry is \(entry.kind), expected an object") }
        guard let dtypeName = entry["dtype"]?.stringValue else { throw bad("missing or non-string \"dtype\"") }
        guard let width = elementBytes[dtypeName] else { throw bad("unknown dtype \"\(dtypeName)\"") }
        guard let dims = entry["shape"]?.arrayValue else { throw bad("missing or non-array \"shape\"") }
        var shape: [Int] = []
        var elements = 1
        for d in dims {
            guard let n = d.intValue, n >= 0 else { throw bad("shape \(dims.map(\.kind)) has a dimension that is not a non-negative integer") }
            shape.append(n)
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow, product <= dataSize else { throw bad("shape \(shape) is larger than the file") }
            elements = product
        }
        guard let offsets = entry["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue
        else { throw bad("\"data_offsets\" must be two integers") }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw bad("data_offsets [\(begin), \(end)] lie outside the data section of \(dataSize) bytes")
        }
        guard end - begin == elements * width else {
            throw bad("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtypeName) \(shape) needs \(elements * width)")
        }
        return SafeTensorInfo(name: name, dtypeName: dtypeName, dtype: dtypes[dtypeName], shape: shape,
                              range: (dataOffset + begin)..<(dataOffset + end))
    }

    public func tensor(named name: String) -> SafeTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's bytes in the mapping (no copy).
    public func data(for info: SafeTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[info.range])
    }

    /// The tensor as a `HostTensor` for a backend; an error (naming file and tensor) for dtypes Herd has no
    /// type for.
    public func hostTensor(_ info: SafeTensorInfo) throws(ModelFileError) -> HostTensor {
        guard let dtype = info.dtype else {
            throw ModelFileError(path, "tensor \"\(info.name)\" has dtype \(info.dtypeName), which Herd cannot use (supported: BF16, F16, F32, F8_E4M3)")
        }
        return HostTensor(name: info.name, dtype: dtype, shape: info.shape, bytes: data(for: info), owner: mapping)
    }
}
