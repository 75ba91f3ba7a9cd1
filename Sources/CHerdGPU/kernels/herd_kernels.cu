// Herd's GPU kernels for one model step: embedding, RMSNorm, matrix products with f32/f16/bf16
// weights, RoPE, the paged KV cache write, SwiGLU, residual add (alone and fused with RMSNorm), row
// gathers and scatters (attention: herd_attention.cu). Activations are f32 row-major [rows, width] with a
// leading dimension. Every kernel has a CPU twin in CHerdKernels (kernels.c) that tests compare it with.
#include "vendor.h"

// Sum over the block of one value per thread; blockDim.x a power of two <= 1024.
__device__ float herd_block_sum(float v, float *shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    float total = shared[0];
    __syncthreads();
    return total;
}

__device__ float herd_block_max(float v, float *shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    float m = shared[0];
    __syncthreads();
    return m;
}

// out[r] = table[tokens[r]], table f32 [vocab, width]. grid: (rows, column blocks): a one-row step's copy
// is spread over blocks (one block walked it a load and a store at a time, ~11 us).
HERD_KERNEL void herd_embed_f32(const float *table, const int *tokens, float *out, int width, int ldo) {
    herd_grid_sync();
    const float *src = table + (long)tokens[blockIdx.x] * width;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += blockDim.x * gridDim.y) out[(long)blockIdx.x * ldo + i] = src[i];
}

// out[r] = x[r] / rms(x[r]) * w (w may be null). grid: rows; block: 256.
HERD_KERNEL void herd_rms_norm(const float *x, const float *w, float *out, int n, float eps, int ldx, int ldo) {
    herd_grid_sync();
    __shared__ float shared[1024];
    const float *row = x + (long)blockIdx.x * ldx;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += row[i] * row[i];
    float scale = rsqrtf(herd_block_sum(ss, shared) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long)blockIdx.x * ldo + i] = row[i] * scale * (w ? w[i] : 1.0f);
}

// residual[r] += x[r], then out[r] = residual[r] / rms(residual[r]) * w (w may be null): herd_add and
// herd_rms_norm in one pass, with the same arithmetic and the same sum order (so the same results at the
// same block size). Each thread keeps its first HERD_NORM_HELD sums in registers for the second pass (longer
// rows re-read their own writes). out may be x. grid: rows; block: 256, or 1024 for herd_add_rms_norm_1024
// (steps of few rows: a row is one block, and four times the threads wait four times less in turn).
template <int HERD_NORM_HELD>
__device__ void herd_add_rms_norm_row(float *residual, const float *x, const float *w, float *out, int n, float eps, int ldr,
                                      int ldx, int ldo) {
    __shared__ float shared[1024];
    float *row = residual + (long)blockIdx.x * ldr;
    const float *xr = x + (long)blockIdx.x * ldx;
    const int t = threadIdx.x, nt = blockDim.x;
    float held[HERD_NORM_HELD];
    float ss = 0;
    // Every load before any store: the stores could alias the inputs as far as the compiler knows, and
    // loads interleaved with them would be waited for one by one (a one-row step is a single block).
#pragma unroll
    for (int c = 0; c < HERD_NORM_HELD; c++) {
        const int i = t + c * nt;
        held[c] = i < n ? row[i] + xr[i] : 0.0f;
    }
#pragma unroll
    for (int c = 0; c < HERD_NORM_HELD; c++) {
        const int i = t + c * nt;
        if (i < n) {
            row[i] = held[c];
            ss += held[c] * held[c];
        }
    }
    for (int i = t + HERD_NORM_HELD * nt; i < n; i += nt) {
        const float v = row[i] + xr[i];
        row[i] = v;
        ss += v * v;
    }
    // The 1024-thread build (steps of few rows, where the row's latency is the kernel's time) loads its
    // weights before the block's sum rather than after it.
    constexpr bool early_w = HERD_NORM_HELD <= 8;
    float wv[early_w ? HERD_NORM_HELD : 1];
    if constexpr (early_w) {
#pragma unroll
        for (int c = 0; c < HERD_NORM_HELD; c++) {
            const int i = t + c * nt;
            wv[c] = w && i < n ? w[i] : 1.0f;
        }
    }
    const float scale = rsqrtf(herd_block_sum(ss, shared) / n + eps);
    float *o = out + (long)blockIdx.x * ldo;
#pragma unroll
    for (int c = 0; c < HERD_NORM_HELD; c++) {
        const int i = t + c * nt;
        if constexpr (early_w) {
            if (i < n) held[c] = held[c] * scale * wv[c];
        } else {
            if (i < n) held[c] = held[c] * scale * (w ? w[i] : 1.0f);
        }
    }
#pragma unroll
    for (int c = 0; c < HERD_NORM_HELD; c++) {
        const int i = t + c * nt;
        if (i < n) o[i] = held[c];
    }
    for (int i = t + HERD_NORM_HELD * nt; i < n; i += nt) o[i] = row[i] * scale * (w ? w[i] : 1.0f);
}
HERD_KERNEL void __launch_bounds__(256) herd_add_rms_norm(float *residual, const float *x, const float *w, float *out, int n, float eps,
                                                          int ldr, int ldx, int ldo) {
    herd_grid_sync();
    herd_add_rms_norm_row<32>(residual, x, w, out, n, eps, ldr, ldx, ldo);
}
HERD_KERNEL void __launch_bounds__(1024) herd_add_rms_norm_1024(float *residual, const float *x, const float *w, float *out, int n,
                                                                float eps, int ldr, int ldx, int ldo) {
    herd_grid_sync();
    herd_add_rms_norm_row<8>(residual, x, w, out, n, eps, ldr, ldx, ldo);
}

