@testable import Console
import Testing

struct WidgetTests {
    let palette = Palette(theme: Theme.builtIn[0], mode: .truecolor)
    let unicode = Glyphs(unicode: true)

    func canvas(_ w: Int, _ h: Int) -> (CellGrid, Canvas) {
        let g = CellGrid(width: w, height: h)
        return (g, Canvas(grid: g, rect: g.bounds))
    }

    @Test func barFillsInEighths() {
        let (g, c) = canvas(4, 1)
        Widgets.bar(c, x: 0, y: 0, width: 4, fraction: 0.5, gradient: "hbm", palette, unicode)
        #expect(g.text(row: 0) == "██··")
        Widgets.bar(c, x: 0, y: 0, width: 4, fraction: 0.3, gradient: "hbm", palette, unicode)  // 9.6 eighths -> 10
        #expect(g.text(row: 0) == "█▎··")
        Widgets.bar(c, x: 0, y: 0, width: 4, fraction: 1.7, gradient: "hbm", palette, unicode)  // clamped
        #expect(g.text(row: 0) == "████")
    }

    @Test func aMissingReadingIsDashesNotZero() {
        let (g, c) = canvas(8, 1)
        Widgets.bar(c, x: 0, y: 0, width: 8, fraction: nil, gradient: "hbm", palette, unicode)
        #expect(g.text(row: 0) == "···--···")
        #expect(Format.percent(nil) == "--")
        #expect(Format.duration(nil) == "--")
    }

    @Test func barColourFollowsTheGradient() {
        let (g, c) = canvas(10, 1)
        Widgets.bar(c, x: 0, y: 0, width: 10, fraction: 1, gradient: "hbm", palette, unicode)
        #expect(g[0, 0].style.fg == palette.theme.gradient("hbm").at(1))
        Widgets.bar(c, x: 0, y: 0, width: 10, fraction: 0.1, gradient: "hbm", palette, unicode)
        #expect(g[0, 0].style.fg == palette.theme.gradient("hbm").at(0.1))
    }

    @Test func sparklineRightAlignsTheNewestAndMarksGaps() {
        let (g, c) = canvas(6, 1)
        Widgets.sparkline(c, x: 0, y: 0, width: 6, values: [0, 0.5, nil, 1], maxValue: 1, gradient: "util", palette, unicode)
        #expect(g.text(row: 0) == "  ▁▄·█")
    }

    @Test func brailleGraphDrawsAnAreaFromTheBottom() {
        let (g, c) = canvas(2, 2)
        // Four dot columns over 8 dot rows: 0, a quarter, a half, full.
        Widgets.graph(c, values: [0, 0.25, 0.5, 1], maxValue: 1, gradient: "gen", palette, unicode)
        // Bottom cell, left: column 0 empty, column 1 two dots (bottom two: 0x40|0x04 -> on the right: 0x80|0x20).
        #expect(g[0, 1].character == Character(UnicodeScalar(0x2800 + 0x80 + 0x20)!))
        // Bottom right: both columns full in this cell.
        #expect(g[1, 1].character == "⣿")
        // Top right: column 2 (half) has none up here, column 3 is full.
        #expect(g[1, 0].character == Character(UnicodeScalar(0x2800 + 0x08 + 0x10 + 0x20 + 0x80)!))
        #expect(g[0, 0].character == " ")
    }

    @Test func asciiGlyphsAvoidBlockAndBrailleCharacters() {
        let ascii = Glyphs(unicode: false)
        let (g, c) = canvas(8, 3)
        Widgets.bar(c, x: 0, y: 0, width: 8, fraction: 0.5, gradient: "hbm", palette, ascii)
        Widgets.sparkline(c, x: 0, y: 1, width: 8, values: [0.1, 0.9], maxValue: 1, gradient: "util", palette, ascii)
        Widgets.graph(c.rows(2, 1), values: [1, 1, 0.2], maxValue: 1, gradient: "gen", palette, ascii)
        #expect(g.text.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(g.text(row: 0) == "####....")
    }

    @Test func headerPutsTheTitleOnARule() {
        let (g, c) = canvas(30, 1)
        Widgets.header(c, "GPUs", right: "8 GPUs", palette, unicode)
        #expect(g.text(row: 0) == "─ GPUs ────────────── 8 GPUs ─")
    }

    @Test func numbersFitNarrowColumns() {
        #expect(Format.count(950) == "950")
        #expect(Format.count(1234) == "1.2k")
        #expect(Format.count(25_000) == "25k")
        #expect(Format.count(2_500_000) == "2.5M")
        #expect(Format.count(12.34) == "12.3")
        #expect(Format.gib(150 << 30) == "150.0G")
        #expect(Format.gib(512 << 20) == "512M")
        #expect(Format.duration(0.0123) == "12ms")
        #expect(Format.duration(1.5) == "1.5s")
    }
}
