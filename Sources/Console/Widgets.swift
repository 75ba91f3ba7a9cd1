/// Small drawing helpers shared by the panes. Each draws into a `Canvas` and never outside it.
enum Widgets {
    /// A pane header: `─ Title ─────── right ─`.
    static func header(_ c: Canvas, _ title: String, right: String = "", focused: Bool = false, _ p: Palette, _ g: Glyphs) {
        guard c.height > 0 else { return }
        let rule = String(repeating: g.rule, count: max(0, c.width))
        c.text(rule, p.divider)
        let used = c.text(" \(title) ", x: 1, focused ? p.selected : p.title)
        if !right.isEmpty {
            let r = DisplayWidth.truncate(" \(right) ", to: max(0, c.width - used - 3))
            c.text(r, x: max(used + 2, c.width - DisplayWidth.of(r) - 1), p.dim)
        }
    }

    /// A horizontal bar of `fraction` (0...1) over `width` cells in eighth-block steps; nil draws a dim
    /// `--` track (no reading: not a 0).
    static func bar(_ c: Canvas, x: Int, y: Int, width: Int, fraction: Double?, gradient: String, _ p: Palette, _ g: Glyphs) {
        guard width > 0 else { return }
        c.text(String(repeating: g.barTrack, count: width), x: x, y: y, p.meterTrack)
        guard let fraction, fraction.isFinite else {
            c.text("--", x: x + max(0, width / 2 - 1), y: y, p.dim)
            return
        }
        let f = min(1, max(0, fraction))
        let eighths = Int((f * Double(width) * 8).rounded())
        let style = p.gradient(gradient, f)
        for i in 0..<width {
            let filled = min(8, max(0, eighths - i * 8))
            if filled > 0 { c.cell(x + i, y, g.barEighths[filled - 1], style) }
        }
    }

    /// A one-row history: each value (scaled by `maxValue`) as a block height, newest at the right; nil
    /// values (no reading) are a dim dot.
    static func sparkline(_ c: Canvas, x: Int, y: Int, width: Int, values: [Double?], maxValue: Double, gradient: String,
                          _ p: Palette, _ g: Glyphs) {
        guard width > 0 else { return }
        let shown = values.suffix(width)
        var col = x + width - shown.count
        for v in shown {
            if let v, maxValue > 0 {
                let t = min(1, max(0, v / maxValue))
                let level = min(7, Int(t * 7.999))
                c.cell(col, y, g.levels[level], p.gradient(gradient, t))
            } else {
                c.cell(col, y, g.missing, p.dim)
            }
            col += 1
        }
    }

    /// An area graph in braille (2 x 4 dots per cell), newest at the right, scaled to `maxValue`. With ASCII
    /// glyphs, one column per value in `#`.
    static func graph(_ c: Canvas, values: [Double], maxValue: Double, gradient: String, _ p: Palette, _ g: Glyphs) {
        guard c.width > 0, c.height > 0, maxValue > 0 else { return }
        let perCell = g.unicode ? 2 : 1
        let dotRows = c.height * (g.unicode ? 4 : 1)
        let shown = Array(values.suffix(c.width * perCell))
        let offset = c.width * perCell - shown.count
        // Height in dots of each dot column.
        func dots(_ column: Int) -> Int {
            let i = column - offset
            guard i >= 0, i < shown.count else { return 0 }
            let v = min(1, max(0, shown[i] / maxValue))
            return v > 0 ? max(1, Int((v * Double(dotRows)).rounded())) : 0
        }
        for cx in 0..<c.width {
            for cy in 0..<c.height {
                let t = 1 - Double(cy) / Double(max(1, c.height))
                let style = p.gradient(gradient, t)
                if !g.unicode {
                    if dots(cx) >= c.height - cy { c.cell(cx, cy, "#", style) }
                    continue
                }
                // Braille dot bits: left column 0x01,0x02,0x04,0x40 top to bottom; right 0x08,0x10,0x20,0x80.
                let left: [UInt32] = [0x01, 0x02, 0x04, 0x40], right: [UInt32] = [0x08, 0x10, 0x20, 0x80]
                var bits: UInt32 = 0
                let bottomDot = (c.height - 1 - cy) * 4  // dots below this cell
                for r in 0..<4 {
                    let level = bottomDot + (3 - r) + 1  // this dot row's height from the bottom
                    if dots(cx * 2) >= level { bits |= left[r] }
                    if dots(cx * 2 + 1) >= level { bits |= right[r] }
                }
                if bits != 0 { c.cell(cx, cy, Character(UnicodeScalar(0x2800 + bits)!), style) }
            }
        }
    }
}

/// Number formatting for narrow columns.
enum Format {
    /// 1234 -> "1.2k", 2_500_000 -> "2.5M".
    static func count(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e9 { return String(format1: v / 1e9) + "G" }
        if a >= 1e6 { return String(format1: v / 1e6) + "M" }
        if a >= 1e4 { return String(Int((v / 1e3).rounded())) + "k" }
        if a >= 1e3 { return String(format1: v / 1e3) + "k" }
        if a >= 100 || v == v.rounded() { return String(Int(v.rounded())) }
        return String(format1: v)
    }

    /// Bytes in GiB with one decimal ("150.2"), or MiB below 1 GiB.
    static func gib(_ bytes: UInt64) -> String {
        let g = Double(bytes) / Double(1 << 30)
        return g >= 1 ? String(format1: g) + "G" : String(Int(Double(bytes) / Double(1 << 20))) + "M"
    }

    /// Seconds as "850ms" / "1.2s" / "12µs".
    static func duration(_ s: Double?) -> String {
        guard let s, s.isFinite else { return "--" }
        if s >= 1 { return String(format1: s) + "s" }
        if s >= 1e-3 { return String(Int((s * 1e3).rounded())) + "ms" }
        return String(Int((s * 1e6).rounded())) + "µs"
    }

    static func percent(_ f: Double?) -> String {
        guard let f, f.isFinite else { return "--" }
        return String(Int((f * 100).rounded())) + "%"
    }
}

extension String {
    /// One decimal place, without Foundation's locale-dependent formatting.
    init(format1 v: Double) {
        let tenths = Int((v * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        self = "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    /// Pads on the left to `width` display columns.
    func leftPadded(_ width: Int) -> String {
        let w = DisplayWidth.of(self)
        return w >= width ? self : String(repeating: " ", count: width - w) + self
    }

    func rightPadded(_ width: Int) -> String {
        let w = DisplayWidth.of(self)
        return w >= width ? self : self + String(repeating: " ", count: width - w)
    }
}
