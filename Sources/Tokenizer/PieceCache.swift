import Synchronization

/// Remembers the token ids of recently seen pieces: natural text repeats the same words constantly, and a
/// dictionary hit is much cheaper than merging. Shared by all copies of a tokenizer (it is a class) and
/// safe across threads. Bounded: when full it starts over, which keeps memory flat on adversarial input.
final class PieceCache: Sendable {
    static let capacity = 32_768
    /// Longer pieces are rare and costly to hash and store; they are merged every time.
    static let maxPieceLength = 48

    private let entries = Mutex<[ArraySlice<UInt8>: [Int32]]>([:])

    func lookup(_ piece: ArraySlice<UInt8>) -> [Int32]? {
        entries.withLock { $0[piece] }
    }

    func store(_ piece: ArraySlice<UInt8>, _ ids: [Int32]) {
        // Copy the key so the cache does not keep the caller's whole text alive.
        let key = ArraySlice(Array(piece))
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = ids
        }
    }
}
