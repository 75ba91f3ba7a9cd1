import Compute

extension GPUBackend {
    /// herd_mma.cu (CUDA only: tensor-core instructions)
    static let mmaKernelNames: [String] = []
}
