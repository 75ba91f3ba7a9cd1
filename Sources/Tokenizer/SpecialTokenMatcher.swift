/// Finds special tokens in raw text: leftmost match first, and the longest token at that position, as
/// HF's added-token matcher (Aho-Corasick, leftmost-longest) does. A byte trie over the token texts.
struct SpecialTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [(byte: UInt8, node: Int32)] = []
        var token: Int32 = -1
        /// CONTROL tokens are matched only when the caller parses special tokens; USER_DEFINED ones are
        /// ordinary added vocabulary and are always matched (as in llama.cpp and HF).
        var isControl = false
    }

    enum Segment: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    private var nodes = [Node()]
    private var startsToken = [Bool](repeating: false, count: 256)
    private(set) var hasUserDefined = false
    var isEmpty: Bool { nodes.count == 1 }

    mutating func insert(_ text: String, id: Int, isControl: Bool) {
        guard !text.isEmpty else { return }
        var node = 0
        for byte in text.utf8 {
            if let child = nodes[node].children.first(where: { $0.byte == byte }) {
                node = Int(child.node)
            } else {
                nodes.append(Node())
                nodes[node].children.append((byte, Int32(nodes.count - 1)))
                node = nodes.count - 1
            }
        }
        // A duplicate text keeps its first id, like a vocabulary lookup would.
        guard nodes[node].token < 0 else { return }
        nodes[node].token = Int32(id)
        nodes[node].isControl = isControl
        startsToken[Int(text.utf8.first!)] = true
        if !isControl { hasUserDefined = true }
    }

    /// Cuts `bytes` into text runs and matched tokens, in order.
    func segments(_ bytes: UnsafeBufferPointer<UInt8>, includeControl: Bool) -> [Segment] {
        guard !isEmpty, includeControl || hasUserDefined else {
            return bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        }
        var result: [Segment] = []
        var textStart = 0
        var i = 0
        while i < bytes.count {
            guard startsToken[Int(bytes[i])], let (id, length) = longestMatch(bytes, at: i, includeControl) else {
                i += 1
                continue
            }
            if textStart < i { result.append(.text(textStart..<i)) }
            result.append(.token(id))
            i += length
            textStart = i
        }
        if textStart < bytes.count { result.append(.text(textStart..<bytes.count)) }
        return result
    }

    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int,
                              _ includeControl: Bool) -> (id: Int, length: Int)? {
        var node = 0
        var best: (id: Int, length: Int)?
        var i = start
        while i < bytes.count, let child = nodes[node].children.first(where: { $0.byte == bytes[i] }) {
            node = Int(child.node)
            i += 1
            let candidate = nodes[node]
            if candidate.token >= 0 && (includeControl || !candidate.isControl) {
                best = (Int(candidate.token), i - start)
            }
        }
        return best
    }
}
