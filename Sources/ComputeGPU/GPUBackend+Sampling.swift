import Compute

extension GPUBackend {
    /// herd_sampling.cu
    static let samplingKernelNames: [String] = []
}