// Rotary embedding in place. grid: rows; block threads over heads * head_dim / 2 pairs.
HERD_KERNEL void herd_rope(float *x, const int *positions, const float *inv_freq, int heads, int head_dim, int ld,
                           int interleaved) {
    herd_grid_sync();
    const int half = head_dim / 2;
    float *row = x + (long)blockIdx.x * ld;
    const float pos = (float)positions[blockIdx.x];
    for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
        const int h = p / half, i = p % half;
        float s, c;
        sincosf(pos * inv_freq[i], &s, &c);
        float *v = row + h * head_dim;
        const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

// cache[slots[r]] = k[r], v[r]. grid: rows.
HERD_KERNEL void herd_store_kv(const float *k, const float *v, float *kc, float *vc, const int *slots, int width,
                               int ldk, int ldv) {
    herd_grid_sync();
    const long dst = (long)slots[blockIdx.x] * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        kc[dst + i] = k[(long)blockIdx.x * ldk + i];
        vc[dst + i] = v[(long)blockIdx.x * ldv + i];
    }
}

// A layer's attention inputs after their products, in one launch (herd_rope, herd_rms_norm per head,
// herd_scale_rows and herd_store_kv in that order, fused): each q and k head rotated at its row's position
// (interleaved pairs; inv_freq null: no RoPE), then (qk_norm) divided by its RMS, q times the row's
// temperature (temps, may be null); k and v written to the cache at the row's slot (q and k also back in
// place). One 32-lane group per head, lane l holding dimensions [4 l, 4 l + 4): head_dim 128.
// grid: (rows, ceil((heads + kv_heads) / 8)); block: 256.
HERD_KERNEL void __launch_bounds__(256) herd_qkv_prepare(float *q, float *k, const float *v, float *kc, float *vc, const int *positions,
                                                         const float *inv_freq, const float *temps, const int *slots, int heads,
                                                         int kv_heads, int ldq, int ldk, int ldv, int kv_width, int qk_norm, float eps) {
    herd_grid_sync();
    const int r = blockIdx.x, lane = threadIdx.x & 31, h = blockIdx.y * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (h >= heads + kv_heads) return;
    const bool is_q = h < heads;
    const int kvh = h - heads;
    float4 *row = (float4 *)(is_q ? q + (long)r * ldq + h * 128 : k + (long)r * ldk + kvh * 128) + lane;
    float4 x = *row;
    if (inv_freq) {
        // Lane l holds pairs 2l and 2l + 1.
        const float pos = (float)positions[r];
        float s, c;
        sincosf(pos * inv_freq[2 * lane], &s, &c);
        float x0 = x.x, x1 = x.y;
        x.x = x0 * c - x1 * s;
        x.y = x0 * s + x1 * c;
        sincosf(pos * inv_freq[2 * lane + 1], &s, &c);
        x0 = x.z, x1 = x.w;
        x.z = x0 * c - x1 * s;
        x.w = x0 * s + x1 * c;
    }
    if (qk_norm) {
        const float scale = rsqrtf(herd_warp_sum(x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w, 32) / 128 + eps);
        x.x = x.x * scale, x.y = x.y * scale, x.z = x.z * scale, x.w = x.w * scale;
    }
    if (is_q) {
        if (temps) {
            const float f = temps[r];
            x.x *= f, x.y *= f, x.z *= f, x.w *= f;
        }
        *row = x;
        return;
    }
    *row = x;
    const long dst = (long)slots[r] * kv_width + kvh * 128 + 4 * lane;
    *(float4 *)(kc + dst) = x;
    *(float4 *)(vc + dst) = *((const float4 *)(v + (long)r * ldv + kvh * 128) + lane);
}

// silu(g) * u: SwiGLU's arithmetic, in one place for every kernel that computes it.
__device__ __forceinline__ float herd_silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// out = silu(gate) * up, elementwise over rows. grid: (rows, column blocks).
HERD_KERNEL void herd_swiglu(const float *gate, const float *up, float *out, int n, int ldg, int ldu, int ldo) {
    herd_grid_sync();
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y) {
        const float g = gate[(long)blockIdx.x * ldg + i];
        out[(long)blockIdx.x * ldo + i] = herd_silu_mul(g, up[(long)blockIdx.x * ldu + i]);
    }
}

// y += x over rows of n. grid: (rows, column blocks).
HERD_KERNEL void herd_add(float *y, const float *x, int n, int ldy, int ldx) {
    herd_grid_sync();
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y) y[(long)blockIdx.x * ldy + i] += x[(long)blockIdx.x * ldx + i];
}

// out[i] = x[indices[i]]. grid: (count, column blocks).
HERD_KERNEL void herd_gather_rows(const float *x, const int *indices, float *out, int n, int ldx, int ldo) {
    herd_grid_sync();
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y)
        out[(long)blockIdx.x * ldo + i] = x[(long)indices[blockIdx.x] * ldx + i];
}

// y[indices[i]] += x[i]; one block per destination row walks the list, so repeated indices never race.
// grid: destination rows.
HERD_KERNEL void herd_scatter_add_rows(const float *x, const int *indices, int count, float *y, int n, int ldx, int ldy) {
    herd_grid_sync();
    for (int i = 0; i < count; i++) {
        if (indices[i] != (int)blockIdx.x) continue;
        for (int c = threadIdx.x; c < n; c += blockDim.x) y[(long)blockIdx.x * ldy + c] += x[(long)i * ldx + c];
    }
}

// x[r] *= factors[r]. grid: rows.
HERD_KERNEL void herd_scale_rows(float *x, const float *factors, int n, int ld) {
    herd_grid_sync();
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[(long)blockIdx.x * ld + i] *= factors[blockIdx.x];
}

// ---- Llama 4: FP8 weights, 16-bit embedding tables, synthetic weights ----

