import Compute

extension GPUBackend {
    /// herd_attention.cu
    static let attentionKernelNames: [String] = []
}
