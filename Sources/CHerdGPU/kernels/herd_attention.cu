// Part of the kernel tree compiled after herd_kernels.cu (see Sources/CHerdGPU/gpu.c).
#include "vendor.h"

// Attention of one query head over a row's context slots (paged: each row reads its sequence's slot list,
// entries [context start, context end); grouped-query: head h reads KV head h / (heads / kv_heads)).
// row_info[r] = {slot list offset, context start, context end}. head_dim <= 128; block: 128 threads
// (a power of two >= head_dim).
//
// herd_attention: one block per (row, head) over the row's whole context. With few rows and long
// contexts (decode of one or a few sequences) that is too few blocks for the GPU, so the backend splits
// each context into partitions instead ("flash-decoding"): herd_attention_split runs one block per
// (row, head, partition) and writes the partition's softmax state, herd_attention_combine merges them.
// Both paths run the same online softmax over their keys (herd_attention_span), so they agree to float
// rounding.

#define HERD_ATTN_TILE 1024

// The online softmax over entries [begin, end) of a slot list, continuing from (m, l, acc): keys in tiles
// of HERD_ATTN_TILE; each thread scores whole keys into shared memory, the block finds the tile's maximum,
// then thread d accumulates output dimension d over the tile (consecutive threads read one V row together),
// with the running maximum m and sum l (the same in every thread) rescaled between tiles. No per-thread
// vectors, so nothing spills. s_q holds the query head (head_dim floats); every thread must call it.
__device__ void herd_attention_span(const float *s_q, float *s_p, float *s_red, const float *kc, const float *vc,
                                    const int *list, int begin, int end, int kv_off, int head_dim, float scale,
                                    int kv_width, float &m, float &l, float &acc) {
    const int t = threadIdx.x, nt = blockDim.x;
    // 16-byte loads of key rows where they are aligned (the same products in the same order either way).
    const bool vec4 = (head_dim & 3) == 0 && (kv_width & 3) == 0 && ((unsigned long long)kc & 15) == 0;
    for (int j0 = begin; j0 < end; j0 += HERD_ATTN_TILE) {
        const int n = end - j0 < HERD_ATTN_TILE ? end - j0 : HERD_ATTN_TILE;
        float tile_max = HERD_NEG_INF;
        for (int j = t; j < n; j += nt) {
            const float *kr = kc + (long)list[j0 + j] * kv_width + kv_off;
            float s = 0;
            if (vec4) {
                const float4 *k4 = (const float4 *)kr;
                for (int d4 = 0; d4 < head_dim / 4; d4++) {
                    const float4 kv = k4[d4];
                    s += s_q[4 * d4] * kv.x;
                    s += s_q[4 * d4 + 1] * kv.y;
                    s += s_q[4 * d4 + 2] * kv.z;
                    s += s_q[4 * d4 + 3] * kv.w;
                }
            } else {
                for (int d = 0; d < head_dim; d++) s += s_q[d] * kr[d];
            }
            s *= scale;
            s_p[j] = s;
            tile_max = fmaxf(tile_max, s);
        }
        const float mn = fmaxf(m, herd_block_max(tile_max, s_red));
        float part = 0;
        for (int j = t; j < n; j += nt) {
            const float p = expf(s_p[j] - mn);
            s_p[j] = p;
            part += p;
        }
        const float tile_sum = herd_block_sum(part, s_red);  // its barrier also publishes s_p
        const float corr = expf(m - mn);
        l = l * corr + tile_sum;
        if (t < head_dim) {
            float a = acc * corr;
            for (int j = 0; j < n; j++) a += s_p[j] * vc[(long)list[j0 + j] * kv_width + kv_off + t];
            acc = a;
        }
        m = mn;
        __syncthreads();  // s_p is rewritten by the next tile
    }
}

// grid: (rows, heads).
HERD_KERNEL void herd_attention(const float *q, const float *kc, const float *vc, const int *slots, const int *row_info,
                                float *out, int heads, int kv_heads, int head_dim, float scale, int ldq, int ldo,
                                int kv_width) {
    herd_grid_sync();
    __shared__ float s_q[128];
    __shared__ float s_p[HERD_ATTN_TILE];
    __shared__ float s_red[1024];
    const int r = blockIdx.x, h = blockIdx.y, t = threadIdx.x;
    const int *info = row_info + 3 * r;
    const int kv_off = (h / (heads / kv_heads)) * head_dim;
    if (t < head_dim) s_q[t] = q[(long)r * ldq + h * head_dim + t];
    __syncthreads();
    float m = HERD_NEG_INF, l = 0, acc = 0;
    herd_attention_span(s_q, s_p, s_red, kc, vc, slots + info[0], info[1], info[2], kv_off, head_dim, scale, kv_width, m, l, acc);
    if (t < head_dim) out[(long)r * ldo + h * head_dim + t] = l > 0 ? acc / l : 0.0f;
}

