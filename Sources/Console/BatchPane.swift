import Engine

/// Batch occupancy, from the scheduler's own denominators: running / max_num_seqs and waiting, tokens
/// scheduled in the last step / max_num_batched_tokens with its prefill and decode share, KV blocks used /
/// total, preemptions and prefix-cache hits.
extension ConsoleApp {
    func drawBatchPane(_ c: Canvas) {
        let s = stats
        let stepMs = s.lastStepSeconds > 0 ? " · step \(Format.duration(s.lastStepSeconds))" : ""
        Widgets.header(c, "Batch", right: "\(s.steps) steps\(stepMs)", palette, glyphs)
        let cfg = s.config
        let prefillShare = s.lastStepTokens > 0 ? Double(s.lastStepPrefillTokens) / Double(s.lastStepTokens) : nil
        let hits = s.prefixCacheQueries > 0 ? Double(s.prefixCacheHits) / Double(s.prefixCacheQueries) : nil
        let numbers = [
            "\(s.running)/\(cfg.maxNumSeqs) running · \(s.waiting) waiting · \(s.preemptions) preempted",
            "\(s.lastStepTokens)/\(cfg.maxNumBatchedTokens) · prefill \(Format.percent(prefillShare)) decode \(Format.percent(prefillShare.map { 1 - $0 }))",
            "\(s.kvBlocksUsed)/\(s.kvBlocksTotal) · prefix hits \(Format.percent(hits))",
        ]
        // The bars take what the numbers leave, up to 40 columns; below 4 there is no bar.
        let labelWidth = 11
        let barWidth = min(40, c.width - labelWidth - (numbers.map { DisplayWidth.of($0) }.max() ?? 0) - 1)
        func row(_ y: Int, _ label: String, _ fraction: Double?, _ numbers: String) {
            guard y < c.height else { return }
            c.text(" " + label, y: y, palette.dim)
            if barWidth >= 4 { Widgets.bar(c, x: labelWidth, y: y, width: barWidth, fraction: fraction, gradient: "batch", palette, glyphs) }
            c.text(DisplayWidth.truncate(numbers, to: c.width - labelWidth - (barWidth >= 4 ? barWidth + 1 : 0)),
                   x: labelWidth + (barWidth >= 4 ? barWidth + 1 : 0), y: y, palette.base)
        }
        row(1, "seqs", Double(s.running) / Double(max(1, cfg.maxNumSeqs)), numbers[0])
        row(2, "step tok", Double(s.lastStepTokens) / Double(max(1, cfg.maxNumBatchedTokens)), numbers[1])
        row(3, "KV blocks", s.kvBlocksTotal > 0 ? Double(s.kvBlocksUsed) / Double(s.kvBlocksTotal) : nil, numbers[2])
    }
}