// One E4M3 byte as a float. `bias` is the encoding's exponent bias: 7 for OCP E4M3FN (NVIDIA, the
// checkpoints), 8 for E4M3FNUZ (AMD gfx94x, bytes converted at upload with doubled scales; FP8.swift).
// NaN: 0x7F/0xFF in FN, 0x80 in FNUZ.
__device__ __forceinline__ float herd_fp8_to_float(unsigned int b, int bias) {
    const unsigned int e = (b >> 3) & 15u, m = b & 7u, sign = (b & 0x80u) << 24;
    if (bias == 7 ? (b & 0x7fu) == 0x7fu : b == 0x80u) return __int_as_float(0x7fc00000);
    if (e == 0) {
        // subnormal: m/8 * 2^(1 - bias) = m * 2^(-2 - bias)
        const float v = (float)m * __int_as_float((127 - 2 - bias) << 23);
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((e + 127u - (unsigned int)bias) << 23) | (m << 20));
}

// Decode-shaped products (m <= 8 rows): each warp streams HERD_GEMV_OUTS weight rows with 16-byte loads,
// so the weights are read once at close to memory bandwidth. A lane's chunk of the activations is loaded
// once for all of the warp's rows (the activations, not the weights, would otherwise be most of the load
// traffic at several rows), the rows' loads are in flight together, and lanes reduce with herd_warp_sum
// (the device's warp size passed in). With kparts > 1, that many adjacent warps share each group of rows,
// warp kp taking every kparts-th stripe of the row (kp's), and their sums are added in kp order: products
// with few output rows fill the GPU kparts times over. grid: ceil(N * kparts / (warps per block *
// HERD_GEMV_OUTS)); block: 256.
#define HERD_GEMV_ROWS 8
#define HERD_GEMV_OUTS 4
#ifndef HERD_GEMV_PREFETCH
#define HERD_GEMV_PREFETCH 0
#endif
// GATED: an MLP's gate and up products with their SwiGLU, y[n] = silu(gate_n . x) * (up_n . x): a warp's
// HERD_GEMV_OUTS rows are gate rows n0, n0 + 1 and up rows n0, n0 + 1 (w_up, scales_up), summed exactly as
// the plain products sum them, so y has the bits of the two products and herd_swiglu after them, with
// neither product written and one launch instead of three.
template <int E, typename Load, int R = HERD_GEMV_ROWS, bool GATED = false>
__device__ void herd_gemv_at(const unsigned char *w, long row_bytes, Load load, const float *scales, const float *x, float *y,
                             int n_total, int k, int m, int ldx, int ldy, int warp, int n0, int kparts,
                             const unsigned char *w_up = 0, const float *scales_up = 0) {
    __shared__ float s_part[1024 / 32][HERD_GEMV_OUTS][HERD_GEMV_ROWS];
    const int lane = threadIdx.x % warp, wid = threadIdx.x / warp, kp = wid % kparts;
    // Row o of the warp: output n0 + o (gated: output n0 + o % 2 of the gate, o < 2, or of the up matrix).
    auto out_of = [&](int o) { return n0 + (GATED ? (o & 1) : o); };
    auto row_of = [&](int o) { return (const uint4 *)((GATED && o >= 2 ? w_up : w) + (long)out_of(o) * row_bytes); };
    float acc[HERD_GEMV_OUTS][R];
#pragma unroll
    for (int o = 0; o < HERD_GEMV_OUTS; o++)
#pragma unroll
        for (int j = 0; j < R; j++) acc[o][j] = 0;
    if (n0 < n_total) {
        const int chunks = k / E;
        // The next chunk's loads are issued before this chunk is used, so two chunks per row are in flight.
        const int first = lane + kp * warp, step = warp * kparts;
        uint4 next[HERD_GEMV_OUTS];
#pragma unroll
        for (int o = 0; o < HERD_GEMV_OUTS; o++)
            next[o] = out_of(o) < n_total && first < chunks ? row_of(o)[first] : make_uint4(0u, 0u, 0u, 0u);
        // The weights' first loads are out before the wait for the previous kernel (herd_grid_wait), so they
        // overlap its tail; with HERD_GEMV_PREFETCH, that many more chunks per row head for L2 as well.
#pragma unroll
        for (int p = 1; p <= HERD_GEMV_PREFETCH; p++)
#pragma unroll
            for (int o = 0; o < HERD_GEMV_OUTS; o++)
                if (out_of(o) < n_total && first + p * step < chunks) herd_prefetch_l2(row_of(o) + first + p * step);
        herd_grid_wait();
        for (int c = first; c < chunks; c += step) {
            uint4 raw[HERD_GEMV_OUTS];
#pragma unroll
            for (int o = 0; o < HERD_GEMV_OUTS; o++) {
                raw[o] = next[o];
                next[o] = out_of(o) < n_total && c + step < chunks ? row_of(o)[c + step] : make_uint4(0u, 0u, 0u, 0u);
            }
            float wv[HERD_GEMV_OUTS][E];
#pragma unroll
            for (int o = 0; o < HERD_GEMV_OUTS; o++) load(raw[o], wv[o]);
            const int base = c * E;
#pragma unroll
            for (int j = 0; j < R; j++) {
                if (j >= m) break;
                const float4 *xr = (const float4 *)(x + (long)j * ldx + base);
#pragma unroll
                for (int e = 0; e < E / 4; e++) {
                    const float4 xv = xr[e];
#pragma unroll
                    for (int o = 0; o < HERD_GEMV_OUTS; o++)
                        acc[o][j] += wv[o][4 * e] * xv.x + wv[o][4 * e + 1] * xv.y + wv[o][4 * e + 2] * xv.z + wv[o][4 * e + 3] * xv.w;
                }
            }
        }
    } else {
        herd_grid_wait();
    }
    herd_grid_release();  // the next kernel may take the multiprocessors this one leaves
    // Output o of a gated warp: its gate and up sums, scaled as the plain products write them, then SwiGLU.
    auto gated = [&](int n, float g, float u) { return herd_silu_mul(scales ? g * scales[n] : g, scales_up ? u * scales_up[n] : u); };
    // The warp's rows are all here (n0 is the same for every lane of the warp). One warp per group: written
    // now; several (kparts, the same for the whole block, so every thread reaches both barriers): each warp's
    // sums go to shared memory and the group's first warp adds them in order. (Two loops rather than one:
    // one loop changed the 8-row kernels' register allocation, and this form is the one measured.)
    if (kparts == 1) {
        if (GATED) {
#pragma unroll
            for (int o = 0; o < 2; o++)
#pragma unroll
                for (int j = 0; j < R; j++) {
                    if (j >= m) break;
                    const float g = herd_warp_sum(acc[o][j], warp), u = herd_warp_sum(acc[o + 2][j], warp);
                    const int n = n0 + o;
                    if (n < n_total && lane == 0) y[(long)j * ldy + n] = gated(n, g, u);
                }
            return;
        }
#pragma unroll
        for (int o = 0; o < HERD_GEMV_OUTS; o++)
#pragma unroll
            for (int j = 0; j < R; j++) {
                if (j >= m) break;
                const float total = herd_warp_sum(acc[o][j], warp);
                const int n = n0 + o;
                if (n < n_total && lane == 0) y[(long)j * ldy + n] = scales ? total * scales[n] : total;
            }
        return;
    }
#pragma unroll
    for (int o = 0; o < HERD_GEMV_OUTS; o++)
#pragma unroll
        for (int j = 0; j < R; j++) {
            if (j >= m) break;
            const float total = herd_warp_sum(acc[o][j], warp);
            if (lane == 0) s_part[wid][o][j] = total;
        }
    __syncthreads();
    if (kp == 0 && lane == 0) {
        for (int o = 0; o < (GATED ? 2 : HERD_GEMV_OUTS); o++) {
            const int n = n0 + o;
            for (int j = 0; j < R && j < m; j++) {
                float total = s_part[wid][o][j];
                for (int p = 1; p < kparts; p++) total += s_part[wid + p][o][j];
                if (GATED) {
                    float u = s_part[wid][o + 2][j];
                    for (int p = 1; p < kparts; p++) u += s_part[wid + p][o + 2][j];
                    if (n < n_total) y[(long)j * ldy + n] = gated(n, total, u);
                } else if (n < n_total) {
                    y[(long)j * ldy + n] = scales ? total * scales[n] : total;
                }
            }
        }
    }
    __syncthreads();  // s_part is reused by the next pass (herd_moe_gemv)
}

