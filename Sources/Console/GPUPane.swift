import Telemetry

/// The GPUs pane: one compact row per device (8 fit in 9 rows), HBM used/total as a bar with numbers,
/// power against its cap, utilisation, temperature and a utilisation sparkline; then the host's CPU and
/// RAM; and a line for each source that is not available, saying why.
extension ConsoleApp {
    enum GPURow {
        case device(DeviceReading, history: [Double?], isHost: Bool, stale: Bool)
        case note(String, isError: Bool)
    }

    func gpuPaneRows(compact: Bool) -> [GPURow] {
        guard let t = telemetry else { return [.note("telemetry off", isError: false)] }
        var devices: [GPURow] = [], host: [GPURow] = [], notes: [(String, Bool)] = []
        for s in t.sources {
            let stale = s.updated.map { now - $0 > t.staleAfter } ?? true
            switch s.status {
            case .starting: notes.append(("\(s.name): starting…", false))
            case .unavailable(let reason): notes.append(("\(s.name): not available: \(reason)", false))
            case .failed(let reason):
                notes.append(("\(s.name): read failed: \(reason)", true))
                fallthrough
            case .ok:
                for (i, d) in s.devices.enumerated() {
                    let row = GPURow.device(d, history: i < s.utilizationHistory.count ? s.utilizationHistory[i] : [],
                                            isHost: !s.isGPU, stale: stale || s.status != .ok)
                    if s.isGPU { devices.append(row) } else { host.append(row) }
                }
            }
        }
        var rows = devices + host
        if compact && notes.count > 1 {
            rows.append(.note(notes.map(\.0).joined(separator: "; "), isError: notes.contains { $0.1 }))
        } else {
            rows += notes.map { .note($0.0, isError: $0.1) }
        }
        return rows
    }

    func drawGPUPane(_ c: Canvas) {
        // One line per unavailable source when there is room, else all of them on one line.
        let full = gpuPaneRows(compact: false)
        let rows = full.count < c.height ? full : gpuPaneRows(compact: true)
        let gpus = rows.filter { if case .device(_, _, false, _) = $0 { true } else { false } }.count
        Widgets.header(c, "GPUs", right: gpus == 0 ? "no GPU: host only" : "\(gpus) GPU\(gpus == 1 ? "" : "s")", palette, glyphs)
        for (i, row) in rows.enumerated() where i + 1 < c.height {
            let line = c.rows(i + 1, 1)
            switch row {
            case .note(let text, let isError): line.text(DisplayWidth.truncate(" " + text, to: line.width), isError ? palette.error : palette.dim)
            case .device(let d, let history, let isHost, let stale): drawDeviceRow(line, d, history: history, isHost: isHost, stale: stale)
            }
        }
    }

    /// ` 0 MI300X      HBM ▕████▌   ▏ 150.2/192.0G  540/750W  87%  65°C ▁▂▃▅▆▇`; columns drop out from the
    /// right as the pane narrows.
    func drawDeviceRow(_ c: Canvas, _ d: DeviceReading, history: [Double?], isHost: Bool, stale: Bool) {
        let w = c.width
        let text = stale ? palette.dim : palette.base
        let spark = w >= 110 ? 20 : w >= 90 ? 12 : w >= 75 ? 6 : 0
        let nameWidth = w >= 100 ? 14 : 9
        var x = c.text((isHost ? " H " : String(d.index).leftPadded(2) + " "), palette.hi)
        x += c.text(DisplayWidth.truncate(d.name, to: nameWidth - 1).rightPadded(nameWidth), x: x, text)
        x += c.text(isHost ? "RAM " : "HBM ", x: x, palette.dim)

        // Right-hand columns, widest-first dropped.
        var tail: [(String, Style)] = []
        let memFraction: Double? = {
            guard let u = d.memoryUsedBytes, let t = d.memoryTotalBytes, t > 0 else { return nil }
            return Double(u) / Double(t)
        }()
        if w >= 40 {
            let mem = (d.memoryUsedBytes.map(Format.gib) ?? "--") + "/" + (d.memoryTotalBytes.map(Format.gib) ?? "--")
            tail.append((" " + mem.leftPadded(12), text))
        }
        if w >= 50 {
            let p = d.powerWatts.map { String(Int($0.rounded())) } ?? "--"
            let cap = d.powerCapWatts.map { String(Int($0.rounded())) } ?? "--"
            let frac = d.powerWatts.flatMap { p in d.powerCapWatts.map { p / max(1, $0) } }
            tail.append((" " + "\(p)/\(cap)W".leftPadded(9), stale ? text : frac.map { palette.gradient("power", $0) } ?? text))
        }
        let util = Format.percent(d.utilization)
        tail.append((" " + (isHost ? "cpu" : "use") + util.leftPadded(5), stale ? text : d.utilization.map { palette.gradient("util", $0) } ?? text))
        if w >= 60 {
            let temp = d.temperatureCelsius.map { String(Int($0.rounded())) + "°C" } ?? "--"
            let t = d.temperatureCelsius.map { min(1, max(0, ($0 - 30) / 70)) }
            tail.append((" " + temp.leftPadded(5), stale ? text : t.map { palette.gradient("temp", $0) } ?? text))
        }
        let tailWidth = tail.reduce(0) { $0 + DisplayWidth.of($1.0) } + (spark > 0 ? spark + 1 : 0)
        let barWidth = w - x - tailWidth - 1
        if barWidth >= 4 {
            Widgets.bar(c, x: x, y: 0, width: barWidth, fraction: memFraction, gradient: "hbm", palette, glyphs)
            x += barWidth
        } else if let memFraction {
            x += c.text(Format.percent(memFraction).leftPadded(4), x: x, text)
        }
        for (s, style) in tail { x += c.text(s, x: x, style) }
        if spark > 0 {
            if stale {
                c.text(" stale".rightPadded(spark + 1), x: x, palette.warn)
            } else {
                Widgets.sparkline(c, x: x + 1, y: 0, width: spark, values: history, maxValue: 1, gradient: "util", palette, glyphs)
            }
        }
    }
}
