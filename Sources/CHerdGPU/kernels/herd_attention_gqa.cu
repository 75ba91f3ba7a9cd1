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
    herd_grid_sync();
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

// Decode rows (a tile of one row): one block per (row, context partition, KV head) and all `G` query heads
// of that KV head. The tile kernel above leaves most of its threads idle on one row (5 query vectors of
// 32) and keeps few keys in flight; here every warp streams its own keys: a warp takes chunks of 16 keys
// (one slot index per lane, the next chunk's read ahead; 16 rather than 32 so that a 64-key partition keeps
// all four warps busy: H100, one request, attention 0.21 -> 0.15 ms per step) and runs the online softmax
// of each query head over them in order. The block's warps are merged in a fixed order at the end. With
// `partial` the block writes its partition's state {m, l, acc[head_dim]} at partial[((i * heads + h) * parts
// + p)] (the layout herd_attention_combine merges, i = index in `rows`); without, the normalized output row.
//
// A key is read by HERD_GQAD_KEY_LANES lanes (KL), so a warp holds 32 / KL keys at once; sub-lane s holds
// dimensions [4 (s + KL v), +4) for v < 128 / (4 KL) (16-byte loads, consecutive across the sub-lanes). A
// score's sum then takes log2(KL) lane exchanges, and each group of KL lanes keeps its own softmax state
// (merged within the warp at the end). With KL 32 (one key per warp at a time) the exchanges were most of
// the kernel's work: ncu, one layer of FP8 decode-64 on an H100, 122.6 M instructions (234 a key) at 58%
// issue-active; KL 16: 85.5 M, 257-261 -> 247 us, then bound by when its loads went out (66% of DRAM),
// which the K/V ring below fixed: 247 -> 219 us, 75% of DRAM (an L2 prefetch of the next chunk: 320 us).
//
// grid: (rows * parts, kv_heads), partitions of a row adjacent (part_len keys each; part_len <= 0: see
// below); block: 128. rows[i] = the batch row;
// head_dim <= 128 and a multiple of 4, kv_width a multiple of 4 (16-byte loads); G = heads / kv_heads.
#define HERD_GQAD_WARPS 4
#define HERD_GQAD_CHUNK 16
#ifndef HERD_GQAD_KEY_LANES
#define HERD_GQAD_KEY_LANES 16
#endif
#ifndef HERD_GQAD_U
#define HERD_GQAD_U 1  // groups of 32 / KL keys in one step
#endif
#ifndef HERD_GQAD_STAGES
#define HERD_GQAD_STAGES 4  // steps in each warp's K/V ring (5: no faster)
#endif
#ifndef HERD_GQAD_MIN_BLOCKS
#define HERD_GQAD_MIN_BLOCKS 1  // blocks per multiprocessor the registers must allow (4: 128 registers, spills, no faster)
#endif
#define HERD_GQAD_KL HERD_GQAD_KEY_LANES
#define HERD_GQAD_DV (HERD_GQA_D / 4 / HERD_GQAD_KL)  // 16-byte pieces of a key row per lane
#define HERD_GQAD_KEYS (32 / HERD_GQAD_KL)            // keys a warp holds at once

__device__ __forceinline__ float herd_dot4(float4 a, float4 b, float d) {
    d += a.x * b.x;
    d += a.y * b.y;
    d += a.z * b.z;
    d += a.w * b.w;
    return d;
}

