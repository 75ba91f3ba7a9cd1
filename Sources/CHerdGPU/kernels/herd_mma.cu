// Part of the kernel tree compiled after herd_kernels.cu (see Sources/CHerdGPU/gpu.c).
#include "vendor.h"

// Tensor-core products for batches of rows (prefill, busy decode) with BF16 or FP8 weights, dense and
// grouped by expert: y[m, n] = (scale[n] *) sum_k W[n, k] x[m, k].
//
// NVIDIA: mma.sync m16n8k16 (BF16 operands, f32 accumulators; sm_80 and later). AMD's MFMA counterpart is
// not written yet: on HIP this part compiles to nothing and the backend keeps the CUDA-core tiles of
// herd_kernels.cu (GPUBackend.mmaKernelNames is looked up on CUDA only).
//
// The model's activations are f32. Each is split into `terms` BF16 parts, hi = bf16(x), mid = bf16(x - hi),
// lo = x - hi - mid (exactly a BF16), whose sum is x exactly: a BF16 x BF16 product is exact in f32, so
// with 3 terms the product is the f32 x BF16 product the CPU computes (to accumulation order); 1 term is
// BF16 activations, as vLLM runs. Terms cost tensor-core time only: a decode-sized step stays bound by
// the weight stream.
//
// Who runs what (GPUBackend+MMA.swift, skinnyDenseRows): decode-sized dense products take herd_skinny_*
// (BF16 at 5-8 rows, FP8 while rows x terms <= 96), then BF16 cuBLASLt with the terms stacked as rows and FP8
// herd_mma_fp8_splitk, up to 256 rows; decode-sized experts take herd_moe_skinny_*; prefill sizes go to
// cuBLASLt where it loads (these kernels help it: herd_mma_split, herd_fp8_widen, herd_scale_columns) and to
// herd_mma_* / herd_moe_mma_* otherwise.
//
// Tiles: 64 rows x 64 outputs x 32 k per step, 128 threads (4 warps, each 32 x 32 = 2 x 4 mma tiles).
// Operands go global -> registers (one step ahead) -> shared memory as BF16 (FP8 weights are widened
// exactly on the way), rows padded to 40 elements so the fragment loads hit 32 distinct banks.
#if HERD_CUDA
#define HERD_MMA_BM 64
#define HERD_MMA_BN 64
#define HERD_MMA_BK 32
#define HERD_MMA_LD (HERD_MMA_BK + 8)

