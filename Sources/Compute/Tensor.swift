/// A tensor that lives on a compute backend: a flat row-major buffer of `shape` (last dimension innermost).
///
/// `data` is a host address on the CPU backend and a device address on GPU backends; only the backend that
/// made a tensor dereferences it. `owner` keeps the memory alive (a mapped model file, a buffer).
///
/// `@unchecked Sendable`: the tensor object itself is immutable; concurrent access to the memory it points
/// at is ordered by the engine, which runs one step at a time.
public final class Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeMutableRawPointer
    public let byteCount: Int
    let owner: AnyObject?

    public init(dtype: DType, shape: [Int], data: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.byteCount = byteCount
        self.owner = owner
    }

    /// Elements in one row (the innermost dimension).
    public var rowLength: Int { shape.last ?? 1 }
    /// Number of rows (the product of the outer dimensions).
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Weight bytes as stored in a model file, in host memory (usually a memory map), before a backend takes
/// them. `shape` is row-major: `[rows, rowLength]` for a matrix.
public struct HostTensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    /// Keeps `bytes` valid (the mapped file).
    public let owner: AnyObject
    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }
}