template <int G>
__device__ __forceinline__ void herd_gqa_decode(const float *q, const float *kc, const float *vc, const int *slots,
                                                const int *row_info, const int *rows, float *out, float *partial, int heads,
                                                int head_dim, float scale, int ldq, int ldo, int kv_width, int parts,
                                                int part_len) {
    constexpr int KL = HERD_GQAD_KL, DV = HERD_GQAD_DV, S = HERD_GQAD_KEYS, U = HERD_GQAD_U;
    constexpr int ST = HERD_GQAD_STAGES;
    static_assert(ST >= 2, "a ring of at least two steps");
    // The K/V ring, and after the keys the warps' outputs in the same memory.
    constexpr int RING = HERD_GQAD_WARPS * ST * U * 2 * DV * 32, OUTS = HERD_GQAD_WARPS * G * HERD_GQA_D / 4;
    __shared__ float4 smem[RING > OUTS ? RING : OUTS];
    float4 (*ring)[ST][U][2][DV][32] = (float4 (*)[ST][U][2][DV][32])smem;
    float (*s_o)[G][HERD_GQA_D] = (float (*)[G][HERD_GQA_D])smem;
    __shared__ float s_m[HERD_GQAD_WARPS][G];
    __shared__ float s_l[HERD_GQAD_WARPS][G];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, sub = lane / KL, sl = lane % KL;
    const int i = blockIdx.x / parts, p = blockIdx.x % parts, kvh = blockIdx.y;
    const int r = rows[i];
    const int *info = row_info + 3 * r;
    const int *list = slots + info[0];
    // part_len <= 0: each row's own partitions, its context over `parts` in multiples of 64 keys, at least
    // -part_len keys each (the grid then depends on the row count only, as a replayed graph needs).
    const int len = part_len > 0 ? part_len : max(-part_len, ((info[2] - info[1] + parts - 1) / parts + 63) / 64 * 64);
    const int begin = info[1] + p * len;
    const int end = info[2] - begin < len ? info[2] : begin + len;  // <= begin: an empty partition
    bool mine[DV];
    int dim[DV];
#pragma unroll
    for (int v = 0; v < DV; v++) {
        dim[v] = 4 * (sl + KL * v);
        mine[v] = dim[v] < head_dim;
    }
    const long kv_off = (long)kvh * head_dim;
    float4 qv[G][DV], acc[G][DV];
    float m[G], l[G];
#pragma unroll
    for (int h = 0; h < G; h++) {
        const float *qh = q + (long)r * ldq + (long)(kvh * G + h) * head_dim;
#pragma unroll
        for (int v = 0; v < DV; v++) {
            qv[h][v] = mine[v] ? make_float4(qh[dim[v]], qh[dim[v] + 1], qh[dim[v] + 2], qh[dim[v] + 3]) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            acc[h][v] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
        m[h] = HERD_NEG_INF;
        l[h] = 0.0f;
    }
    // The warp's keys: chunks j = 0, 1, ... of 16 keys at first + j * stride (chunk c of the partition belongs
    // to warp c % HERD_GQAD_WARPS), each taken in steps of U x S keys. Their K and V rows stream through a ring
    // of HERD_GQAD_STAGES steps per warp in shared memory (cp.async, STAGES - 1 steps ahead): each lane copies
    // exactly the 16-byte pieces it reads back, so the ring needs no barriers, and the loads of later steps
    // are out while this one's arithmetic runs (loaded straight into registers, a step's loads went out
    // only after the last step's arithmetic). On HIP the copies are plain loads and stores (vendor.h).
    constexpr int PER_STEP = U * S, STEPS_PER_CHUNK = HERD_GQAD_CHUNK / PER_STEP;
    const int first = begin + warp * HERD_GQAD_CHUNK, stride = HERD_GQAD_WARPS * HERD_GQAD_CHUNK;
    const int chunks = first < end ? (end - first + stride - 1) / stride : 0, steps = chunks * STEPS_PER_CHUNK;
    // The slots of the chunk being filled (lane k: key k's) and of the one after it.
    int fill_chunk = 0;
    int fill_slots = first + lane < end && lane < HERD_GQAD_CHUNK ? list[first + lane] : 0;
    int next_slots = first + stride + lane < end && lane < HERD_GQAD_CHUNK ? list[first + stride + lane] : 0;
    auto fill = [&](int f) {  // step f into stage f % STAGES; f goes up by one a call
        const int j = f / STEPS_PER_CHUNK;
        if (j != fill_chunk) {
            fill_chunk = j;
            fill_slots = next_slots;
            const int c = first + (j + 1) * stride;
            next_slots = c + lane < end && lane < HERD_GQAD_CHUNK ? list[c + lane] : 0;
        }
        if (j < chunks) {
            const int n = min(end - (first + j * stride), HERD_GQAD_CHUNK);
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int key = (f % STEPS_PER_CHUNK) * PER_STEP + S * u + sub;
                const bool ok = key < n;
                const long row = (long)herd_lanes32_get(fill_slots, ok ? key : 0) * kv_width + kv_off;
#pragma unroll
                for (int v = 0; v < DV; v++) {
                    herd_copy16_async((float *)&ring[warp][f % ST][u][0][v][lane], kc + row + dim[v], ok && mine[v]);
                    herd_copy16_async((float *)&ring[warp][f % ST][u][1][v][lane], vc + row + dim[v], ok && mine[v]);
                }
            }
        }
        herd_copy16_commit();  // an empty group past the end keeps the count of groups uniform
    };
#pragma unroll
    for (int f = 0; f < ST - 1; f++) fill(f);
    for (int step = 0; step < steps; step++) {
        herd_copy16_wait<ST - 2>();  // step `step` has landed
        const int n = min(end - (first + (step / STEPS_PER_CHUNK) * stride), HERD_GQAD_CHUNK);
        float4 kr[U][DV], vr[U][DV];
        bool valid[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            valid[u] = (step % STEPS_PER_CHUNK) * PER_STEP + S * u + sub < n;
#pragma unroll
            for (int v = 0; v < DV; v++) {
                kr[u][v] = ring[warp][step % ST][u][0][v][lane];
                vr[u][v] = ring[warp][step % ST][u][1][v][lane];
            }
        }
        fill(step + ST - 1);  // into the stage read one step ago
        // Every (key, head) score's lane sums at once: U x G independent exchanges per step rather than one
        // dependent chain per score.
        float sc[U][G];
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int h = 0; h < G; h++) {
                float d = 0.0f;
#pragma unroll
                for (int v = 0; v < DV; v++) d = herd_dot4(qv[h][v], kr[u][v], d);
                sc[u][h] = d;
            }
#pragma unroll
        for (int off = KL / 2; off > 0; off >>= 1)
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int h = 0; h < G; h++) sc[u][h] += herd_lanes32_xor(sc[u][h], off);
#pragma unroll
        for (int h = 0; h < G; h++) {
            // The group's largest score first, so what is summed so far is rescaled at most once per U keys
            // (m = -inf: nothing yet). Keys past the chunk are skipped.
            float mx = m[h];
#pragma unroll
            for (int u = 0; u < U; u++)
                if (valid[u]) mx = fmaxf(mx, sc[u][h] * scale);
            if (mx > m[h]) {
                const float corr = expf(m[h] - mx);
                m[h] = mx;
                l[h] *= corr;
#pragma unroll
                for (int v = 0; v < DV; v++) {
                    acc[h][v].x *= corr;
                    acc[h][v].y *= corr;
                    acc[h][v].z *= corr;
                    acc[h][v].w *= corr;
                }
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (!valid[u]) continue;
                const float e = expf(sc[u][h] * scale - m[h]);
                l[h] += e;
#pragma unroll
                for (int v = 0; v < DV; v++) {
                    acc[h][v].x += e * vr[u][v].x;
                    acc[h][v].y += e * vr[u][v].y;
                    acc[h][v].z += e * vr[u][v].z;
                    acc[h][v].w += e * vr[u][v].w;
                }
            }
        }
    }
    // Merge the warp's groups (lanes KL apart hold the same dimensions), each scaled by e^(m - M).
