// Types and function-pointer tables for the GPU vendor libraries Herd loads at run time (dlopen), never
// links: the same binary builds and runs on machines without them. Only the handful of calls Herd makes
// are declared; their C signatures follow the CUDA driver API and NVRTC headers (cuda.h, nvrtc.h) and
// the HIP runtime and hiprtc headers (hip_runtime_api.h, hiprtc.h; checked at build time by hip_check.c).
#ifndef CHERD_GPU_H
#define CHERD_GPU_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int herd_CUresult;            // CUresult: 0 = CUDA_SUCCESS
typedef int herd_CUdevice;
typedef void *herd_CUcontext;
typedef void *herd_CUmodule;
typedef void *herd_CUfunction;
typedef void *herd_CUstream;
typedef void *herd_CUevent;
typedef void *herd_CUgraph;
typedef void *herd_CUgraphExec;
typedef unsigned long long herd_CUdeviceptr;
typedef int herd_nvrtcResult;         // 0 = NVRTC_SUCCESS
typedef void *herd_nvrtcProgram;

/// cuLaunchKernelEx's type, named so the loader can ask for it while the table's slot is still empty.
typedef herd_CUresult (*herd_cuLaunchKernelEx_fn)(const void *config, herd_CUfunction f, void **params, void **extra);

/// The CUDA driver API entry points Herd uses (versioned names: cuMemAlloc_v2 and friends).
typedef struct {
    herd_CUresult (*cuInit)(unsigned int flags);
    herd_CUresult (*cuDriverGetVersion)(int *version);
    herd_CUresult (*cuDeviceGetCount)(int *count);
    herd_CUresult (*cuDeviceGet)(herd_CUdevice *device, int ordinal);
    herd_CUresult (*cuDeviceGetName)(char *name, int length, herd_CUdevice device);
    herd_CUresult (*cuDeviceGetAttribute)(int *value, int attribute, herd_CUdevice device);
    herd_CUresult (*cuDevicePrimaryCtxRetain)(herd_CUcontext *context, herd_CUdevice device);
    herd_CUresult (*cuCtxSetCurrent)(herd_CUcontext context);
    herd_CUresult (*cuCtxSynchronize)(void);
    herd_CUresult (*cuMemGetInfo)(size_t *free_bytes, size_t *total_bytes);
    herd_CUresult (*cuMemAlloc)(herd_CUdeviceptr *pointer, size_t bytes);
    herd_CUresult (*cuMemFree)(herd_CUdeviceptr pointer);
    herd_CUresult (*cuMemcpyHtoD)(herd_CUdeviceptr dst, const void *src, size_t bytes);
    herd_CUresult (*cuMemcpyDtoH)(void *dst, herd_CUdeviceptr src, size_t bytes);
    herd_CUresult (*cuMemcpyDtoD)(herd_CUdeviceptr dst, herd_CUdeviceptr src, size_t bytes);
    herd_CUresult (*cuMemsetD8)(herd_CUdeviceptr dst, unsigned char value, size_t count);
    herd_CUresult (*cuMemAllocHost)(void **pointer, size_t bytes);
    herd_CUresult (*cuMemFreeHost)(void *pointer);
    herd_CUresult (*cuMemcpyHtoDAsync)(herd_CUdeviceptr dst, const void *src, size_t bytes, herd_CUstream stream);
    herd_CUresult (*cuModuleLoadData)(herd_CUmodule *module, const void *image);
    herd_CUresult (*cuModuleGetFunction)(herd_CUfunction *function, herd_CUmodule module, const char *name);
    herd_CUresult (*cuLaunchKernel)(herd_CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                    unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared_bytes,
                                    herd_CUstream stream, void **params, void **extra);
    // cuLaunchKernelEx (CUDA 12.0 and later): may be NULL on an older driver, which then launches without
    // programmatic dependent launch (herd_cuda_launch).
    herd_cuLaunchKernelEx_fn cuLaunchKernelEx;
    herd_CUresult (*cuGetErrorString)(herd_CUresult error, const char **text);
    herd_CUresult (*cuEventCreate)(herd_CUevent *event, unsigned int flags);
    herd_CUresult (*cuEventRecord)(herd_CUevent event, herd_CUstream stream);
    herd_CUresult (*cuEventSynchronize)(herd_CUevent event);
    herd_CUresult (*cuEventElapsedTime)(float *milliseconds, herd_CUevent start, herd_CUevent end);
    herd_CUresult (*cuEventDestroy)(herd_CUevent event);
    // The backend's stream and the decode-step graphs captured on it (GPUBackend+Graphs.swift).
    herd_CUresult (*cuStreamCreateWithPriority)(herd_CUstream *stream, unsigned int flags, int priority);
    herd_CUresult (*cuCtxGetStreamPriorityRange)(int *least, int *greatest);
    herd_CUresult (*cuStreamWaitEvent)(herd_CUstream stream, herd_CUevent event, unsigned int flags);
    herd_CUresult (*cuStreamBeginCapture)(herd_CUstream stream, int mode);  // cuStreamBeginCapture_v2
    herd_CUresult (*cuStreamEndCapture)(herd_CUstream stream, herd_CUgraph *graph);
    herd_CUresult (*cuGraphInstantiateWithFlags)(herd_CUgraphExec *exec, herd_CUgraph graph, unsigned long long flags);
    herd_CUresult (*cuGraphLaunch)(herd_CUgraphExec exec, herd_CUstream stream);
    herd_CUresult (*cuGraphExecDestroy)(herd_CUgraphExec exec);
    herd_CUresult (*cuGraphDestroy)(herd_CUgraph graph);
} herd_cuda_api;

