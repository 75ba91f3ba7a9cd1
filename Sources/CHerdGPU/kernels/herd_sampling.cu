// Part of the kernel tree compiled after herd_kernels.cu (see Sources/CHerdGPU/gpu.c).
#include "vendor.h"

// Logit summaries for sampling on the device (GPUBackend+Sampling.swift; host twin: LogitSummary.host in
// Sources/Compute/LogitSummary.swift). Per row: the n best logits with their ids (logit descending, ties to
// the lower id; NaN never listed), the max, sum exp((l - max) / T) and sum exp(l - max) over the row, and the
// Gumbel-max draw argmax_i l_i / T + g_i with g_i = -log(-log(u_i)), u_i from a hash of (key, i).
//
// Two kernels: herd_logits_chunk_summary makes one record per (row, chunk of HERD_SAMPLE_CHUNK logits);
// herd_logits_merge_summary merges groups of records of a row into one, and runs until one record per row
// is left. A record is 2n + 6 floats: n values, n ids (int bits; 0x7fffffff = none), then max, sum at T,
// sum at 1, the draw's key, id (int bits) and logit. Sums are relative to the record's own max.
// Sums go through shared memory sized by blockDim (a power of two <= 1024); the argmax rounds exchange
// values within 32-lane groups first (herd_sample_block_best).

#define HERD_SAMPLE_CHUNK 4096
#define HERD_SAMPLE_NONE 0x7fffffff

// The order of candidates: larger value first, then the lower id.
__device__ __forceinline__ bool herd_sample_before(float a, int ia, float b, int ib) {
    return a > b || (a == b && ia < ib);
}

// The block's first (value, id) under herd_sample_before; every thread gets it. Groups of 32 lanes reduce
// by exchanging values, then every thread scans the groups' winners: two barriers a round instead of one
// per halving (a summary runs n rounds). herd_sample_before is a total order on distinct ids, so the winner
// does not depend on the order of comparisons. blockDim.x a multiple of 32, at most 1024.
__device__ void herd_sample_block_best(float &v, int &id, float *sv, int *si) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) {
        const float ov = herd_lanes32_xor(v, m);
        const int oi = herd_lanes32_xor(id, m);
        if (herd_sample_before(ov, oi, v, id)) {
            v = ov;
            id = oi;
        }
    }
    if ((threadIdx.x & 31) == 0) {
        sv[threadIdx.x >> 5] = v;
        si[threadIdx.x >> 5] = id;
    }
    __syncthreads();
    v = sv[0];
    id = si[0];
    for (int g = 1; g < (int)(blockDim.x >> 5); g++) {
        if (herd_sample_before(sv[g], si[g], v, id)) {
            v = sv[g];
            id = si[g];
        }
    }
    __syncthreads();
}

// Gumbel noise of token i under key, as LogitSummary.gumbelNoise: 52 bits of a SplitMix64 hash, in double.
__device__ __forceinline__ float herd_gumbel_noise(unsigned long long key, long long i) {
    const unsigned long long h = herd_mix64(key ^ herd_mix64((unsigned long long)i));
    const double u = ((double)(h >> 12) + 0.5) * 2.220446049250313080847263336181640625e-16;  // 2^-52
    return (float)(-log(-log(u)));
}

// Candidates per thread that herd_sample_top holds: HERD_SAMPLE_CHUNK over 256 threads (both kernels run
// blocks of 256, and a merge group holds at most HERD_SAMPLE_CHUNK candidates).
#define HERD_SAMPLE_OWN 16
#define HERD_SAMPLE_BATCH 8  // warp argmax rounds between the bound's updates (herd_sample_top)

// Exchanges two candidates unless a comes before b (the compare-exchange of a sort into the candidate order).
__device__ __forceinline__ void herd_sample_order(float &av, int &ai, float &bv, int &bi) {
    if (herd_sample_before(bv, bi, av, ai)) {
        const float tv = av; av = bv; bv = tv;
        const int ti = ai; ai = bi; bi = ti;
    }
}