// The warp's first output row: groups of kparts warps of the grid in order, `per` rows each.
__device__ __forceinline__ int herd_gemv_first_row(int warp, int kparts, int per = HERD_GEMV_OUTS) {
    return (blockIdx.x * (blockDim.x / warp / kparts) + threadIdx.x / warp / kparts) * per;
}

template <int E, typename Load, int R = HERD_GEMV_ROWS, bool GATED = false>
__device__ void herd_gemv(const unsigned char *w, long row_bytes, Load load, const float *scales, const float *x, float *y,
                          int n_total, int k, int m, int ldx, int ldy, int warp, int kparts, const unsigned char *w_up = 0,
                          const float *scales_up = 0) {
    herd_gemv_at<E, Load, R, GATED>(w, row_bytes, load, scales, x, y, n_total, k, m, ldx, ldy, warp,
                                    herd_gemv_first_row(warp, kparts, GATED ? 2 : HERD_GEMV_OUTS), kparts, w_up, scales_up);
}

// Up to three products of the same activations in one launch (a layer's q, k and v, or an MLP's gate and
// up): the matrices' output rows numbered one after another, each warp's HERD_GEMV_OUTS rows inside one
// matrix (n0 and n1 multiples of HERD_GEMV_OUTS), each row as herd_gemv computes it. grid: ceil((n0 + n1 +
// n2) * kparts / (warps per block * HERD_GEMV_OUTS)); block: 256.
struct HerdGemv3 {
    const unsigned char *w[3];
    const float *scales[3];
    float *y[3];
    int n[3], ldy[3];
};
template <int E, typename Load, int R = HERD_GEMV_ROWS>
__device__ void herd_gemv3(const HerdGemv3 &p, long row_bytes, Load load, const float *x, int k, int m, int ldx, int warp, int kparts) {
    int first = herd_gemv_first_row(warp, kparts), i = 0;
    while (i < 2 && first >= p.n[i]) first -= p.n[i++];
    herd_gemv_at<E, Load, R>(p.w[i], row_bytes, load, p.scales[i], x, p.y[i], p.n[i], k, m, ldx, p.ldy[i], warp, first, kparts);
}

struct HerdLoadBF16 {
    __device__ __forceinline__ void operator()(uint4 v, float *out) const {
        const unsigned int words[4] = {v.x, v.y, v.z, v.w};
        for (int i = 0; i < 4; i++) {
            out[2 * i] = __uint_as_float(words[i] << 16);
            out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
        }
    }
};
struct HerdLoadF16 {
    __device__ __forceinline__ void operator()(uint4 v, float *out) const {
        const unsigned int words[4] = {v.x, v.y, v.z, v.w};
        for (int i = 0; i < 4; i++) {
            out[2 * i] = herd_half_to_float((unsigned short)(words[i] & 0xffffu));
            out[2 * i + 1] = herd_half_to_float((unsigned short)(words[i] >> 16));
        }
    }
};
// FP8 E4M3 without branches: the byte's exponent and mantissa bits placed at the top of an f32's
// (exponent 127 lower than the FP8's bias intends, subnormals landing on f32 subnormals) and one multiply
// by 2^(127 - bias) gives the exact value. NaN codes (0x7f/0xff in FN, 0x80 in FNUZ) are not special
// here: they are not weights.
struct HerdLoadFP8 {
    int bias;
    __device__ __forceinline__ void operator()(uint4 v, float *out) const {
        const unsigned int words[4] = {v.x, v.y, v.z, v.w};
        const float unbias = __uint_as_float((unsigned int)(254 - bias) << 23);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            const unsigned int b = words[i / 4] >> (8 * (i % 4));
            out[i] = __uint_as_float(((b & 0x80u) << 24) | ((b & 0x7fu) << 20)) * unbias;
        }
    }
};