/// NVRTC, the run-time compiler.
typedef struct {
    herd_nvrtcResult (*nvrtcVersion)(int *major, int *minor);
    herd_nvrtcResult (*nvrtcCreateProgram)(herd_nvrtcProgram *program, const char *source, const char *name,
                                           int header_count, const char *const *headers, const char *const *include_names);
    herd_nvrtcResult (*nvrtcCompileProgram)(herd_nvrtcProgram program, int option_count, const char *const *options);
    herd_nvrtcResult (*nvrtcGetProgramLogSize)(herd_nvrtcProgram program, size_t *size);
    herd_nvrtcResult (*nvrtcGetProgramLog)(herd_nvrtcProgram program, char *log);
    herd_nvrtcResult (*nvrtcGetCUBINSize)(herd_nvrtcProgram program, size_t *size);
    herd_nvrtcResult (*nvrtcGetCUBIN)(herd_nvrtcProgram program, char *cubin);
    herd_nvrtcResult (*nvrtcDestroyProgram)(herd_nvrtcProgram *program);
    const char *(*nvrtcGetErrorString)(herd_nvrtcResult result);
} herd_nvrtc_api;

/// cuBLASLt (cublasLt.h), for the large BF16 products of prefill. Handles and descriptors are opaque
/// pointers; scripts/cublaslt-check.c asserts these declarations and enum values against the real header
/// on a CUDA machine.
typedef int herd_cublasStatus_t;       // 0 = CUBLAS_STATUS_SUCCESS
typedef void *herd_cublasLtHandle_t;
typedef void *herd_cublasLtMatmulDesc_t;
typedef void *herd_cublasLtMatrixLayout_t;
typedef void *herd_cublasLtMatmulPreference_t;
typedef struct { unsigned long long data[8]; } herd_cublasLtMatmulAlgo_t;
typedef struct {
    herd_cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    herd_cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} herd_cublasLtMatmulHeuristicResult_t;
