// The one vendor-mapping header of Herd's GPU kernel tree: the same kernels compile as CUDA (NVRTC,
// warps of 32) and as HIP (hiprtc / hipcc, wavefronts of 64 on AMD CDNA). Kernels never assume a warp
// size: block-level reductions go through shared memory, sized by blockDim.
#pragma once
#if defined(__HIPCC__) || defined(__HIPCC_RTC__) || defined(__HIP_PLATFORM_AMD__)
  #define HERD_HIP 1
  // hiprtc (__HIPCC_RTC__) provides the HIP device runtime itself and has no system headers to include.
  #ifndef __HIPCC_RTC__
    #include <hip/hip_runtime.h>
  #endif
#else
  #define HERD_CUDA 1
#endif

// IEEE half to float by bit manipulation: the same code on every vendor, no fp16 headers needed
// (NVRTC has no standard headers).
__device__ __forceinline__ float herd_half_to_float(unsigned short h) {
    const unsigned int sign = ((unsigned int)h & 0x8000u) << 16;
    unsigned int exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0) return __uint_as_float(sign);
        // subnormal: value = mant * 2^-24
        const float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

__device__ __forceinline__ float herd_bf16_to_float(unsigned short h) {
    return __uint_as_float(((unsigned int)h) << 16);
}

#define HERD_KERNEL extern "C" __global__

// Programmatic dependent launch (CUDA, sm_90 and later; CUDADriver launches every kernel allowing it): a
// kernel may be started while the one before it on the stream still runs. Every kernel of this tree calls
// herd_grid_wait() before it reads anything a kernel wrote, writes anything, or returns: it returns once the
// previous kernel has finished and its writes are visible (at once when there is none). Only reads of what
// no kernel writes (weights) may come before it, so a kernel's weight stream starts under the previous
// kernel's tail. herd_grid_release() lets the next kernel start; called first thing, the next kernel's
// blocks take multiprocessors as this one's blocks leave them. On HIP and older GPUs both do nothing.
// (Tests/ComputeGPUTests check that every kernel waits.)
__device__ __forceinline__ void herd_grid_wait() {
#if HERD_CUDA && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void herd_grid_release() {
#if HERD_CUDA && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" :::);
#endif
}
// Both, for kernels with nothing to start early.
__device__ __forceinline__ void herd_grid_sync() {
    herd_grid_release();
    herd_grid_wait();
}
// A hint to bring the 128-byte line at p into L2 (CUDA; nothing on HIP).
__device__ __forceinline__ void herd_prefetch_l2(const void *p) {
#if HERD_CUDA
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
#else
    (void)p;
#endif
}

// Sum of v over the `width` lanes of the calling warp (CUDA, 32) or wavefront (AMD, 64; width is the
// device's, passed in by the backend), returned to every lane. All lanes of the warp must call it.
// Lane exchanges within groups of 32 lanes (a CUDA warp; half an AMD wavefront): v of lane (this lane ^ m),
// and v of lane `src`.
template <typename T>
__device__ __forceinline__ T herd_lanes32_xor(T v, int m) {
#if HERD_HIP
    return __shfl_xor(v, m, 32);
#else
    return __shfl_xor_sync(0xffffffffu, v, m, 32);
#endif
}
template <typename T>
__device__ __forceinline__ T herd_lanes32_get(T v, int src) {
#if HERD_HIP
    return __shfl(v, src, 32);
#else
    return __shfl_sync(0xffffffffu, v, src, 32);
#endif
}

__device__ __forceinline__ float herd_warp_sum(float v, int width) {
    for (int offset = width / 2; offset > 0; offset /= 2) {
#if HERD_HIP
        v += __shfl_xor(v, offset, width);
#else
        v += __shfl_xor_sync(0xffffffffu, v, offset, width);
#endif
    }
    return v;
}

// -infinity without math.h (NVRTC has no standard headers).
#define HERD_NEG_INF (__int_as_float(0xff800000))

#if HERD_CUDA
// cp.async (sm_80 and later; never launched before): 16 bytes global -> shared without registers, in
// groups committed and then waited for (all but the newest N groups landed). valid false: 16 zero bytes,
// nothing read.
__device__ __forceinline__ void herd_copy16_async(float *dst, const float *src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    (void)dst; (void)src; (void)valid;
#else
    unsigned s;
    asm("{ .reg .u64 p; cvta.to.shared.u64 p, %1; cvt.u32.u64 %0, p; }\n" : "=r"(s) : "l"(dst));
    // src-size 0: 16 zero bytes, nothing read
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0) : "memory");
#endif
}
__device__ __forceinline__ void herd_copy16_commit() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void herd_copy16_wait() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
#else
// HIP: the same calls as plain copies, done when issued (a thread reads back only what it copied itself).
__device__ __forceinline__ void herd_copy16_async(float *dst, const float *src, bool valid) {
    *(float4 *)dst = valid ? *(const float4 *)src : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}
__device__ __forceinline__ void herd_copy16_commit() {}
template <int N>
__device__ __forceinline__ void herd_copy16_wait() {}
#endif