#pragma unroll
    for (int off = KL; off < 32; off <<= 1)
#pragma unroll
        for (int h = 0; h < G; h++) {
            const float mo = herd_lanes32_xor(m[h], off), lo = herd_lanes32_xor(l[h], off);
            const float mx = fmaxf(m[h], mo);
            const float f = m[h] == HERD_NEG_INF ? 0.0f : expf(m[h] - mx), fo = mo == HERD_NEG_INF ? 0.0f : expf(mo - mx);
            l[h] = l[h] * f + lo * fo;
#pragma unroll
            for (int v = 0; v < DV; v++) {
                acc[h][v].x = acc[h][v].x * f + herd_lanes32_xor(acc[h][v].x, off) * fo;
                acc[h][v].y = acc[h][v].y * f + herd_lanes32_xor(acc[h][v].y, off) * fo;
                acc[h][v].z = acc[h][v].z * f + herd_lanes32_xor(acc[h][v].z, off) * fo;
                acc[h][v].w = acc[h][v].w * f + herd_lanes32_xor(acc[h][v].w, off) * fo;
            }
            m[h] = mx;
        }
    herd_copy16_wait<0>();
    __syncthreads();  // every warp is done with the ring before the outputs overwrite it
    // Merge the warps, warp 0 first: state of warp w scaled by e^(m_w - M), M the largest maximum.
#pragma unroll
    for (int h = 0; h < G; h++) {
        if (lane == 0) {
            s_m[warp][h] = m[h];
            s_l[warp][h] = l[h];
        }
#pragma unroll
        for (int v = 0; v < DV; v++)
            if (sub == 0 && mine[v]) {
                s_o[warp][h][dim[v]] = acc[h][v].x;
                s_o[warp][h][dim[v] + 1] = acc[h][v].y;
                s_o[warp][h][dim[v] + 2] = acc[h][v].z;
                s_o[warp][h][dim[v] + 3] = acc[h][v].w;
            }
    }
    __syncthreads();
    for (int h = 0; h < G; h++) {
        float mx = HERD_NEG_INF;
        for (int w = 0; w < HERD_GQAD_WARPS; w++) mx = fmaxf(mx, s_m[w][h]);
        float sum = 0.0f, o = 0.0f;
        for (int w = 0; w < HERD_GQAD_WARPS; w++) {
            if (s_m[w][h] == HERD_NEG_INF) continue;  // a warp that saw no key
            const float f = expf(s_m[w][h] - mx);
            sum += s_l[w][h] * f;
            if (t < head_dim) o += s_o[w][h][t] * f;
        }
        const int head = kvh * G + h;
        if (partial == nullptr) {
            if (t < head_dim) out[(long)r * ldo + (long)head * head_dim + t] = sum > 0 ? o / sum : 0.0f;
        } else {
            float *dst = partial + ((long)(i * heads + head) * parts + p) * (head_dim + 2);
            if (t == 0) {
                dst[0] = mx;
                dst[1] = sum;
            }
            if (t < head_dim) dst[2 + t] = o;
        }
    }
}

// One kernel per group size (the per-head state lives in registers); GPUBackend.maximumDecodeGroup.
#define HERD_GQA_DECODE_KERNEL(G)                                                                                          \
    HERD_KERNEL void __launch_bounds__(128, HERD_GQAD_MIN_BLOCKS) herd_attention_gqa_decode##G(                            \
        const float *q, const float *kc, const float *vc, const int *slots, const int *row_info, const int *rows, float *out, \
        float *partial, int heads, int head_dim, float scale, int ldq, int ldo, int kv_width, int parts, int part_len) {     \
        herd_grid_sync();                                                                                                  \
        herd_gqa_decode<G>(q, kc, vc, slots, row_info, rows, out, partial, heads, head_dim, scale, ldq, ldo, kv_width, parts, \
                           part_len);                                                                                      \
    }
HERD_GQA_DECODE_KERNEL(1)
HERD_GQA_DECODE_KERNEL(2)
HERD_GQA_DECODE_KERNEL(3)
HERD_GQA_DECODE_KERNEL(4)
HERD_GQA_DECODE_KERNEL(5)
HERD_GQA_DECODE_KERNEL(6)
HERD_GQA_DECODE_KERNEL(7)
HERD_GQA_DECODE_KERNEL(8)

