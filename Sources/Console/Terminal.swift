import CNcursesw
import Foundation

/// The one type that calls curses: sets the terminal up and restores it, copies a `CellGrid` to the
/// screen, maps RGB to colour pairs, and reads keys. Used from the render loop's thread only.
final class Terminal {
    let colorMode: ColorMode
    private var pairs: [PairKey: Int32] = [:]
    private var nextPair: Int32 = 1
    private let maxPairs: Int
    /// What is on the screen now, so a frame only sends the cells that changed.
    private var shown: [Cell] = []
    private var shownWidth = 0
    private var isOpen = true

    private struct PairKey: Hashable { let fg: Int32, bg: Int32 }

    /// The terminal's stderr while stderr goes to the log file.
    private var savedStderr: Int32 = -1

    /// Takes over the terminal: wide-character locale, raw keys, no echo, hidden cursor, colours. Anything
    /// written to stderr meanwhile goes to `logPath`.
    init(requestedColor: ColorMode?, noColor: Bool, logPath: String?) throws {
        setlocale(LC_ALL, "")
        guard isatty(STDIN_FILENO) != 0, isatty(STDOUT_FILENO) != 0 else {
            throw ConsoleError("the console needs a terminal (stdin and stdout must be a tty); use `herd chat` or `herd serve` otherwise")
        }
        if let logPath {
            let fd = Foundation.open(logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            if fd >= 0 {
                savedStderr = dup(STDERR_FILENO)
                dup2(fd, STDERR_FILENO)
                Foundation.close(fd)
                herd_set_saved_stderr(savedStderr)
            }
        }
        guard initscr() != nil else { throw ConsoleError("cannot initialise the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))") }
        herd_install_signal_handlers()
        cbreak()
        noecho()
        nonl()
        keypad(herd_stdscr(), true)
        set_escdelay(25)  // Esc alone arrives in 25 ms instead of curses' default second
        curs_set(0)
        var colors = 0
        if has_colors() {
            start_color()
            use_default_colors()
            colors = Int(herd_colors())
        }
        colorMode = ColorMode.choose(requested: requestedColor, noColorEnv: noColor, terminalColors: colors, hasColors: has_colors())
        maxPairs = Int(herd_color_pairs())
    }

    /// Restores the terminal; safe to call twice.
    func close() {
        guard isOpen else { return }
        isOpen = false
        endwin()
        herd_restore_signal_handlers()
        if savedStderr >= 0 {
            dup2(savedStderr, STDERR_FILENO)
            Foundation.close(savedStderr)
            savedStderr = -1
            herd_set_saved_stderr(-1)
        }
    }

    deinit { close() }

    var size: (width: Int, height: Int) {
        (Int(getmaxx(herd_stdscr())), Int(getmaxy(herd_stdscr())))
    }

    /// SIGINT or SIGTERM arrived (Ctrl-C): the loop quits cleanly.
    var quitSignalled: Bool { herd_quit_requested() != 0 }

    /// Copies the grid to the screen (only the cells that changed) and updates the terminal once.
    func draw(_ grid: CellGrid) {
        if shownWidth != grid.width || shown.count != grid.width * grid.height {
            shown = Array(repeating: Cell("\u{0}"), count: grid.width * grid.height)
            shownWidth = grid.width
            werase(herd_stdscr())
        }
        var chars = [wchar_t](repeating: 0, count: 6)
        var cc = cchar_t()
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cell = grid[x, y]
                let i = y * grid.width + x
                if cell.isContinuation || shown[i] == cell { continue }
                // A wide character in the last column cannot be drawn: curses would wrap it.
                let fits = DisplayWidth.of(cell.character) < 2 || x + 1 < grid.width
                var n = 0
                for s in (fits ? cell.character : " ").unicodeScalars where n < 5 {
                    chars[n] = wchar_t(bitPattern: s.value)
                    n += 1
                }
                chars[n] = 0
                var pair = pairNumber(cell.style)
                setcchar(&cc, chars, attributes(cell.style), 0, &pair)
                mvwadd_wch(herd_stdscr(), Int32(y), Int32(x), &cc)
                shown[i] = cell
            }
        }
        wrefresh(herd_stdscr())
    }

    /// Forget what is on screen (after a resize or a theme change), so the next frame redraws every cell.
    func invalidate() {
        shown.removeAll()
        clearok(herd_stdscr(), true)
    }

    private func attributes(_ s: Style) -> attr_t {
        var a: attr_t = 0
        if s.bold { a |= herd_a_bold() }
        if s.dim { a |= herd_a_dim() }
        if s.reverse { a |= herd_a_reverse() }
        if s.underline { a |= herd_a_underline() }
        return a
    }

    /// The colour pair for a style, made on first use. When the terminal runs out of pairs the table starts
    /// over (one frame may show old colours for a moment).
    private func pairNumber(_ s: Style) -> Int32 {
        guard colorMode != .none else { return 0 }
        let fg = s.fg.flatMap { colorMode.index(of: $0) }.map(Int32.init) ?? -1
        let bg = s.bg.flatMap { colorMode.index(of: $0) }.map(Int32.init) ?? -1
        if fg == -1 && bg == -1 { return 0 }
        let key = PairKey(fg: fg, bg: bg)
        if let p = pairs[key] { return p }
        if Int(nextPair) >= maxPairs {
            pairs.removeAll()
            nextPair = 1
        }
        let p = nextPair
        nextPair += 1
        init_extended_pair(p, fg, bg)
        pairs[key] = p
        return p
    }

    /// Waits up to `timeoutMs` for a key; nil when none came. The render loop sleeps here between frames.
    func readKey(timeoutMs: Int) -> Key? {
        wtimeout(herd_stdscr(), Int32(timeoutMs))
        var ch: wint_t = 0
        let r = wget_wch(herd_stdscr(), &ch)
        if r == ERR { return nil }
        if r == herd_key_code_yes() {
            switch Int32(ch) {
            case KEY_RESIZE: return .resize
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_BACKSPACE: return .backspace
            case KEY_DC: return .delete
            case KEY_BTAB: return .backTab
            case KEY_ENTER: return .enter
            case KEY_F0 + 1...KEY_F0 + 12: return .function(Int(Int32(ch) - KEY_F0))
            default: return nil
            }
        }
        return Key.fromScalar(UInt32(ch))
    }
}

/// A console failure shown to the user as one line.
public struct ConsoleError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
