/// A rectangle on the screen, in columns and rows.
public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }

    /// The rows from `top` on (relative), at most `count` of them.
    public func rows(_ top: Int, _ count: Int) -> Rect {
        let t = min(max(0, top), height)
        return Rect(x: x, y: y + t, width: width, height: min(count, height - t))
    }
    public func columns(_ left: Int, _ count: Int) -> Rect {
        let l = min(max(0, left), width)
        return Rect(x: x + l, y: y, width: min(count, width - l), height: height)
    }
    public func inset(_ dx: Int, _ dy: Int) -> Rect {
        Rect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy)
    }
}

/// The whole screen as cells in memory. Widgets draw here, tests read it back, and only `Terminal`
/// copies it to curses, once per frame.
public final class CellGrid {
    public private(set) var width: Int
    public private(set) var height: Int
    private var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public func resize(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public func clear(_ style: Style = .plain) {
        for i in cells.indices { cells[i] = Cell(" ", style: style) }
    }

    public subscript(x: Int, y: Int) -> Cell {
        cells[y * width + x]
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    /// Sets one cell, keeping wide characters whole: overwriting either half of a wide character blanks
    /// its other half.
    func set(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = y * width + x
        if cells[i].isContinuation, x > 0 { cells[i - 1] = Cell(" ", style: cells[i - 1].style) }
        if x + 1 < width, cells[i + 1].isContinuation { cells[i + 1] = Cell(" ", style: cells[i + 1].style) }
        cells[i] = cell
    }

    /// Writes `text` from (x, y), clipped to `clip`; returns the columns used. A wide character that would
    /// straddle the clip edge is not drawn.
    @discardableResult
    func put(_ text: String, x: Int, y: Int, style: Style, clip: Rect) -> Int {
        guard y >= clip.y, y < clip.maxY, y >= 0, y < height else { return 0 }
        let right = min(clip.maxX, width)
        var col = x
        for ch in text {
            let w = DisplayWidth.of(ch)
            if w == 0 { continue }  // a lone control or combining character: nothing to place
            if col + w > right { break }
            if col >= clip.x && col >= 0 {
                set(col, y, Cell(ch, style: style))
                if w == 2 { set(col + 1, y, Cell(" ", style: style, isContinuation: true)) }
            }
            col += w
        }
        return col - x
    }

    /// Row `y` as text (continuations skipped), for tests.
    public func text(row y: Int) -> String {
        guard y >= 0, y < height else { return "" }
        var s = ""
        for x in 0..<width where !self[x, y].isContinuation { s.append(self[x, y].character) }
        return s
    }

    /// All rows joined with newlines, trailing spaces kept.
    public var text: String { (0..<height).map { text(row: $0) }.joined(separator: "\n") }
}

/// A clipped, translated view of the grid: what a widget draws into. Coordinates are relative to `rect`,
/// and nothing is drawn outside it.
public struct Canvas {
    public let grid: CellGrid
    public let rect: Rect

    public init(grid: CellGrid, rect: Rect) {
        self.grid = grid
        self.rect = Rect(x: max(0, rect.x), y: max(0, rect.y),
                         width: min(rect.maxX, grid.width) - max(0, rect.x), height: min(rect.maxY, grid.height) - max(0, rect.y))
    }

    public var width: Int { rect.width }
    public var height: Int { rect.height }

    public func sub(_ r: Rect) -> Canvas {
        let x = rect.x + r.x, y = rect.y + r.y
        let clipped = Rect(x: x, y: y, width: min(x + r.width, rect.maxX) - x, height: min(y + r.height, rect.maxY) - y)
        return Canvas(grid: grid, rect: clipped)
    }

    /// The canvas from row `top` on, at most `count` rows.
    public func rows(_ top: Int, _ count: Int = Int.max / 2) -> Canvas {
        sub(Rect(x: 0, y: top, width: width, height: min(count, height - top)))
    }

    @discardableResult
    public func text(_ s: String, x: Int = 0, y: Int = 0, _ style: Style = .plain) -> Int {
        grid.put(s, x: rect.x + x, y: rect.y + y, style: style, clip: rect)
    }

    public func cell(_ x: Int, _ y: Int, _ ch: Character, _ style: Style) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        grid.set(rect.x + x, rect.y + y, Cell(ch, style: style))
    }

    public func fill(_ style: Style, _ ch: Character = " ") {
        for y in 0..<height { for x in 0..<width { grid.set(rect.x + x, rect.y + y, Cell(ch, style: style)) } }
    }
}
