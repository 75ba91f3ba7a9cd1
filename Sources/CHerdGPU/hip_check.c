// Compile-time check of CHerdGPU.h's HIP and hiprtc declarations against the real headers
// (libamdhip64-dev). Each assertion compares a real function's type with the type of Herd's
// function-pointer field, so a wrong parameter or return type fails the build. Nothing here is emitted
// or linked: libamdhip64 and hiprtc stay run-time dlopens. Without the headers (a machine without
// libamdhip64-dev) the check is skipped; scripts/test installs them, and scripts/hip-decl-check.sh
// shows that an altered declaration is caught.
#include "CHerdGPU.h"

#if __has_include(<hip/hip_runtime_api.h>) && __has_include(<hip/hiprtc.h>)
#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>
#include <hip/hiprtc.h>
#include <stddef.h>

#define FIELD_TYPE(table, field) __typeof__(((table *)0)->field)
#define CHECK(table, field, function) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&function), FIELD_TYPE(table, field)), \
                   #function " in the HIP headers does not match " #table "." #field " in CHerdGPU.h");

CHECK(herd_hip_api, hipInit, hipInit)
CHECK(herd_hip_api, hipRuntimeGetVersion, hipRuntimeGetVersion)
CHECK(herd_hip_api, hipGetDeviceCount, hipGetDeviceCount)
CHECK(herd_hip_api, hipSetDevice, hipSetDevice)
CHECK(herd_hip_api, hipDeviceGetName, hipDeviceGetName)
CHECK(herd_hip_api, hipDeviceGetAttribute, hipDeviceGetAttribute)
CHECK(herd_hip_api, hipDeviceSynchronize, hipDeviceSynchronize)
CHECK(herd_hip_api, hipMemGetInfo, hipMemGetInfo)
CHECK(herd_hip_api, hipMalloc, hipMalloc)
CHECK(herd_hip_api, hipFree, hipFree)
CHECK(herd_hip_api, hipMemcpyDtoH, hipMemcpyDtoH)
CHECK(herd_hip_api, hipMemsetD8, hipMemsetD8)
CHECK(herd_hip_api, hipModuleLoadData, hipModuleLoadData)
CHECK(herd_hip_api, hipModuleGetFunction, hipModuleGetFunction)
CHECK(herd_hip_api, hipModuleLaunchKernel, hipModuleLaunchKernel)
CHECK(herd_hip_api, hipGetErrorName, hipGetErrorName)
CHECK(herd_hip_api, hipGetErrorString, hipGetErrorString)
CHECK(herd_hip_api, hipEventCreate, hipEventCreate)
CHECK(herd_hip_api, hipEventRecord, hipEventRecord)
CHECK(herd_hip_api, hipEventSynchronize, hipEventSynchronize)
CHECK(herd_hip_api, hipEventElapsedTime, hipEventElapsedTime)
CHECK(herd_hip_api, hipEventDestroy, hipEventDestroy)
CHECK(herd_hip_api, hipStreamCreate, hipStreamCreate)
CHECK(herd_hip_api, hipStreamBeginCapture, hipStreamBeginCapture)
CHECK(herd_hip_api, hipStreamEndCapture, hipStreamEndCapture)
CHECK(herd_hip_api, hipGraphInstantiate, hipGraphInstantiate)
CHECK(herd_hip_api, hipGraphLaunch, hipGraphLaunch)
CHECK(herd_hip_api, hipGraphExecDestroy, hipGraphExecDestroy)
CHECK(herd_hip_api, hipGraphDestroy, hipGraphDestroy)

CHECK(herd_hiprtc_api, hiprtcVersion, hiprtcVersion)
CHECK(herd_hiprtc_api, hiprtcCreateProgram, hiprtcCreateProgram)
CHECK(herd_hiprtc_api, hiprtcCompileProgram, hiprtcCompileProgram)
CHECK(herd_hiprtc_api, hiprtcGetProgramLogSize, hiprtcGetProgramLogSize)
CHECK(herd_hiprtc_api, hiprtcGetProgramLog, hiprtcGetProgramLog)
CHECK(herd_hiprtc_api, hiprtcGetCodeSize, hiprtcGetCodeSize)
CHECK(herd_hiprtc_api, hiprtcGetCode, hiprtcGetCode)
CHECK(herd_hiprtc_api, hiprtcDestroyProgram, hiprtcDestroyProgram)
CHECK(herd_hiprtc_api, hiprtcGetErrorString, hiprtcGetErrorString)

