#include "CHerdGPU.h"

// The kernel tree is one compilation unit: herd_kernels.cu (shared helpers and the core ops) first, then
// the other parts in this order. scripts/hip-check.sh and scripts/nvrtc-check.py concatenate the same list
// (KERNEL_PARTS below is the one place it is written; hip-check fails when a .cu file is missing from it).
// KERNEL_PARTS: herd_kernels.cu herd_attention.cu herd_attention_gqa.cu herd_mma.cu herd_sampling.cu
static const char kernels_source[] = {
#embed "kernels/herd_kernels.cu"
    , '\n',
#embed "kernels/herd_attention.cu"
    , '\n',
#embed "kernels/herd_attention_gqa.cu"
    , '\n',
#embed "kernels/herd_mma.cu"
    , '\n',
#embed "kernels/herd_sampling.cu"
    , 0
};

static const char vendor_header[] = {
#embed "kernels/vendor.h"
    , 0
};

// cuda.h's CUlaunchAttribute and CUlaunchConfig (CUDA 12): an attribute is its id, padding to 8 bytes and
// a 64-byte value union (8-byte aligned).
typedef struct {
    int id;
    char pad[4];
    union {
        char bytes[64];
        long long align;
        int value;
    } value;
} herd_CUlaunchAttribute;
typedef struct {
    unsigned int gridDimX, gridDimY, gridDimZ;
    unsigned int blockDimX, blockDimY, blockDimZ;
    unsigned int sharedMemBytes;
    herd_CUstream hStream;
    herd_CUlaunchAttribute *attrs;
    unsigned int numAttrs;
} herd_CUlaunchConfig;
#define HERD_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION 6
_Static_assert(sizeof(herd_CUlaunchAttribute) == 72, "CUlaunchAttribute is 72 bytes");

herd_CUresult herd_cuda_launch(const herd_cuda_api *api, herd_CUfunction f, unsigned int gx, unsigned int gy,
                               unsigned int bx, void **params, herd_CUstream stream, int overlap) {
    if (!overlap || !api->cuLaunchKernelEx) return api->cuLaunchKernel(f, gx, gy, 1, bx, 1, 1, 0, stream, params, 0);
    herd_CUlaunchAttribute attribute = {0};
    attribute.id = HERD_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    attribute.value.value = 1;  // programmaticStreamSerializationAllowed
    herd_CUlaunchConfig config = {gx, gy, 1, bx, 1, 1, 0, stream, &attribute, 1};
    return api->cuLaunchKernelEx(&config, f, params, 0);
}

herd_hipError_t herd_hip_launch(const herd_hip_api *api, herd_hipFunction_t f, unsigned int gx, unsigned int gy,
                                unsigned int bx, void **params, herd_hipStream_t stream) {
    return api->hipModuleLaunchKernel(f, gx, gy, 1, bx, 1, 1, 0, stream, params, 0);
}

const char *herd_gpu_kernels_source(void) { return kernels_source; }
const char *herd_gpu_vendor_header(void) { return vendor_header; }
