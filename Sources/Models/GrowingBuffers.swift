/// Activation buffers sized for the most rows asked for so far: built once, rebuilt only when a larger
/// batch arrives, so a steady stream of steps allocates nothing.
final class GrowingBuffers<Buffers> {
    private var current: (rows: Int, buffers: Buffers)?
    private let make: (Int) -> Buffers

    init(_ make: @escaping (_ rows: Int) -> Buffers) { self.make = make }

    func callAsFunction(rows: Int) -> Buffers {
        if let c = current, c.rows >= rows { return c.buffers }
        let size = max(rows, 1)
        let buffers = make(size)
        current = (size, buffers)
        return buffers
    }
}
