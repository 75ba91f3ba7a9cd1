/// A backend that multiplies the same activations by several matrices in one go: the activations are
/// prepared once (the CPU quantizes them to 8 bits) and all the products share one parallel region. A decoder
/// layer's q/k/v and gate/up projections are such groups; at one token per step the per-op handoff costs as
/// much as the arithmetic, so fusing them matters for single-sequence decode.
///
/// A separate protocol (not a `ComputeBackend` requirement) so that backends without a fused path need
/// nothing: `matmuls` below falls back to one `matmul` per weight.
public protocol MultiMatmulBackend: ComputeBackend {
    /// outs[i] = weights[i] x for every i, each output with the bits `matmul` alone would give it.
    func fusedMatmuls(_ x: Tensor, weights: [Tensor], rows: Int, into outs: [Tensor])
}

extension ComputeBackend {
    /// outs[i][r] = weights[i] x[r]: one fused call where the backend has one, else one product per weight.
    public func matmuls(_ x: Tensor, weights: [Tensor], rows: Int, into outs: [Tensor]) {
        precondition(weights.count == outs.count, "one output per weight")
        if let fused = self as? any MultiMatmulBackend {
            fused.fusedMatmuls(x, weights: weights, rows: rows, into: outs)
        } else {
            for (w, out) in zip(weights, outs) { matmul(x, weight: w, rows: rows, into: out) }
        }
    }
}