// Prefill tiles on the tensor cores (NVIDIA sm_80+; HIP keeps herd_attention_gqa, and the backend looks
// this kernel up on CUDA only): flash attention over the same tiles as herd_attention_gqa, one block per
// KV head and tile of up to HERD_GQAT_VECS query vectors (rows x G heads, vector v = row v / G, head v % G),
// 4 warps of 16 vectors, keys in steps of HERD_GQAT_KEYS gathered through the slot list into shared memory.
// head_dim 128. Scores S = Q K^T and outputs P V are mma.sync m16n8k8 TF32 products; the online softmax
// (maximum, exponentials, sums, rescaling) stays in f32 registers, one row pair per lane as in FlashAttention-2.
//
// Accuracy (3xTF32): an f32 value x is split as big = tf32(x) (11 significant bits, rounded to nearest),
// small = tf32(x - big) (x - big is exact in f32); x - big - small is below 2^-22 |x|. A product x y is taken
// as big_x big_y + big_x small_y + small_x big_y, each exact in the tensor core's f32 accumulation; what is
// dropped (small_x small_y and the two remainders) is below 3 * 2^-22 |x y|, i.e. each product is within
// about 1e-6 of f32 x f32 and the sums keep f32 accumulation: near f32 as a whole (f32's own 128-term dot
// products round at a few 1e-7). P is in [0, 1] and splits the same way. Plain TF32 or BF16 operands
// (one term: 2^-11 and 2^-8 per product) would not hold the CPU twins' tolerances.
//
// Fragments (PTX ISA, mma.m16n8k8 .tf32; g = lane / 4, c = lane % 4): A a0 (g, c), a1 (g + 8, c), a2 (g, c + 4),
// a3 (g + 8, c + 4); B b0 (k c, n g), b1 (k c + 4, n g); C c0 (g, 2c), c1 (g, 2c + 1), c2 (g + 8, 2c), c3 (g + 8, 2c + 1).
// P V takes P straight from S's C fragments: a lane holds keys 2c and 2c + 1 of each 8, so the k index of
// the product is permuted (k c <-> key 2c, k c + 4 <-> key 2c + 1) in P and V alike, which leaves the sum over
// keys unchanged.
//
// grid: (tiles, kv_heads); block: 128; tiles[2i] = first batch row, tiles[2i + 1] = rows (rows x G <= 64,
// consecutive rows of one sequence); row_info as herd_attention_gqa; kv_width a multiple of 4.
#if HERD_CUDA
#define HERD_GQAT_VECS 64
#define HERD_GQAT_KEYS 32
#define HERD_GQAT_LD 132  // floats per shared K/V row: 128 + 4 puts a fragment's 32 reads in 32 banks

__device__ __forceinline__ unsigned herd_gqat_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    return __float_as_uint(x);  // never launched before sm_80 (hasTensorCoreKernels)
#else
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
#endif
}

// x as big + small TF32 terms (see above); EXACT false: big only (plain TF32, 11 significant bits, for
// --tensor-core-activations bf16, the precision vLLM's BF16 attention runs at or better).
template <bool EXACT>
__device__ __forceinline__ void herd_gqat_split(float x, unsigned &big, unsigned &small) {
    big = herd_gqat_tf32(x);
    small = EXACT ? herd_gqat_tf32(x - __uint_as_float(big)) : 0u;
}

__device__ __forceinline__ void herd_gqat_mma(float *d, const unsigned *a, unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    (void)d; (void)a; (void)b0; (void)b1;
#else
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// d += a b in 3xTF32, the small cross terms first (EXACT false: big x big only).
template <bool EXACT>
__device__ __forceinline__ void herd_gqat_mma3(float *d, const unsigned *a_big, const unsigned *a_small, const unsigned *b_big,
                                               const unsigned *b_small) {
    if (EXACT) {
        herd_gqat_mma(d, a_small, b_big[0], b_big[1]);
        herd_gqat_mma(d, a_big, b_small[0], b_small[1]);
    }
    herd_gqat_mma(d, a_big, b_big[0], b_big[1]);
}

// Shared by both tensor-core versions below. The keys any row of the tile (rows from `first`) reads.
__device__ __forceinline__ void herd_gqat_tile_keys(const int *row_info, int first, int rows, int &lo, int &hi) {
    lo = row_info[3 * first + 1];
    hi = row_info[3 * first + 2];
    for (int r = 1; r < rows; r++) {
        lo = min(lo, row_info[3 * (first + r) + 1]);
        hi = max(hi, row_info[3 * (first + r) + 2]);
    }
}

// This lane's two query vectors (C rows g and g + 8 of warp `warp`'s 16): their contexts [start, end); the
// tile's padding vectors have none. wlo, whi: the keys any vector of the warp reads.
__device__ __forceinline__ void herd_gqat_vector_contexts(const int *row_info, int first, int group, int nqv, int warp, int g,
                                                          int (&vstart)[2], int (&vend)[2], int &wlo, int &whi) {
    wlo = 0x7fffffff;
    whi = 0;
#pragma unroll
    for (int e = 0; e < 2; e++) {
        const int v = warp * 16 + g + 8 * e;
        vstart[e] = 0;
        vend[e] = 0;
        if (v < nqv) {
            const int *info = row_info + 3 * (first + v / group);
            vstart[e] = info[1];
            vend[e] = info[2];
            wlo = min(wlo, vstart[e]);
            whi = max(whi, vend[e]);
        }
    }
    for (int off = 1; off < 32; off <<= 1) {
        wlo = min(wlo, __shfl_xor_sync(0xffffffffu, wlo, off, 32));
        whi = max(whi, __shfl_xor_sync(0xffffffffu, whi, off, 32));
    }
}

// The online-softmax step of a lane's two rows (g: e = 0, 1; g + 8: e = 2, 3) over NT key tiles of scaled,
// masked scores s, in place (s becomes p = exp(s - max)): tmax holds this lane's maxima of the step, m the
// running maxima, l this lane's share of the row sums; corr is what the output accumulators must be scaled by.
template <int NT>
__device__ __forceinline__ void herd_gqat_softmax(float (&s)[NT][4], float (&tmax)[2], float (&m)[2], float (&l)[2], float (&corr)[2]) {
    float base[2];
#pragma unroll
    for (int row = 0; row < 2; row++) {
        // the 4 lanes of a row hold its scores
        tmax[row] = fmaxf(tmax[row], __shfl_xor_sync(0xffffffffu, tmax[row], 1, 32));
        tmax[row] = fmaxf(tmax[row], __shfl_xor_sync(0xffffffffu, tmax[row], 2, 32));
        const float mn = fmaxf(m[row], tmax[row]);
        base[row] = mn == HERD_NEG_INF ? 0.0f : mn;  // no key yet: every p is 0, and so is the correction
        corr[row] = expf(m[row] - base[row]);
        m[row] = mn;
    }
    float psum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float p = expf(s[nt][e] - base[e >> 1]);
            s[nt][e] = p;
            psum[e >> 1] += p;
        }
#pragma unroll
    for (int row = 0; row < 2; row++) l[row] = l[row] * corr[row] + psum[row];
}