enum {
    HERD_CUDA_R_32F = 0,                      // cudaDataType_t
    HERD_CUDA_R_16BF = 14,
    HERD_CUBLAS_COMPUTE_32F = 68,             // cublasComputeType_t
    HERD_CUBLAS_OP_N = 0,                     // cublasOperation_t
    HERD_CUBLAS_OP_T = 1,
    HERD_CUBLASLT_MATMUL_DESC_TRANSA = 3,     // cublasLtMatmulDescAttributes_t
    HERD_CUBLASLT_MATMUL_DESC_TRANSB = 4,
    HERD_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,  // cublasLtMatmulPreferenceAttributes_t
};
typedef struct {
    size_t (*cublasLtGetVersion)(void);
    herd_cublasStatus_t (*cublasLtCreate)(herd_cublasLtHandle_t *handle);
    herd_cublasStatus_t (*cublasLtMatmulDescCreate)(herd_cublasLtMatmulDesc_t *desc, int computeType, int scaleType);
    herd_cublasStatus_t (*cublasLtMatmulDescSetAttribute)(herd_cublasLtMatmulDesc_t desc, int attribute, const void *buffer, size_t size);
    herd_cublasStatus_t (*cublasLtMatrixLayoutCreate)(herd_cublasLtMatrixLayout_t *layout, int type, unsigned long long rows,
                                                      unsigned long long cols, long long ld);
    herd_cublasStatus_t (*cublasLtMatrixLayoutDestroy)(herd_cublasLtMatrixLayout_t layout);
    herd_cublasStatus_t (*cublasLtMatmulPreferenceCreate)(herd_cublasLtMatmulPreference_t *pref);
    herd_cublasStatus_t (*cublasLtMatmulPreferenceSetAttribute)(herd_cublasLtMatmulPreference_t pref, int attribute, const void *buffer,
                                                                size_t size);
    herd_cublasStatus_t (*cublasLtMatmulAlgoGetHeuristic)(herd_cublasLtHandle_t handle, herd_cublasLtMatmulDesc_t desc,
                                                          herd_cublasLtMatrixLayout_t a, herd_cublasLtMatrixLayout_t b,
                                                          herd_cublasLtMatrixLayout_t c, herd_cublasLtMatrixLayout_t d,
                                                          herd_cublasLtMatmulPreference_t pref, int requested,
                                                          herd_cublasLtMatmulHeuristicResult_t *results, int *returned);
    herd_cublasStatus_t (*cublasLtMatmul)(herd_cublasLtHandle_t handle, herd_cublasLtMatmulDesc_t desc, const void *alpha,
                                          const void *a, herd_cublasLtMatrixLayout_t adesc, const void *b,
                                          herd_cublasLtMatrixLayout_t bdesc, const void *beta, const void *c,
                                          herd_cublasLtMatrixLayout_t cdesc, void *d, herd_cublasLtMatrixLayout_t ddesc,
                                          const herd_cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspaceSize,
                                          herd_CUstream stream);
} herd_cublaslt_api;

// MARK: HIP (libamdhip64) and hiprtc, declarations as in hip/hip_runtime_api.h and hip/hiprtc.h
//
// hip_check.c asserts every pointer type below against the real headers (libamdhip64-dev) at build
// time, so a wrong declaration breaks the build. Opaque handles use the headers' own struct tags so the
// types are identical, not merely the same size. Enums (hipError_t, hipDeviceAttribute_t, hiprtcResult)
// have no negative values, so their C type is unsigned int.

typedef unsigned int herd_hipError_t;          // hipError_t; 0 = hipSuccess
typedef unsigned int herd_hiprtcResult;        // hiprtcResult; 0 = HIPRTC_SUCCESS
typedef unsigned int herd_hipDeviceAttribute_t;
typedef int herd_hipDevice_t;
typedef void *herd_hipDeviceptr_t;
typedef struct ihipModule_t *herd_hipModule_t;
typedef struct ihipModuleSymbol_t *herd_hipFunction_t;
typedef struct ihipStream_t *herd_hipStream_t;
typedef struct ihipEvent_t *herd_hipEvent_t;
typedef struct _hiprtcProgram *herd_hiprtcProgram;
typedef struct ihipGraph *herd_hipGraph_t;
typedef struct hipGraphNode *herd_hipGraphNode_t;
typedef struct hipGraphExec *herd_hipGraphExec_t;
/// hipDeviceProp_t, never dereferenced here: its layout differs between ROCm 5 (R0000) and ROCm 6
/// (R0600), so Herd passes a large zeroed buffer and reads gcnArchName at the offset below that matches
/// the entry point it called.
struct hipDeviceProp_t;

