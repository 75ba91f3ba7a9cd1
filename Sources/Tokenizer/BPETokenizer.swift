/// Byte-level BPE (GPT-2 style: llama.cpp's `tokenizer.ggml.model = gpt2`, HF `models.BPE` with the
/// ByteLevel pre-tokenizer and decoder).
///
/// Encoding: special tokens are cut out of the text first; each remaining run is split by the
/// pre-tokenizer and each piece is merged to token ids on its raw UTF-8 bytes.
public struct BPETokenizer: Sendable {
    /// GGUF token types (llama.cpp's `llama_token_type`).
    public enum TokenType {
        public static let normal: Int32 = 1
        public static let control: Int32 = 3
        public static let userDefined: Int32 = 4
    }

    public let preTokenizer: PreTokenizer
    public var bosID: Int?
    public var eosID: Int?
    /// Whether the caller should put `bosID` in front of a prompt; `encode` never adds it.
    public var addBOS: Bool

    /// The vocabulary spelling (UTF-8) -> id, for `id(of:)` and for resolving merges.
    private let idsBySpelling: [[UInt8]: Int32]
    /// Raw bytes -> id for whole-piece lookups (only for pre-tokenizers that ignore merges).
    private let idsByBytes: [ArraySlice<UInt8>: Int32]
    /// Every token's raw bytes, concatenated; token `i` is `tokenBytes[tokenOffsets[i]..<tokenOffsets[i+1]]`.
    private let tokenByteStorage: [UInt8]
    private let tokenOffsets: [Int32]
    private let tokenTypes: [Int32]
    private let merger: BPEMerger
    private let specials: SpecialTokenMatcher
    private let cache = PieceCache()

    /// - Parameters:
    ///   - tokens: the vocabulary, ordinary tokens spelled in GPT-2's byte alphabet, CONTROL and
    ///     USER_DEFINED tokens as plain text.
    ///   - tokenTypes: one GGUF token type per token; nil treats every token as ordinary.
    ///   - merges: "left right" merge rules, highest priority first. Rules naming tokens that are not in
    ///     the vocabulary are ignored (they could never apply).
    public init(tokens: [String], tokenTypes: [Int32]?, merges: [String], preTokenizer: PreTokenizer,
                bosID: Int?, eosID: Int?, addBOS: Bool) throws(TokenizerError) {
        guard !tokens.isEmpty else { throw .emptyVocabulary }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .tokenTypeCountMismatch(tokens: tokens.count, types: tokenTypes.count)
        }
        for (name, id) in [("BOS", bosID), ("EOS", eosID)] {
            if let id, !(0..<tokens.count).contains(id) {
                throw .specialTokenOutOfRange(name: name, id: id, vocabSize: tokens.count)
            }
        }
        let types = tokenTypes ?? [Int32](repeating: TokenType.normal, count: tokens.count)