// The tile's outputs: each of this lane's two rows' accumulators divided by the row sum (its 4 lanes' shares).
__device__ __forceinline__ void herd_gqat_store(const float (&o)[16][4], float (&l)[2], float *out, int first, int group, int kvh,
                                                int nqv, int warp, int g, int c, int ldo) {
#pragma unroll
    for (int row = 0; row < 2; row++) {
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 1, 32);
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 2, 32);
        const int v = warp * 16 + g + 8 * row;
        if (v < nqv) {
            float *dst = out + (long)(first + v / group) * ldo + (long)(kvh * group + v % group) * 128 + 2 * c;
#pragma unroll
            for (int dt = 0; dt < 16; dt++) {
                dst[8 * dt] = l[row] > 0 ? o[dt][2 * row] / l[row] : 0.0f;
                dst[8 * dt + 1] = l[row] > 0 ? o[dt][2 * row + 1] / l[row] : 0.0f;
            }
        }
    }
}

template <bool EXACT>
__device__ __forceinline__ void herd_gqat_tiles(const float *q, const float *kc, const float *vc, const int *slots, const int *row_info,
                                                const int *tiles, float *out, int heads, int kv_heads, float scale, int ldq, int ldo,
                                                int kv_width) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    (void)q; (void)kc; (void)vc; (void)slots; (void)row_info; (void)tiles; (void)out; (void)heads; (void)kv_heads;
    (void)scale; (void)ldq; (void)ldo; (void)kv_width;
#else
    __shared__ __align__(16) float s_k[HERD_GQAT_KEYS * HERD_GQAT_LD];
    __shared__ __align__(16) float s_v[HERD_GQAT_KEYS * HERD_GQAT_LD];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, g = lane >> 2, c = lane & 3;
    const int kvh = blockIdx.y, group = heads / kv_heads;
    const int first = tiles[2 * blockIdx.x], rows = tiles[2 * blockIdx.x + 1], nqv = rows * group;
    const int *list = slots + row_info[3 * first];
    int lo, hi;  // the keys any row of the tile reads
    herd_gqat_tile_keys(row_info, first, rows, lo, hi);
    // This lane's two query vectors' contexts, and the keys any vector of the warp reads.
    int vstart[2], vend[2], wlo, whi;
    herd_gqat_vector_contexts(row_info, first, group, nqv, warp, g, vstart, vend, wlo, whi);
    // Q as A fragments, f32 (split at each use: the split terms would take twice the registers). k step ks:
    // dimensions 8 ks .. 8 ks + 7.
    float qa[16][4];
#pragma unroll
    for (int ks = 0; ks < 16; ks++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int v = warp * 16 + g + 8 * (e & 1), d = 8 * ks + c + 4 * (e >> 1);
            qa[ks][e] = v < nqv ? q[(long)(first + v / group) * ldq + (long)(kvh * group + v % group) * 128 + d] : 0.0f;
        }
    // Output accumulators as C fragments: dimension tile dt holds dimensions 8 dt .. 8 dt + 7.
    float o[16][4];
#pragma unroll
    for (int dt = 0; dt < 16; dt++)
#pragma unroll
        for (int e = 0; e < 4; e++) o[dt][e] = 0.0f;
    float m[2] = {HERD_NEG_INF, HERD_NEG_INF}, l[2] = {0.0f, 0.0f};  // l: this lane's share of the row sum
    for (int j0 = lo; j0 < hi; j0 += HERD_GQAT_KEYS) {
        const int n = hi - j0 < HERD_GQAT_KEYS ? hi - j0 : HERD_GQAT_KEYS;
        // K and V rows of keys j0 .. j0 + n into shared memory; zeros past n (finite, and masked below).
#pragma unroll
        for (int i = 0; i < HERD_GQAT_KEYS * 32 / 128; i++) {
            const int e = t + 128 * i, j = e >> 5, d4 = e & 31;
            float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
            if (j < n) {
                const long row = (long)list[j0 + j] * kv_width + (long)kvh * 128 + 4 * d4;
                kv = *(const float4 *)(kc + row);
                vv = *(const float4 *)(vc + row);
            }
            *(float4 *)(s_k + j * HERD_GQAT_LD + 4 * d4) = kv;
            *(float4 *)(s_v + j * HERD_GQAT_LD + 4 * d4) = vv;
        }
        __syncthreads();
        if (j0 < whi && j0 + n > wlo) {  // some key of the step is in some context of this warp (same in every lane)
            // S = Q K^T: key tile nt holds keys j0 + 8 nt .. + 7; B = K^T, b0 = K[8 nt + g][8 ks + c], b1 = [.. + 4].
            float s[4][4];
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) s[nt][e] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < 16; ks++) {
                unsigned ab[4], as[4];
#pragma unroll
                for (int e = 0; e < 4; e++) herd_gqat_split<EXACT>(qa[ks][e], ab[e], as[e]);
#pragma unroll
                for (int nt = 0; nt < 4; nt++) {
                    const float *kr = s_k + (8 * nt + g) * HERD_GQAT_LD + 8 * ks + c;
                    unsigned bb[2], bs[2];
                    herd_gqat_split<EXACT>(kr[0], bb[0], bs[0]);
                    herd_gqat_split<EXACT>(kr[4], bb[1], bs[1]);
                    herd_gqat_mma3<EXACT>(s[nt], ab, as, bb, bs);
                }
            }
            // Scale, mask to each vector's context, and the online softmax of rows g (e = 0, 1) and g + 8 (e = 2, 3).
            float tmax[2] = {HERD_NEG_INF, HERD_NEG_INF};
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int row = e >> 1, j = j0 + 8 * nt + 2 * c + (e & 1);
                    const float v = j >= vstart[row] && j < vend[row] ? s[nt][e] * scale : HERD_NEG_INF;
                    s[nt][e] = v;
                    tmax[row] = fmaxf(tmax[row], v);
                }
            float corr[2];
            herd_gqat_softmax(s, tmax, m, l, corr);