// The n (<= 64) best of a block's candidates, into values[0..<n] and ids[0..<n] (none: -inf and
// HERD_SAMPLE_NONE). cand(j) gives the thread's j-th own candidate (value, id), j < own <= HERD_SAMPLE_OWN;
// NaN values are never taken; ids are distinct. Three steps, none with a barrier per round:
// 1. each thread sorts its own candidates in registers (a bitonic network);
// 2. each warp takes its n best by rounds of warp argmax over its lanes' heads (the winner's lane shifts
//    its list), into shared memory, stopping early once a bound shows the rest cannot make the block's n;
// 3. every listed candidate finds its rank in the block: its place in its warp's list plus, by binary
//    search, how many of each other warp's list come before it (the order is total on distinct ids), and
//    those ranked below n are written there.
// (It was n rounds of block argmax, two barriers each and a rescan by the winner: ~77 us a block.)
// sv, si: at least (blockDim / 32) x n entries.
template <typename Cand>
__device__ void herd_sample_top(Cand cand, int own, int n, float *values, float *ids, float *sv, int *si) {
    __shared__ int listed[32];  // valid entries in each warp's list
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float v[HERD_SAMPLE_OWN];
    int id[HERD_SAMPLE_OWN];
#pragma unroll
    for (int j = 0; j < HERD_SAMPLE_OWN; j++) {
        v[j] = HERD_NEG_INF;
        id[j] = HERD_SAMPLE_NONE;
        if (j < own) {
            float x; int xi;
            cand(j, x, xi);
            if (x == x) { v[j] = x; id[j] = xi; }
        }
    }
#pragma unroll
    for (int k = 2; k <= HERD_SAMPLE_OWN; k <<= 1)
#pragma unroll
        for (int j = k >> 1; j > 0; j >>= 1)
#pragma unroll
            for (int i = 0; i < HERD_SAMPLE_OWN; i++) {
                const int l = i ^ j;
                if (l > i) {
                    if ((i & k) == 0) herd_sample_order(v[i], id[i], v[l], id[l]);
                    else herd_sample_order(v[l], id[l], v[i], id[i]);
                }
            }
    float *wv = sv + warp * n;
    int *wi = si + warp * n;
    // The rank in the block of listed entry e (warp e / n, place e % n), counted until it reaches n: its
    // place in its warp's list plus, by binary search, how many of each other warp's list come before it.
    auto rank_of = [&](int e) {
        const int w = e / n;
        const float x = sv[e];
        const int xi = si[e];
        int rank = e % n;
        for (int o = 0; o < warps && rank < n; o++) {
            if (o == w) continue;
            int lo = 0, hi = listed[o];
            while (lo < hi) {
                const int mid = (lo + hi) >> 1;
                if (herd_sample_before(sv[o * n + mid], si[o * n + mid], x, xi)) lo = mid + 1;
                else hi = mid;
            }
            rank += lo;
        }
        return rank;
    };
    // Step 2 in batches of HERD_SAMPLE_BATCH rounds. After each, once n entries are listed, the n-th best of
    // them bounds the block's n best (n listed candidates come no later), so a warp whose next candidate comes
    // after that bound has listed all it can contribute and stops: most warps stop after a batch or two
    // instead of running n rounds (the rounds were most of a summary's instructions).
    __shared__ float s_bound_v;
    __shared__ int s_bound_i;
    int r = 0;
    bool open = true, bounded = false;  // the same in every lane of a warp
    float bound_v = HERD_NEG_INF;
    int bound_i = HERD_SAMPLE_NONE;
    for (int batch_end = HERD_SAMPLE_BATCH;; batch_end += HERD_SAMPLE_BATCH) {
        for (; open && r < batch_end; r++) {
            if (r >= n) { open = false; break; }
            float bv = v[0];
            int bi = id[0];
#pragma unroll
            for (int m = 16; m > 0; m >>= 1) {
                const float ov = herd_lanes32_xor(bv, m);
                const int oi = herd_lanes32_xor(bi, m);
                if (herd_sample_before(ov, oi, bv, bi)) { bv = ov; bi = oi; }
            }
            // every lane's list empty, or the best left after the bound (the same in all lanes)
            if (bi == HERD_SAMPLE_NONE || (bounded && herd_sample_before(bound_v, bound_i, bv, bi))) { open = false; break; }
            if (lane == 0) { wv[r] = bv; wi[r] = bi; }
            if (id[0] == bi) {
#pragma unroll
                for (int j = 0; j + 1 < HERD_SAMPLE_OWN; j++) { v[j] = v[j + 1]; id[j] = id[j + 1]; }
                v[HERD_SAMPLE_OWN - 1] = HERD_NEG_INF;
                id[HERD_SAMPLE_OWN - 1] = HERD_SAMPLE_NONE;
            }
        }
        if (r >= n) open = false;
        if (lane == 0) listed[warp] = r;
        if (!__syncthreads_or(open && lane == 0)) break;
        int listed_total = 0;
        for (int o = 0; o < warps; o++) listed_total += listed[o];
        if (listed_total >= n) {
            for (int e = threadIdx.x; e < warps * n; e += blockDim.x)
                if (e % n < listed[e / n] && rank_of(e) == n - 1) { s_bound_v = sv[e]; s_bound_i = si[e]; }
            __syncthreads();
            bound_v = s_bound_v;
            bound_i = s_bound_i;
            bounded = true;
        }
        __syncthreads();  // listed and the bound are read before any warp lists more
    }
    int total = 0;
    for (int o = 0; o < warps; o++) total += listed[o];
    for (int e = threadIdx.x; e < warps * n; e += blockDim.x) {
        if (e % n >= listed[e / n]) continue;
        const int rank = rank_of(e);
        if (rank < n) {
            values[rank] = sv[e];
            ids[rank] = __int_as_float(si[e]);
        }
    }
    for (int e = (total < n ? total : n) + threadIdx.x; e < n; e += blockDim.x) {
        values[e] = HERD_NEG_INF;
        ids[e] = __int_as_float(HERD_SAMPLE_NONE);
    }
    __syncthreads();  // sv and si are free again
}