// k must be a multiple of 8 (16-bit types) or 16 (FP8), x rows 16-byte aligned (ldx % 4 == 0); the backend checks.
// The FP8 _1 kernels are the same products for one row (m == 1): one accumulator per output instead of
// HERD_GEMV_ROWS, so half the registers and more warps in flight (H100, one request: 3.50 -> 3.35 ms per
// step). The BF16 one-row build measured slower (3.81 -> 3.87 ms) and is not kept.
HERD_KERNEL void __launch_bounds__(256) herd_gemv_bf16(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx, int ldy, int warp, int kparts) {
    herd_gemv<8>(w, (long)k * 2, HerdLoadBF16(), (const float *)0, x, y, n, k, m, ldx, ldy, warp, kparts);
}
HERD_KERNEL void __launch_bounds__(256) herd_gemv_f16(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx, int ldy, int warp, int kparts) {
    herd_gemv<8>(w, (long)k * 2, HerdLoadF16(), (const float *)0, x, y, n, k, m, ldx, ldy, warp, kparts);
}
HERD_KERNEL void __launch_bounds__(256) herd_gemv3_bf16(const unsigned char *w0, const unsigned char *w1, const unsigned char *w2, float *y0,
                                                        float *y1, float *y2, int n0, int n1, int n2, int ldy0, int ldy1, int ldy2,
                                                        const float *x, int k, int m, int ldx, int warp, int kparts) {
    const HerdGemv3 p = {{w0, w1, w2}, {0, 0, 0}, {y0, y1, y2}, {n0, n1, n2}, {ldy0, ldy1, ldy2}};
    herd_gemv3<8>(p, (long)k * 2, HerdLoadBF16(), x, k, m, ldx, warp, kparts);
}
// The FP8 three-product kernels' arguments, in one place for the R-row builds below.
#define HERD_GEMV3_FP8_KERNEL(NAME, R)                                                                                          \
    HERD_KERNEL void __launch_bounds__(256) NAME(const unsigned char *w0, const unsigned char *w1, const unsigned char *w2,        \
                                                 const float *s0, const float *s1, const float *s2, float *y0, float *y1, float *y2, \
                                                 int n0, int n1, int n2, int ldy0, int ldy1, int ldy2, const float *x, int k, int m,  \
                                                 int ldx, int warp, int bias, int kparts) {                                          \
        const HerdGemv3 p = {{w0, w1, w2}, {s0, s1, s2}, {y0, y1, y2}, {n0, n1, n2}, {ldy0, ldy1, ldy2}};                          \
        HerdLoadFP8 load;                                                                                                       \
        load.bias = bias;                                                                                                       \
        herd_gemv3<16, HerdLoadFP8, R>(p, (long)k, load, x, k, R == 1 ? 1 : m, ldx, warp, kparts);                               \
    }
HERD_GEMV3_FP8_KERNEL(herd_gemv3_fp8, HERD_GEMV_ROWS)
HERD_GEMV3_FP8_KERNEL(herd_gemv3_fp8_1, 1)
HERD_KERNEL void __launch_bounds__(256) herd_gemv_fp8(const unsigned char *w, const float *scales, const float *x, float *y, int n, int k, int m,
                               int ldx, int ldy, int warp, int bias, int kparts) {
    HerdLoadFP8 load;
    load.bias = bias;
    herd_gemv<16>(w, (long)k, load, scales, x, y, n, k, m, ldx, ldy, warp, kparts);
}
HERD_KERNEL void __launch_bounds__(256) herd_gemv_fp8_1(const unsigned char *w, const float *scales, const float *x, float *y, int n, int k, int m,
                               int ldx, int ldy, int warp, int bias, int kparts) {
    HerdLoadFP8 load;
    load.bias = bias;
    herd_gemv<16, HerdLoadFP8, 1>(w, (long)k, load, scales, x, y, n, k, 1, ldx, ldy, warp, kparts);
}
// An MLP's gate and up products with their SwiGLU (GATED above; n outputs): BF16, and FP8 for one row.
HERD_KERNEL void __launch_bounds__(256) herd_gemv_gated_bf16(const unsigned char *w, const unsigned char *w_up, const float *x, float *y, int n,
                                                             int k, int m, int ldx, int ldy, int warp, int kparts) {
    herd_gemv<8, HerdLoadBF16, HERD_GEMV_ROWS, true>(w, (long)k * 2, HerdLoadBF16(), (const float *)0, x, y, n, k, m, ldx, ldy, warp, kparts, w_up);
}
HERD_KERNEL void __launch_bounds__(256) herd_gemv_gated_fp8_1(const unsigned char *w, const unsigned char *w_up, const float *scales,
                                                              const float *scales_up, const float *x, float *y, int n, int k, int m, int ldx,
                                                              int ldy, int warp, int bias, int kparts) {
    HerdLoadFP8 load;
    load.bias = bias;
    herd_gemv<16, HerdLoadFP8, 1, true>(w, (long)k, load, scales, x, y, n, k, 1, ldx, ldy, warp, kparts, w_up, scales_up);
}

// out[r] = table[tokens[r]] for 16-bit tables (BF16 when is_bf16, else IEEE half). grid: (rows, column blocks).
HERD_KERNEL void herd_embed_16(const unsigned short *table, const int *tokens, float *out, int width, int ldo, int is_bf16) {
    herd_grid_sync();
    const unsigned short *src = table + (long)tokens[blockIdx.x] * width;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += blockDim.x * gridDim.y)
        out[(long)blockIdx.x * ldo + i] = is_bf16 ? herd_bf16_to_float(src[i]) : herd_half_to_float(src[i]);
}

// Synthetic weights, bit for bit as SyntheticWeights.swift: element i of a tensor seeded `seed` is a pure
// function of (seed, i) (SplitMix64), so any thread can make any element. kind: 0 F32, 1 BF16, 2 FP8 E4M3.
__device__ __forceinline__ unsigned long long herd_mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