#pragma unroll
            for (int dt = 0; dt < 16; dt++) {
                o[dt][0] *= corr[0];
                o[dt][1] *= corr[0];
                o[dt][2] *= corr[1];
                o[dt][3] *= corr[1];
            }
            // O += P V, k step ks = key tile ks: a = {P[g][2c], P[g + 8][2c], P[g][2c + 1], P[g + 8][2c + 1]} =
            // {c0, c2, c1, c3} of S's tile ks; b0 = V[8 ks + 2c][8 dt + g], b1 = V[8 ks + 2c + 1][8 dt + g].
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                unsigned ab[4], as[4];
                herd_gqat_split<EXACT>(s[ks][0], ab[0], as[0]);
                herd_gqat_split<EXACT>(s[ks][2], ab[1], as[1]);
                herd_gqat_split<EXACT>(s[ks][1], ab[2], as[2]);
                herd_gqat_split<EXACT>(s[ks][3], ab[3], as[3]);
#pragma unroll
                for (int dt = 0; dt < 16; dt++) {
                    const float *vr = s_v + (8 * ks + 2 * c) * HERD_GQAT_LD + 8 * dt + g;
                    unsigned bb[2], bs[2];
                    herd_gqat_split<EXACT>(vr[0], bb[0], bs[0]);
                    herd_gqat_split<EXACT>(vr[HERD_GQAT_LD], bb[1], bs[1]);
                    herd_gqat_mma3<EXACT>(o[dt], ab, as, bb, bs);
                }
            }
        }
        __syncthreads();  // the next step rewrites s_k, s_v
    }
    herd_gqat_store(o, l, out, first, group, kvh, nqv, warp, g, c, ldo);
#endif
}
// The tensor-core tile kernels' entry points (both versions, 3xTF32 and TF32): one argument list, the
// version's tile function and its precision.
#define HERD_GQAT_KERNEL(NAME, TILES, EXACT)                                                                                  \
    HERD_KERNEL void __launch_bounds__(128) NAME(const float *q, const float *kc, const float *vc, const int *slots,          \
                                                 const int *row_info, const int *tiles, float *out, int heads, int kv_heads, \
                                                 float scale, int ldq, int ldo, int kv_width) {                              \
        herd_grid_sync();                                                                                                     \
        TILES<EXACT>(q, kc, vc, slots, row_info, tiles, out, heads, kv_heads, scale, ldq, ldo, kv_width);                    \
    }
HERD_GQAT_KERNEL(herd_attention_gqa_mma, herd_gqat_tiles, true)
HERD_GQAT_KERNEL(herd_attention_gqa_mma_tf32, herd_gqat_tiles, false)
// v2 of the tiles above (the default; HERD_TC_ATTENTION_V2=0 picks the first; same tiles, arguments,
// fragments, softmax and results up to the online softmax's rounding): the splitting moves out of the mma loops.
// - K and V are split once per block, not once per warp and use: a step of HERD_GQAT2_KEYS = 16 keys is gathered
//   (cp.async, f32) into a staging tile, then the block splits it into tiles laid out as the B fragments, one
//   vector per (key or dimension tile, k step, lane): {b0 big, b1 big, b0 small, b1 small} (3xTF32; plain TF32:
//   {b0, b1}). A lane's fragment is then one 16-byte (8-byte) load, a warp's 512 (256) consecutive bytes.
//   Static shared memory: 16 + 16 KB split tiles + 16 KB staging = 48 KB (3xTF32), the static limit, hence
//   16-key steps (32 keys of split K and V alone would take 64 KB).
// - The next step's gather is issued (cp.async) before this step's products and lands while they run.
// - Q is split once, into big and small registers (3xTF32: 128 registers for Q, 64 for O).
// Staging: K rows then V rows, 128 floats each, 16-byte chunk d4 of key j at chunk d4 ^ (j & 7) (the splitting
// pass reads 32 distinct banks for K and V alike).
#define HERD_GQAT2_KEYS 16

// herd_gqat_split with the rounding as integer operations: (bits + 2^12) & ~(2^13 - 1) is cvt.rna.tf32.f32 (to nearest,
// ties away from zero, a carry into the exponent included) for every finite x, in 2 instructions where ptxas gives
// cvt.rna 4 (it keeps infinities and NaNs). Q, K, V and P are finite.
__device__ __forceinline__ unsigned herd_gqat2_tf32(float x) { return (__float_as_uint(x) + 0x1000u) & 0xffffe000u; }
template <bool EXACT>
__device__ __forceinline__ void herd_gqat2_split(float x, unsigned &big, unsigned &small) {
    big = herd_gqat2_tf32(x);
    small = EXACT ? herd_gqat2_tf32(x - __uint_as_float(big)) : 0u;
}