struct HerdSampleChunkCand {
    const float *x;
    int start;
    __device__ void operator()(int j, float &v, int &id) const {
        const int k = threadIdx.x + j * blockDim.x;
        v = x[k];
        id = start + k;
    }
};

struct HerdSampleMergeCand {
    const float *x;
    const int *ids;
    __device__ void operator()(int j, float &v, int &id) const {
        const int k = threadIdx.x + j * blockDim.x;
        v = x[k];
        id = ids[k];
    }
};

// A record's statistics after its n values and n ids (see the layout above).
__device__ __forceinline__ void herd_sample_write_stats(float *stats, float m, float st, float s1, float gk, int gi, float gl) {
    stats[0] = m;
    stats[1] = st;
    stats[2] = s1;
    stats[3] = gk;
    stats[4] = __int_as_float(gi);
    stats[5] = gl;
}

// One record per (row, chunk). grid: (rows, chunks); block: 256. params[4 r ..< 4 r + 4] = {1/T bits (1 when
// greedy), key low, key high, draw (0: greedy, no Gumbel draw)}. logits: rows of stride ld, vocab used.
HERD_KERNEL void herd_logits_chunk_summary(const float *logits, int ld, int vocab, const int *params, int n, float *out) {
    herd_grid_sync();
    __shared__ float s_x[HERD_SAMPLE_CHUNK];
    __shared__ float s_v[1024];
    __shared__ int s_i[1024];
    const int row = blockIdx.x, chunk = blockIdx.y, t = threadIdx.x, nt = blockDim.x;
    const int start = chunk * HERD_SAMPLE_CHUNK;
    const int len = vocab - start < HERD_SAMPLE_CHUNK ? vocab - start : HERD_SAMPLE_CHUNK;
    const float *x = logits + (long)row * ld + start;
    const int *p = params + 4 * row;
    const float inv_t = __int_as_float(p[0]);
    const unsigned long long key = (unsigned long long)(unsigned int)p[1] | ((unsigned long long)(unsigned int)p[2] << 32);
    const int draw = p[3];
    float gk = HERD_NEG_INF;
    int gi = HERD_SAMPLE_NONE;
    // HERD_SAMPLE_OWN logits per thread are loaded before any is used: one wait for them all instead of one
    // per logit between the draws (the same draws, in the same order).
    for (int j0 = t; j0 < len; j0 += HERD_SAMPLE_OWN * nt) {
        float xv[HERD_SAMPLE_OWN];
#pragma unroll
        for (int c = 0; c < HERD_SAMPLE_OWN; c++) xv[c] = j0 + c * nt < len ? x[j0 + c * nt] : 0.0f;
#pragma unroll
        for (int c = 0; c < HERD_SAMPLE_OWN; c++) {
            const int j = j0 + c * nt;
            if (j >= len) break;
            const float v = xv[c];
            s_x[j] = v;
            if (draw && v == v) {
                const float k = __fadd_rn(__fmul_rn(v, inv_t), herd_gumbel_noise(key, start + j));
                if (k == k && herd_sample_before(k, start + j, gk, gi)) { gk = k; gi = start + j; }
            }
        }
    }
    // Threads past the chunk's end pad with NaN (never taken).
    for (int j = len + t; j < ((len + nt - 1) / nt) * nt; j += nt) s_x[j] = __int_as_float(0x7fc00000);
    __syncthreads();
    float *record = out + ((long)row * gridDim.y + chunk) * (2 * n + 6);
    const int own = (len + nt - 1) / nt;
    HerdSampleChunkCand cand = {s_x, start};
    herd_sample_top(cand, own, n, record, record + n, s_v, s_i);
    // The chunk's max is its first value (thread 0 wrote it; all threads read it after a barrier).
    __syncthreads();
    const float m = record[0];
    float st = 0, s1 = 0;
    if (m > HERD_NEG_INF) {
        for (int j = t; j < len; j += nt) {
            const float v = s_x[j];
            if (v == v) {
                st += expf((v - m) * inv_t);
                s1 += expf(v - m);
            }
        }
    }
    st = herd_block_sum(st, s_v);
    s1 = herd_block_sum(s1, s_v);
    herd_sample_block_best(gk, gi, s_v, s_i);
    if (t == 0) herd_sample_write_stats(record + 2 * n, m, st, s1, gk, gi, gi != HERD_SAMPLE_NONE ? s_x[gi - start] : HERD_NEG_INF);
}

