/// The prompt pane: the conversation (wrapped to the pane's width, newest at the bottom, scrollable) and
/// the line being typed. Answers stream in as the engine produces them.
extension ConsoleApp {
    func drawPromptPane(_ c: Canvas) {
        let format = config.chatFormat.map { "chat format \($0.name)" } ?? "no chat template: raw text"
        let state = conversation.streaming ? "streaming · Esc stops" : format
        Widgets.header(c, "Prompt", right: state, focused: focus == .prompt, palette, glyphs)
        guard c.height >= 2 else { return }
        let bodyHeight = c.height - 2
        var lines: [(String, Style)] = []
        if conversation.turns.isEmpty {
            lines.append((" Press Enter and type a message; the answer streams in here.", palette.dim))
            if let e = config.chatFormatError { lines.append((" (\(e))", palette.dim)) }
        }
        for turn in conversation.turns {
            let user = turn.role == "user"
            let prefix = user ? "you   " : "model "
            let body = turn.text.isEmpty && turn.ending == nil ? "…" : turn.text
            for (i, l) in Self.wrap(body, width: max(1, c.width - prefix.count - 1)).enumerated() {
                lines.append(((i == 0 ? " " + prefix : String(repeating: " ", count: prefix.count + 1)) + l, user ? palette.user : palette.model))
            }
            if let ending = turn.ending, ending != "stop" {
                lines.append((String(repeating: " ", count: prefix.count + 1) + "[\(ending)]", ending.hasPrefix("error") ? palette.error : palette.dim))
            }
        }
        let maxScroll = max(0, lines.count - bodyHeight)
        let scroll = min(conversation.scroll, maxScroll)
        let visible = lines.dropLast(scroll).suffix(bodyHeight)
        for (i, (text, style)) in visible.enumerated() { c.text(text, y: 1 + i, style) }
        if scroll > 0 { c.text("↓ \(scroll) more", x: max(0, c.width - 12), y: c.height - 2, palette.dim) }

        // The input line: the end of what is typed, with a cursor when focused.
        let focused = focus == .prompt
        let cursor = focused ? (glyphs.unicode ? "▏" : "_") : ""
        let room = c.width - 3 - DisplayWidth.of(cursor)
        var shown = conversation.input
        while DisplayWidth.of(shown) > room, !shown.isEmpty { shown.removeFirst() }
        let inputStyle = focused ? palette.hi : palette.dim
        let x = c.text(" > ", y: c.height - 1, inputStyle)
        if conversation.input.isEmpty && !focused {
            c.text("(Enter to type)", x: x, y: c.height - 1, palette.dim)
        } else {
            c.text(shown + cursor, x: x, y: c.height - 1, focused ? palette.base : palette.dim)
        }
    }

    /// Splits `text` into lines of at most `width` columns, at spaces where it can, keeping newlines.
    static func wrap(_ text: String, width: Int) -> [String] {
        var out: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = "", lineWidth = 0
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                let w = DisplayWidth.of(word)
                if lineWidth > 0 && lineWidth + 1 + w > width {
                    out.append(line)
                    line = ""
                    lineWidth = 0
                }
                if lineWidth > 0 { line += " "; lineWidth += 1 }
                // A word longer than the line is cut into pieces.
                var rest = String(word)
                while DisplayWidth.of(rest) > width - lineWidth {
                    let piece = DisplayWidth.prefix(rest, fitting: max(1, width - lineWidth))
                    if piece.isEmpty { break }
                    out.append(line + piece)
                    rest.removeFirst(piece.count)
                    line = ""
                    lineWidth = 0
                }
                line += rest
                lineWidth += DisplayWidth.of(rest)
            }
            out.append(line)
        }
        return out
    }
}