// Gathers keys j0 .. j0 + n (n <= 16) of KV head kvh into the staging tile; zeros past n (finite, masked later).
// slot: lane k (and k + 16) holds the slot of key j0 + k (loaded a step ahead: no global load to wait for here).
// Every lane of the block calls it.
__device__ __forceinline__ void herd_gqat2_gather(float *stage, const float *kc, const float *vc, int slot, int n, int kvh,
                                                  int kv_width, int warp, int lane) {
#pragma unroll
    for (int i = 0; i < HERD_GQAT2_KEYS / 4; i++) {
        const int j = 4 * i + warp;  // key; d4 = lane
        const int sj = __shfl_sync(0xffffffffu, slot, j, 32);
        const bool valid = j < n;
        const long row = valid ? (long)sj * kv_width + (long)kvh * 128 + 4 * lane : 0;
        float *at = stage + j * 128 + 4 * (lane ^ (4 * (i & 1) + warp));  // j & 7 = 4 (i & 1) + warp
        herd_copy16_async(at, kc + row, valid);
        herd_copy16_async(at + HERD_GQAT2_KEYS * 128, vc + row, valid);
    }
    herd_copy16_commit();
}

// The slot of key j0 + lane % 16 for herd_gqat2_gather (0 past hi).
__device__ __forceinline__ int herd_gqat2_slot(const int *list, int j0, int hi, int lane) {
    const int j = j0 + (lane & 15);
    return j < hi ? list[j] : 0;
}

template <bool EXACT>
__device__ __forceinline__ void herd_gqat2_store(unsigned *dst, float x0, float x1) {
    unsigned b0, s0, b1, s1;
    herd_gqat2_split<EXACT>(x0, b0, s0);
    herd_gqat2_split<EXACT>(x1, b1, s1);
    if (EXACT) *(uint4 *)dst = make_uint4(b0, b1, s0, s1);
    else *(uint2 *)dst = make_uint2(b0, b1);
}

template <bool EXACT>
__device__ __forceinline__ void herd_gqat2_tiles(const float *q, const float *kc, const float *vc, const int *slots, const int *row_info,
                                                 const int *tiles, float *out, int heads, int kv_heads, float scale, int ldq, int ldo,
                                                 int kv_width) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    (void)q; (void)kc; (void)vc; (void)slots; (void)row_info; (void)tiles; (void)out; (void)heads; (void)kv_heads;
    (void)scale; (void)ldq; (void)ldo; (void)kv_width;
#else
    constexpr int W = EXACT ? 4 : 2;  // words per fragment vector
    constexpr int NT = HERD_GQAT2_KEYS / 8;  // key tiles per step
    // s_k: [key tile nt][k step ks][lane][W], b0 = K[8 nt + g][8 ks + c], b1 = K[..][8 ks + c + 4];
    // s_v: [key tile ks][dimension tile dt][lane][W], b0 = V[8 ks + 2c][8 dt + g], b1 = V[8 ks + 2c + 1][8 dt + g].
    __shared__ __align__(16) unsigned s_k[NT * 16 * 32 * W];
    __shared__ __align__(16) unsigned s_v[NT * 16 * 32 * W];
    __shared__ __align__(16) float s_stage[2 * HERD_GQAT2_KEYS * 128];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, g = lane >> 2, c = lane & 3;
    const int kvh = blockIdx.y, group = heads / kv_heads;
    const int first = tiles[2 * blockIdx.x], rows = tiles[2 * blockIdx.x + 1], nqv = rows * group;
    const int *list = slots + row_info[3 * first];
    int lo, hi;  // the keys any row of the tile reads
    herd_gqat_tile_keys(row_info, first, rows, lo, hi);
    // The first step's gather runs while Q loads.
    if (lo < hi)
        herd_gqat2_gather(s_stage, kc, vc, herd_gqat2_slot(list, lo, hi, lane), min(hi - lo, HERD_GQAT2_KEYS), kvh, kv_width, warp, lane);
    int next_slot = herd_gqat2_slot(list, lo + HERD_GQAT2_KEYS, hi, lane);  // the second step's
    int vstart[2], vend[2], wlo, whi;
    herd_gqat_vector_contexts(row_info, first, group, nqv, warp, g, vstart, vend, wlo, whi);
    // Q as A fragments, split once (plain TF32: qs stays unused). qrow: this lane's two vectors (C rows g, g + 8).
    const float *qrow[2];
#pragma unroll
    for (int e = 0; e < 2; e++) {
        const int v = warp * 16 + g + 8 * e;
        qrow[e] = v < nqv ? q + (long)(first + v / group) * ldq + (long)(kvh * group + v % group) * 128 : nullptr;
    }
    unsigned qb[16][4], qs[16][4];
#pragma unroll
    for (int ks = 0; ks < 16; ks++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float *qr = qrow[e & 1];
            const float x = qr != nullptr ? qr[8 * ks + c + 4 * (e >> 1)] : 0.0f;
            herd_gqat2_split<EXACT>(x, qb[ks][e], qs[ks][e]);
        }
    float o[16][4];
#pragma unroll
    for (int dt = 0; dt < 16; dt++)
