@testable import Console
import Testing

struct CellGridTests {
    @Test func textIsClippedToTheCanvas() {
        let grid = CellGrid(width: 10, height: 2)
        let c = Canvas(grid: grid, rect: Rect(x: 2, y: 0, width: 5, height: 1))
        let used = c.text("abcdefgh")
        #expect(used == 5)
        #expect(grid.text(row: 0) == "  abcde   ")
        c.text("zz", y: 1)  // outside the canvas: nothing drawn
        #expect(grid.text(row: 1) == "          ")
    }

    @Test func wideCharactersTakeTwoColumns() {
        let grid = CellGrid(width: 6, height: 1)
        Canvas(grid: grid, rect: grid.bounds).text("a漢b")
        #expect(grid[1, 0].character == "漢")
        #expect(grid[2, 0].isContinuation)
        #expect(grid[3, 0].character == "b")
        #expect(grid.text(row: 0) == "a漢b  ")
    }

    @Test func aWideCharacterThatWouldStraddleTheEdgeIsNotDrawn() {
        let grid = CellGrid(width: 4, height: 1)
        let used = Canvas(grid: grid, rect: grid.bounds).text("abc漢")
        #expect(used == 3)
        #expect(grid.text(row: 0) == "abc ")
        #expect(!grid[3, 0].isContinuation)
    }

    @Test func overwritingHalfAWideCharacterBlanksTheOtherHalf() {
        let grid = CellGrid(width: 4, height: 1)
        let c = Canvas(grid: grid, rect: grid.bounds)
        c.text("漢字")
        c.text("x", x: 1)  // the right half of 漢
        #expect(grid.text(row: 0) == " x字")
        c.text("y", x: 2)  // the left half of 字
        #expect(grid.text(row: 0) == " xy ")
        #expect((0..<4).allSatisfy { !grid[$0, 0].isContinuation })
    }

    @Test func displayWidthMeasuresColumnsNotCharacters() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("漢字") == 4)
        #expect(DisplayWidth.of("한국") == 4)
        #expect(DisplayWidth.of("ｶﾀｶﾅ") == 4)  // halfwidth katakana: one column each
        #expect(DisplayWidth.of("e\u{301}") == 1)  // e + combining acute: one grapheme, one column
        #expect(DisplayWidth.of("🚀") == 2)
        #expect(DisplayWidth.of("❤️") == 2)  // text heart + emoji presentation selector
        #expect(DisplayWidth.of("▁█·") == 3)
        #expect(DisplayWidth.of("\u{200B}") == 0)  // zero width space
    }

    @Test func truncationCountsColumns() {
        #expect(DisplayWidth.truncate("漢字漢字", to: 5) == "漢字…")
        #expect(DisplayWidth.truncate("short", to: 10) == "short")
        #expect(DisplayWidth.truncate("abcdef", to: 0) == "")
    }
}
