/// Byte-pair merging of one piece, working on token ids: the piece starts as one token per byte and the
/// adjacent pair with the lowest merge rank is merged, leftmost first, until no pair has a merge.
/// Same algorithm and tie-breaking as HF tokenizers' `Word::merge_all` (a min-heap of (rank, position)
/// with stale entries skipped), so long pieces stay O(n log n).
struct BPEMerger: Sendable {
    /// Token id of each single byte, -1 where the vocabulary lacks it (HF then drops the byte).
    let byteTokens: [Int32]
    /// `left << 32 | right` -> `rank << 32 | merged`.
    let merges: [UInt64: UInt64]

    @inline(__always) static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    private struct Symbol {
        var token: Int32
        var prev: Int32
        var next: Int32
    }

    func merge(_ piece: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        var symbols: [Symbol] = []
        symbols.reserveCapacity(piece.count)
        for byte in piece {
            let token = byteTokens[Int(byte)]
            guard token >= 0 else { continue }
            let index = Int32(symbols.count)
            symbols.append(Symbol(token: token, prev: index - 1, next: index + 1))
        }
        guard !symbols.isEmpty else { return }
        symbols[symbols.count - 1].next = -1
        if symbols.count > 1 { mergeAll(&symbols) }
        var index: Int32 = 0
        while index >= 0 {
            output.append(Int(symbols[Int(index)].token))
            index = symbols[Int(index)].next
        }
    }

    private func mergeAll(_ symbols: inout [Symbol]) {
        // Heap entries are `rank << 32 | position`: smallest rank first, then leftmost.
        var heap = MinHeap()
        for position in 0..<(symbols.count - 1) {
            if let entry = merges[Self.pairKey(symbols[position].token, symbols[position + 1].token)] {
                heap.push(entry & 0xFFFF_FFFF_0000_0000 | UInt64(position))
            }
        }
        while let top = heap.pop() {
            let position = Int(top & 0xFFFF_FFFF)
            let rank = top >> 32
            let left = symbols[position]
            // Skip entries made stale by earlier merges: the symbol was absorbed (token -1), has no right
            // neighbour any more, or its pair changed.
            guard left.token >= 0, left.next >= 0 else { continue }
            let rightIndex = Int(left.next)
            guard let entry = merges[Self.pairKey(left.token, symbols[rightIndex].token)], entry >> 32 == rank
            else { continue }

            let merged = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)
            let next = symbols[rightIndex].next
            symbols[position].token = merged
            symbols[position].next = next
            symbols[rightIndex].token = -1
            if next >= 0 { symbols[Int(next)].prev = Int32(position) }

            let prev = left.prev
            if prev >= 0, let entry = merges[Self.pairKey(symbols[Int(prev)].token, merged)] {
                heap.push(entry & 0xFFFF_FFFF_0000_0000 | UInt64(prev))
            }
            if next >= 0, let entry = merges[Self.pairKey(merged, symbols[Int(next)].token)] {
                heap.push(entry & 0xFFFF_FFFF_0000_0000 | UInt64(position))
            }
        }
    }
}

/// A binary min-heap of packed keys.
private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ item: UInt64) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            let right = left + 1
            let child = right < items.count && items[right] < items[left] ? right : left
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            parent = child
        }
        return top
    }
}