#pragma unroll
        for (int e = 0; e < 4; e++) o[dt][e] = 0.0f;
    float m[2] = {HERD_NEG_INF, HERD_NEG_INF}, l[2] = {0.0f, 0.0f};
    for (int j0 = lo; j0 < hi; j0 += HERD_GQAT2_KEYS) {
        const int n = hi - j0 < HERD_GQAT2_KEYS ? hi - j0 : HERD_GQAT2_KEYS;
        herd_copy16_wait<0>();
        __syncthreads();  // this step's staging has landed (every thread's copies); the last step's products are done
        // Split the staging tile into the fragment tiles: vector i = 128 r + 32 warp + lane, i / 32 = 4 r + warp:
        // K (nt, ks) = (r / 4, 4 (r % 4) + warp), key 8 nt + g, dimensions 8 ks + c (+ 4) in chunks 2 ks (+ 1), at
        // chunk 2 ks ^ g = 8 (r % 4) + (2 warp ^ g); V (ks, dt) = (r / 4, 4 (r % 4) + warp), keys 8 ks + 2c (+ 1),
        // dimension 8 dt + g in chunk 2 dt + g / 4, at chunk 8 (r % 4) + ((2 warp + g / 4) ^ (2c (+ 1))). The
        // bases below and constant offsets (nothing per r for the compiler to keep in registers).
        {
            const float *k0 = s_stage + g * 128 + 4 * ((2 * warp) ^ g) + c, *k1 = s_stage + g * 128 + 4 * ((2 * warp + 1) ^ g) + c;
            const float *vs = s_stage + HERD_GQAT2_KEYS * 128 + (g & 3);
            const float *v0 = vs + 2 * c * 128 + 4 * ((2 * warp + (g >> 2)) ^ (2 * c));
            const float *v1 = vs + (2 * c + 1) * 128 + 4 * ((2 * warp + (g >> 2)) ^ (2 * c + 1));
            unsigned *dk = s_k + (32 * warp + lane) * W, *dv = s_v + (32 * warp + lane) * W;
#pragma unroll
            for (int r = 0; r < NT * 16 / 4; r++) {
                const int at = (r >> 2) * 1024 + (r & 3) * 32;
                herd_gqat2_store<EXACT>(dk + 128 * W * r, k0[at], k1[at]);
                herd_gqat2_store<EXACT>(dv + 128 * W * r, v0[at], v1[at]);
            }
        }
        __syncthreads();  // the fragment tiles are ready and the staging tile is free
        if (j0 + HERD_GQAT2_KEYS < hi) {  // the next step's gather, and the slots of the one after
            herd_gqat2_gather(s_stage, kc, vc, next_slot, min(hi - j0 - HERD_GQAT2_KEYS, HERD_GQAT2_KEYS), kvh, kv_width, warp, lane);
            next_slot = herd_gqat2_slot(list, j0 + 2 * HERD_GQAT2_KEYS, hi, lane);
        }
        if (j0 < whi && j0 + n > wlo) {  // some key of the step is in some context of this warp (same in every lane)
            // S = Q K^T in two accumulators per key tile (even and odd k steps): 2 NT independent mma chains, not NT.
            float s[NT][4], s1[NT][4];
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) s[nt][e] = s1[nt][e] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < 16; ks++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const unsigned *kp = s_k + ((nt * 16 + ks) * 32 + lane) * W;
                    unsigned bb[2], bs[2] = {0u, 0u};
                    if (EXACT) {
                        const uint4 kb = *(const uint4 *)kp;
                        bb[0] = kb.x, bb[1] = kb.y, bs[0] = kb.z, bs[1] = kb.w;
                    } else {
                        const uint2 kb = *(const uint2 *)kp;
                        bb[0] = kb.x, bb[1] = kb.y;
                    }
                    herd_gqat_mma3<EXACT>(ks & 1 ? s1[nt] : s[nt], qb[ks], qs[ks], bb, bs);
                }
            float tmax[2] = {HERD_NEG_INF, HERD_NEG_INF};
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int row = e >> 1, j = j0 + 8 * nt + 2 * c + (e & 1);
                    const float v = j >= vstart[row] && j < vend[row] ? (s[nt][e] + s1[nt][e]) * scale : HERD_NEG_INF;
                    s[nt][e] = v;
                    tmax[row] = fmaxf(tmax[row], v);
                }
            float corr[2];
            herd_gqat_softmax(s, tmax, m, l, corr);
            if (__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) {  // some row of the warp has a new maximum
#pragma unroll
                for (int dt = 0; dt < 16; dt++) {
                    o[dt][0] *= corr[0];
                    o[dt][1] *= corr[0];
                    o[dt][2] *= corr[1];
                    o[dt][3] *= corr[1];
                }
            }
#pragma unroll
            for (int ks = 0; ks < NT; ks++) {
                unsigned ab[4], as[4];
                herd_gqat2_split<EXACT>(s[ks][0], ab[0], as[0]);
                herd_gqat2_split<EXACT>(s[ks][2], ab[1], as[1]);
                herd_gqat2_split<EXACT>(s[ks][1], ab[2], as[2]);
                herd_gqat2_split<EXACT>(s[ks][3], ab[3], as[3]);
#pragma unroll
                for (int dt = 0; dt < 16; dt++) {
                    const unsigned *vp = s_v + ((ks * 16 + dt) * 32 + lane) * W;
                    unsigned bb[2], bs[2] = {0u, 0u};
                    if (EXACT) {
                        const uint4 vb = *(const uint4 *)vp;
                        bb[0] = vb.x, bb[1] = vb.y, bs[0] = vb.z, bs[1] = vb.w;
                    } else {
                        const uint2 vb = *(const uint2 *)vp;
                        bb[0] = vb.x, bb[1] = vb.y;
                    }
                    herd_gqat_mma3<EXACT>(o[dt], ab, as, bb, bs);
                }
            }
        }
    }
    herd_gqat_store(o, l, out, first, group, kvh, nqv, warp, g, c, ldo);
#endif
}
HERD_GQAT_KERNEL(herd_attention_gqa_mma2, herd_gqat2_tiles, true)
HERD_GQAT_KERNEL(herd_attention_gqa_mma2_tf32, herd_gqat2_tiles, false)
#endif  // HERD_CUDA