HERD_KERNEL void herd_synthetic_fill(void *out, long long count, unsigned long long seed, float amplitude, int kind) {
    herd_grid_sync();
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
        const unsigned long long h = herd_mix64((seed * 0xD1B54A32D192ED03ull) ^ (unsigned long long)i);
        if (kind == 2) {
            const unsigned int sign = (unsigned int)(h >> 63) << 7, exponent = 4u + (unsigned int)((h >> 40) % 5ull);
            const unsigned int mantissa = (unsigned int)(h >> 56) & 7u;
            ((unsigned char *)out)[i] = (unsigned char)(sign | (exponent << 3) | mantissa);
            continue;
        }
        const float v = __fmul_rn((float)((int)(h >> 40) - 8388608) * (1.0f / 8388608.0f), amplitude);
        if (kind == 0) {
            ((float *)out)[i] = v;
        } else {
            const unsigned int b = __float_as_uint(v);
            ((unsigned short *)out)[i] = (unsigned short)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
        }
    }
}

// Weight element loaders for the tiled GEMM: element i of a row as a float.
struct HerdElemF32 { __device__ float operator()(const unsigned char *row, long i) const { return ((const float *)row)[i]; } };
struct HerdElemF16 { __device__ float operator()(const unsigned char *row, long i) const { return herd_half_to_float(((const unsigned short *)row)[i]); } };
struct HerdElemBF16 { __device__ float operator()(const unsigned char *row, long i) const { return herd_bf16_to_float(((const unsigned short *)row)[i]); } };
struct HerdElemFP8 {
    int bias;
    __device__ float operator()(const unsigned char *row, long i) const { return herd_fp8_to_float(row[i], bias); }
};

// y[m, n] = (scale[n] *) sum_k W[n, k] x[m, k] for batches of rows (prefill, busy decode): 64 x 64 output
// tiles, k in steps of 32 staged through shared memory as f32, so each weight element is read once per
// 64 rows. 256 threads, each accumulating a 4 x 4 block. grid: (ceil(N / 64), ceil(M / 64)).
#define HERD_TILE 64
#define HERD_TILE_K 32
template <typename Elem>
__device__ void herd_gemm_tile(const unsigned char *w, long row_bytes, Elem elem, const float *scales, const float *x,
                               float *y, int n_total, int k, int m, int ldx, int ldy, int m0) {
    __shared__ float xs[HERD_TILE_K][HERD_TILE + 4];
    __shared__ float ws[HERD_TILE_K][HERD_TILE + 4];
    const int n0 = blockIdx.x * HERD_TILE, t = threadIdx.x;
    const int tn = t % 16, tm = t / 16;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0;
    for (int k0 = 0; k0 < k; k0 += HERD_TILE_K) {
        // 64 x 32 of each operand, 8 elements per thread; consecutive threads walk k (coalesced rows).
        for (int e = t; e < HERD_TILE * HERD_TILE_K; e += blockDim.x) {
            const int r = e / HERD_TILE_K, kk = e % HERD_TILE_K, kg = k0 + kk;
            const int n = n0 + r, mm = m0 + r;
            ws[kk][r] = (n < n_total && kg < k) ? elem(w + (long)n * row_bytes, kg) : 0.0f;
            xs[kk][r] = (mm < m && kg < k) ? x[(long)mm * ldx + kg] : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < HERD_TILE_K; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) { a[i] = xs[kk][tm * 4 + i]; b[i] = ws[kk][tn * 4 + i]; }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int mm = m0 + tm * 4 + i;
        if (mm >= m) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int n = n0 + tn * 4 + j;
            if (n < n_total) y[(long)mm * ldy + n] = scales ? acc[i][j] * scales[n] : acc[i][j];
        }
    }
}

template <typename Elem>
__device__ void herd_gemm_tiled(const unsigned char *w, long row_bytes, Elem elem, const float *scales, const float *x,
                                float *y, int n_total, int k, int m, int ldx, int ldy) {
    herd_gemm_tile(w, row_bytes, elem, scales, x, y, n_total, k, m, ldx, ldy, blockIdx.y * HERD_TILE);
}

HERD_KERNEL void herd_gemm_f32(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx, int ldy) {
    herd_grid_sync();
    herd_gemm_tiled(w, (long)k * 4, HerdElemF32(), (const float *)0, x, y, n, k, m, ldx, ldy);
}
HERD_KERNEL void herd_gemm_f16(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx, int ldy) {
    herd_grid_sync();
    herd_gemm_tiled(w, (long)k * 2, HerdElemF16(), (const float *)0, x, y, n, k, m, ldx, ldy);
}
HERD_KERNEL void herd_gemm_bf16(const unsigned char *w, const float *x, float *y, int n, int k, int m, int ldx, int ldy) {
    herd_grid_sync();
    herd_gemm_tiled(w, (long)k * 2, HerdElemBF16(), (const float *)0, x, y, n, k, m, ldx, ldy);
}
HERD_KERNEL void herd_gemm_fp8(const unsigned char *w, const float *scales, const float *x, float *y, int n, int k, int m,
                               int ldx, int ldy, int bias) {
    herd_grid_sync();
    HerdElemFP8 elem;
    elem.bias = bias;
    herd_gemm_tiled(w, (long)k, elem, scales, x, y, n, k, m, ldx, ldy);
}

// ---- Mixture of experts on the device: routing, grouping by expert, grouped GEMMs, combine ----
// A step's (row, choice) pairs are "slots": slot s holds one row's input for one chosen expert. Slots are
// grouped by expert (offsets[e] ..< offsets[e + 1]), rows in order within an expert, so each expert's
// inputs are contiguous and its GEMM reads the expert's weights once per 64 slots.