CHECK(herd_hip_api, hipHostMalloc, hipHostMalloc)
CHECK(herd_hip_api, hipHostFree, hipHostFree)

#if HIP_VERSION_MAJOR >= 6
// ROCm 6 declares the copy source const, as Herd does.
CHECK(herd_hip_api, hipMemcpyHtoD, hipMemcpyHtoD)
CHECK(herd_hip_api, hipMemcpyHtoDAsync, hipMemcpyHtoDAsync)
// The versioned entry point and its R0600 layout (hipGetDeviceProperties is a macro for it).
CHECK(herd_hip_api, hipGetDeviceProperties, hipGetDevicePropertiesR0600)
_Static_assert(offsetof(hipDeviceProp_tR0600, gcnArchName) == HERD_HIP_PROPS_R0600_GCN_ARCH_NAME_OFFSET,
               "gcnArchName offset in hipDeviceProp_tR0600");
_Static_assert(sizeof(hipDeviceProp_tR0600) <= HERD_HIP_PROPS_BUFFER_BYTES, "hipDeviceProp_tR0600 fits the buffer");
#else
// ROCm 5 declares the source `void *` (the same ABI): the rest of the type must match.
_Static_assert(__builtin_types_compatible_p(__typeof__(&hipMemcpyHtoD),
                                            herd_hipError_t (*)(herd_hipDeviceptr_t, void *, size_t)),
               "hipMemcpyHtoD in the HIP headers does not match herd_hip_api.hipMemcpyHtoD in CHerdGPU.h");
_Static_assert(__builtin_types_compatible_p(__typeof__(&hipMemcpyHtoDAsync),
                                            herd_hipError_t (*)(herd_hipDeviceptr_t, void *, size_t, herd_hipStream_t)),
               "hipMemcpyHtoDAsync in the HIP headers does not match herd_hip_api.hipMemcpyHtoDAsync in CHerdGPU.h");
CHECK(herd_hip_api, hipGetDeviceProperties, hipGetDeviceProperties)
_Static_assert(offsetof(hipDeviceProp_t, gcnArchName) == HERD_HIP_PROPS_R0000_GCN_ARCH_NAME_OFFSET,
               "gcnArchName offset in ROCm 5's hipDeviceProp_t");
_Static_assert(sizeof(hipDeviceProp_t) <= HERD_HIP_PROPS_BUFFER_BYTES, "hipDeviceProp_t fits the buffer");
#endif
_Static_assert(sizeof(((hipDeviceProp_t *)0)->gcnArchName) == HERD_HIP_PROPS_GCN_ARCH_NAME_LENGTH, "gcnArchName length");

// The handle types are the headers' own.
_Static_assert(__builtin_types_compatible_p(hipModule_t, herd_hipModule_t), "hipModule_t");
_Static_assert(__builtin_types_compatible_p(hipFunction_t, herd_hipFunction_t), "hipFunction_t");
_Static_assert(__builtin_types_compatible_p(hipStream_t, herd_hipStream_t), "hipStream_t");
_Static_assert(__builtin_types_compatible_p(hiprtcProgram, herd_hiprtcProgram), "hiprtcProgram");
_Static_assert(__builtin_types_compatible_p(hipDeviceptr_t, herd_hipDeviceptr_t), "hipDeviceptr_t");

// The enum values Herd passes or compares with.
_Static_assert(hipSuccess == 0 && HIPRTC_SUCCESS == 0, "success codes");
_Static_assert(hipDeviceAttributeWarpSize == HERD_HIP_ATTR_WARP_SIZE, "hipDeviceAttributeWarpSize");
_Static_assert(hipDeviceAttributeMaxSharedMemoryPerBlock == HERD_HIP_ATTR_MAX_SHARED_MEMORY_PER_BLOCK,
               "hipDeviceAttributeMaxSharedMemoryPerBlock");
_Static_assert(hipDeviceAttributeMultiprocessorCount == HERD_HIP_ATTR_MULTIPROCESSOR_COUNT,
               "hipDeviceAttributeMultiprocessorCount");
#endif

// Keeps the translation unit non-empty when the headers are absent.
int herd_hip_check_unused;
