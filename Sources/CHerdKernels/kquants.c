// ggml's K-quants Q4_K and Q6_K: super-blocks of 256 weights with per-sub-block scales (ggml-common.h
// layouts, ggml-quants.c formulas). Published Llama 4 GGUFs use them for most matrices.
//
// Products keep the weights in their file format (no f32 or Q8_0 copy of the model): per super-block the
// weights are unpacked once into 256 small integers and multiplied with every activation row of a tile,
// using the 8-bit activation blocks of the other quantized types (herd_block_q8, one per 32 values). A
// block's integer sums are exact, and the float part is one shared scalar expression, so the scalar and
// AVX2 paths give the same bits and every output is the same whatever the batch shape (batch invariance).
#include "kernels_internal.h"
#include <string.h>

#define QK_K 256

// Q4_K: y = d * sc[j] * q - dmin * m[j] for sub-block j of 32 (q 4 bits; sc, m 6 bits packed in 12 bytes).
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];  // sub-blocks 2i and 2i+1: low and high nibbles of bytes 32i..32i+31
} block_q4_K;
// Q6_K: y = d * sc[i / 16] * (q - 32) (q 6 bits: 4 low bits in ql, 2 high bits in qh; sc int8 per 16).
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;

_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");

int herd_is_kquant(int t) { return t == HERD_Q4_K || t == HERD_Q6_K; }

size_t herd_kquant_row_bytes(int t, int64_t k) {
    switch (t) {
    case HERD_Q4_K: return (size_t)(k / QK_K) * sizeof(block_q4_K);
    case HERD_Q6_K: return (size_t)(k / QK_K) * sizeof(block_q6_K);
    default: return 0;
    }
}

// The 6-bit scale and min of Q4_K sub-block j (ggml's get_scale_min_k4): bytes 0..3 hold scales 0..3 and
// bytes 4..7 mins 0..3 in their low 6 bits; scales/mins 4..7 take 4 bits from bytes 8..11 and their top
// 2 bits from the spare top bits of bytes 0..7.
static inline void q4_K_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// One super-block unpacked: 256 integer weights in element order, and per sub-block of 32 the factors of
// the block formula. Q4_K: y = scale[j] * q - offset[j] with q in 0..15. Q6_K: y = d * sc16[i / 16] * q with
// q in -32..31 (the per-16 scales are kept as integers so a 32-block's two halves sum exactly).
typedef struct {
    int8_t q[QK_K];
    float scale[8], offset[8];  // Q4_K: d * sc[j], dmin * m[j]
    float d;                    // Q6_K
    int sc16[16];               // Q6_K
} unpacked;

static void unpack_q4_K(const block_q4_K *b, unpacked *u) {
    const float d = herd_f16_to_f32(b->d), dmin = herd_f16_to_f32(b->dmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        q4_K_scale_min(j, b->scales, &sc, &m);
        u->scale[j] = d * sc;
        u->offset[j] = dmin * m;
    }
    for (int i = 0; i < 4; i++) {
        const uint8_t *qs = b->qs + 32 * i;
        for (int l = 0; l < 32; l++) {
            u->q[64 * i + l] = (int8_t)(qs[l] & 0xF);
            u->q[64 * i + 32 + l] = (int8_t)(qs[l] >> 4);
        }
    }
}

static void unpack_q6_K(const block_q6_K *b, unpacked *u) {
    u->d = herd_f16_to_f32(b->d);
    for (int i = 0; i < 16; i++) u->sc16[i] = b->scales[i];
    // Each half of 128: ql bytes 0..63 and qh bytes 0..31 of that half give four runs of 32 elements.
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *q = u->q + 128 * h;
        for (int l = 0; l < 32; l++) {
            q[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

#ifdef HERD_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))
// The integer part of unpack_q4_K / unpack_q6_K, 32 bytes at a time (same values).
AVX2 static void unpack_q4_K_avx2(const block_q4_K *b, unpacked *u) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
    for (int i = 0; i < 4; i++) {
        const __m256i qs = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * i));
        _mm256_storeu_si256((__m256i *)(u->q + 64 * i), _mm256_and_si256(qs, low4));
        _mm256_storeu_si256((__m256i *)(u->q + 64 * i + 32), _mm256_and_si256(_mm256_srli_epi16(qs, 4), low4));
    }
}