        var idsBySpelling: [[UInt8]: Int32] = [:]
        var idsByBytes: [ArraySlice<UInt8>: Int32] = [:]
        var storage: [UInt8] = []
        var offsets: [Int32] = [0]
        var specials = SpecialTokenMatcher()
        idsBySpelling.reserveCapacity(tokens.count)
        offsets.reserveCapacity(tokens.count + 1)
        for (index, token) in tokens.enumerated() {
            let id = Int32(index)
            let spelling = Array(token.utf8)
            if idsBySpelling[spelling] == nil { idsBySpelling[spelling] = id }
            let decoded = ByteAlphabet.decode(token)
            let type = types[index]
            if type == TokenType.control || type == TokenType.userDefined {
                specials.insert(token, id: index, isControl: type == TokenType.control)
                storage += spelling
            } else {
                // A spelling outside the byte alphabet is taken as raw text, as HF's ByteLevel decoder does.
                storage += decoded ?? spelling
            }
            if preTokenizer.ignoresMerges, let decoded, idsByBytes[decoded[...]] == nil {
                idsByBytes[decoded[...]] = id
            }
            offsets.append(Int32(storage.count))
        }

        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            byteTokens[byte] = idsBySpelling[ByteAlphabet.spellingForByte[byte]] ?? -1
        }

        var mergeTable: [UInt64: UInt64] = [:]
        mergeTable.reserveCapacity(merges.count)
        for (rank, rule) in merges.enumerated() {
            let utf8 = Array(rule.utf8)
            // Split at the first space after the first byte (a token is never empty), as llama.cpp does.
            guard utf8.count >= 3, let space = utf8[1...].firstIndex(of: UInt8(ascii: " ")) else {
                throw .malformedMerge(index: rank, merge: rule)
            }
            let left = Array(utf8[..<space]), right = Array(utf8[(space + 1)...])
            guard let leftID = idsBySpelling[left], let rightID = idsBySpelling[right],
                  let mergedID = idsBySpelling[left + right] else { continue }
            let key = BPEMerger.pairKey(leftID, rightID)
            if mergeTable[key] == nil {
                mergeTable[key] = UInt64(rank) << 32 | UInt64(UInt32(mergedID))
            }
        }

        self.preTokenizer = preTokenizer
        self.bosID = bosID
        self.eosID = eosID
        self.addBOS = addBOS
        self.idsBySpelling = idsBySpelling
        self.idsByBytes = idsByBytes
        self.tokenByteStorage = storage
        self.tokenOffsets = offsets
        self.tokenTypes = types
        self.merger = BPEMerger(byteTokens: byteTokens, merges: mergeTable)
        self.specials = specials
    }

    public var vocabSize: Int { tokenTypes.count }

    /// Token ids of `text`. With `parseSpecial`, CONTROL tokens written in the text (e.g. `<|im_start|>`)
    /// become their ids; without it they are encoded as ordinary text, so user input cannot forge them.
    /// USER_DEFINED tokens are ordinary added vocabulary and always match. Never adds BOS.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        let bytes = Array(text.utf8)
        var output: [Int] = []
        output.reserveCapacity(bytes.count / 3)
        bytes.withUnsafeBufferPointer { buffer in
            var pieces: [Range<Int>] = []
            for segment in specials.segments(buffer, includeControl: parseSpecial) {
                switch segment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    pieces.removeAll(keepingCapacity: true)
                    preTokenizer.appendPieces(of: ScalarText(buffer, range), to: &pieces)
                    for piece in pieces { encodePiece(bytes[piece], buffer, into: &output) }
                }
            }
        }
        return output
    }

    private func encodePiece(_ piece: ArraySlice<UInt8>, _ buffer: UnsafeBufferPointer<UInt8>,
                             into output: inout [Int]) {
        if preTokenizer.ignoresMerges, let id = idsByBytes[piece] {
            output.append(Int(id))
            return
        }
        let cacheable = piece.count <= PieceCache.maxPieceLength
        if cacheable, let ids = cache.lookup(piece) {
            for id in ids { output.append(Int(id)) }
            return
        }
        let start = output.count
        merger.merge(UnsafeBufferPointer(rebasing: buffer[piece.indices]), into: &output)
        if cacheable { cache.store(piece, output[start...].map { Int32($0) }) }
    }

    /// The raw bytes of one token (CONTROL and USER_DEFINED tokens: their text); empty for an invalid id.
    public func tokenBytes(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < vocabSize else { return [] }
        return Array(tokenByteStorage[Int(tokenOffsets[id])..<Int(tokenOffsets[id + 1])])
    }

    /// The text of `ids`; bytes that do not form valid UTF-8 become U+FFFD. With `skipSpecial`, CONTROL
    /// tokens are left out (USER_DEFINED ones are ordinary text and stay, as in HF and llama.cpp).
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < vocabSize {
            if skipSpecial && tokenTypes[id] == TokenType.control { continue }
            bytes += tokenByteStorage[Int(tokenOffsets[id])..<Int(tokenOffsets[id + 1])]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Exact vocabulary lookup by spelling (byte alphabet for ordinary tokens, plain text for special ones).
    public func id(of token: String) -> Int? {
        idsBySpelling[Array(token.utf8)].map(Int.init)
    }

    /// CONTROL or USER_DEFINED: tokens matched whole in text rather than produced by merging.
    public func isSpecial(_ id: Int) -> Bool {
        guard id >= 0 && id < vocabSize else { return false }
        return tokenTypes[id] == TokenType.control || tokenTypes[id] == TokenType.userDefined
    }

    /// CONTROL tokens only (turn markers, BOS/EOS): what `decode(skipSpecial:)` leaves out.
    public func isControl(_ id: Int) -> Bool {
        guard id >= 0 && id < vocabSize else { return false }
        return tokenTypes[id] == TokenType.control
    }
}
