/// What the terminal can show, best first. Chosen once at start from the terminal's colour count,
/// `NO_COLOR` and `--color`.
public enum ColorMode: String, Sendable, CaseIterable {
    case truecolor, ansi256 = "256", ansi16 = "16", none

    /// `NO_COLOR` (any value) wins, then `--color`, then what curses reports.
    public static func choose(requested: ColorMode?, noColorEnv: Bool, terminalColors: Int, hasColors: Bool) -> ColorMode {
        if noColorEnv { return .none }
        let best: ColorMode = !hasColors ? .none
            : terminalColors >= 1 << 24 ? .truecolor
            : terminalColors >= 256 ? .ansi256
            : terminalColors >= 8 ? .ansi16 : .none
        guard let requested else { return best }
        // A request can lower the mode, never raise it past what the terminal shows.
        let order: [ColorMode] = [.none, .ansi16, .ansi256, .truecolor]
        return order[min(order.firstIndex(of: requested)!, order.firstIndex(of: best)!)]
    }

    /// The terminal colour number for `rgb` in this mode (for truecolor, the packed 0xRRGGBB that direct-colour
    /// terminfo entries use); nil in `.none`.
    public func index(of rgb: RGB) -> Int? {
        switch self {
        case .truecolor: Int(rgb.r) << 16 | Int(rgb.g) << 8 | Int(rgb.b)
        case .ansi256: Self.xterm256(rgb)
        case .ansi16: Self.nearest(rgb, in: Self.ansi16Palette)
        case .none: nil
        }
    }

    /// xterm's 16 standard colours.
    static let ansi16Palette: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0), RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205),
        RGB(229, 229, 229), RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0), RGB(92, 92, 255),
        RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    static func distance(_ a: RGB, _ b: RGB) -> Int {
        let dr = Int(a.r) - Int(b.r), dg = Int(a.g) - Int(b.g), db = Int(a.b) - Int(b.b)
        return 2 * dr * dr + 4 * dg * dg + 3 * db * db
    }

    static func nearest(_ rgb: RGB, in palette: [RGB]) -> Int {
        palette.indices.min { distance(palette[$0], rgb) < distance(palette[$1], rgb) }!
    }

    /// The nearer of the 6x6x6 colour cube (16...231) and the grey ramp (232...255).
    static func xterm256(_ c: RGB) -> Int {
        let levels = [0, 95, 135, 175, 215, 255]
        func level(_ v: UInt8) -> Int { levels.indices.min { abs(levels[$0] - Int(v)) < abs(levels[$1] - Int(v)) }! }
        let (r, g, b) = (level(c.r), level(c.g), level(c.b))
        let cube = RGB(UInt8(levels[r]), UInt8(levels[g]), UInt8(levels[b]))
        let mean = (Int(c.r) + Int(c.g) + Int(c.b)) / 3
        let greyStep = min(23, max(0, (mean - 8 + 5) / 10))
        let greyValue = UInt8(8 + 10 * greyStep)
        let grey = RGB(greyValue, greyValue, greyValue)
        return distance(grey, c) < distance(cube, c) ? 232 + greyStep : 16 + 36 * r + 6 * g + b
    }
}