AVX2 static void unpack_q6_K_avx2(const block_q6_K *b, unpacked *u) {
    const __m256i low4 = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        // high bits 2r..2r+1 of qh moved to bits 4..5 (16-bit shifts; the masks drop what crosses bytes)
        const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), two), h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 2), two);
        const __m256i h2 = _mm256_and_si256(qh, two), h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), two);
        int8_t *q = u->q + 128 * h;
        _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l0, low4), h0), bias));
        _mm256_storeu_si256((__m256i *)(q + 32), _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l1, low4), h1), bias));
        _mm256_storeu_si256((__m256i *)(q + 64), _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), h2), bias));
        _mm256_storeu_si256((__m256i *)(q + 96), _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), h3), bias));
    }
}
#endif

// The scales go through the scalar code either way (a few values per block); simd picks the integer unpack.
static void unpack(int t, const void *block, unpacked *u, int simd) {
#ifdef HERD_X86
    if (simd) {
        if (t == HERD_Q4_K) {
            const block_q4_K *b = block;
            const float d = herd_f16_to_f32(b->d), dmin = herd_f16_to_f32(b->dmin);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                q4_K_scale_min(j, b->scales, &sc, &m);
                u->scale[j] = d * sc;
                u->offset[j] = dmin * m;
            }
            unpack_q4_K_avx2(b, u);
        } else {
            const block_q6_K *b = block;
            u->d = herd_f16_to_f32(b->d);
            for (int i = 0; i < 16; i++) u->sc16[i] = b->scales[i];
            unpack_q6_K_avx2(b, u);
        }
        return;
    }
#endif
    (void)simd;
    if (t == HERD_Q4_K) unpack_q4_K(block, u);
    else unpack_q6_K(block, u);
}

// The f32 weights of an unpacked block, with ggml's operation order ((d * sc) * q - dmin * m for Q4_K,
// (d * sc) * q for Q6_K), so they match ggml's and gguf-py's dequantizers bit for bit.
static void dequantize_unpacked(int t, const unpacked *u, float *y) {
    if (t == HERD_Q4_K) {
        for (int i = 0; i < QK_K; i++) y[i] = u->scale[i / 32] * (float)u->q[i] - u->offset[i / 32];
    } else {
        for (int i = 0; i < QK_K; i++) y[i] = (u->d * (float)u->sc16[i / 16]) * (float)u->q[i];
    }
}

void herd_kquant_dequantize_row(int t, const void *row, float *out, int64_t k) {
    const size_t bb = herd_kquant_row_bytes(t, QK_K);
    if (bb == 0) { memset(out, 0, (size_t)k * 4); return; }
    unpacked u;
    for (int64_t b = 0; b < k / QK_K; b++) {
        unpack(t, (const char *)row + b * bb, &u, 0);
        dequantize_unpacked(t, &u, out + b * QK_K);
    }
}

// MARK: - integer dot products of one 32-element run

// The two 16-element halves of sum(q[i] * a[i]) for 32 int8 pairs (|q| <= 32, so nothing overflows).
static inline void dot32_scalar(const int8_t *q, const int8_t *a, int *lo, int *hi) {
    int s0 = 0, s1 = 0;
    for (int i = 0; i < 16; i++) s0 += q[i] * a[i];
    for (int i = 16; i < 32; i++) s1 += q[i] * a[i];
    *lo = s0;
    *hi = s1;
}

#ifdef HERD_X86
AVX2 static inline void dot32_avx2(const int8_t *q, const int8_t *a, int *lo, int *hi) {
    const __m256i vq = _mm256_loadu_si256((const __m256i *)q), va = _mm256_loadu_si256((const __m256i *)a);
    // |q| * (a with q's sign): unsigned x signed byte products for maddubs (q never -128 here).
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(vq, vq), _mm256_sign_epi8(va, vq));
    const __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));  // lanes 0..3: elements 0..15
    __m128i l = _mm256_castsi256_si128(p32), h = _mm256_extracti128_si256(p32, 1);
    l = _mm_hadd_epi32(l, l); l = _mm_hadd_epi32(l, l);
    h = _mm_hadd_epi32(h, h); h = _mm_hadd_epi32(h, h);
    *lo = _mm_cvtsi128_si32(l);
    *hi = _mm_cvtsi128_si32(h);
}
#endif

