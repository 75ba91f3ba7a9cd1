// Types and function-pointer tables for the GPU vendor libraries Herd loads at run time (dlopen), never
// links: the same binary builds and runs on machines without them. Only the handful of calls Herd makes
// are declared; their C signatures follow the CUDA driver API and NVRTC headers (cuda.h, nvrtc.h).
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
typedef unsigned long long herd_CUdeviceptr;
typedef int herd_nvrtcResult;         // 0 = NVRTC_SUCCESS
typedef void *herd_nvrtcProgram;

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
    herd_CUresult (*cuModuleLoadData)(herd_CUmodule *module, const void *image);
    herd_CUresult (*cuModuleGetFunction)(herd_CUfunction *function, herd_CUmodule module, const char *name);
    herd_CUresult (*cuLaunchKernel)(herd_CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                    unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared_bytes,
                                    herd_CUstream stream, void **params, void **extra);
    herd_CUresult (*cuGetErrorString)(herd_CUresult error, const char **text);
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

/// Calls cuLaunchKernel with an array of argument pointers (Swift cannot build `void **` easily).
herd_CUresult herd_cuda_launch(const herd_cuda_api *api, herd_CUfunction f, unsigned int gx, unsigned int gy,
                               unsigned int bx, void **params);

/// The kernel tree, embedded at build time from kernels/ (one source for CUDA and HIP).
const char *herd_gpu_kernels_source(void);
const char *herd_gpu_vendor_header(void);

// CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
#define HERD_CU_ATTR_CC_MAJOR 75
#define HERD_CU_ATTR_CC_MINOR 76
#define HERD_CU_ATTR_SM_COUNT 16

#ifdef __cplusplus
}
#endif
#endif
