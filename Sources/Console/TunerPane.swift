/// The tuner: the three serving knobs with applied and pending values, the selected one highlighted,
/// and the engine's last answer (applied, or refused with its reason).
extension ConsoleApp {
    func drawTunerPane(_ c: Canvas) {
        let right = tuner.readOnly ? "read-only" : tuner.pending.isEmpty ? "applied" : "\(tuner.pending.count) pending · Enter applies"
        Widgets.header(c, "Tuner", right: right, focused: focus == .tuner, palette, glyphs)
        let applied = stats.config
        for (i, knob) in Tuner.Knob.allCases.enumerated() where i + 1 < c.height {
            let selected = focus == .tuner && tuner.selected == knob
            let line = c.rows(i + 1, 1)
            if selected { line.fill(palette.selected) }
            let base = selected ? palette.selected : palette.base
            var x = line.text((selected ? " ▸ " : "   ") + knob.rawValue.rightPadded(23), base)
            x += line.text(String(knob.value(in: applied)).leftPadded(7), x: x, base)
            if tuner.selected == knob, let typed = tuner.typed {
                line.text(" → \(typed)_ (typing)", x: x, selected ? base : palette.hi)
            } else if let p = tuner.pending[knob] {
                line.text(" → \(p) (pending)", x: x, selected ? base : palette.hi)
            }
        }
        if c.height >= 5 {
            if let m = tuner.message {
                c.text(DisplayWidth.truncate(" " + m.text, to: c.width), y: 4, m.isError ? palette.error : palette.ok)
            } else {
                let hint = tuner.readOnly ? " --read-only: knobs can be viewed, not changed" : " t: focus · ←→ -/+ 0-9 · Enter apply · s save"
                c.text(DisplayWidth.truncate(hint, to: c.width), y: 4, palette.dim)
            }
        }
    }
}
