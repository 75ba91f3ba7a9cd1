import CHerdGPU
import SharedLibraries

/// cuBLASLt, loaded at run time, for the large BF16 products of prefill: NVIDIA's tuned tensor-core
/// kernels reach several times the rate of Herd's mma.sync tiles there. A product is
/// `D[m, n] (+)= A[m, k] W[n, k]^T` with A and W BF16 and D f32, accumulated in f32 (products of BF16 are
/// exact, so with the activations split into BF16 terms the result is the CPU's f32 x BF16 product).
/// Absent library or a shape without an algorithm: the caller runs Herd's kernels instead.
final class CUBLASLt {
    static let sonames = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"]
    private var api = herd_cublaslt_api()
    private var handle: herd_cublasLtHandle_t?
    private var desc: herd_cublasLtMatmulDesc_t?
    private var preference: herd_cublasLtMatmulPreference_t?
    private let workspace: UnsafeMutableRawPointer
    private let workspaceBytes: Int
    /// The backend's stream (the driver's), where every product is queued.
    private let stream: UnsafeMutableRawPointer?
    /// "cuBLASLt 130100" (cublasLtGetVersion).
    let version: Int
    /// Per shape: the layouts and the algorithm the heuristic chose (nil: none; Herd's kernels run).
    private var plans: [Shape: Plan?] = [:]

    private struct Shape: Hashable { let m, n, k, ldd: Int }
    private struct Plan {
        let a, b, d: herd_cublasLtMatrixLayout_t
        var algo: herd_cublasLtMatmulAlgo_t
    }