__device__ __forceinline__ void herd_mma_16816(float *d, const unsigned *a, unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    // No BF16 mma before sm_80: the backend never launches these kernels there (hasTensorCoreKernels).
    (void)d; (void)a; (void)b0; (void)b1;
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// BF16 bits of v rounded to nearest even (NaN stays NaN).
__device__ __forceinline__ unsigned herd_bf16_rn(float v) {
    const unsigned b = __float_as_uint(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (b >> 16) | 0x40u;
    return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
}

// Two f32 activations as `terms` packed BF16 pairs (part t of both in word t).
__device__ __forceinline__ void herd_split_pair(float v0, float v1, int terms, unsigned *out) {
#pragma unroll
    for (int t = 0; t < 3; t++) {
        if (t >= terms) break;
        const unsigned h0 = herd_bf16_rn(v0), h1 = herd_bf16_rn(v1);
        out[t] = h0 | (h1 << 16);
        v0 -= __uint_as_float(h0 << 16);
        v1 -= __uint_as_float(h1 << 16);
    }
}

// Shared operand tiles of one block: A as up to 3 BF16 terms, W as BF16, rows padded to HERD_MMA_LD.
struct HerdMMAShared {
    unsigned short a[3][HERD_MMA_BM * HERD_MMA_LD];
    unsigned short w[HERD_MMA_BN * HERD_MMA_LD];
};

// One 64 x 64 output tile over k in [k_begin, k_end). A comes either as f32 rows (x, split into terms on the
// way into shared memory) or, PRESPLIT, as BF16 terms already split by herd_mma_split (xa: term t of row r
// at xa + t * term_stride + r * ldx). Writes y (scaled) or, with `partial`, the unscaled sums of this k range.
template <bool FP8, bool PRESPLIT>
__device__ __forceinline__ void herd_mma_tile(HerdMMAShared &sm, const unsigned char *w, const float *scales, int bias, const float *x,
                                              const unsigned short *xa, long term_stride, float *y, int n_total, int k,
                                              int k_begin, int k_end, int m, int ldx, int ldy, int m0, int n0, int terms) {
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    const int g = lane >> 2, q = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[i][j][c] = 0.0f;

    // Next step's operands in registers. A: f32, 64 x 32 floats (4 float4 per thread), or PRESPLIT,
    // 64 x 32 BF16 per term (2 x 16 bytes per thread per term). W: 64 rows x 32 elements (BF16: 2 x 16
    // bytes per thread; FP8: 1 x 16 bytes).
    float4 xr[PRESPLIT ? 1 : 4];
    uint4 ar[PRESPLIT ? 3 : 1][2];
    uint4 wr[2];
    const long row_bytes = FP8 ? (long)k : (long)k * 2;
    auto load = [&](int k0) {
        if (PRESPLIT) {
#pragma unroll
            for (int p = 0; p < 3; p++) {
                if (p >= terms) break;
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int e = t + i * 128, r = e >> 2, c = (e & 3) * 8;
                    ar[p][i] = m0 + r < m ? *(const uint4 *)(xa + p * term_stride + (long)(m0 + r) * ldx + k0 + c) : make_uint4(0u, 0u, 0u, 0u);
                }
            }
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int e = t + i * 128, r = e >> 3, c = (e & 7) * 4;
                xr[i] = m0 + r < m ? *(const float4 *)(x + (long)(m0 + r) * ldx + k0 + c) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
        }
#pragma unroll
        for (int i = 0; i < (FP8 ? 1 : 2); i++) {
            const int e = t + i * 128;
            const int r = FP8 ? e >> 1 : e >> 2, c = FP8 ? (e & 1) * 16 : (e & 3) * 8;
            const long byte = FP8 ? (long)(k0 + c) : (long)(k0 + c) * 2;
            wr[i] = n0 + r < n_total ? *(const uint4 *)(w + (long)(n0 + r) * row_bytes + byte) : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    auto store = [&]() {
        if (PRESPLIT) {
#pragma unroll
            for (int p = 0; p < 3; p++) {
                if (p >= terms) break;
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int e = t + i * 128, r = e >> 2, c = (e & 3) * 8;
                    *(uint4 *)(sm.a[p] + r * HERD_MMA_LD + c) = ar[p][i];
                }
            }
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int e = t + i * 128, r = e >> 3, c = (e & 7) * 4;
                unsigned lo[3], hi[3];
                herd_split_pair(xr[i].x, xr[i].y, terms, lo);
                herd_split_pair(xr[i].z, xr[i].w, terms, hi);
                for (int p = 0; p < terms; p++) *(uint2 *)(sm.a[p] + r * HERD_MMA_LD + c) = make_uint2(lo[p], hi[p]);
            }
        }
        if (FP8) {
            const int r = t >> 1, c = (t & 1) * 16;
            const unsigned words[4] = {wr[0].x, wr[0].y, wr[0].z, wr[0].w};
            unsigned out[8];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const unsigned b0 = (words[i / 2] >> (16 * (i % 2))) & 0xffu, b1 = (words[i / 2] >> (16 * (i % 2) + 8)) & 0xffu;
                // FP8 E4M3 values are exact in BF16 (3 mantissa bits, exponents in range).
                out[i] = (__float_as_uint(herd_fp8_to_float(b0, bias)) >> 16) | (__float_as_uint(herd_fp8_to_float(b1, bias)) & 0xffff0000u);
            }
            *(uint4 *)(sm.w + r * HERD_MMA_LD + c) = make_uint4(out[0], out[1], out[2], out[3]);
            *(uint4 *)(sm.w + r * HERD_MMA_LD + c + 8) = make_uint4(out[4], out[5], out[6], out[7]);
        } else {
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const int e = t + i * 128, r = e >> 2, c = (e & 3) * 8;
                *(uint4 *)(sm.w + r * HERD_MMA_LD + c) = wr[i];
            }
        }
    };

    if (k_begin < k_end) load(k_begin);
    for (int k0 = k_begin; k0 < k_end; k0 += HERD_MMA_BK) {
        store();
        __syncthreads();
        if (k0 + HERD_MMA_BK < k_end) load(k0 + HERD_MMA_BK);
#pragma unroll
        for (int kk = 0; kk < HERD_MMA_BK; kk += 16) {
            unsigned b[4][2];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const unsigned short *p = sm.w + (wn + j * 8 + g) * HERD_MMA_LD + kk + q * 2;
                b[j][0] = *(const unsigned *)p;
                b[j][1] = *(const unsigned *)(p + 8);
            }
            for (int part = 0; part < terms; part++) {
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const unsigned short *p = sm.a[part] + (wm + i * 16 + g) * HERD_MMA_LD + kk + q * 2;
                    const unsigned a[4] = {*(const unsigned *)p, *(const unsigned *)(p + 8 * HERD_MMA_LD), *(const unsigned *)(p + 8),
                                           *(const unsigned *)(p + 8 * HERD_MMA_LD + 8)};
#pragma unroll
                    for (int j = 0; j < 4; j++) herd_mma_16816(acc[i][j], a, b[j][0], b[j][1]);
                }
            }
        }
        __syncthreads();
    }
    // Fragment layout of the accumulators: c0, c1 at (row g, columns 2q, 2q + 1), c2, c3 at row g + 8.
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int r = m0 + wm + i * 16 + g + (c >= 2 ? 8 : 0), n = n0 + wn + j * 8 + q * 2 + (c & 1);
                if (r < m && n < n_total) y[(long)r * ldy + n] = scales ? acc[i][j][c] * scales[n] : acc[i][j][c];
            }
}