/// The HIP runtime entry points Herd uses. `hipGetDeviceProperties` holds hipGetDevicePropertiesR0600
/// (ROCm >= 6) or, on ROCm 5, the unversioned hipGetDeviceProperties.
typedef struct {
    herd_hipError_t (*hipInit)(unsigned int flags);
    herd_hipError_t (*hipRuntimeGetVersion)(int *version);
    herd_hipError_t (*hipGetDeviceCount)(int *count);
    herd_hipError_t (*hipSetDevice)(int device);
    herd_hipError_t (*hipDeviceGetName)(char *name, int length, herd_hipDevice_t device);
    herd_hipError_t (*hipDeviceGetAttribute)(int *value, herd_hipDeviceAttribute_t attribute, int device);
    herd_hipError_t (*hipGetDeviceProperties)(struct hipDeviceProp_t *properties, int device);
    herd_hipError_t (*hipDeviceSynchronize)(void);
    herd_hipError_t (*hipMemGetInfo)(size_t *free_bytes, size_t *total_bytes);
    herd_hipError_t (*hipMalloc)(void **pointer, size_t bytes);
    herd_hipError_t (*hipFree)(void *pointer);
    herd_hipError_t (*hipMemcpyHtoD)(herd_hipDeviceptr_t dst, const void *src, size_t bytes);
    herd_hipError_t (*hipMemcpyDtoH)(void *dst, herd_hipDeviceptr_t src, size_t bytes);
    herd_hipError_t (*hipMemsetD8)(herd_hipDeviceptr_t dst, unsigned char value, size_t count);
    herd_hipError_t (*hipHostMalloc)(void **pointer, size_t bytes, unsigned int flags);
    herd_hipError_t (*hipHostFree)(void *pointer);
    herd_hipError_t (*hipMemcpyHtoDAsync)(herd_hipDeviceptr_t dst, const void *src, size_t bytes, herd_hipStream_t stream);
    herd_hipError_t (*hipModuleLoadData)(herd_hipModule_t *module, const void *image);
    herd_hipError_t (*hipModuleGetFunction)(herd_hipFunction_t *function, herd_hipModule_t module, const char *name);
    herd_hipError_t (*hipModuleLaunchKernel)(herd_hipFunction_t f, unsigned int gx, unsigned int gy, unsigned int gz,
                                             unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared_bytes,
                                             herd_hipStream_t stream, void **params, void **extra);
    const char *(*hipGetErrorName)(herd_hipError_t error);
    const char *(*hipGetErrorString)(herd_hipError_t error);
    herd_hipError_t (*hipEventCreate)(herd_hipEvent_t *event);
    herd_hipError_t (*hipEventRecord)(herd_hipEvent_t event, herd_hipStream_t stream);
    herd_hipError_t (*hipEventSynchronize)(herd_hipEvent_t event);
    herd_hipError_t (*hipEventElapsedTime)(float *milliseconds, herd_hipEvent_t start, herd_hipEvent_t stop);
    herd_hipError_t (*hipEventDestroy)(herd_hipEvent_t event);
    // The backend's stream and the decode-step graphs captured on it (GPUBackend+Graphs.swift).
    herd_hipError_t (*hipStreamCreate)(herd_hipStream_t *stream);
    herd_hipError_t (*hipStreamBeginCapture)(herd_hipStream_t stream, unsigned int mode);  // hipStreamCaptureMode
    herd_hipError_t (*hipStreamEndCapture)(herd_hipStream_t stream, herd_hipGraph_t *graph);
    herd_hipError_t (*hipGraphInstantiate)(herd_hipGraphExec_t *exec, herd_hipGraph_t graph, herd_hipGraphNode_t *error_node,
                                           char *log, size_t log_bytes);
    herd_hipError_t (*hipGraphLaunch)(herd_hipGraphExec_t exec, herd_hipStream_t stream);
    herd_hipError_t (*hipGraphExecDestroy)(herd_hipGraphExec_t exec);
    herd_hipError_t (*hipGraphDestroy)(herd_hipGraph_t graph);
} herd_hip_api;