// One partition of a row's context: entries [start + p * part_len, start + (p + 1) * part_len) clipped to
// the row's end (empty for rows shorter than the longest). Writes the partition's state to
// partial[(r * heads + h) * parts + p] = {m, l, acc[head_dim]} (head_dim + 2 floats; m = -inf, l = 0 when
// empty). grid: (rows * parts, heads), partitions of a row adjacent.
HERD_KERNEL void herd_attention_split(const float *q, const float *kc, const float *vc, const int *slots, const int *row_info,
                                      float *partial, int heads, int kv_heads, int head_dim, float scale, int ldq,
                                      int kv_width, int parts, int part_len) {
    herd_grid_sync();
    __shared__ float s_q[128];
    __shared__ float s_p[HERD_ATTN_TILE];
    __shared__ float s_red[1024];
    const int r = blockIdx.x / parts, p = blockIdx.x % parts, h = blockIdx.y, t = threadIdx.x;
    const int *info = row_info + 3 * r;
    const int kv_off = (h / (heads / kv_heads)) * head_dim;
    const int begin = info[1] + p * part_len;
    const int end = info[2] - begin < part_len ? info[2] : begin + part_len;
    if (t < head_dim) s_q[t] = q[(long)r * ldq + h * head_dim + t];
    __syncthreads();
    float m = HERD_NEG_INF, l = 0, acc = 0;
    herd_attention_span(s_q, s_p, s_red, kc, vc, slots + info[0], begin, end, kv_off, head_dim, scale, kv_width, m, l, acc);
    float *dst = partial + ((long)(r * heads + h) * parts + p) * (head_dim + 2);
    if (t == 0) {
        dst[0] = m;
        dst[1] = l;
    }
    if (t < head_dim) dst[2 + t] = acc;
}

// Merges a row's partition states for one head: with M the largest partition maximum, out = sum_p acc_p
// e^(m_p - M) / sum_p l_p e^(m_p - M) (empty partitions skipped; no keys at all gives 0, as herd_attention).
// State row r is output row rows[r], or r without `rows` (herd_attention_gqa_decode* splits some rows of a
// step only). Thread p reads partition p's maximum and sum once (parts <= blockDim.x; more fall back to every
// thread reading them all); the sums are added in partition order either way, so both give the same bits.
// grid: (rows, heads); block: 128 threads.
#define HERD_COMBINE_LOADS 16
HERD_KERNEL void herd_attention_combine(const float *partial, float *out, int heads, int head_dim, int ldo, int parts,
                                        const int *rows) {
    herd_grid_sync();
    __shared__ float s_red[128], s_f[128], s_l[128];
    __shared__ int s_last;
    const int r = blockIdx.x, h = blockIdx.y, t = threadIdx.x, stride = head_dim + 2;
    const float *src = partial + (long)(r * heads + h) * parts * stride;
    float l = 0, acc = 0;
    if (parts <= (int)blockDim.x && blockDim.x <= 128) {
        if (t == 0) s_last = -1;
        const float mp = t < parts ? src[t * stride] : HERD_NEG_INF;
        const float m = herd_block_max(mp, s_red);
        // f = 0 marks an empty partition (skipped, as below).
        const float f = mp == HERD_NEG_INF ? 0.0f : expf(mp - m);
        s_f[t] = f;
        s_l[t] = f != 0.0f ? src[t * stride + 1] * f : 0.0f;
        if (f != 0.0f) atomicMax(&s_last, t);
        __syncthreads();
        // Up to the last partition that counts (a short context leaves the later ones empty: 16 of a
        // one-request step's 64 at 1024 keys), HERD_COMBINE_LOADS partitions' values are loaded together, then
        // added in order: one wait for them all instead of one per partition (ncu, H200: 13 -> 9 us with
        // every partition read).
        const int last = s_last;
        for (int p0 = 0; p0 <= last; p0 += HERD_COMBINE_LOADS) {
            float v[HERD_COMBINE_LOADS];
#pragma unroll
            for (int u = 0; u < HERD_COMBINE_LOADS; u++) v[u] = p0 + u <= last && t < head_dim ? src[(p0 + u) * stride + 2 + t] : 0.0f;
#pragma unroll
            for (int u = 0; u < HERD_COMBINE_LOADS; u++) {
                const int p = p0 + u;
                if (p > last) break;
                if (s_f[p] == 0.0f) continue;
                l += s_l[p];
                acc += v[u] * s_f[p];
            }
        }
    } else {
        float m = HERD_NEG_INF;
        for (int p = 0; p < parts; p++) m = fmaxf(m, src[p * stride]);
        for (int p = 0; p < parts; p++) {
            const float mp = src[p * stride];
            if (mp == HERD_NEG_INF) continue;
            const float f = expf(mp - m);
            l += src[p * stride + 1] * f;
            if (t < head_dim) acc += src[p * stride + 2 + t] * f;
        }
    }
    const long row = rows ? rows[r] : r;
    if (t < head_dim) out[row * ldo + h * head_dim + t] = l > 0 ? acc / l : 0.0f;
}