// Dense, f32 activations split on the way (prefill-sized products): grid (ceil(N / 64), ceil(M / 64)),
// 128 threads. k a multiple of 32, ldx a multiple of 4 (the backend checks).
HERD_KERNEL void __launch_bounds__(128) herd_mma_bf16(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx,
                                                     int ldy, int terms) {
    herd_grid_sync();
    __shared__ __align__(16) HerdMMAShared sm;
    herd_mma_tile<false, false>(sm, w, (const float *)0, 0, x, (const unsigned short *)0, 0, y, n, k, 0, k, m, ldx, ldy,
                                blockIdx.y * HERD_MMA_BM, blockIdx.x * HERD_MMA_BN, terms);
}
HERD_KERNEL void __launch_bounds__(128) herd_mma_fp8(const unsigned char *w, const float *scales, const float *x, float *y, int n, int k,
                                                    int m, int ldx, int ldy, int bias, int terms) {
    herd_grid_sync();
    __shared__ __align__(16) HerdMMAShared sm;
    herd_mma_tile<true, false>(sm, w, scales, bias, x, (const unsigned short *)0, 0, y, n, k, 0, k, m, ldx, ldy,
                               blockIdx.y * HERD_MMA_BM, blockIdx.x * HERD_MMA_BN, terms);
}

// Decode-sized products (a few row tiles: too few blocks to keep the weight stream busy) take the rows
// split into BF16 terms once (herd_mma_split: [terms][m][k]) and split k over `splits` blocks per tile
// (grid.y = row tiles x splits); each block writes its k range's unscaled sums to partial[split][m][n],
// and herd_mma_reduce adds them in split order (deterministic) and applies the row scales.
// grid: (m, column blocks): a row's pairs are spread over gridDim.y blocks so few rows still fill the GPU.
// flags bit 0 (HERD_SPLIT_FP8_ORDER): each group of 4 elements as pairs (0, 2), (1, 3), the order
// herd_skinny_fp8 widens FP8 in (k a multiple of 4). Bit 1 (HERD_SPLIT_BY_ROW): laid out [m][terms][k]
// instead of [terms][m][k], so any run of rows is one matrix of terms x rows rows (cuBLASLt's stacked
// products per expert).
#define HERD_SPLIT_FP8_ORDER 1
#define HERD_SPLIT_BY_ROW 2
// With `up`, what is split is silu(x) * up (herd_swiglu's arithmetic, so the same bits): a SwiGLU feeding its
// down product without writing the f32 activation first.
HERD_KERNEL void herd_mma_split(const float *x, const float *up, unsigned *xa, int m, int k, int ldx, int ldu, int terms, int flags) {
    herd_grid_sync();
    const int r = blockIdx.x;
    const bool fp8_order = flags & HERD_SPLIT_FP8_ORDER, by_row = flags & HERD_SPLIT_BY_ROW;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < k / 2; i += blockDim.x * gridDim.y) {
        unsigned parts[3];
        const int e = fp8_order ? 4 * (i >> 1) + (i & 1) : 2 * i, step = fp8_order ? 2 : 1;
        float v0 = x[(long)r * ldx + e], v1 = x[(long)r * ldx + e + step];
        if (up) {
            v0 = herd_silu_mul(v0, up[(long)r * ldu + e]);
            v1 = herd_silu_mul(v1, up[(long)r * ldu + e + step]);
        }
        herd_split_pair(v0, v1, terms, parts);
        for (int p = 0; p < terms; p++) {
            const long row = by_row ? (long)r * terms + p : (long)p * m + r;
            xa[row * (k / 2) + i] = parts[p];
        }
    }
}
template <bool FP8>
__device__ __forceinline__ void herd_mma_splitk(const unsigned char *w, const float *scales, int bias, const unsigned short *xa,
                                                float *y, float *partial, int n, int k, int m, int ldy, int terms, int splits) {
    __shared__ __align__(16) HerdMMAShared sm;
    const int split = blockIdx.y % splits, m0 = (blockIdx.y / splits) * HERD_MMA_BM;
    const int chunk = ((k / HERD_MMA_BK + splits - 1) / splits) * HERD_MMA_BK;
    const int k_begin = split * chunk, k_end = k_begin + chunk < k ? k_begin + chunk : k;
    if (splits == 1)
        herd_mma_tile<FP8, true>(sm, w, scales, bias, (const float *)0, xa, (long)m * k, y, n, k, 0, k, m, k, ldy, m0,
                                 blockIdx.x * HERD_MMA_BN, terms);
    else
        herd_mma_tile<FP8, true>(sm, w, (const float *)0, bias, (const float *)0, xa, (long)m * k, partial + (long)split * m * n, n, k,
                                 k_begin, k_end, m, k, n, m0, blockIdx.x * HERD_MMA_BN, terms);
}
HERD_KERNEL void __launch_bounds__(128) herd_mma_bf16_splitk(const unsigned char *w, const unsigned short *xa, float *y, float *partial,
                                                            int n, int k, int m, int ldy, int terms, int splits) {
    herd_grid_sync();
    herd_mma_splitk<false>(w, (const float *)0, 0, xa, y, partial, n, k, m, ldy, terms, splits);
}
HERD_KERNEL void __launch_bounds__(128) herd_mma_fp8_splitk(const unsigned char *w, const float *scales, const unsigned short *xa, float *y,
                                                           float *partial, int n, int k, int m, int ldy, int bias, int terms, int splits) {
    herd_grid_sync();
    herd_mma_splitk<true>(w, scales, bias, xa, y, partial, n, k, m, ldy, terms, splits);
}
// y[r, i] = (scale[i] *) sum over parts s of partial[r * row_stride + s * part_stride + i], s in order
// (deterministic): the k splits or the activation terms of a product, laid out [part][row][n] (part_stride
// = rows * n, row_stride = n) or, for terms split HERD_SPLIT_BY_ROW, [row][part][n] (part_stride = n,
// row_stride = parts * n). grid: (rows, column blocks).
HERD_KERNEL void herd_mma_reduce(const float *partial, const float *scales, float *y, int n, int ldy, int parts, int part_stride,
                                 int row_stride) {
    herd_grid_sync();
    const int r = blockIdx.x;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y) {
        float acc = 0.0f;
        for (int s = 0; s < parts; s++) acc += partial[(long)r * row_stride + (long)s * part_stride + i];
        y[(long)r * ldy + i] = scales ? acc * scales[i] : acc;
    }
}

