/// The pre-tokenizer regexes as hand-written matchers with the semantics of a backtracking engine
/// (Oniguruma, which HF tokenizers uses): alternatives are tried left to right and the first that
/// matches wins, even if a later one would match more; greedy quantifiers give back scalars only as far
/// as needed for the rest of the alternative to match.
///
/// Each matcher gets the text, a start scalar `i` and the end of the current segment (lookahead does
/// not see past it), and returns the end of the match. Every scalar is a letter, a number, a space
/// or "other", and every regex has an alternative for each, so a match always exists.
enum PieceMatchers {
    private static let apostrophe = UInt32(UInt8(ascii: "'"))
    private static let space = UInt32(UInt8(ascii: " "))
    private static let slash = UInt32(UInt8(ascii: "/"))

    // MARK: the three regexes

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2(_ t: ScalarText, _ i: Int, _ end: Int) -> Int {
        if let j = contraction(t, i, end, caseInsensitive: false) { return j }
        // The optional space only belongs to the piece if a letter/number/other run follows it.
        let start = t.values[i] == space && i + 1 < end ? i + 1 : i
        if t.has(start, .letter) { return run(t, start, end, .letter) }
        if t.has(start, .number) { return run(t, start, end, .number) }
        if let j = otherRun(t, i, end, trailing: .none) { return j }
        return whitespace(t, i, end, newlineAlternative: false)
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func llama3(_ t: ScalarText, _ i: Int, _ end: Int) -> Int {
        if let j = contraction(t, i, end, caseInsensitive: true) { return j }
        if t.has(i, .letter) { return run(t, i, end, .letter) }
        if i + 1 < end && t.isPrefix(i) && t.has(i + 1, .letter) { return run(t, i + 1, end, .letter) }
        if t.has(i, .number) { return run(t, i, min(end, i + 3), .number) }
        if let j = otherRun(t, i, end, trailing: .newlines) { return j }
        return whitespace(t, i, end, newlineAlternative: true)
    }

    /// GPT-4o / Llama 4:
    /// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
    /// `|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
    /// `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func gpt4o(_ t: ScalarText, _ i: Int, _ end: Int) -> Int {
        // `[^\r\n\p{L}\p{N}]?` first tries to take one scalar, and gives it back only if the rest fails.
        let prefixed = i + 1 < end && t.isPrefix(i)
        if prefixed, let j = upperThenLower(t, i + 1, end) { return j }
        if let j = upperThenLower(t, i, end) { return j }
        if prefixed, let j = upperRun(t, i + 1, end) { return j }
        if let j = upperRun(t, i, end) { return j }
        if t.has(i, .number) { return run(t, i, min(end, i + 3), .number) }
        if let j = otherRun(t, i, end, trailing: .newlinesAndSlashes) { return j }
        return whitespace(t, i, end, newlineAlternative: true)
    }

    // MARK: pieces of the regexes

    /// `U*W+C?` at `s` (U = upper-ish, W = lower-ish, C = contraction). `U*` first takes the whole
    /// upper-ish run, then gives back scalars until a lower-ish one can start `W+`.
    private static func upperThenLower(_ t: ScalarText, _ s: Int, _ end: Int) -> Int? {
        var j = run(t, s, end, .upper)
        while true {
            if j < end && t.has(j, .lower) {
                let w = run(t, j, end, .lower)
                return contraction(t, w, end, caseInsensitive: true) ?? w
            }
            if j == s { return nil }
            j -= 1
        }
    }

    /// `U+W*C?` at `s`.
    private static func upperRun(_ t: ScalarText, _ s: Int, _ end: Int) -> Int? {
        guard t.has(s, .upper) else { return nil }
        let w = run(t, run(t, s, end, .upper), end, .lower)
        return contraction(t, w, end, caseInsensitive: true) ?? w
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i`. Case-insensitive matching folds like Oniguruma's `(?i)`, where the
    /// long s `ſ` (U+017F) also matches `s`; no other scalar folds onto these letters.
    private static func contraction(_ t: ScalarText, _ i: Int, _ end: Int, caseInsensitive: Bool) -> Int? {
        guard i + 1 < end, t.values[i] == apostrophe else { return nil }
        func letter(_ k: Int) -> UInt8 {
            guard k < end else { return 0 }
            let v = t.values[k]
            if caseInsensitive {
                if v >= 0x41 && v <= 0x5A { return UInt8(v + 0x20) }
                if v == 0x17F { return UInt8(ascii: "s") }
            }
            return v < 0x80 ? UInt8(v) : 0
        }
        switch letter(i + 1) {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"): return letter(i + 2) == UInt8(ascii: "e") ? i + 3 : nil
        case UInt8(ascii: "l"): return letter(i + 2) == UInt8(ascii: "l") ? i + 3 : nil
        default: return nil
        }
    }

    enum Trailing { case none, newlines, newlinesAndSlashes }

    /// ` ?[^\s\p{L}\p{N}]+` followed by `[\r\n]*` or `[\r\n/]*`.
    private static func otherRun(_ t: ScalarText, _ i: Int, _ end: Int, trailing: Trailing) -> Int? {
        let start = t.values[i] == space && i + 1 < end && t.isOther(i + 1) ? i + 1 : i
        guard t.isOther(start) else { return nil }
        var j = start + 1
        while j < end && t.isOther(j) { j += 1 }
        switch trailing {
        case .none: break
        case .newlines: j = run(t, j, end, .newline)
        case .newlinesAndSlashes: while j < end && (t.has(j, .newline) || t.values[j] == slash) { j += 1 }
        }
        return j
    }

    /// The whitespace alternatives at a space scalar: `\s*[\r\n]+` (when `newlineAlternative`), then
    /// `\s+(?!\S)`, then `\s+`.
    private static func whitespace(_ t: ScalarText, _ i: Int, _ end: Int, newlineAlternative: Bool) -> Int {
        var q = i
        var lastNewline = -1
        while q < end && t.has(q, .space) {
            if t.has(q, .newline) { lastNewline = q }
            q += 1
        }
        // `\s*[\r\n]+`: `\s*` backtracks to the last newline of the run, `[\r\n]+` then ends right after it.
        if newlineAlternative && lastNewline >= 0 { return lastNewline + 1 }
        // `\s+(?!\S)`: at the end of the segment the whole run; before a non-space, the run minus its last
        // scalar (which then starts the next piece), unless that leaves nothing and `\s+` takes the one scalar.
        if q == end || q - i <= 1 { return max(q, i + 1) }
        return q - 1
    }

    @inline(__always)
    private static func run(_ t: ScalarText, _ i: Int, _ end: Int, _ flags: CharClass) -> Int {
        var j = i
        while j < end && t.has(j, flags) { j += 1 }
        return j
    }
}
