/// A 24-bit colour. Themes are written in RGB; the terminal maps it down to what it can show.
public struct RGB: Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// Linear mix: `t` = 0 gives self, 1 gives `other`.
    public func mixed(with other: RGB, _ t: Double) -> RGB {
        let t = min(1, max(0, t))
        func m(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        return RGB(m(r, other.r), m(g, other.g), m(b, other.b))
    }
}

/// How one cell looks. nil colours mean the terminal's default.
public struct Style: Hashable, Sendable {
    public var fg: RGB?
    public var bg: RGB?
    public var bold = false
    public var dim = false
    public var reverse = false
    public var underline = false

    public init(fg: RGB? = nil, bg: RGB? = nil, bold: Bool = false, dim: Bool = false, reverse: Bool = false,
                underline: Bool = false) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    public static let plain = Style()
}

/// One terminal column. A wide character (CJK, most emoji) fills its own cell and marks the next one as a
/// continuation, so every row always has exactly `width` columns.
public struct Cell: Equatable, Sendable {
    public var character: Character
    public var style: Style
    /// The right half of a wide character: drawn by the cell to its left.
    public var isContinuation: Bool

    public init(_ character: Character = " ", style: Style = .plain, isContinuation: Bool = false) {
        self.character = character
        self.style = style
        self.isContinuation = isContinuation
    }
}