// Decode-sized products on the tensor cores ("skinny" mma): a few activation rows against a weight that
// must stream once at memory speed. Each block owns 32 weight rows (two m16 A tiles per warp) and a pass
// of up to 8 NT activation rows (NT n8 B tiles); its 8 warps take interleaved 16-byte k chunks and their
// sums are added in warp order at the end (deterministic). No shared-memory staging: inside one m16n8k16 step the order of
// k does not matter as long as A and B agree, so a thread's 16 contiguous bytes of a weight row feed its
// own A fragment slots directly, and it reads the activations at the same k. Against the 4-rows-per-warp
// CUDA-core GEMV this takes the FMAs (and FP8's software decode pressure on registers) off the ALUs and
// reads each activation chunk once per 32 weight rows.
//
// Thread (g = lane / 4, q = lane % 4) of a warp, k block of KB elements (BF16: 32, FP8: 64; 64 bytes either
// way) starting at kb: it loads elements kb + E q ... + E - 1 (E = 8 or 16: 16 bytes) of weight rows g and
// g + 8 of each A tile, and the same elements of activation row g of each B tile (BF16 terms, split once by
// herd_mma_split). Step s of the block's E / 4 mma steps covers elements kb + E q + 4 s + {0, 1, 2, 3}: BF16
// puts {0, 1} in fragment k slots {2q, 2q + 1} and {2, 3} in {2q + 8, 2q + 9}; FP8 puts {0, 2} and {1, 3}
// there (cheaper to widen, below), with the activations split in that order (herd_mma_split's fp8_order).
//
// Gate and up together (w_up set): the two A tiles are the same 16 rows of the gate and the up matrix, so
// both read each activation chunk once, and the block writes silu(gate) * up (herd_swiglu's arithmetic).
#define HERD_SKINNY_WARPS 8
#define HERD_SKINNY_MT 2
#define HERD_SKINNY_NT 2  // B tiles per pass of the expert kernels (dense ones: HERD_SKINNY_DENSE_NT)
#define HERD_SKINNY_ROWS (16 * HERD_SKINNY_MT)

// FP8 E4M3 to BF16, exactly, two at a time: each byte's exponent and mantissa go to the top of a BF16's,
// which gives value * 2^(bias - 127) (subnormals land on BF16 subnormals), and one BF16 multiply by
// 2^(127 - bias) (unbias2, both halves) restores the value. Of the 4 bytes of w, the even ones (0, 2) and
// the odd ones (1, 3) each become one pair without moving bytes first.
__device__ __forceinline__ unsigned herd_bf16x2_scale(unsigned raw, unsigned unbias2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    return raw;  // never launched before sm_80 (hasTensorCoreKernels)
#else
    unsigned out;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(out) : "r"(raw), "r"(unbias2), "r"(0x80008000u));
    return out;
#endif
}
__device__ __forceinline__ unsigned herd_fp8_even_to_bf16x2(unsigned w, unsigned unbias2) {
    return herd_bf16x2_scale(((w << 8) & 0x80008000u) | ((w << 4) & 0x07f007f0u), unbias2);
}
__device__ __forceinline__ unsigned herd_fp8_odd_to_bf16x2(unsigned w, unsigned unbias2) {
    return herd_bf16x2_scale((w & 0x80008000u) | ((w >> 4) & 0x07f007f0u), unbias2);
}

