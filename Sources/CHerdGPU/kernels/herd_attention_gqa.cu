// Part of the kernel tree compiled after herd_kernels.cu (see Sources/CHerdGPU/gpu.c).
#include "vendor.h"

// Grouped-query attention over key tiles shared by a tile of query rows: one block takes one KV head and
// every query head that reads it (heads / kv_heads of them) for up to a few consecutive rows of one
// sequence, so each key and value row is read from memory once per tile instead of once per (row, head).
// That re-reading is what made prefill attention slow (a 2048-token prompt read each key ~1000 times per
// head) and busy decode steps too (Scout: 5 query heads per KV head).
//
// Per tile of HERD_GQA_KT keys: K and V rows into shared memory; every (query vector, key) score, masked
// to each row's own context [start, end); one thread per query vector updates its running maximum and
// sum (online softmax, the same rescaling as herd_attention); then 8 threads per query vector accumulate
// its output dimensions. Scores are plain sequential dot products scaled afterwards, as in herd_attention.
//
// grid: (tiles, kv_heads); block: 256. tiles[2i] = the tile's first batch row, tiles[2i + 1] = its row
// count (rows x (heads / kv_heads) <= HERD_GQA_QV, consecutive rows of one sequence); row_info[r] = {slot
// list offset, context start, context end}; head_dim <= 128.
#define HERD_GQA_QV 32
#define HERD_GQA_KT 16
#define HERD_GQA_D 128
HERD_KERNEL void __launch_bounds__(256) herd_attention_gqa(const float *q, const float *kc, const float *vc, const int *slots,
                                                          const int *row_info, const int *tiles, float *out, int heads, int kv_heads,
                                                          int head_dim, float scale, int ldq, int ldo, int kv_width) {
    __shared__ float s_q[HERD_GQA_QV][HERD_GQA_D + 1];
    __shared__ float s_k[HERD_GQA_KT][HERD_GQA_D + 1];
    __shared__ float s_v[HERD_GQA_KT][HERD_GQA_D];
    __shared__ float s_p[HERD_GQA_QV][HERD_GQA_KT + 1];
    __shared__ float s_corr[HERD_GQA_QV];
    __shared__ float s_m[HERD_GQA_QV];
    __shared__ float s_l[HERD_GQA_QV];
    const int t = threadIdx.x, kvh = blockIdx.y, group = heads / kv_heads;
    const int first = tiles[2 * blockIdx.x], rows = tiles[2 * blockIdx.x + 1], nqv = rows * group;
    const int *list = slots + row_info[3 * first];
    const int kv_off = kvh * head_dim;
    // The keys any row of the tile reads.
    int lo = row_info[3 * first + 1], hi = row_info[3 * first + 2];
    for (int r = 1; r < rows; r++) {
        lo = min(lo, row_info[3 * (first + r) + 1]);
        hi = max(hi, row_info[3 * (first + r) + 2]);
    }
    for (int e = t; e < nqv * head_dim; e += blockDim.x) {
        const int v = e / head_dim, d = e % head_dim;
        const int r = first + v / group, h = kvh * group + v % group;
        s_q[v][d] = q[(long)r * ldq + h * head_dim + d];
    }
    if (t < HERD_GQA_QV) {
        s_m[t] = HERD_NEG_INF;
        s_l[t] = 0.0f;
    }
    // Output dimensions of query vector t / 8: d = t % 8 + 8 i (the 8 threads of a vector read adjacent words).
    const int my_v = t / 8, my_d = t % 8;
    float acc[HERD_GQA_D / 8];
#pragma unroll
    for (int i = 0; i < HERD_GQA_D / 8; i++) acc[i] = 0.0f;
    for (int j0 = lo; j0 < hi; j0 += HERD_GQA_KT) {
        const int n = hi - j0 < HERD_GQA_KT ? hi - j0 : HERD_GQA_KT;
        for (int e = t; e < n * head_dim; e += blockDim.x) {
            const int j = e / head_dim, d = e % head_dim;
            const long row = (long)list[j0 + j] * kv_width + kv_off;
            s_k[j][d] = kc[row + d];
            s_v[j][d] = vc[row + d];
        }
        __syncthreads();
        for (int e = t; e < nqv * HERD_GQA_KT; e += blockDim.x) {
            const int v = e / HERD_GQA_KT, j = e % HERD_GQA_KT;
            const int *info = row_info + 3 * (first + v / group);
            float s = HERD_NEG_INF;
            if (j < n && j0 + j >= info[1] && j0 + j < info[2]) {
                s = 0.0f;
                for (int d = 0; d < head_dim; d++) s += s_q[v][d] * s_k[j][d];
                s *= scale;
            }
            s_p[v][j] = s;
        }
        __syncthreads();
        if (t < nqv) {
            float tile_max = HERD_NEG_INF;
            for (int j = 0; j < HERD_GQA_KT; j++) tile_max = fmaxf(tile_max, s_p[t][j]);
            const float m = s_m[t], mn = fmaxf(m, tile_max);
            if (mn == HERD_NEG_INF) {
                // nothing of this row's context seen yet
                for (int j = 0; j < HERD_GQA_KT; j++) s_p[t][j] = 0.0f;
                s_corr[t] = 1.0f;
            } else {
                float sum = 0.0f;
                for (int j = 0; j < HERD_GQA_KT; j++) {
                    const float p = expf(s_p[t][j] - mn);
                    s_p[t][j] = p;
                    sum += p;
                }
                const float corr = expf(m - mn);
                s_l[t] = s_l[t] * corr + sum;
                s_m[t] = mn;
                s_corr[t] = corr;
            }
        }
        __syncthreads();
        if (my_v < nqv) {
            const float corr = s_corr[my_v];
#pragma unroll
            for (int i = 0; i < HERD_GQA_D / 8; i++) {
                const int d = my_d + 8 * i;
                if (d >= head_dim) break;
                float a = acc[i] * corr;
                for (int j = 0; j < n; j++) a += s_p[my_v][j] * s_v[j][d];
                acc[i] = a;
            }
        }
        __syncthreads();  // the next tile rewrites s_k, s_v, s_p
    }
    if (my_v < nqv) {
        const int r = first + my_v / group, h = kvh * group + my_v % group;
        const float l = s_l[my_v];
#pragma unroll
        for (int i = 0; i < HERD_GQA_D / 8; i++) {
            const int d = my_d + 8 * i;
            if (d >= head_dim) break;
            out[(long)r * ldo + h * head_dim + d] = l > 0 ? acc[i] / l : 0.0f;
        }
    }
}
