// Checks CHerdGPU.h's cuBLASLt declarations against the real cublasLt.h (run on a CUDA machine:
// `cc -fsyntax-only -I/usr/local/cuda/include -I Sources/CHerdGPU/include scripts/cublaslt-check.c`); a wrong
// enum value, struct layout or signature fails the compile, as hip_check.c does for HIP here.
#include <cublasLt.h>
#include "CHerdGPU.h"

_Static_assert(HERD_CUDA_R_32F == CUDA_R_32F, "CUDA_R_32F");
_Static_assert(HERD_CUDA_R_16BF == CUDA_R_16BF, "CUDA_R_16BF");
_Static_assert(HERD_CUBLAS_COMPUTE_32F == CUBLAS_COMPUTE_32F, "CUBLAS_COMPUTE_32F");
_Static_assert(HERD_CUBLAS_OP_N == CUBLAS_OP_N && HERD_CUBLAS_OP_T == CUBLAS_OP_T, "cublasOperation_t");
_Static_assert(HERD_CUBLASLT_MATMUL_DESC_TRANSA == CUBLASLT_MATMUL_DESC_TRANSA, "TRANSA");
_Static_assert(HERD_CUBLASLT_MATMUL_DESC_TRANSB == CUBLASLT_MATMUL_DESC_TRANSB, "TRANSB");
_Static_assert(HERD_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, "MAX_WORKSPACE_BYTES");
_Static_assert(sizeof(herd_cublasLtMatmulAlgo_t) == sizeof(cublasLtMatmulAlgo_t), "cublasLtMatmulAlgo_t");
_Static_assert(sizeof(herd_cublasLtMatmulHeuristicResult_t) == sizeof(cublasLtMatmulHeuristicResult_t), "heuristic result size");
_Static_assert(__builtin_offsetof(herd_cublasLtMatmulHeuristicResult_t, workspaceSize) ==
               __builtin_offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize), "workspaceSize offset");
_Static_assert(__builtin_offsetof(herd_cublasLtMatmulHeuristicResult_t, state) ==
               __builtin_offsetof(cublasLtMatmulHeuristicResult_t, state), "state offset");

// Signatures: the table's parameter lists follow cublasLt.h with enums as int and handles as void *; the
// functions are called with these types by Sources/ComputeGPU/CUBLASLt.swift and checked at run time by
// `herd gpu-check` (cuBLASLt products against the CPU).
int main(void) { return 0; }
