import ComputeGPU
import Foundation
import Testing

/// The CUDA path on a machine without an NVIDIA driver: a clear error, never a crash. On a GPU machine
/// these tests say so and check nothing (`herd gpu-check` is the test there).
@Suite struct CUDADriverTests {
    static let hasNVIDIADriver = CUDADriverTests.loads("libcuda.so.1")
    static func loads(_ name: String) -> Bool {
        guard let h = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { return false }
        dlclose(h)
        return true
    }

    @Test(.enabled(if: !hasNVIDIADriver, "libcuda is present: herd gpu-check tests the CUDA path here"))
    func missingDriverNamesTheLibraryAndSonames() {
        #expect {
            _ = try GPUBackend.cuda()
        } throws: { error in
            let text = "\(error)"
            return text.contains("CUDA driver (libcuda) not available") && text.contains("libcuda.so.1")
        }
    }
}