// Top-k experts per row by router logit (ties: lower index), sigmoid of the logit as the input weight,
// then slots grouped by expert. One block; `k` <= 8; `experts` <= 1024.
// choices: [rows, k] expert ids as floats (read back for routing statistics); slot_rows / slot_weights:
// [rows * k]; slot_of: [rows * k] the slot of (row, j); offsets: [experts + 1]; active: [experts], the experts
// with slots in ascending order, then -1.
#define HERD_ROUTE_HELD 16384  // choices (rows x top-k) kept in shared memory while slots are assigned
HERD_KERNEL void herd_moe_route(const float *logits, int rows, int experts, int k, int ld, float *choices, int *slot_rows,
                                float *slot_weights, int *slot_of, int *offsets, int *choice_ids, int *active) {
    herd_grid_sync();
    __shared__ int counts[1025];
    for (int e = threadIdx.x; e <= experts; e += blockDim.x) counts[e] = 0;
    __syncthreads();
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        const float *row = logits + (long)r * ld;
        int chosen[8];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                bool taken = false;
                for (int q = 0; q < j; q++) taken = taken || chosen[q] == e;
                if (!taken && (best < 0 || row[e] > row[best])) best = e;
            }
            chosen[j] = best;
            choice_ids[r * k + j] = best;
            choices[r * k + j] = (float)best;
            atomicAdd(&counts[best], 1);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int total = 0, used = 0;
        for (int e = 0; e < experts; e++) {
            offsets[e] = total;
            total += counts[e];
            if (counts[e] > 0) active[used++] = e;
        }
        offsets[experts] = total;
        for (int j = used; j < experts; j++) active[j] = -1;
    }
    // Expert e's slots, rows in ascending order (deterministic). The choices are split into chunks, one
    // thread per (expert, chunk): it counts its chunk's matches, and the counts of the expert's earlier
    // chunks say where its slots start. The choices are read from shared memory when they fit (a 2048-token
    // prefill step took ~0.5 ms per layer scanning them in global memory one expert per thread).
    __shared__ unsigned short ids[HERD_ROUTE_HELD];
    __shared__ int chunk_count[1024];
    const int n = rows * k, held = n <= HERD_ROUTE_HELD;
    if (held)
        for (int i = threadIdx.x; i < n; i += blockDim.x) ids[i] = (unsigned short)choice_ids[i];
    const int chunks = experts < (int)blockDim.x ? (int)blockDim.x / experts : 1, span = (n + chunks - 1) / chunks;
    __syncthreads();
    for (int task = threadIdx.x; task < experts * chunks; task += blockDim.x) {
        const int e = task / chunks, c = task % chunks, end = min(n, (c + 1) * span);
        int count = 0;
        for (int i = c * span; i < end; i++) count += (held ? (int)ids[i] : choice_ids[i]) == e;
        chunk_count[task] = count;
    }
    __syncthreads();
    for (int task = threadIdx.x; task < experts * chunks; task += blockDim.x) {
        const int e = task / chunks, c = task % chunks, end = min(n, (c + 1) * span);
        int next = offsets[e];
        for (int p = e * chunks; p < task; p++) next += chunk_count[p];
        for (int i = c * span; i < end; i++) {
            if ((held ? (int)ids[i] : choice_ids[i]) != e) continue;
            const int r = i / k;
            slot_rows[next] = r;
            slot_weights[next] = 1.0f / (1.0f + expf(-logits[(long)r * ld + e]));
            slot_of[i] = next;
            next++;
        }
    }
}

// xg[s] = x[slot_rows[s]] * slot_weights[s] (the routing weight goes on the expert's input). grid: (slots, column blocks).
HERD_KERNEL void herd_moe_gather(const float *x, const int *slot_rows, const float *slot_weights, float *xg, int n, int ldx, int ldg) {
    herd_grid_sync();
    const float *src = x + (long)slot_rows[blockIdx.x] * ldx;
    const float f = slot_weights[blockIdx.x];
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y) xg[(long)blockIdx.x * ldg + i] = src[i] * f;
}

// y[s] = W_e x[s] for every slot s of expert e = blockIdx.y, with W_e = weights[e] (a device address table).
// FP8 weights keep their row scales at `scales_offset` bytes after the matrix. grid: (ceil(N / 64), experts).
template <typename Elem>
__device__ void herd_moe_gemm(const unsigned long long *weights, long row_bytes, Elem elem, long scales_offset,
                              const int *offsets, const float *x, float *y, int n, int k, int ldx, int ldy) {
    const int e = blockIdx.y, first = offsets[e], count = offsets[e + 1] - first;
    const unsigned char *w = (const unsigned char *)weights[e];
    const float *scales = scales_offset ? (const float *)(w + scales_offset) : (const float *)0;
    for (int m0 = 0; m0 < count; m0 += HERD_TILE)
        herd_gemm_tile(w, row_bytes, elem, scales, x + (long)first * ldx, y + (long)first * ldy, n, k, count, ldx, ldy, m0);
}
HERD_KERNEL void herd_moe_gemm_bf16(const unsigned long long *weights, const int *offsets, const float *x, float *y, int n, int k,
                                    int ldx, int ldy) {
    herd_grid_sync();
    herd_moe_gemm(weights, (long)k * 2, HerdElemBF16(), 0, offsets, x, y, n, k, ldx, ldy);
}
HERD_KERNEL void herd_moe_gemm_f16(const unsigned long long *weights, const int *offsets, const float *x, float *y, int n, int k,
                                   int ldx, int ldy) {
    herd_grid_sync();
    herd_moe_gemm(weights, (long)k * 2, HerdElemF16(), 0, offsets, x, y, n, k, ldx, ldy);
}
HERD_KERNEL void herd_moe_gemm_f32(const unsigned long long *weights, const int *offsets, const float *x, float *y, int n, int k,
                                   int ldx, int ldy) {
    herd_grid_sync();
    herd_moe_gemm(weights, (long)k * 4, HerdElemF32(), 0, offsets, x, y, n, k, ldx, ldy);
}
HERD_KERNEL void herd_moe_gemm_fp8(const unsigned long long *weights, long long scales_offset, const int *offsets, const float *x,
                                   float *y, int n, int k, int ldx, int ldy, int bias) {
    herd_grid_sync();
    HerdElemFP8 elem;
    elem.bias = bias;
    herd_moe_gemm(weights, (long)k, elem, (long)scales_offset, offsets, x, y, n, k, ldx, ldy);
}