// y[j, n] = (scale[n] *) sum_k W[n, k] x_j[k] for the block's rows from n0 and the activation rows
// [j_begin, m) of xa (term t of row j at xa + t * term_stride + j * k), 8 NT rows per pass, up to j_end;
// with w_up, y[j, n] = silu(gate) * up of the two products. STAGES: depth of the weight ring in shared
// memory (0: one k block ahead in registers); B_LOADS: B tiles whose activations are loaded together.
template <bool FP8, int NT, int STAGES, int B_LOADS>
__device__ __forceinline__ void herd_skinny_tile(const unsigned char *w, const float *scales, const unsigned char *w_up,
                                                 const float *scales_up, unsigned unbias2, const unsigned short *xa, long term_stride,
                                                 float *y, int n_total, int k, int m, int ldy, int n0, int terms, int j_begin = 0,
                                                 int j_end = 0x7fffffff) {
    static_assert(STAGES == 0 || STAGES >= 2, "a weight ring of at least two stages");
    // The warps' sums at the end; with STAGES, first the weight ring (below), which the sums then reuse.
    constexpr int RED_FLOATS = HERD_SKINNY_WARPS * HERD_SKINNY_MT * NT * 4 * 32;
    constexpr int RING_FLOATS = HERD_SKINNY_WARPS * STAGES * HERD_SKINNY_MT * 2 * 32 * 4;
    __shared__ __align__(16) float shared[RED_FLOATS > RING_FLOATS ? RED_FLOATS : RING_FLOATS];
    float (*red)[HERD_SKINNY_MT * NT * 4][32] = (float (*)[HERD_SKINNY_MT * NT * 4][32])shared;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, q = lane & 3;
    constexpr int E = FP8 ? 16 : 8, STEPS = E / 4;
    const long row_bytes = FP8 ? (long)k : (long)k * 2;
    const int blocks = k / (4 * E);
    // This thread's weight rows: A tile i, half h (rows g and g + 8); rows past the end read row 0 (discarded).
    const unsigned char *rows[HERD_SKINNY_MT][2];
#pragma unroll
    for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int n = n0 + (w_up ? 0 : 16 * i) + 8 * h + g;
            rows[i][h] = (w_up && i == 1 ? w_up : w) + (n < n_total ? (long)n * row_bytes : 0) + q * 16;
        }
    for (int j0 = j_begin; j0 < m && j0 < j_end; j0 += 8 * NT) {
        const int tiles = min(NT, (m - j0 + 7) / 8);  // B tiles with rows in this pass
        float acc[HERD_SKINNY_MT][NT][4];
#pragma unroll
        for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[i][j][c] = 0.0f;
        // Activation row of B tile j for this thread (g), or none.
        const unsigned short *xrow[NT];
#pragma unroll
        for (int j = 0; j < NT; j++) xrow[j] = j0 + 8 * j + g < m ? xa + (long)(j0 + 8 * j + g) * k + E * q : (const unsigned short *)0;
        // The weight stream. STAGES 0: registers, one k block ahead. Otherwise a ring of STAGES k blocks per
        // thread in shared memory filled by cp.async, STAGES - 1 ahead: more bytes in flight without the
        // registers (ncu: the dense passes at 2 blocks per multiprocessor were waiting on memory). Each
        // thread copies exactly the 16-byte pieces it reads back, so the ring needs no barriers.
        uint4 next[HERD_SKINNY_MT][2];
        auto load = [&](int b, uint4 (&out)[HERD_SKINNY_MT][2]) {
#pragma unroll
            for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    out[i][h] = b < blocks ? *(const uint4 *)(rows[i][h] + (long)b * 64) : make_uint4(0u, 0u, 0u, 0u);  // a k block is 64 bytes
        };
        uint4 *ring = (uint4 *)shared + (long)warp * STAGES * HERD_SKINNY_MT * 2 * 32 + lane;  // [stage][i][h] x 32 lanes
        auto fill = [&](int it) {  // this warp's k block `it` (b = warp + 8 it) into stage it % STAGES
            const int b = warp + it * HERD_SKINNY_WARPS;
            if (b < blocks) {
#pragma unroll
                for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
                    for (int h = 0; h < 2; h++)
                        herd_copy16_async((float *)(ring + ((it % STAGES) * HERD_SKINNY_MT * 2 + i * 2 + h) * 32),
                                          (const float *)(rows[i][h] + (long)b * 64), true);
            }
            herd_copy16_commit();  // an empty group past the end keeps the count of groups uniform
        };
        if (STAGES) {
            for (int it = 0; it < STAGES - 1; it++) fill(it);
        } else {
            load(warp, next);
        }
        herd_grid_wait();  // the first weight loads are out; the activations are the previous kernel's
        for (int b = warp, it = 0; b < blocks; b += HERD_SKINNY_WARPS, it++) {
            uint4 cur[HERD_SKINNY_MT][2];
            if (STAGES) {
                herd_copy16_wait<STAGES ? STAGES - 2 : 0>();  // group `it` has landed
#pragma unroll
                for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
                    for (int h = 0; h < 2; h++) cur[i][h] = ring[((it % STAGES) * HERD_SKINNY_MT * 2 + i * 2 + h) * 32];
                fill(it + STAGES - 1);  // into the stage read one iteration ago
            } else {
#pragma unroll
                for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
                    for (int h = 0; h < 2; h++) cur[i][h] = next[i][h];
                load(b + HERD_SKINNY_WARPS, next);
            }
            // A fragments per tile and step: {row g slots 2q, row g+8 slots 2q, row g slots 2q+8, row g+8 slots 2q+8}.
            unsigned a[HERD_SKINNY_MT][STEPS][4];
#pragma unroll
            for (int i = 0; i < HERD_SKINNY_MT; i++) {
                const unsigned lo[4] = {cur[i][0].x, cur[i][0].y, cur[i][0].z, cur[i][0].w};
                const unsigned hi[4] = {cur[i][1].x, cur[i][1].y, cur[i][1].z, cur[i][1].w};
#pragma unroll
                for (int s = 0; s < STEPS; s++) {
                    if (FP8) {
                        // word s holds elements 4s..4s+3: bytes 0, 2 -> slots 2q, 2q+1; bytes 1, 3 -> slots 2q+8, 2q+9.
                        a[i][s][0] = herd_fp8_even_to_bf16x2(lo[s], unbias2);
                        a[i][s][1] = herd_fp8_even_to_bf16x2(hi[s], unbias2);
                        a[i][s][2] = herd_fp8_odd_to_bf16x2(lo[s], unbias2);
                        a[i][s][3] = herd_fp8_odd_to_bf16x2(hi[s], unbias2);
                    } else {
                        // words 2s, 2s+1 hold elements 4s..4s+3.
                        a[i][s][0] = lo[2 * s];
                        a[i][s][1] = hi[2 * s];
                        a[i][s][2] = lo[2 * s + 1];
                        a[i][s][3] = hi[2 * s + 1];
                    }
                }
            }
            const long kofs = (long)b * 4 * E;
            for (int t = 0; t < terms; t++) {
                // The activations of B_LOADS B tiles at a time, then their products: those loads
                // (from L2) are in flight together instead of one tile's after the last one's products (ncu:
                // the dense 64-row passes stalled on them). Words 2s and 2s + 1 of a tile are step s's B
                // fragment (the split wrote FP8's pairs in its order).
                constexpr int G = B_LOADS < NT ? B_LOADS : NT;
#pragma unroll
                for (int j0 = 0; j0 < NT; j0 += G) {
                    if (j0 >= tiles) break;
                    unsigned xw[G][2 * STEPS];
#pragma unroll
                    for (int j = 0; j < G; j++)
#pragma unroll
                        for (int v = 0; v < STEPS / 2; v++) {
                            const uint4 p = j0 + j < tiles && xrow[j0 + j] ? *(const uint4 *)(xrow[j0 + j] + t * term_stride + kofs + 8 * v)
                                                                           : make_uint4(0u, 0u, 0u, 0u);
                            xw[j][4 * v] = p.x; xw[j][4 * v + 1] = p.y; xw[j][4 * v + 2] = p.z; xw[j][4 * v + 3] = p.w;
                        }
#pragma unroll
                    for (int j = 0; j < G; j++) {
                        if (j0 + j >= tiles) break;
#pragma unroll
                        for (int s = 0; s < STEPS; s++)
#pragma unroll
                            for (int i = 0; i < HERD_SKINNY_MT; i++)
                                herd_mma_16816(acc[i][j0 + j], a[i][s], xw[j][2 * s], xw[j][2 * s + 1]);
                    }
                }
            }
        }
        herd_grid_release();
        if (STAGES) {
            herd_copy16_wait<0>();
            __syncthreads();  // every warp is done with its part of the ring before the sums overwrite it
        }
        // Sums of the 8 warps in warp order. Accumulator c of tile (i, j): weight row 16 i + g + 8 (c / 2)
        // (gate and up: row g + 8 (c / 2) of matrix i), activation row 8 j + 2 q + c % 2.
#pragma unroll
        for (int i = 0; i < HERD_SKINNY_MT; i++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int c = 0; c < 4; c++) red[warp][(i * NT + j) * 4 + c][lane] = acc[i][j][c];
        __syncthreads();
        const int tile_count = w_up ? 1 : HERD_SKINNY_MT;
        for (int v = threadIdx.x; v < tile_count * NT * 4 * 32; v += blockDim.x) {
            const int slot = v >> 5, l = v & 31, c = slot & 3, j = (slot >> 2) % NT, i = (slot >> 2) / NT;
            const int n = n0 + 16 * i + (l >> 2) + 8 * (c >> 1), r = j0 + 8 * j + 2 * (l & 3) + (c & 1);
            if (n < n_total && r < m) {
                float sum = 0.0f;
                for (int wi = 0; wi < HERD_SKINNY_WARPS; wi++) sum += red[wi][slot][l];
                if (scales) sum *= scales[n];
                if (w_up) {
                    float up = 0.0f;
                    for (int wi = 0; wi < HERD_SKINNY_WARPS; wi++) up += red[wi][slot + NT * 4][l];
                    if (scales_up) up *= scales_up[n];
                    sum = herd_silu_mul(sum, up);
                }
                y[(long)r * ldy + n] = sum;
            }
        }
        __syncthreads();
    }
    herd_grid_wait();  // a block without a pass waits too (every kernel waits before it ends)
}

