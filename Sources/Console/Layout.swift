/// The panes, in the order they appear in a column.
public enum PaneID: String, CaseIterable, Sendable {
    case gpus, batch, throughput, routing, prompt, tuner
}

/// How much room a pane wants. Panes are kept in `priority` order (lower first) while their minimum
/// heights fit; the rest drop out, so a small terminal loses panes instead of crashing.
public struct PaneSpec: Sendable {
    public var id: PaneID
    public var minHeight: Int
    /// Height it grows to before flexible panes get the rest.
    public var preferredHeight: Int
    /// Takes the space left over (the prompt and the throughput graph).
    public var flexible: Bool
    public var priority: Int
}

public enum Layout {
    /// Below this width a second column would be too narrow for the GPU rows.
    public static let twoColumnWidth = 120

    /// Rectangles for the panes that fit in `area`: one column, or two on a wide terminal (monitoring left,
    /// prompt and tuner right).
    public static func panes(_ specs: [PaneSpec], in area: Rect) -> [PaneID: Rect] {
        guard !area.isEmpty else { return [:] }
        if area.width >= twoColumnWidth {
            let leftWidth = area.width * 58 / 100
            let left = specs.filter { [.gpus, .batch, .throughput, .routing].contains($0.id) }
            let right = specs.filter { [.prompt, .tuner].contains($0.id) }
            var result = column(left, in: Rect(x: area.x, y: area.y, width: leftWidth, height: area.height))
            for (id, rect) in column(right, in: Rect(x: area.x + leftWidth + 1, y: area.y, width: area.width - leftWidth - 1, height: area.height)) {
                result[id] = rect
            }
            return result
        }
        return column(specs, in: area)
    }

    /// Stacks `specs` (in `PaneID` order) in `area`.
    public static func column(_ specs: [PaneSpec], in area: Rect) -> [PaneID: Rect] {
        var kept: [PaneSpec] = []
        var used = 0
        for spec in specs.sorted(by: { $0.priority < $1.priority }) where used + spec.minHeight <= area.height {
            kept.append(spec)
            used += spec.minHeight
        }
        var heights = Dictionary(uniqueKeysWithValues: kept.map { ($0.id, $0.minHeight) })
        var extra = area.height - used
        for spec in kept where extra > 0 {
            let grow = min(extra, max(0, spec.preferredHeight - spec.minHeight))
            heights[spec.id]! += grow
            extra -= grow
        }
        let flexible = kept.filter(\.flexible)
        for (i, spec) in flexible.enumerated() where extra > 0 {
            let share = extra / (flexible.count - i)
            heights[spec.id]! += share
            extra -= share
        }
        var result: [PaneID: Rect] = [:]
        var y = area.y
        for id in PaneID.allCases {
            guard let h = heights[id], h > 0 else { continue }
            result[id] = Rect(x: area.x, y: y, width: area.width, height: h)
            y += h
        }
        return result
    }
}
