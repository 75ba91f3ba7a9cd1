/// The Unicode classes the pre-tokenizer regexes test, as bit flags per scalar.
/// `\s` is the White_Space property (what Oniguruma and Rust's regex mean by Unicode `\s`); a scalar with
/// none of letter/number/space is what the regexes write as `[^\s\p{L}\p{N}]`.
struct CharClass: OptionSet {
    let rawValue: UInt8

    static let letter = CharClass(rawValue: 1 << 0)   // \p{L}
    static let number = CharClass(rawValue: 1 << 1)   // \p{N}
    static let space = CharClass(rawValue: 1 << 2)    // \s
    static let newline = CharClass(rawValue: 1 << 3)  // \r or \n
    static let upper = CharClass(rawValue: 1 << 4)    // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    static let lower = CharClass(rawValue: 1 << 5)    // [\p{Ll}\p{Lm}\p{Lo}\p{M}]

    /// ASCII is the hot path, so it is a table; everything else asks the scalar's properties.
    private static let ascii: [CharClass] = (0..<128).map { compute(Unicode.Scalar(UInt8($0))) }

    static func of(_ scalar: Unicode.Scalar) -> CharClass {
        scalar.value < 128 ? ascii[Int(scalar.value)] : compute(scalar)
    }

    private static func compute(_ scalar: Unicode.Scalar) -> CharClass {
        let properties = scalar.properties
        var result: CharClass = properties.isWhitespace ? .space : []
        if scalar == "\r" || scalar == "\n" { result.insert(.newline) }
        switch properties.generalCategory {
        case .uppercaseLetter, .titlecaseLetter: result.formUnion([.letter, .upper])
        case .lowercaseLetter: result.formUnion([.letter, .lower])
        case .modifierLetter, .otherLetter: result.formUnion([.letter, .upper, .lower])
        case .nonspacingMark, .spacingMark, .enclosingMark: result.formUnion([.upper, .lower])
        case .decimalNumber, .letterNumber, .otherNumber: result.insert(.number)
        default: break
        }
        return result
    }
}

/// A run of UTF-8 text decoded once into scalars, their classes and their byte offsets, so that the
/// splitters can look ahead and back freely and hand out byte ranges for BPE.
struct ScalarText {
    private(set) var values: [UInt32] = []
    private(set) var classes: [CharClass] = []
    /// `offsets[i]` is the byte offset of scalar `i`; one extra entry holds the end.
    private(set) var offsets: [Int] = []

    var count: Int { values.count }

    /// `bytes[range]` must be valid UTF-8 (it always is: it comes from a String, cut at scalar boundaries).
    init(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        values.reserveCapacity(range.count)
        classes.reserveCapacity(range.count)
        offsets.reserveCapacity(range.count + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            let lead = UInt32(bytes[i])
            var value: UInt32
            var length: Int
            switch lead {
            case ..<0x80: value = lead; length = 1
            case ..<0xE0: value = lead & 0x1F; length = 2
            case ..<0xF0: value = lead & 0x0F; length = 3
            default: value = lead & 0x07; length = 4
            }
            for k in 1..<length { value = value << 6 | UInt32(bytes[i + k] & 0x3F) }
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            values.append(value)
            classes.append(CharClass.of(scalar))
            offsets.append(i)
            i += length
        }
        offsets.append(range.upperBound)
    }

    @inline(__always) func has(_ i: Int, _ flags: CharClass) -> Bool { !classes[i].isDisjoint(with: flags) }
    /// `[^\s\p{L}\p{N}]`
    @inline(__always) func isOther(_ i: Int) -> Bool { classes[i].isDisjoint(with: [.letter, .number, .space]) }
    /// `[^\r\n\p{L}\p{N}]`
    @inline(__always) func isPrefix(_ i: Int) -> Bool { classes[i].isDisjoint(with: [.letter, .number, .newline]) }
}
