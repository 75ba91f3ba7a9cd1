/// A theme resolved for the terminal's colour mode: the styles widgets use. Without colour, meaning moves
/// to attributes (bold titles, reverse-video selection and status line, dim for stale readings).
public struct Palette {
    public let theme: Theme
    public let mode: ColorMode

    public init(theme: Theme, mode: ColorMode) {
        self.theme = theme
        self.mode = mode
    }

    private var colored: Bool { mode != .none }
    private var bg: RGB? { colored ? theme.color("main_bg") : nil }

    /// Foreground `key` on the main background.
    public func fg(_ key: String) -> Style { Style(fg: colored ? theme.color(key) : nil, bg: bg) }

    public var base: Style { fg("main_fg") }
    public var title: Style { var s = fg("title"); s.bold = true; return s }
    public var hi: Style { var s = fg("hi_fg"); s.bold = !colored; return s }
    public var dim: Style { var s = fg("inactive_fg"); s.dim = !colored; return s }
    public var divider: Style { fg("div_line") }
    public var error: Style { var s = fg("error_fg"); s.bold = true; return s }
    public var warn: Style { fg("warn_fg") }
    public var ok: Style { fg("ok_fg") }
    public var user: Style { var s = fg("user_fg"); s.bold = true; return s }
    public var model: Style { fg("model_fg") }
    public var selected: Style {
        colored ? Style(fg: theme.color("selected_fg"), bg: theme.color("selected_bg"), bold: true) : Style(bold: true, reverse: true)
    }
    public var status: Style {
        colored ? Style(fg: theme.color("status_fg"), bg: theme.color("status_bg")) : Style(reverse: true)
    }
    public var statusKey: Style {
        colored ? Style(fg: theme.color("hi_fg"), bg: theme.color("status_bg"), bold: true) : Style(bold: true, reverse: true)
    }
    public var overlay: Style {
        colored ? Style(fg: theme.color("main_fg"), bg: theme.color("overlay_bg")) : Style(reverse: true)
    }

    /// A colour from gradient `key` at `t` (0...1), on the main background.
    public func gradient(_ key: String, _ t: Double) -> Style {
        Style(fg: colored ? theme.gradient(key).at(t) : nil, bg: bg)
    }

    /// The meter's empty track.
    public var meterTrack: Style { Style(fg: colored ? theme.color("meter_bg") : nil, bg: bg) }
}

/// Glyphs for bars, sparklines and graphs: Unicode blocks and braille, or plain ASCII for fonts that lack
/// them (`--glyphs ascii`).
public struct Glyphs: Sendable {
    public let unicode: Bool
    public init(unicode: Bool) { self.unicode = unicode }

    /// Partial-cell fills for horizontal bars, 1/8 to 8/8.
    var barEighths: [Character] { unicode ? ["▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"] : ["#", "#", "#", "#", "#", "#", "#", "#"] }
    var barTrack: Character { unicode ? "·" : "." }
    /// Sparkline levels, lowest first.
    var levels: [Character] { unicode ? ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] : ["_", ".", ":", "-", "=", "+", "*", "#"] }
    var rule: Character { unicode ? "─" : "-" }
    var missing: Character { unicode ? "·" : " " }
    /// Heat map shades for the colourless mode, coolest first.
    var shades: [Character] { unicode ? ["·", "░", "▒", "▓", "█"] : [".", ":", "+", "*", "#"] }
}
