import Foundation
import Models

/// The expert routing heat map: MoE layers down, experts across, each cell coloured by its share of the
/// layer's recent tokens relative to uniform (cold below, hot above; dormant experts stand apart). With
/// colour, a half-block draws two layers per text row; experts and layers fold (the hottest of a group
/// is shown) when they outnumber the cells. The right margin gives each row's balance (max/mean).
extension ConsoleApp {
    func drawRoutingPane(_ c: Canvas) {
        guard let shape = heat.shape else {
            Widgets.header(c, "Expert routing", right: "dense model", focused: focus == .routing, palette, glyphs)
            c.text(DisplayWidth.truncate(" dense model: no MoE layers, nothing to route", to: c.width), y: 1, palette.dim)
            return
        }
        let layers = shape.moeLayers.count, experts = shape.experts
        Widgets.header(c, "Expert routing", right: "\(layers)x\(experts) · \(heat.mode.rawValue) · τ \(Int(heat.tau))s",
                       focused: focus == .routing, palette, glyphs)
        let halfBlocks = glyphs.unicode && palette.mode != .none
        let label = 5, margin = c.width >= 40 ? 9 : 0
        let rows = max(0, c.height - 2)
        let columns = c.width - label - margin
        guard rows > 0, columns > 0 else { return }
        let perCell = (experts + columns - 1) / columns
        let layersPerRow = halfBlocks ? 2 : 1
        let perLayer = max(1, (layers + rows * layersPerRow - 1) / (rows * layersPerRow))  // layers folded into one
        let bands = (layers + perLayer - 1) / perLayer

        let layerRatios = (0..<layers).map { heat.ratios(layer: $0) }
        // The ratio shown for band b, cell x: the hottest of the folded layers and experts; nil = no tokens.
        func ratio(_ band: Int, _ cell: Int) -> Double? {
            var best: Double?
            for l in (band * perLayer)..<min(layers, (band + 1) * perLayer) {
                guard let r = layerRatios[l] else { continue }
                for e in (cell * perCell)..<min(experts, (cell + 1) * perCell) { best = max(best ?? 0, r[e]) }
            }
            return best
        }
        let cells = (experts + perCell - 1) / perCell
        for row in 0..<min(rows, (bands + layersPerRow - 1) / layersPerRow) {
            let y = row + 1
            let band = row * layersPerRow
            c.text(("L" + String(shape.moeLayers[band * perLayer])).rightPadded(label), y: y, palette.dim)
            for x in 0..<cells {
                let top = ratio(band, x)
                if halfBlocks {
                    let bottom = band + 1 < bands ? ratio(band + 1, x) : nil
                    let bottomColor = band + 1 < bands ? heatColor(bottom) : palette.base.bg
                    c.cell(label + x, y, "▀", Style(fg: heatColor(top), bg: bottomColor))
                } else {
                    c.cell(label + x, y, shade(top), palette.gradient("heat", heatPosition(top) ?? 0))
                }
            }
            if margin > 0 {
                let worst = (band..<min(bands, band + layersPerRow)).compactMap { b in
                    (b * perLayer..<min(layers, (b + 1) * perLayer)).compactMap { heat.balance(layer: $0)?.maxOverMean }.max()
                }.max()
                let text = worst.map { "×" + String(format1: $0) } ?? "--"
                c.text(" " + text.leftPadded(margin - 2), x: label + cells, y: y, worst.map { palette.gradient("heat", min(1, ($0 - 1) / 3 + 0.5)) } ?? palette.dim)
            }
        }
        if c.height >= 3 {
            var legend = " cold→uniform→hot, ×max/mean"
            if perCell > 1 { legend += " · \(perCell) experts/cell" }
            if perLayer > 1 { legend += " · \(perLayer) layers/\(halfBlocks ? "half-row" : "row")" }
            if halfBlocks { legend += " · 2 layers/row" }
            c.text(DisplayWidth.truncate(legend, to: c.width), y: c.height - 1, palette.dim)
        }
    }

    /// 0 (a quarter of uniform or less) ... 0.5 (uniform) ... 1 (four times uniform or more); nil for dormant.
    func heatPosition(_ ratio: Double?) -> Double? {
        guard let r = ratio, r > 0 else { return nil }
        return 0.5 + 0.5 * min(1, max(-1, log(r) / log(4)))
    }

    func heatColor(_ ratio: Double?) -> RGB? {
        guard let t = heatPosition(ratio) else { return palette.theme.color("heat_dormant") }
        return palette.theme.gradient("heat").at(t)
    }

    func shade(_ ratio: Double?) -> Character {
        guard let t = heatPosition(ratio) else { return " " }
        let s = glyphs.shades
        return s[min(s.count - 1, Int(t * Double(s.count)))]
    }
}