    /// Loads the library and sets up a handle; `workspace` is device memory of `workspaceBytes` for its kernels.
    init(workspace: UnsafeMutableRawPointer, workspaceBytes: Int, stream: UnsafeMutableRawPointer?) throws(GPUError) {
        self.stream = stream
        let lib: SharedLibrary
        do { lib = try SharedLibrary.open(Self.sonames, purpose: "cuBLASLt (libcublasLt)") } catch { throw GPUError(error) }
        func sym<T>(_ n: String, _ t: T.Type) throws(GPUError) -> T {
            do { return try lib.symbol(n, as: t) } catch { throw GPUError(error) }
        }
        api.cublasLtGetVersion = try sym("cublasLtGetVersion", type(of: api.cublasLtGetVersion))
        api.cublasLtCreate = try sym("cublasLtCreate", type(of: api.cublasLtCreate))
        api.cublasLtMatmulDescCreate = try sym("cublasLtMatmulDescCreate", type(of: api.cublasLtMatmulDescCreate))
        api.cublasLtMatmulDescSetAttribute = try sym("cublasLtMatmulDescSetAttribute", type(of: api.cublasLtMatmulDescSetAttribute))
        api.cublasLtMatrixLayoutCreate = try sym("cublasLtMatrixLayoutCreate", type(of: api.cublasLtMatrixLayoutCreate))
        api.cublasLtMatrixLayoutDestroy = try sym("cublasLtMatrixLayoutDestroy", type(of: api.cublasLtMatrixLayoutDestroy))
        api.cublasLtMatmulPreferenceCreate = try sym("cublasLtMatmulPreferenceCreate", type(of: api.cublasLtMatmulPreferenceCreate))
        api.cublasLtMatmulPreferenceSetAttribute = try sym("cublasLtMatmulPreferenceSetAttribute",
                                                           type(of: api.cublasLtMatmulPreferenceSetAttribute))
        api.cublasLtMatmulAlgoGetHeuristic = try sym("cublasLtMatmulAlgoGetHeuristic", type(of: api.cublasLtMatmulAlgoGetHeuristic))
        api.cublasLtMatmul = try sym("cublasLtMatmul", type(of: api.cublasLtMatmul))
        self.workspace = workspace
        self.workspaceBytes = workspaceBytes
        version = Int(api.cublasLtGetVersion())
        try check(api.cublasLtCreate(&handle), "cublasLtCreate")
        // Column-major view of row-major data: D^T[n, m] = W[n, k] (stored as k x n: transposed) x A^T[k, m].
        try check(api.cublasLtMatmulDescCreate(&desc, Int32(HERD_CUBLAS_COMPUTE_32F), Int32(HERD_CUDA_R_32F)), "cublasLtMatmulDescCreate")
        var transposed = Int32(HERD_CUBLAS_OP_T), plain = Int32(HERD_CUBLAS_OP_N)
        try check(api.cublasLtMatmulDescSetAttribute(desc, Int32(HERD_CUBLASLT_MATMUL_DESC_TRANSA), &transposed, 4), "TRANSA")
        try check(api.cublasLtMatmulDescSetAttribute(desc, Int32(HERD_CUBLASLT_MATMUL_DESC_TRANSB), &plain, 4), "TRANSB")
        try check(api.cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate")
        var bytes = UInt64(workspaceBytes)
        try check(api.cublasLtMatmulPreferenceSetAttribute(preference, Int32(HERD_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES), &bytes, 8),
                  "MAX_WORKSPACE_BYTES")
    }

    private func check(_ status: herd_cublasStatus_t, _ what: String) throws(GPUError) {
        if status != 0 { throw GPUError("cuBLASLt \(what) failed (status \(status))") }
    }

    /// `d[m, n] = a[m, k] w[n, k]^T (+ d when accumulate)` on the backend's stream, d's rows `ldd` floats apart,
    /// a's rows `k` BF16 apart. false when cuBLASLt has no algorithm for the shape (nothing was queued).
    func matmul(a: UnsafeRawPointer, w: UnsafeRawPointer, d: UnsafeMutableRawPointer, m: Int, n: Int, k: Int, ldd: Int,
                accumulate: Bool) throws(GPUError) -> Bool {
        let shape = Shape(m: m, n: n, k: k, ldd: ldd)
        if plans[shape] == nil {
            // Prefill row counts vary step to step (and per expert): keep the cache bounded.
            if plans.count >= 1024 { forgetPlans() }
            plans[shape] = try plan(shape)
        }
        guard let found = plans[shape], var plan = found else { return false }
        var alpha: Float = 1, beta: Float = accumulate ? 1 : 0
        try check(api.cublasLtMatmul(handle, desc, &alpha, w, plan.a, a, plan.b, &beta, d, plan.d, d, plan.d, &plan.algo,
                                     workspace, workspaceBytes, stream), "cublasLtMatmul")
        return true
    }

    private func forgetPlans() {
        for case let plan? in plans.values {
            for layout in [plan.a, plan.b, plan.d] { _ = api.cublasLtMatrixLayoutDestroy(layout) }
        }
        plans.removeAll()
    }

    private func plan(_ s: Shape) throws(GPUError) -> Plan? {
        var a: herd_cublasLtMatrixLayout_t?, b: herd_cublasLtMatrixLayout_t?, d: herd_cublasLtMatrixLayout_t?
        try check(api.cublasLtMatrixLayoutCreate(&a, Int32(HERD_CUDA_R_16BF), UInt64(s.k), UInt64(s.n), Int64(s.k)), "layout W")
        try check(api.cublasLtMatrixLayoutCreate(&b, Int32(HERD_CUDA_R_16BF), UInt64(s.k), UInt64(s.m), Int64(s.k)), "layout A")
        try check(api.cublasLtMatrixLayoutCreate(&d, Int32(HERD_CUDA_R_32F), UInt64(s.n), UInt64(s.m), Int64(s.ldd)), "layout D")
        var result = herd_cublasLtMatmulHeuristicResult_t()
        var returned: Int32 = 0
        let status = api.cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, d, d, preference, 1, &result, &returned)
        guard status == 0, returned > 0, let a, let b, let d else {
            for layout in [a, b, d] { if let layout { _ = api.cublasLtMatrixLayoutDestroy(layout) } }
            return nil
        }
        return Plan(a: a, b: b, d: d, algo: result.algo)
    }
}