// out[r] += sum over j of expert output of (r, j), j in choice order. grid: (rows, column blocks).
HERD_KERNEL void herd_moe_combine(const float *o, const int *slot_of, int k, float *out, int n, int ldo, int ldout) {
    herd_grid_sync();
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.y) {
        float acc = out[(long)blockIdx.x * ldout + i];
        for (int j = 0; j < k; j++) acc += o[(long)slot_of[blockIdx.x * k + j] * ldo + i];
        out[(long)blockIdx.x * ldout + i] = acc;
    }
}

// Grouped decode-shaped products: y[s] = W_e x[s] for the slots of expert e = active[blockIdx.y] (herd_gemv;
// the experts with slots, then -1: herd_moe_route), 8 slots per pass over the expert's weight rows. For steps
// of few rows per expert (decode), where a 64-row tile would be mostly empty. grid: (ceil(N / (warps per
// block * HERD_GEMV_OUTS)), min(experts, slots)): a one-request step launches its one expert's blocks, not
// every expert's (ncu, H200: the gated products with 15 of 16 experts' blocks empty, 53 us against the dense
// ones' 47).
template <int E, typename Load, int R = HERD_GEMV_ROWS, bool GATED = false>
__device__ void herd_moe_gemv(const unsigned long long *weights, long row_bytes, Load load, long scales_offset, const int *offsets,
                              const float *x, float *y, int n, int k, int ldx, int ldy, int warp, int kparts, const int *active,
                              const unsigned long long *up_weights = 0) {
    const int e = active[blockIdx.y];
    if (e < 0) return;
    const int first = offsets[e], count = offsets[e + 1] - first;
    const unsigned char *w = (const unsigned char *)weights[e];
    const unsigned char *up = GATED ? (const unsigned char *)up_weights[e] : (const unsigned char *)0;
    const float *scales = scales_offset ? (const float *)(w + scales_offset) : (const float *)0;
    const float *scales_up = GATED && scales_offset ? (const float *)(up + scales_offset) : (const float *)0;
    for (int m0 = 0; m0 < count; m0 += R) {
        const int rows = count - m0 < R ? count - m0 : R;
        herd_gemv<E, Load, R, GATED>(w, row_bytes, load, scales, x + (long)(first + m0) * ldx, y + (long)(first + m0) * ldy, n, k, rows, ldx, ldy,
                                     warp, kparts, up, scales_up);
    }
}
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_bf16(const unsigned long long *weights, const int *offsets, const float *x, float *y, int n, int k,
                                    int ldx, int ldy, int warp, int kparts, const int *active) {
    herd_grid_sync();
    herd_moe_gemv<8>(weights, (long)k * 2, HerdLoadBF16(), 0, offsets, x, y, n, k, ldx, ldy, warp, kparts, active);
}
// One slot per expert at most (a one-row step): the one-row products (see herd_gemv_fp8_1).
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_fp8_1(const unsigned long long *weights, long long scales_offset, const int *offsets,
                                                            const float *x, float *y, int n, int k, int ldx, int ldy, int warp, int bias, int kparts,
                                                            const int *active) {
    herd_grid_sync();
    HerdLoadFP8 load;
    load.bias = bias;
    herd_moe_gemv<16, HerdLoadFP8, 1>(weights, (long)k, load, (long)scales_offset, offsets, x, y, n, k, ldx, ldy, warp, kparts, active);
}
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_f16(const unsigned long long *weights, const int *offsets, const float *x, float *y, int n, int k,
                                   int ldx, int ldy, int warp, int kparts, const int *active) {
    herd_grid_sync();
    herd_moe_gemv<8>(weights, (long)k * 2, HerdLoadF16(), 0, offsets, x, y, n, k, ldx, ldy, warp, kparts, active);
}
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_fp8(const unsigned long long *weights, long long scales_offset, const int *offsets, const float *x,
                                   float *y, int n, int k, int ldx, int ldy, int warp, int bias, int kparts, const int *active) {
    herd_grid_sync();
    HerdLoadFP8 load;
    load.bias = bias;
    herd_moe_gemv<16>(weights, (long)k, load, (long)scales_offset, offsets, x, y, n, k, ldx, ldy, warp, kparts, active);
}
// The experts' gate and up products with their SwiGLU (GATED; up_weights: the up matrices' address table):
// BF16, and FP8 for one row.
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_gated_bf16(const unsigned long long *weights, const unsigned long long *up_weights,
                                                                 const int *offsets, const float *x, float *y, int n, int k, int ldx, int ldy,
                                                                 int warp, int kparts, const int *active) {
    herd_grid_sync();
    herd_moe_gemv<8, HerdLoadBF16, HERD_GEMV_ROWS, true>(weights, (long)k * 2, HerdLoadBF16(), 0, offsets, x, y, n, k, ldx, ldy, warp, kparts,
                                                         active, up_weights);
}
HERD_KERNEL void __launch_bounds__(256) herd_moe_gemv_gated_fp8_1(const unsigned long long *weights, const unsigned long long *up_weights,
                                                                  long long scales_offset, const int *offsets, const float *x, float *y, int n,
                                                                  int k, int ldx, int ldy, int warp, int bias, int kparts, const int *active) {
    herd_grid_sync();
    HerdLoadFP8 load;
    load.bias = bias;
    herd_moe_gemv<16, HerdLoadFP8, 1, true>(weights, (long)k, load, (long)scales_offset, offsets, x, y, n, k, ldx, ldy, warp, kparts, active,
                                            up_weights);
}