// Merges each row's records in groups of 4096 / n (one block per group) into one record per group.
// grid: (rows, groups); block: 256. in: [rows, lists] records; out: [rows, groups] records.
HERD_KERNEL void herd_logits_merge_summary(const float *in, int lists, const int *params, int n, float *out) {
    herd_grid_sync();
    __shared__ float s_x[HERD_SAMPLE_CHUNK];
    __shared__ int s_id[HERD_SAMPLE_CHUNK];
    __shared__ float s_v[1024];
    __shared__ int s_i[1024];
    const int row = blockIdx.x, group = blockIdx.y, t = threadIdx.x, nt = blockDim.x;
    const int width = 2 * n + 6, per_group = HERD_SAMPLE_CHUNK / n;
    const int first = group * per_group;
    const int count = lists - first < per_group ? lists - first : per_group;
    const float *base = in + ((long)row * lists + first) * width;
    const float inv_t = __int_as_float(params[4 * row]);
    const int total = count * n, padded = ((total + nt - 1) / nt) * nt;
    // HERD_SAMPLE_OWN candidates per thread loaded together, then stored (past the end: NaN, never taken).
    for (int e0 = t; e0 < padded; e0 += HERD_SAMPLE_OWN * nt) {
        float xv[HERD_SAMPLE_OWN];
        int iv[HERD_SAMPLE_OWN];
#pragma unroll
        for (int c = 0; c < HERD_SAMPLE_OWN; c++) {
            const int e = e0 + c * nt, list = e / n, k = e % n;
            xv[c] = e < total ? base[(long)list * width + k] : __int_as_float(0x7fc00000);
            iv[c] = e < total ? __float_as_int(base[(long)list * width + n + k]) : HERD_SAMPLE_NONE;
        }
#pragma unroll
        for (int c = 0; c < HERD_SAMPLE_OWN; c++) {
            const int e = e0 + c * nt;
            if (e < padded) {
                s_x[e] = xv[c];
                s_id[e] = iv[c];
            }
        }
    }
    __syncthreads();
    float *record = out + ((long)row * gridDim.y + group) * width;
    HerdSampleMergeCand cand = {s_x, s_id};
    herd_sample_top(cand, padded / nt, n, record, record + n, s_v, s_i);
    // The records' statistics go to shared memory (s_x is free again) by all threads at once, so thread 0's
    // loops below wait on no global load (they did, one after another: ~40 us a one-request merge). Groups
    // of more records than fit (n < 6) read them where they are.
    const bool staged = count * 6 <= HERD_SAMPLE_CHUNK;
    if (staged)
        for (int e = t; e < count * 6; e += nt) s_x[e] = base[(long)(e / 6) * width + 2 * n + e % 6];
    __syncthreads();
    if (t == 0) {
        // max, rescaled sums and the best draw over the group's records
        float m = HERD_NEG_INF;
        for (int l = 0; l < count; l++) m = fmaxf(m, staged ? s_x[6 * l] : base[(long)l * width + 2 * n]);
        float st = 0, s1 = 0, gk = HERD_NEG_INF, gl = HERD_NEG_INF;
        int gi = HERD_SAMPLE_NONE;
        for (int l = 0; l < count; l++) {
            const float *stats = staged ? s_x + 6 * l : base + (long)l * width + 2 * n;
            if (stats[0] > HERD_NEG_INF) {
                st += stats[1] * expf((stats[0] - m) * inv_t);
                s1 += stats[2] * expf(stats[0] - m);
            }
            const int id = __float_as_int(stats[4]);
            if (id != HERD_SAMPLE_NONE && herd_sample_before(stats[3], id, gk, gi)) {
                gk = stats[3];
                gi = id;
                gl = stats[5];
            }
        }
        herd_sample_write_stats(record + 2 * n, m, st, s1, gk, gi, gl);
    }
}
