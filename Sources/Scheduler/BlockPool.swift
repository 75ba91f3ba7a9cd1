/// The KV cache's blocks: reference counts, a free queue in LRU order, and the prefix-cache map from
/// block hash to block (vLLM v1 `block_pool.py`).
///
/// Block 0 is reserved (vLLM's "null block"), so `usableBlocks = blockCount - 1`. Freed blocks that hold a
/// cached prefix go to the tail of the free queue (evicted last, oldest first); blocks without a hash go
/// to the head (reused first). Allocation pops from the head and evicts whatever hash the block carried.
public struct BlockPool: Sendable {
    public let blockCount: Int
    public let blockSize: Int
    public let prefixCaching: Bool

    /// Per block: references held by requests.
    public private(set) var refCounts: [Int32]
    /// Per block: the prefix hash it is registered under, if any.
    private var hashes: [BlockHash?]
    /// Doubly linked free queue over block ids (-1 = none).
    private var next: [Int32]
    private var prev: [Int32]
    private var inFreeQueue: [Bool]
    private var head: Int32 = -1
    private var tail: Int32 = -1
    public private(set) var freeCount = 0
    private var cached: [BlockHash: Int32] = [:]

    public init(blockCount: Int, blockSize: Int, prefixCaching: Bool) {
        precondition(blockCount >= 2 && blockSize >= 1)
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        refCounts = [Int32](repeating: 0, count: blockCount)
        hashes = [BlockHash?](repeating: nil, count: blockCount)
        next = [Int32](repeating: -1, count: blockCount)
        prev = [Int32](repeating: -1, count: blockCount)
        inFreeQueue = [Bool](repeating: false, count: blockCount)
        refCounts[0] = 1  // the null block is never handed out
        for b in 1..<blockCount { append(Int32(b)) }
    }

    public var usableBlocks: Int { blockCount - 1 }
    public var usedBlocks: Int { usableBlocks - freeCount }
    /// vLLM's `kv_cache_usage`: cached blocks nobody references count as free.
    public var usage: Double { 1 - Double(freeCount) / Double(usableBlocks) }
    public var cachedBlockCount: Int { cached.count }

    /// Takes `count` blocks from the head of the free queue, evicting their cached hashes. nil if too few.
    public mutating func allocate(_ count: Int) -> [Int32]? {
        guard count <= freeCount else { return nil }
        var blocks: [Int32] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let b = head
            remove(b)
            if let h = hashes[Int(b)] {
                cached[h] = nil
                hashes[Int(b)] = nil
            }
            refCounts[Int(b)] = 1
            blocks.append(b)
        }
        return blocks
    }

    /// A cached block for this hash whose stored content matches, if any.
    public func lookup(_ hash: BlockHash) -> Int32? {
        guard prefixCaching, let b = cached[hash] else { return nil }
        return b
    }

    /// Takes a reference to a cached block found by `lookup` (pulling it out of the free queue if idle).
    public mutating func touch(_ block: Int32) {
        if refCounts[Int(block)] == 0 { remove(block) }
        refCounts[Int(block)] += 1
    }

    /// Registers a full block under its prefix hash (no-op if another block already holds that hash).
    public mutating func commit(_ block: Int32, hash: BlockHash) {
        guard prefixCaching, hashes[Int(block)] == nil, cached[hash] == nil else { return }
        cached[hash] = block
        hashes[Int(block)] = hash
    }

    /// Drops one reference from each block, last block first (vLLM frees a request's blocks in reverse,
    /// so the tail of a prefix is evicted before its head).
    public mutating func release(_ blocks: [Int32]) {
        for b in blocks.reversed() {
            refCounts[Int(b)] -= 1
            precondition(refCounts[Int(b)] >= 0, "block \(b) released more often than taken")
            if refCounts[Int(b)] == 0 {
                if hashes[Int(b)] != nil { append(b) } else { prepend(b) }
            }
        }
    }

    /// Forgets every cached prefix (blocks stay where they are).
    public mutating func resetPrefixCache() {
        cached.removeAll()
        for i in hashes.indices { hashes[i] = nil }
    }

    // MARK: free queue

    private mutating func append(_ b: Int32) {
        prev[Int(b)] = tail
        next[Int(b)] = -1
        if tail >= 0 { next[Int(tail)] = b } else { head = b }
        tail = b
        inFreeQueue[Int(b)] = true
        freeCount += 1
    }

    private mutating func prepend(_ b: Int32) {
        next[Int(b)] = head
        prev[Int(b)] = -1
        if head >= 0 { prev[Int(head)] = b } else { tail = b }
        head = b
        inFreeQueue[Int(b)] = true
        freeCount += 1
    }

    private mutating func remove(_ b: Int32) {
        precondition(inFreeQueue[Int(b)], "block \(b) is not free")
        let p = prev[Int(b)], n = next[Int(b)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        inFreeQueue[Int(b)] = false
        freeCount -= 1
    }
}

/// The hash of a full block: its tokens chained to the hash of the block before it, so one hash stands
/// for the whole prefix up to that block. The tokens themselves are kept too and compared on lookup, so
/// a 64-bit collision can never hand a request somebody else's KV.
public struct BlockHash: Hashable, Sendable {
    public let value: UInt64
    public let parent: UInt64
    public let tokens: [Int32]

    public init(parent: BlockHash?, tokens: ArraySlice<Int32>) {
        let parentValue = parent?.value ?? 0x6A09_E667_F3BC_C908  // a fixed seed for the first block
        var h: UInt64 = parentValue ^ 0x9E37_79B9_7F4A_7C15
        for t in tokens {  // FNV-1a style mixing over the token ids, then a final avalanche
            h = (h ^ UInt64(UInt32(bitPattern: t))) &* 0x0000_0100_0000_01B3
        }
        h ^= h >> 33; h &*= 0xFF51_AFD7_ED55_8CCD; h ^= h >> 33
        value = h
        self.parent = parentValue
        self.tokens = Array(tokens)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
