import Engine
import Foundation
import Telemetry

/// One frame: title bar, the panes that fit, the status line, and the help overlay on top.
extension ConsoleApp {
    public func render(into grid: CellGrid) {
        grid.clear(palette.base)
        let screen = Canvas(grid: grid, rect: grid.bounds)
        guard grid.width >= 1, grid.height >= 1 else { return }
        if grid.height < 3 || grid.width < 16 {
            screen.text(DisplayWidth.truncate("herd: enlarge the terminal", to: grid.width), palette.hi)
            return
        }
        drawTitleBar(screen.rows(0, 1))
        drawStatusLine(screen.rows(grid.height - 1, 1))
        let area = Rect(x: 0, y: 1, width: grid.width, height: grid.height - 2)
        let rects = Layout.panes(paneSpecs(width: grid.width), in: area)
        if rects.isEmpty {
            screen.text(DisplayWidth.truncate("enlarge the terminal to see the panes", to: grid.width), y: 1, palette.dim)
        }
        for (id, rect) in rects {
            let c = Canvas(grid: grid, rect: rect)
            switch id {
            case .gpus: drawGPUPane(c)
            case .batch: drawBatchPane(c)
            case .throughput: drawThroughputPane(c)
            case .routing: drawRoutingPane(c)
            case .prompt: drawPromptPane(c)
            case .tuner: drawTunerPane(c)
            }
        }
        if rects.count >= 2 && grid.width >= Layout.twoColumnWidth {
            // The rule between the two columns.
            let x = grid.width * 58 / 100
            for y in 1..<(grid.height - 1) { screen.cell(x, y, glyphs.unicode ? "│" : "|", palette.divider) }
        }
        if showHelp { drawHelp(screen) }
    }

    /// Pane sizes for this frame (they depend on how many GPUs, MoE layers and so on there are).
    func paneSpecs(width: Int) -> [PaneSpec] {
        let wide = width >= Layout.twoColumnWidth
        let gpuRows = gpuPaneRows(compact: false).count
        let routingRows = heat.shape.map { ($0.moeLayers.count + 1) / 2 + 2 } ?? 1
        return [
            PaneSpec(id: .prompt, minHeight: 4, preferredHeight: 4, flexible: true, priority: 0),
            PaneSpec(id: .gpus, minHeight: min(2, 1 + gpuRows), preferredHeight: 1 + gpuRows, flexible: false, priority: 1),
            PaneSpec(id: .batch, minHeight: 3, preferredHeight: 4, flexible: false, priority: 2),
            PaneSpec(id: .tuner, minHeight: 4, preferredHeight: 5, flexible: false, priority: 3),
            PaneSpec(id: .throughput, minHeight: 3, preferredHeight: wide ? 12 : 4, flexible: wide, priority: 4),
            PaneSpec(id: .routing, minHeight: 2, preferredHeight: 1 + routingRows, flexible: false, priority: 5),
        ]
    }

    func drawTitleBar(_ c: Canvas) {
        c.fill(palette.status)
        var parts = ["herd", config.modelName, config.backend]
        if let note = config.serverNote { parts.append(note) }
        let up = Int(now - startTime)
        parts.append(String(format: "up %d:%02d:%02d", up / 3600, up / 60 % 60, up % 60))
        c.text(DisplayWidth.truncate(" " + parts.joined(separator: " │ "), to: c.width), palette.status)
        c.text(" herd", palette.statusKey)
    }

    func drawStatusLine(_ c: Canvas) {
        c.fill(palette.status)
        if let line = commandLine {
            c.text(":" + line + (glyphs.unicode ? "█" : "_"), x: 0, palette.statusKey)
            return
        }
        let costText: String
        if let pct = cost.percent(now: now, samplerCPU: telemetry?.samplerCPUSeconds ?? 0) {
            costText = " console \(String(format1: pct))% CPU "
        } else {
            costText = " console -- CPU "
        }
        let right = DisplayWidth.of(costText)
        c.text(costText, x: max(0, c.width - right), palette.status)
        let room = max(0, c.width - right - 1)
        if let f = flash {
            c.text(DisplayWidth.truncate(" " + f.text, to: room), f.isError ? Style(fg: palette.error.fg, bg: palette.status.bg, bold: true) : palette.statusKey)
            return
        }
        var x = 0
        for (key, label) in keyHints() {
            let needed = DisplayWidth.of(key) + DisplayWidth.of(label) + 2
            if x + needed > room { break }
            x += c.text(" " + key, x: x, palette.statusKey)
            x += c.text(" " + label, x: x, palette.status)
        }
    }

    func keyHints() -> [(String, String)] {
        switch focus {
        case .prompt: [("Enter", "send"), ("Esc", conversation.streaming ? "stop" : "leave"), ("Tab", "next pane"),
                       ("PgUp/PgDn", "scroll"), ("^L", "clear"), ("^C", "quit")]
        case .tuner: tuner.readOnly ? [("↑↓", "knob"), ("s", "save"), ("Esc", "leave"), ("?", "help"), ("q", "quit")]
            : [("↑↓", "knob"), ("←→", "step"), ("-/+", "½/×2"), ("0-9", "type"), ("Enter", "apply"), ("Esc", "discard"),
               ("s", "save"), (":", "command"), ("q", "quit")]
        case .routing, .dashboard: [("Enter", "prompt"), ("t", "tuner"), ("m", "heat \(heat.mode.rawValue)"), ("d", "decay"),
                                    ("c", "theme"), (":", "command"), ("?", "help"), ("q", "quit")]
        }
    }

    static let helpText: [(String, String)] = [
        ("Tab / Shift-Tab", "move focus: dashboard, prompt, tuner, heat map"),
        ("Enter, p", "focus the prompt (Enter there sends the message)"),
        ("Esc", "stop the streaming answer; else leave the pane"),
        ("PgUp / PgDn", "scroll the conversation;  Ctrl-L clears it"),
        ("t", "focus the tuner: ↑↓ knob, ←→ step, -/+ halve/double"),
        ("0-9, Enter", "type a knob value, apply the pending values"),
        ("s", "save the applied knobs (read at the next start)"),
        ("m / d", "heat map: prefill/decode/all; decay time constant"),
        ("c / g", "next theme; Unicode or ASCII glyphs"),
        (":set NAME VALUE", "change a knob now (also :apply :save :theme"),
        ("", "  NAME|PATH  :mode M  :decay S  :clear  :q)"),
        ("?  F1", "this help;  q or Ctrl-C quits"),
    ]

    func drawHelp(_ screen: Canvas) {
        let width = min(screen.width - 2, 78), height = min(screen.height - 2, Self.helpText.count + 4)
        guard width > 10, height > 3 else { return }
        let box = screen.sub(Rect(x: (screen.width - width) / 2, y: (screen.height - height) / 2, width: width, height: height))
        box.fill(palette.overlay)
        Widgets.header(box, "Keys", right: "any key closes", focused: true, palette, glyphs)
        for (i, (key, text)) in Self.helpText.enumerated() where i + 2 < height {
            box.text(" " + key.rightPadded(17), y: i + 2, Style(fg: palette.hi.fg, bg: palette.overlay.bg, bold: true))
            box.text(DisplayWidth.truncate(text, to: width - 19), x: 19, y: i + 2, palette.overlay)
        }
    }
}
