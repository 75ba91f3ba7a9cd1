#include "CHerdGPU.h"

static const char kernels_source[] = {
#embed "kernels/herd_kernels.cu"
    , 0
};

static const char vendor_header[] = {
#embed "kernels/vendor.h"
    , 0
};

herd_CUresult herd_cuda_launch(const herd_cuda_api *api, herd_CUfunction f, unsigned int gx, unsigned int gy,
                               unsigned int bx, void **params) {
    return api->cuLaunchKernel(f, gx, gy, 1, bx, 1, 1, 0, 0, params, 0);
}

herd_hipError_t herd_hip_launch(const herd_hip_api *api, herd_hipFunction_t f, unsigned int gx, unsigned int gy,
                                unsigned int bx, void **params) {
    return api->hipModuleLaunchKernel(f, gx, gy, 1, bx, 1, 1, 0, 0, params, 0);
}

const char *herd_gpu_kernels_source(void) { return kernels_source; }
const char *herd_gpu_vendor_header(void) { return vendor_header; }
