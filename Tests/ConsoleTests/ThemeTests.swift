@testable import Console
import Foundation
import Testing

struct ThemeTests {
    static var repoRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test func parsesBtopColourForms() throws {
        let t = try Theme.parse("""
            # a comment
            theme[main_bg]="#102030"
            theme[main_fg]="#80"
            theme[hi_fg]="255 128 0"
            theme[title]=""
              theme[div_line] = "#ABCDEF"
            """, name: "t")
        #expect(t.color("main_bg") == RGB(0x10, 0x20, 0x30))
        #expect(t.color("main_fg") == RGB(0x80, 0x80, 0x80))
        #expect(t.color("hi_fg") == RGB(255, 128, 0))
        #expect(t.color("title") == nil)  // "" means the terminal's default
        #expect(t.color("div_line") == RGB(0xAB, 0xCD, 0xEF))
        #expect(t.color("user_fg") == RGB(255, 128, 0))  // falls back to hi_fg
    }

    @Test func aBadLineIsAnErrorWithItsLineNumber() {
        #expect(throws: Theme.ParseError.self) { try Theme.parse("theme[a]=\"#10\"\nnonsense", name: "bad") }
        do { _ = try Theme.parse("theme[a]=\"#10\"\ntheme[b]=\"#xyz\"", name: "bad") } catch {
            #expect("\(error)".contains("line 2"))
        }
    }

    @Test func gradientsInterpolateStartMidEnd() throws {
        let t = try Theme.parse("theme[x_start]=\"#000000\"\ntheme[x_mid]=\"#808080\"\ntheme[x_end]=\"#ffffff\"", name: "g")
        let g = t.gradient("x")
        #expect(g.at(0) == RGB(0, 0, 0))
        #expect(g.at(0.5) == RGB(128, 128, 128))
        #expect(g.at(1) == RGB(255, 255, 255))
        #expect(g.at(0.25) == RGB(64, 64, 64))
        #expect(g.at(7) == RGB(255, 255, 255))  // clamped
        let two = try Theme.parse("theme[y_start]=\"#000000\"\ntheme[y_end]=\"#ff0000\"", name: "g").gradient("y")
        #expect(two.at(0.5) == RGB(128, 0, 0))
    }

    @Test func builtInThemesEqualTheFilesInThemes() throws {
        let dir = Self.repoRoot.appendingPathComponent("Themes")
        for name in ["dark", "light", "basic"] {
            let text = try String(contentsOf: dir.appendingPathComponent("\(name).theme"), encoding: .utf8)
            #expect(try Theme.parse(text, name: name) == Theme.builtIn.first { $0.name == name }, "Themes/\(name).theme differs from BuiltinThemes.swift")
        }
        #expect(Theme.builtInNames == ["dark", "light", "basic"])
    }

    @Test func everyBuiltInThemeHasTheGradientsThePanesUse() {
        for theme in Theme.builtIn {
            for key in ["hbm", "power", "util", "temp", "batch", "prompt", "gen", "heat"] {
                #expect(theme.colors[key + "_start"] != nil, "\(theme.name) lacks \(key)_start")
                #expect(theme.colors[key + "_end"] != nil, "\(theme.name) lacks \(key)_end")
            }
        }
    }

    @Test func basicThemeUsesOnlyTheSixteenStandardColours() throws {
        let basic = try #require(Theme.builtIn.first { $0.name == "basic" })
        for (key, rgb) in basic.colors {
            #expect(ColorMode.ansi16Palette.contains(rgb), "basic: \(key) is not one of the 16 colours")
        }
    }

    @Test func loadsByNameOrPath() throws {
        #expect(try Theme.load("light").name == "light")
        let path = NSTemporaryDirectory() + "herd-test-\(UInt32.random(in: 0...UInt32.max)).theme"
        try "theme[main_fg]=\"#010203\"".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try Theme.load(path).color("main_fg") == RGB(1, 2, 3))
        #expect(throws: Theme.ParseError.self) { try Theme.load("no-such-theme", environment: ["HOME": "/nonexistent"]) }
    }

    @Test func colourModeRespectsNoColorAndNeverExceedsTheTerminal() {
        #expect(ColorMode.choose(requested: nil, noColorEnv: true, terminalColors: 1 << 24, hasColors: true) == .none)
        #expect(ColorMode.choose(requested: nil, noColorEnv: false, terminalColors: 1 << 24, hasColors: true) == .truecolor)
        #expect(ColorMode.choose(requested: nil, noColorEnv: false, terminalColors: 256, hasColors: true) == .ansi256)
        #expect(ColorMode.choose(requested: nil, noColorEnv: false, terminalColors: 8, hasColors: true) == .ansi16)
        #expect(ColorMode.choose(requested: nil, noColorEnv: false, terminalColors: 0, hasColors: false) == .none)
        #expect(ColorMode.choose(requested: .truecolor, noColorEnv: false, terminalColors: 256, hasColors: true) == .ansi256)
        #expect(ColorMode.choose(requested: .ansi16, noColorEnv: false, terminalColors: 256, hasColors: true) == .ansi16)
    }

    @Test func rgbMapsToTheNearestTerminalColour() {
        #expect(ColorMode.ansi256.index(of: RGB(255, 0, 0)) == 196)
        #expect(ColorMode.ansi256.index(of: RGB(0, 0, 0)) == 16)
        #expect(ColorMode.ansi256.index(of: RGB(128, 128, 128)) == 244)  // grey ramp, not the cube
        #expect(ColorMode.ansi256.index(of: RGB(95, 135, 175)) == 16 + 36 * 1 + 6 * 2 + 3)
        #expect(ColorMode.ansi16.index(of: RGB(205, 0, 0)) == 1)
        #expect(ColorMode.ansi16.index(of: RGB(250, 250, 250)) == 15)
        #expect(ColorMode.truecolor.index(of: RGB(0x12, 0x34, 0x56)) == 0x123456)
        #expect(ColorMode.none.index(of: RGB(1, 2, 3)) == nil)
    }
}