// One unpacked super-block times the 8 activation blocks covering it. The float expression is the same
// for both paths; only how the exact integer sums are formed differs.
static inline float block_dot(int t, const unpacked *u, const herd_block_q8 *a, int simd) {
    float acc = 0;
    for (int j = 0; j < 8; j++) {
        int lo, hi;
#ifdef HERD_X86
        if (simd) dot32_avx2(u->q + 32 * j, a[j].qs, &lo, &hi);
        else
#endif
            dot32_scalar(u->q + 32 * j, a[j].qs, &lo, &hi);
        if (t == HERD_Q4_K) {
            // sum (d*sc*q - dmin*m) * (ad*qa) = d*sc * ad * sum(q*qa) - dmin*m * s, where s = ad * sum(qa)
            acc += u->scale[j] * a[j].d * (float)(lo + hi) - u->offset[j] * a[j].s;
        } else {
            acc += u->d * a[j].d * (float)(u->sc16[2 * j] * lo + u->sc16[2 * j + 1] * hi);
        }
    }
    return acc;
}

// MARK: - matrix product

enum { ROW_TILE = 8 };  // activation rows that share one unpacked weight block

typedef struct {
    int wtype, simd, exact;
    const char *w;
    size_t wrb;
    int64_t k, n, m, ldx, ldy, per_task;
    const float *x;
    const herd_block_q8 *xq;
    float *y;
} kq_ctx;

static void kq_task(void *vctx, int task, int worker) {
    (void)worker;
    const kq_ctx *c = vctx;
    const int64_t nb = c->k / QK_K, bb = (int64_t)herd_kquant_row_bytes(c->wtype, QK_K);
    const int64_t n0 = task * c->per_task, n1 = n0 + c->per_task < c->n ? n0 + c->per_task : c->n;
    unpacked u;
    float deq[QK_K];
    for (int64_t m0 = 0; m0 < c->m; m0 += ROW_TILE) {
        const int64_t rows = c->m - m0 < ROW_TILE ? c->m - m0 : ROW_TILE;
        for (int64_t j = n0; j < n1; j++) {
            const char *row = c->w + (size_t)j * c->wrb;
            float acc[ROW_TILE] = {0};
            for (int64_t b = 0; b < nb; b++) {
                unpack(c->wtype, row + b * bb, &u, c->simd);
                if (c->exact) {
                    dequantize_unpacked(c->wtype, &u, deq);
                    for (int64_t r = 0; r < rows; r++) {
                        const float *x = c->x + (m0 + r) * c->ldx + b * QK_K;
                        float s = 0;
                        for (int i = 0; i < QK_K; i++) s += deq[i] * x[i];
                        acc[r] += s;
                    }
                } else {
                    for (int64_t r = 0; r < rows; r++)
                        acc[r] += block_dot(c->wtype, &u, c->xq + (m0 + r) * (c->k / 32) + b * 8, c->simd);
                }
            }
            for (int64_t r = 0; r < rows; r++) c->y[(m0 + r) * c->ldy + j] = acc[r];
        }
    }
}

void herd_matmul_kquant(struct herd_pool *pool, int wtype, const void *w, size_t w_row_bytes, int64_t k, int64_t n,
                        const float *x, int64_t ldx, int64_t m, float *y, int64_t ldy, void *scratch, int flags) {
    if (!herd_is_kquant(wtype) || k % QK_K != 0 || m <= 0 || n <= 0) return;
    kq_ctx c = {
        .wtype = wtype, .exact = (flags & HERD_MM_EXACT) != 0, .w = w, .wrb = w_row_bytes,
        .k = k, .n = n, .m = m, .ldx = ldx, .ldy = ldy, .x = x, .y = y,
#ifdef HERD_X86
        .simd = (flags & HERD_MM_SIMD) && herd_use_avx2(),
#endif
    };
    if (!c.exact) {
        herd_block_q8 *xq = scratch;
        for (int64_t r = 0; r < m; r++) herd_quantize_row_q8(x + r * ldx, xq + r * (k / 32), k);
        c.xq = xq;
    }
    // Enough tasks to balance the threads, whole outputs per task.
    const int threads = pool ? herd_pool_threads(pool) : 1;
    const int64_t want = (int64_t)threads * 8;
    c.per_task = (n + want - 1) / want;
    const int tasks = (int)((n + c.per_task - 1) / c.per_task);
    herd_pool_run(pool, tasks, kq_task, &c);
}
