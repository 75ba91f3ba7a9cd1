import Engine

/// Token throughput: prompt and generation tokens/s now, TTFT / ITL percentiles over the last minute,
/// and the history of both rates as a braille graph (generation above, prompt below when there is room).
extension ConsoleApp {
    func drawThroughputPane(_ c: Canvas) {
        Widgets.header(c, "Throughput", right: "\(latency.count) req/\(Int(latency.window))s · \(stats.requestsFinishedTotal) done", palette, glyphs)
        guard c.height > 1 else { return }
        let rates = throughput.rates
        var x = c.text(" prompt ", y: 1, palette.dim)
        x += c.text((rates.map { Format.count($0.prompt) } ?? "--") + " tok/s", x: x, y: 1, palette.gradient("prompt", 1))
        x += c.text("   gen ", x: x, y: 1, palette.dim)
        c.text((rates.map { Format.count($0.generation) } ?? "--") + " tok/s", x: x, y: 1, palette.gradient("gen", 1))
        if c.height > 2 {
            func p(_ name: String, _ v: LatencyWindow.Percentiles?) -> String {
                guard let v else { return "\(name) --" }
                return "\(name) p50 \(Format.duration(v.p50)) p90 \(Format.duration(v.p90)) p99 \(Format.duration(v.p99))"
            }
            let line = " " + p("TTFT", latency.ttft) + "   " + p("ITL", latency.interToken)
            c.text(DisplayWidth.truncate(line, to: c.width), y: 2, palette.base)
        }
        let graphRows = c.height - 3
        guard graphRows >= 1 else { return }
        let gen = throughput.generationHistory, prompt = throughput.promptHistory
        if graphRows >= 4 {
            let top = graphRows / 2
            let genMax = max(1, gen.max() ?? 1), promptMax = max(1, prompt.max() ?? 1)
            Widgets.graph(c.sub(Rect(x: 0, y: 3, width: c.width, height: top)), values: gen, maxValue: genMax, gradient: "gen", palette, glyphs)
            c.text(" gen max \(Format.count(genMax))/s ", x: 1, y: 3, palette.dim)
            Widgets.graph(c.sub(Rect(x: 0, y: 3 + top, width: c.width, height: graphRows - top)), values: prompt, maxValue: promptMax,
                          gradient: "prompt", palette, glyphs)
            c.text(" prompt max \(Format.count(promptMax))/s ", x: 1, y: 3 + top, palette.dim)
        } else {
            let genMax = max(1, gen.max() ?? 1)
            Widgets.graph(c.sub(Rect(x: 0, y: 3, width: c.width, height: graphRows)), values: gen, maxValue: genMax, gradient: "gen", palette, glyphs)
        }
    }
}