// BF16 bits of 2^(127 - bias), twice: the FP8 widening's one multiply.
__device__ __forceinline__ unsigned herd_fp8_unbias2(int bias) {
    const unsigned one = (unsigned)(254 - bias) << 7;
    return one | (one << 16);
}

// Dense: grid (column blocks of 32 output rows, over all the launch's matrices; ceil(m / 32)): one pass of
// 32 activation rows per block; 256 threads. k a multiple of 32 (BF16) or 64 (FP8); xa from herd_mma_split
// (FP8: in fp8_order). The passes over one
// column block are consecutive blocks (block b: pass b % passes of column block b / passes), so they run
// side by side and the weight comes from DRAM once: in grid order a 42 MB gate matrix's second pass
// started after the first had streamed the whole matrix, and ncu counted its bytes twice.
// Dense passes hold 4 B tiles (32 rows): fewer passes re-reading the weight than the experts' 2 (their
// slots per expert are few).
#define HERD_SKINNY_DENSE_NT 4
#define HERD_SKINNY_PASS (8 * HERD_SKINNY_DENSE_NT)
#ifndef HERD_SKINNY_STAGES
#define HERD_SKINNY_STAGES 3  // k blocks in each thread's weight ring (3 x 16 KB a block: within 48 KB of static shared memory)
#endif
__device__ __forceinline__ int herd_skinny_pass() { return (int)((blockIdx.y * gridDim.x + blockIdx.x) % gridDim.y); }
// Up to three products of the same activations in one launch (q/k/v, gate/up): matrix i's column blocks
// follow matrix i - 1's (grid.x = their sum); an unused slot has n = 0. One launch instead of three fills the
// GPU better: k and v alone are 32 column blocks each. Which matrix and where in it this block works.
__device__ __forceinline__ int herd_skinny_matrix(int n0, int n1, int &n_first) {
    const int block = (int)((blockIdx.y * gridDim.x + blockIdx.x) / gridDim.y);
    const int b0 = (n0 + HERD_SKINNY_ROWS - 1) / HERD_SKINNY_ROWS, b1 = (n1 + HERD_SKINNY_ROWS - 1) / HERD_SKINNY_ROWS;
    const int i = block < b0 ? 0 : block < b0 + b1 ? 1 : 2;
    n_first = (block - (i == 0 ? 0 : i == 1 ? b0 : b0 + b1)) * HERD_SKINNY_ROWS;
    return i;
}
template <typename T>
__device__ __forceinline__ T herd_pick3(int i, T a, T b, T c) { return i == 0 ? a : i == 1 ? b : c; }
HERD_KERNEL void __launch_bounds__(256) herd_skinny_bf16(const unsigned char *w0, const unsigned char *w1, const unsigned char *w2,
                                                         float *y0, float *y1, float *y2, int n0, int n1, int n2, int ldy0, int ldy1,
                                                         int ldy2, const unsigned short *xa, int k, int m, int terms) {
    int n_first;
    const int i = herd_skinny_matrix(n0, n1, n_first), j0 = herd_skinny_pass() * HERD_SKINNY_PASS;
    herd_skinny_tile<false, HERD_SKINNY_DENSE_NT, HERD_SKINNY_STAGES, HERD_SKINNY_DENSE_NT>(
        herd_pick3(i, w0, w1, w2), (const float *)0, (const unsigned char *)0, (const float *)0, 0u, xa, (long)m * k, herd_pick3(i, y0, y1, y2),
        herd_pick3(i, n0, n1, n2), k, m, herd_pick3(i, ldy0, ldy1, ldy2), n_first, terms, j0, j0 + HERD_SKINNY_PASS);
}
// Held to 128 registers (two blocks per multiprocessor; no spills): picking among three matrices took it to 155.
HERD_KERNEL void __launch_bounds__(256, 2) herd_skinny_fp8(const unsigned char *w0, const unsigned char *w1, const unsigned char *w2,
                                                        const float *s0, const float *s1, const float *s2, float *y0, float *y1, float *y2,
                                                        int n0, int n1, int n2, int ldy0, int ldy1, int ldy2, const unsigned short *xa, int k,
                                                        int m, int bias, int terms) {
    int n_first;
    const int i = herd_skinny_matrix(n0, n1, n_first), j0 = herd_skinny_pass() * HERD_SKINNY_PASS;
    herd_skinny_tile<true, HERD_SKINNY_DENSE_NT, HERD_SKINNY_STAGES, HERD_SKINNY_DENSE_NT>(
        herd_pick3(i, w0, w1, w2), herd_pick3(i, s0, s1, s2), (const unsigned char *)0, (const float *)0, herd_fp8_unbias2(bias), xa, (long)m * k,
        herd_pick3(i, y0, y1, y2), herd_pick3(i, n0, n1, n2), k, m, herd_pick3(i, ldy0, ldy1, ldy2), n_first, terms, j0, j0 + HERD_SKINNY_PASS);
}
// Grouped by expert: the slots of expert e = blockIdx.y (rows offsets[e] .. offsets[e + 1] of xa, whose
// terms are `slots` rows apart). With up_weights, gate and up together (silu(gate) * up out; 16 rows per
// block). grid: (ceil(N / rows per block), experts).
template <bool FP8>
__device__ __forceinline__ void herd_moe_skinny(const unsigned long long *weights, const unsigned long long *up_weights, long scales_offset,
                                                int bias, const int *offsets, const unsigned short *xa, int slots, float *y, int n, int k,
                                                int ldy, int terms) {
    const int e = blockIdx.y, first = offsets[e], count = offsets[e + 1] - first;
    if (count == 0) return;
    const unsigned char *w = (const unsigned char *)weights[e];
    const unsigned char *up = up_weights ? (const unsigned char *)up_weights[e] : (const unsigned char *)0;
    herd_skinny_tile<FP8, HERD_SKINNY_NT, 0, 1>(w, FP8 ? (const float *)(w + scales_offset) : (const float *)0, up,
                          FP8 && up ? (const float *)(up + scales_offset) : (const float *)0, FP8 ? herd_fp8_unbias2(bias) : 0u,
                          xa + (long)first * k, (long)slots * k, y + (long)first * ldy, n, k, count, ldy,
                          blockIdx.x * (up ? 16 : HERD_SKINNY_ROWS), terms);
}
// BF16 experts, two builds: one term (BF16 activations) as the others; two or three terms at 3 blocks per
// multiprocessor (at most 80 registers): 85 registers gave 2 (ncu: 49 -> 63% of DRAM throughput,
// decode-64 25.2 -> 21.9 ms on an H100), while one term measured slower that way (17.5 -> 20.2 ms), as did
// the FP8 and dense variants (their widening and wider passes need the registers).
HERD_KERNEL void __launch_bounds__(256) herd_moe_skinny_bf16(const unsigned long long *weights, const unsigned long long *up_weights,
                                                             const int *offsets, const unsigned short *xa, int slots, float *y, int n, int k,
                                                             int ldy, int terms) {
    herd_grid_sync();
    herd_moe_skinny<false>(weights, up_weights, 0, 0, offsets, xa, slots, y, n, k, ldy, terms);
}
HERD_KERNEL void __launch_bounds__(256, 3) herd_moe_skinny_bf16_terms(const unsigned long long *weights, const unsigned long long *up_weights,
                                                                     const int *offsets, const unsigned short *xa, int slots, float *y, int n,
                                                                     int k, int ldy, int terms) {
    herd_grid_sync();
    herd_moe_skinny<false>(weights, up_weights, 0, 0, offsets, xa, slots, y, n, k, ldy, terms);
}
HERD_KERNEL void __launch_bounds__(256) herd_moe_skinny_fp8(const unsigned long long *weights, const unsigned long long *up_weights,
                                                            long long scales_offset, const int *offsets, const unsigned short *xa, int slots,
                                                            float *y, int n, int k, int ldy, int bias, int terms) {
    herd_grid_sync();
    herd_moe_skinny<true>(weights, up_weights, (long)scales_offset, bias, offsets, xa, slots, y, n, k, ldy, terms);
}

