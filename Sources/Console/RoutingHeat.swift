import Engine
import Foundation
import Models

/// Expert routing as a time-decayed heat map: per MoE layer and expert, an exponential moving sum of the
/// tokens routed there (time constant `tau`), kept separately for prefill and decode rows. Cells are shown
/// as the ratio to the uniform share (1 / experts of the layer's tokens), so a hot expert stands out in
/// every layer whatever its traffic.
public struct RoutingHeat {
    public enum Mode: String, CaseIterable, Sendable { case all, prefill, decode }
    public static let timeConstants: [Double] = [2, 10, 60]

    public var mode: Mode = .all
    public var tau: Double = 10
    public private(set) var shape: RoutingShape?
    private var lastPrefill: [UInt64] = []
    private var lastDecode: [UInt64] = []
    private var prefill: [Double] = []
    private var decode: [Double] = []
    private var lastTime: Double?

    public init() {}

    public mutating func update(_ stats: EngineStats, now: Double) {
        guard let shape = stats.routingShape, stats.routingPrefill.count == shape.moeLayers.count * shape.experts else {
            self.shape = nil
            return
        }
        if self.shape != shape || lastTime == nil {
            self.shape = shape
            // Start from the counts as they are, so history before the console opened does not flash in.
            lastPrefill = stats.routingPrefill
            lastDecode = stats.routingDecode
            prefill = Array(repeating: 0, count: lastPrefill.count)
            decode = prefill
            lastTime = now
            return
        }
        let decay = exp(-max(0, now - (lastTime ?? now)) / tau)
        for i in prefill.indices {
            prefill[i] = prefill[i] * decay + Double(stats.routingPrefill[i] &- lastPrefill[i])
            decode[i] = decode[i] * decay + Double(stats.routingDecode[i] &- lastDecode[i])
        }
        lastPrefill = stats.routingPrefill
        lastDecode = stats.routingDecode
        lastTime = now
    }

    /// For tests and fake engines: set the decayed sums directly.
    public mutating func load(shape: RoutingShape, prefill: [Double], decode: [Double]) {
        self.shape = shape
        self.prefill = prefill
        self.decode = decode
        lastPrefill = Array(repeating: 0, count: prefill.count)
        lastDecode = lastPrefill
        lastTime = nil
    }

    private func value(_ i: Int) -> Double {
        switch mode {
        case .all: prefill[i] + decode[i]
        case .prefill: prefill[i]
        case .decode: decode[i]
        }
    }

    /// Each expert's share of layer `row` times the expert count (1 = uniform); nil when the layer has
    /// routed nothing lately.
    public func ratios(layer row: Int) -> [Double]? {
        guard let shape else { return nil }
        let e = shape.experts
        let values = (0..<e).map { value(row * e + $0) }
        let total = values.reduce(0, +)
        guard total > 1e-9 else { return nil }
        return values.map { $0 / total * Double(e) }
    }

    /// Balance of a layer: the hottest expert's ratio to the mean (1 = perfect) and the normalised entropy
    /// of the routing distribution (1 = uniform, 0 = one expert takes all).
    public func balance(layer row: Int) -> (maxOverMean: Double, entropy: Double)? {
        guard let r = ratios(layer: row), let shape else { return nil }
        let e = Double(shape.experts)
        var h = 0.0
        for x in r where x > 0 {
            let p = x / e
            h -= p * log(p)
        }
        return (r.max() ?? 0, e > 1 ? h / log(e) : 1)
    }
}
