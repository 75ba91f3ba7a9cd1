// Herd's GPU kernels for one model step: embedding, RMSNorm, matrix products with f32/f16/bf16
// weights, RoPE, the paged KV cache write, attention over a row's cache slots, SwiGLU, residual add,
// row gathers and scatters. Activations are f32 row-major [rows, width] with a leading dimension.
// Every kernel has a CPU twin in CHerdKernels (kernels.c) that tests compare it with.
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

// out[r] = table[tokens[r]], table f32 [vocab, width]. grid: rows.
HERD_KERNEL void herd_embed_f32(const float *table, const int *tokens, float *out, int width, int ldo) {
    const float *src = table + (long)tokens[blockIdx.x] * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) out[(long)blockIdx.x * ldo + i] = src[i];
}

// out[r] = x[r] / rms(x[r]) * w (w may be null). grid: rows; block: 256.
HERD_KERNEL void herd_rms_norm(const float *x, const float *w, float *out, int n, float eps, int ldx, int ldo) {
    __shared__ float shared[1024];
    const float *row = x + (long)blockIdx.x * ldx;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += row[i] * row[i];
    float scale = rsqrtf(herd_block_sum(ss, shared) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long)blockIdx.x * ldo + i] = row[i] * scale * (w ? w[i] : 1.0f);
}

// y[m, n] = sum_k W[n, k] x[m, k]. grid: (N, ceil(M / 4)); block: 256 threads over k; each block
// computes one output feature for up to 4 rows, so W's row is read once per 4 activation rows.
#define HERD_MATMUL(NAME, WT, LOAD)                                                                   \
HERD_KERNEL void NAME(const WT *w, const float *x, float *y, int k, int m, int ldx, int ldy) {        \
    __shared__ float shared[1024];                                                                    \
    const int n = blockIdx.x, m0 = blockIdx.y * 4;                                                    \
    const WT *row = w + (long)n * k;                                                                  \
    float acc[4] = {0, 0, 0, 0};                                                                      \
    for (int i = threadIdx.x; i < k; i += blockDim.x) {                                               \
        float wv = LOAD(row[i]);                                                                      \
        for (int j = 0; j < 4; j++) if (m0 + j < m) acc[j] += wv * x[(long)(m0 + j) * ldx + i];       \
    }                                                                                                 \
    for (int j = 0; j < 4; j++) {                                                                     \
        float total = herd_block_sum(acc[j], shared);                                                 \
        if (threadIdx.x == 0 && m0 + j < m) y[(long)(m0 + j) * ldy + n] = total;                      \
    }                                                                                                 \
}
#define HERD_LOAD_F32(v) (v)
#define HERD_LOAD_F16(v) herd_half_to_float(v)
#define HERD_LOAD_BF16(v) herd_bf16_to_float(v)
HERD_MATMUL(herd_matmul_f32, float, HERD_LOAD_F32)
HERD_MATMUL(herd_matmul_f16, unsigned short, HERD_LOAD_F16)
HERD_MATMUL(herd_matmul_bf16, unsigned short, HERD_LOAD_BF16)

// Rotary embedding in place. grid: rows; block threads over heads * head_dim / 2 pairs.
HERD_KERNEL void herd_rope(float *x, const int *positions, const float *inv_freq, int heads, int head_dim, int ld,
                           int interleaved) {
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
    const long dst = (long)slots[blockIdx.x] * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        kc[dst + i] = k[(long)blockIdx.x * ldk + i];
        vc[dst + i] = v[(long)blockIdx.x * ldv + i];
    }
}

// Attention of one query head over its row's context slots, with an online softmax per thread merged
// across the block. grid: (rows, heads); block: 64 threads; head_dim <= 128 (Llama 4 and llama-family models use 64 or 128).
// row_info[r] = {slot list offset, context start, context end}.
HERD_KERNEL void herd_attention(const float *q, const float *kc, const float *vc, const int *slots, const int *row_info,
                                float *out, int heads, int kv_heads, int head_dim, float scale, int ldq, int ldo,
                                int kv_width) {
    __shared__ float s_m[64], s_l[64];
    __shared__ float s_acc[64 * 128];
    const int r = blockIdx.x, h = blockIdx.y, t = threadIdx.x, nt = blockDim.x;
    const int *info = row_info + 3 * r;
    const int *list = slots + info[0];
    const float *qh = q + (long)r * ldq + h * head_dim;
    const int kv_off = (h / (heads / kv_heads)) * head_dim;
    float m = HERD_NEG_INF, l = 0, acc[128];
    for (int d = 0; d < head_dim; d++) acc[d] = 0;
    for (int j = info[1] + t; j < info[2]; j += nt) {
        const float *kr = kc + (long)list[j] * kv_width + kv_off;
        const float *vr = vc + (long)list[j] * kv_width + kv_off;
        float s = 0;
        for (int d = 0; d < head_dim; d++) s += qh[d] * kr[d];
        s *= scale;
        const float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn);
        l = l * corr + p;
        for (int d = 0; d < head_dim; d++) acc[d] = acc[d] * corr + p * vr[d];
        m = mn;
    }
    s_m[t] = m;
    __syncthreads();
    float gm = HERD_NEG_INF;
    for (int i = 0; i < nt; i++) gm = fmaxf(gm, s_m[i]);
    const float f = (m == HERD_NEG_INF) ? 0.0f : expf(m - gm);
    s_l[t] = l * f;
    for (int d = 0; d < head_dim; d++) s_acc[t * head_dim + d] = acc[d] * f;
    __syncthreads();
    float total = 0;
    for (int i = 0; i < nt; i++) total += s_l[i];
    for (int d = t; d < head_dim; d += nt) {
        float a = 0;
        for (int i = 0; i < nt; i++) a += s_acc[i * head_dim + d];
        out[(long)r * ldo + h * head_dim + d] = total > 0 ? a / total : 0.0f;
    }
}

// out = silu(gate) * up, elementwise over rows. grid: rows.
HERD_KERNEL void herd_swiglu(const float *gate, const float *up, float *out, int n, int ldg, int ldu, int ldo) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float g = gate[(long)blockIdx.x * ldg + i];
        out[(long)blockIdx.x * ldo + i] = g / (1.0f + expf(-g)) * up[(long)blockIdx.x * ldu + i];
    }
}

// y += x over rows of n. grid: rows.
HERD_KERNEL void herd_add(float *y, const float *x, int n, int ldy, int ldx) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[(long)blockIdx.x * ldy + i] += x[(long)blockIdx.x * ldx + i];
}

// out[i] = x[indices[i]]. grid: count.
HERD_KERNEL void herd_gather_rows(const float *x, const int *indices, float *out, int n, int ldx, int ldo) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long)blockIdx.x * ldo + i] = x[(long)indices[blockIdx.x] * ldx + i];
}

// y[indices[i]] += x[i]; one block per destination row walks the list, so repeated indices never race.
// grid: destination rows.
HERD_KERNEL void herd_scatter_add_rows(const float *x, const int *indices, int count, float *y, int n, int ldx, int ldy) {
    for (int i = 0; i < count; i++) {
        if (indices[i] != (int)blockIdx.x) continue;
        for (int c = threadIdx.x; c < n; c += blockDim.x) y[(long)blockIdx.x * ldy + c] += x[(long)i * ldx + c];
    }
}

// x[r] *= factors[r]. grid: rows.
HERD_KERNEL void herd_scale_rows(float *x, const float *factors, int n, int ld) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[(long)blockIdx.x * ld + i] *= factors[blockIdx.x];
}