/// hiprtc, the run-time compiler (libhiprtc on ROCm 6; inside libamdhip64 on ROCm 5).
typedef struct {
    herd_hiprtcResult (*hiprtcVersion)(int *major, int *minor);
    herd_hiprtcResult (*hiprtcCreateProgram)(herd_hiprtcProgram *program, const char *source, const char *name,
                                             int header_count, const char **headers, const char **include_names);
    herd_hiprtcResult (*hiprtcCompileProgram)(herd_hiprtcProgram program, int option_count, const char **options);
    herd_hiprtcResult (*hiprtcGetProgramLogSize)(herd_hiprtcProgram program, size_t *size);
    herd_hiprtcResult (*hiprtcGetProgramLog)(herd_hiprtcProgram program, char *log);
    herd_hiprtcResult (*hiprtcGetCodeSize)(herd_hiprtcProgram program, size_t *size);
    herd_hiprtcResult (*hiprtcGetCode)(herd_hiprtcProgram program, char *code);
    herd_hiprtcResult (*hiprtcDestroyProgram)(herd_hiprtcProgram *program);
    const char *(*hiprtcGetErrorString)(herd_hiprtcResult result);
} herd_hiprtc_api;

/// Where gcnArchName ("gfx942:sramecc+:xnack-") sits in hipDeviceProp_t: in ROCm 6's R0600 layout
/// (filled by hipGetDevicePropertiesR0600) and in ROCm 5's layout (the unversioned entry point).
/// hip_check.c asserts the one that matches the installed header. A buffer this large holds either.
#define HERD_HIP_PROPS_R0600_GCN_ARCH_NAME_OFFSET 1160
#define HERD_HIP_PROPS_R0000_GCN_ARCH_NAME_OFFSET 396
#define HERD_HIP_PROPS_GCN_ARCH_NAME_LENGTH 256
#define HERD_HIP_PROPS_BUFFER_BYTES 8192

// hipDeviceAttributeWarpSize, hipDeviceAttributeMaxSharedMemoryPerBlock, hipDeviceAttributeMultiprocessorCount
#define HERD_HIP_ATTR_WARP_SIZE 87
#define HERD_HIP_ATTR_MAX_SHARED_MEMORY_PER_BLOCK 74
#define HERD_HIP_ATTR_MULTIPROCESSOR_COUNT 63

/// Calls hipModuleLaunchKernel like herd_cuda_launch: 1-D blocks, a 2-D grid, on `stream`.
herd_hipError_t herd_hip_launch(const herd_hip_api *api, herd_hipFunction_t f, unsigned int gx, unsigned int gy,
                                unsigned int bx, void **params, herd_hipStream_t stream);

/// Calls cuLaunchKernel with an array of argument pointers (Swift cannot build `void **` easily), on `stream`.
/// With `overlap` (and cuLaunchKernelEx loaded), the launch allows programmatic dependent launch
/// (CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, sm_90 and later): the kernel may start while the
/// one before it on the stream is still running, and waits for it with griddepcontrol.wait (vendor.h's
/// herd_grid_wait) before it reads what that kernel wrote.
herd_CUresult herd_cuda_launch(const herd_cuda_api *api, herd_CUfunction f, unsigned int gx, unsigned int gy,
                               unsigned int bx, void **params, herd_CUstream stream, int overlap);

/// The kernel tree, embedded at build time from kernels/ (one source for CUDA and HIP).
const char *herd_gpu_kernels_source(void);
const char *herd_gpu_vendor_header(void);

// CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
// CU_DEVICE_ATTRIBUTE_WARP_SIZE
#define HERD_CU_ATTR_CC_MAJOR 75
#define HERD_CU_ATTR_CC_MINOR 76
#define HERD_CU_ATTR_SM_COUNT 16
#define HERD_CU_ATTR_WARP_SIZE 10

#ifdef __cplusplus
}
#endif
#endif