// Grouped by expert (see herd_moe_gemm): y[s] = W_e x[s] for the slots of expert e = blockIdx.y, 64 slots
// per tile. grid: (ceil(N / 64), experts).
template <bool FP8>
__device__ __forceinline__ void herd_moe_mma(const unsigned long long *weights, long scales_offset, int bias, const int *offsets,
                                             const float *x, float *y, int n, int k, int ldx, int ldy, int terms) {
    const int e = blockIdx.y, first = offsets[e], count = offsets[e + 1] - first;
    const unsigned char *w = (const unsigned char *)weights[e];
    const float *scales = FP8 ? (const float *)(w + scales_offset) : (const float *)0;
    __shared__ __align__(16) HerdMMAShared sm;
    for (int m0 = 0; m0 < count; m0 += HERD_MMA_BM)
        herd_mma_tile<FP8, false>(sm, w, scales, bias, x + (long)first * ldx, (const unsigned short *)0, 0, y + (long)first * ldy, n, k,
                                  0, k, count, ldx, ldy, m0, blockIdx.x * HERD_MMA_BN, terms);
}
HERD_KERNEL void __launch_bounds__(128) herd_moe_mma_bf16(const unsigned long long *weights, const int *offsets, const float *x, float *y,
                                                         int n, int k, int ldx, int ldy, int terms) {
    herd_grid_sync();
    herd_moe_mma<false>(weights, 0, 0, offsets, x, y, n, k, ldx, ldy, terms);
}
HERD_KERNEL void __launch_bounds__(128) herd_moe_mma_fp8(const unsigned long long *weights, long long scales_offset, const int *offsets,
                                                        const float *x, float *y, int n, int k, int ldx, int ldy, int bias, int terms) {
    herd_grid_sync();
    herd_moe_mma<true>(weights, (long)scales_offset, bias, offsets, x, y, n, k, ldx, ldy, terms);
}
#endif

#if HERD_CUDA
// FP8 weights for cuBLASLt's BF16 products (prefill): out = the BF16 bits of each E4M3 value (exact; the
// row scales are applied to the product by herd_scale_columns). grid: ceil(count / 4096); 256 threads.
HERD_KERNEL void herd_fp8_widen(const unsigned char *w, unsigned short *out, long long count, int bias) {
    herd_grid_sync();
    const long long base = (long long)blockIdx.x * 4096;
    for (int i = threadIdx.x; i < 4096; i += blockDim.x) {
        const long long e = base + i;
        if (e < count) out[e] = (unsigned short)(__float_as_uint(herd_fp8_to_float(w[e], bias)) >> 16);
    }
}
// y[r, i] *= scales[i] for r < rows. grid: rows.
HERD_KERNEL void herd_scale_columns(float *y, const float *scales, int n, int ldy) {
    herd_grid_sync();
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[(long)blockIdx.x * ldy + i] *= scales[i];
}
#endif
