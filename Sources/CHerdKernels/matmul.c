// Whole matrix products on the thread pool: activation quantization, the split of rows and outputs into
// tasks, and the AVX-512 VNNI microkernels (several activation rows per unpacked weight block).
//
// Batch invariance: every (row, output) dot product runs the same instruction sequence whatever the number
// of rows, the row's place in the batch, the tile it falls in and the thread that runs it. Integer block
// sums are exact; the float accumulation per row follows a fixed order (one accumulator pair per row, pairs
// of blocks in order, a fixed final reduction). The R-row microkernel is one always-inlined body in which
// row r only ever touches its own accumulators, so R = 1..4 give identical bits.
#include "kernels_internal.h"
#include <math.h>
#include <string.h>
#include <stdlib.h>

// Activations for the VNNI kernels: per row, per pair of weight blocks (2p, 2p+1), the 64 quantized values
// laid out to match the unpacked weight register, and per 32-bit lane of that register the activation
// scale `d` and `s` = d * sum(q) / 8 (eight lanes per block, so the lanes of a block sum to d * sum(q)).
//   q4 layout (Q4_0/Q4_1 weights): bytes [a(2p) 0..15 | a(2p+1) 0..15 | a(2p) 16..31 | a(2p+1) 16..31], signed.
//   q8 layout (Q8_0 weights): bytes [a(2p) 0..31 | a(2p+1) 0..31] stored as q + 128 (unsigned).
// A missing last block (odd block count) is zero.
typedef struct { int8_t qs[64]; float d[16]; float s[16]; } herd_a8x2;

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t herd_matmul_scratch_bytes(int64_t k, int64_t m) {
    const int64_t nb = k / 32, np = (nb + 1) / 2;
    return max_sz((size_t)(m * nb) * sizeof(herd_block_q8), (size_t)(m * np) * sizeof(herd_a8x2)) + 64;
}

// MARK: - dispatch

static int have_vnni = -1;

static int use_vnni(void) {
#ifdef HERD_X86
    if (have_vnni < 0) {
        __builtin_cpu_init();
        have_vnni = herd_use_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vnni");
        const char *off = getenv("HERD_NO_AVX512");  // for comparisons: force the AVX2 kernels
        if (off && *off && *off != '0') have_vnni = 0;
    }
    return have_vnni;
#else
    return 0;
#endif
}

int herd_use_avx512(void) { return use_vnni(); }

enum { PATH_SCALAR, PATH_AVX2, PATH_VNNI };

static int pick_path(int flags) {
    if (!(flags & HERD_MM_SIMD)) return PATH_SCALAR;
    if (use_vnni()) return PATH_VNNI;
    return herd_use_avx2() ? PATH_AVX2 : PATH_SCALAR;
}

const char *herd_matmul_isa(int allow_simd) {
    switch (pick_path(allow_simd ? HERD_MM_SIMD : 0)) {
    case PATH_VNNI: return "avx512vnni";
    case PATH_AVX2: return "avx2";
    default: return "scalar";
    }
}

// MARK: - AVX-512 VNNI

#ifdef HERD_X86
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#ifndef VNNI_ROWS
#define VNNI_ROWS 8  // activation rows per microkernel call (row tiles of up to this many)
#endif

// One block of 32 floats -> 32 int8 (same arithmetic as herd_quantize_row_q8: d = amax / 127,
// q = round-to-nearest-even(v * (1 / d))). Returns d; *sum = sum of q.
VNNI INLINE float quant_block_512(const float *v, __m128i *lo, __m128i *hi, int *sum) {
    __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
    __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
    __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    *lo = _mm512_cvtepi32_epi8(q0);
    *hi = _mm512_cvtepi32_epi8(q1);
    return d;
}

VNNI static void quantize_row_x2(const float *x, herd_a8x2 *out, int64_t nb, int q8_layout) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int64_t p = 0; p < (nb + 1) / 2; p++) {
        herd_a8x2 *o = out + p;
        for (int half = 0; half < 2; half++) {
            const int64_t i = 2 * p + half;
            __m128i lo = _mm_setzero_si128(), hi = _mm_setzero_si128();
            float d = 0, s = 0;
            if (i < nb) {
                int sum;
                d = quant_block_512(x + i * 32, &lo, &hi, &sum);
                s = d * (float)sum * 0.125f;
            }  // a missing block stays q = 0 (its weights are read as zero too)
            if (q8_layout) {
                _mm_storeu_si128((__m128i *)(o->qs + 32 * half), _mm_xor_si128(lo, flip));
                _mm_storeu_si128((__m128i *)(o->qs + 32 * half + 16), _mm_xor_si128(hi, flip));
                _mm256_storeu_ps(o->d + 8 * half, _mm256_set1_ps(d));
                _mm256_storeu_ps(o->s + 8 * half, _mm256_set1_ps(s));
            } else {
                _mm_storeu_si128((__m128i *)(o->qs + 16 * half), lo);
                _mm_storeu_si128((__m128i *)(o->qs + 32 + 16 * half), hi);
                _mm_storeu_ps(o->d + 4 * half, _mm_set1_ps(d));
                _mm_storeu_ps(o->d + 8 + 4 * half, _mm_set1_ps(d));
                _mm_storeu_ps(o->s + 4 * half, _mm_set1_ps(s));
                _mm_storeu_ps(o->s + 8 + 4 * half, _mm_set1_ps(s));
            }
        }
    }
}

// The sum of a vector's 16 lanes by one fixed tree: per 128-bit lane (e0 + e2) + (e1 + e3), then
// (L0 + L1) + (L2 + L3). reduce8_tree computes the same tree for 8 vectors at once (transposed), so a row's
// output has the same bits whichever of the two sums it.
VNNI INLINE float hsum_tree(__m512 v) {
    __m512 a = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
    __m512 b = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512 c = _mm512_add_ps(b, _mm512_shuffle_f32x4(b, b, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512 d = _mm512_add_ps(c, _mm512_shuffle_f32x4(c, c, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_cvtss_f32(d);
}

VNNI INLINE void reduce8_tree(const __m512 *v, float *out) {
    __m512 s[4], t[2];
    for (int i = 0; i < 4; i++)
        s[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++) {
        __m512d a = _mm512_castps_pd(s[2 * i]), b = _mm512_castps_pd(s[2 * i + 1]);
        t[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 r = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
    _mm_storeu_ps(out, _mm512_castps512_ps128(r));
    _mm_storeu_ps(out + 4, _mm512_extractf32x4_ps(r, 2));
}

// Writes the R rows' sums to y[r * ldy].
VNNI INLINE void store_sums(__m512 *acc, const int R, float *y, int64_t ldy) {
    if (R <= 2) {
        for (int r = 0; r < R; r++) y[r * ldy] = hsum_tree(acc[r]);
        return;
    }
    __m512 v[8];
    float out[8];
    for (int r = 0; r < 8; r++) v[r] = r < R ? acc[r] : _mm512_setzero_ps();
    reduce8_tree(v, out);
    for (int r = 0; r < R; r++) y[r * ldy] = out[r];
}

// Writes the sums of C (<= 4) vectors to y[0..C): the hsum_tree of each, four at a time (transposed).
VNNI INLINE void store_cols(__m512 *acc, const int C, float *y) {
    if (C == 1) { y[0] = hsum_tree(acc[0]); return; }
    __m512 v[4];
    for (int c = 0; c < 4; c++) v[c] = c < C ? acc[c] : _mm512_setzero_ps();
    __m512 s0 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
    __m512 s1 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
    __m512d a = _mm512_castps_pd(s0), b = _mm512_castps_pd(s1);
    __m512 t = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    __m512 u = _mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512 r = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(1, 0, 3, 2)));
    if (C == 4) { _mm_storeu_ps(y, _mm512_castps512_ps128(r)); return; }
    float out[4];
    _mm_storeu_ps(out, _mm512_castps512_ps128(r));
    for (int c = 0; c < C; c++) y[c] = out[c];
}

// Unpacked nibbles of blocks b0, b1 (b1 NULL: zero) in the q4 layout.
VNNI INLINE __m512i unpack_q4_pair(const uint8_t *qs0, const uint8_t *qs1) {
    __m128i q0 = _mm_loadu_si128((const __m128i *)qs0);
    __m128i q1 = qs1 ? _mm_loadu_si128((const __m128i *)qs1) : _mm_setzero_si128();
    __m256i t = _mm256_set_m128i(q1, q0);
    __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
    return _mm512_and_si512(b, _mm512_set1_epi8(0x0f));
}

// Pair p of blocks of a Q4_0 / Q4_1 weight row: the unpacked nibbles (q4 layout), and per 32-bit lane the
// block's scale `dw` and offset `mw` (Q4_0: -8 d).
VNNI INLINE void load_q4_pair(const void *wrow, int q4_1, int64_t nb, int64_t p, __m512i *wq, __m512 *dw, __m512 *mw) {
    const __m512i idx_lo = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i idx_d1 = _mm512_set_epi32(2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0);
    const __m512i idx_m1 = _mm512_set_epi32(3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1);
    const int two = 2 * p + 1 < nb;
    if (q4_1) {
        const block_q4_1 *b = (const block_q4_1 *)wrow + 2 * p;
        *wq = unpack_q4_pair(b[0].qs, two ? b[1].qs : NULL);
        uint32_t dm0, dm1 = 0;
        memcpy(&dm0, &b[0], 4);
        if (two) memcpy(&dm1, &b[1], 4);
        __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)dm1 << 32 | dm0))));
        *dw = _mm512_permutexvar_ps(idx_d1, f);
        *mw = _mm512_permutexvar_ps(idx_m1, f);
    } else {
        const block_q4_0 *b = (const block_q4_0 *)wrow + 2 * p;
        *wq = unpack_q4_pair(b[0].qs, two ? b[1].qs : NULL);
        uint32_t d01 = (uint32_t)b[0].d | (two ? (uint32_t)b[1].d << 16 : 0);
        __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d01)));
        *dw = _mm512_permutexvar_ps(idx_lo, f);
        *mw = _mm512_mul_ps(*dw, _mm512_set1_ps(-8.0f));
    }
}

// One pair of blocks of weights times one activation row, into that row's two accumulators.
VNNI INLINE void step_q4(__m512i wq, __m512 dw, __m512 mw, const herd_a8x2 *ap, __m512 *accd, __m512 *accm) {
    __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, _mm512_loadu_si512(ap->qs));
    __m512 sc = _mm512_mul_ps(dw, _mm512_loadu_ps(ap->d));
    *accd = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, *accd);
    *accm = _mm512_fmadd_ps(mw, _mm512_loadu_ps(ap->s), *accm);
}

// Q4_0 / Q4_1 weight row times R activation rows (a: R rows, `as` pairs apart). One pair of blocks per step.
VNNI INLINE void kernel_q4(const void *wrow, int q4_1, int64_t nb, const herd_a8x2 *a, int64_t as,
                           const int R, float *y, int64_t ldy) {
    __m512 accd[VNNI_ROWS], accm[VNNI_ROWS];
    for (int r = 0; r < R; r++) { accd[r] = _mm512_setzero_ps(); accm[r] = _mm512_setzero_ps(); }
    const int64_t np = (nb + 1) / 2;
    for (int64_t p = 0; p < np; p++) {
        __m512i wq;
        __m512 dw, mw;
        load_q4_pair(wrow, q4_1, nb, p, &wq, &dw, &mw);
        for (int r = 0; r < R; r++) step_q4(wq, dw, mw, a + r * as + p, &accd[r], &accm[r]);
    }
    for (int r = 0; r < R; r++) accd[r] = _mm512_add_ps(accd[r], accm[r]);
    store_sums(accd, R, y, ldy);
}

// One activation row times C (<= 4) consecutive weight rows, `wrb` bytes apart: per output exactly the
// arithmetic of kernel_q4 with R = 1 (the sums by the same tree), but C independent chains of additions, so
// a single decoded token is not bound by the latency of one chain.
VNNI INLINE void kernel_q4_cols(const char *w, size_t wrb, int q4_1, int64_t nb, const herd_a8x2 *a,
                                const int C, float *y) {
    __m512 accd[4], accm[4];
    for (int c = 0; c < C; c++) { accd[c] = _mm512_setzero_ps(); accm[c] = _mm512_setzero_ps(); }
    const int64_t np = (nb + 1) / 2;
    for (int64_t p = 0; p < np; p++) {
        for (int c = 0; c < C; c++) {
            __m512i wq;
            __m512 dw, mw;
            load_q4_pair(w + (size_t)c * wrb, q4_1, nb, p, &wq, &dw, &mw);
            step_q4(wq, dw, mw, a + p, &accd[c], &accm[c]);
        }
    }
    for (int c = 0; c < C; c++) accd[c] = _mm512_add_ps(accd[c], accm[c]);
    store_cols(accd, C, y);
}

// Pair p of blocks of a Q8_0 weight row: the values, -128 * (their sum) per lane (see kernel_q8), the scales.
VNNI INLINE void load_q8_pair(const void *wrow, int64_t nb, int64_t p, __m512i *wq, __m512i *neg, __m512 *dw) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i c128 = _mm512_set1_epi8((char)0x80);
    const int two = 2 * p + 1 < nb;
    const block_q8_0 *b = (const block_q8_0 *)wrow + 2 * p;
    __m256i w0 = _mm256_loadu_si256((const __m256i *)b[0].qs);
    __m256i w1 = two ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
    *wq = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
    *neg = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, *wq));
    uint32_t d01 = (uint32_t)b[0].d | (two ? (uint32_t)b[1].d << 16 : 0);
    *dw = _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d01))));
}

VNNI INLINE void step_q8(__m512i wq, __m512i neg, __m512 dw, const herd_a8x2 *ap, __m512 *acc) {
    __m512i is = _mm512_dpbusd_epi32(neg, _mm512_loadu_si512(ap->qs), wq);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dw, _mm512_loadu_ps(ap->d)), *acc);
}

// Q8_0 weight row times R activation rows (q8 layout: a + 128 unsigned; the 128 * sum(w) it adds is
// subtracted by starting each lane's integer sum at -128 * sum(w)).
VNNI INLINE void kernel_q8(const void *wrow, int64_t nb, const herd_a8x2 *a, int64_t as, const int R,
                           float *y, int64_t ldy) {
    __m512 acc[VNNI_ROWS];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    const int64_t np = (nb + 1) / 2;
    for (int64_t p = 0; p < np; p++) {
        __m512i wq, neg;
        __m512 dw;
        load_q8_pair(wrow, nb, p, &wq, &neg, &dw);
        for (int r = 0; r < R; r++) step_q8(wq, neg, dw, a + r * as + p, &acc[r]);
    }
    store_sums(acc, R, y, ldy);
}

// kernel_q8 with R = 1 for C (<= 4) consecutive weight rows (as kernel_q4_cols).
VNNI INLINE void kernel_q8_cols(const char *w, size_t wrb, int64_t nb, const herd_a8x2 *a, const int C, float *y) {
    __m512 acc[4];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    const int64_t np = (nb + 1) / 2;
    for (int64_t p = 0; p < np; p++) {
        for (int c = 0; c < C; c++) {
            __m512i wq, neg;
            __m512 dw;
            load_q8_pair(w + (size_t)c * wrb, nb, p, &wq, &neg, &dw);
            step_q8(wq, neg, dw, a + p, &acc[c]);
        }
    }
    store_cols(acc, C, y);
}

#define KERNEL_VARIANTS(R)                                                                                   \
    VNNI static void kq4_1_##R(const void *w, int64_t nb, const herd_a8x2 *a, int64_t as, float *y, int64_t ldy) { \
        kernel_q4(w, 1, nb, a, as, R, y, ldy);                                                               \
    }                                                                                                        \
    VNNI static void kq4_0_##R(const void *w, int64_t nb, const herd_a8x2 *a, int64_t as, float *y, int64_t ldy) { \
        kernel_q4(w, 0, nb, a, as, R, y, ldy);                                                               \
    }                                                                                                        \
    VNNI static void kq8_0_##R(const void *w, int64_t nb, const herd_a8x2 *a, int64_t as, float *y, int64_t ldy) { \
        kernel_q8(w, nb, a, as, R, y, ldy);                                                                  \
    }
KERNEL_VARIANTS(1)
KERNEL_VARIANTS(2)
KERNEL_VARIANTS(3)
KERNEL_VARIANTS(4)
KERNEL_VARIANTS(5)
KERNEL_VARIANTS(6)
KERNEL_VARIANTS(7)
KERNEL_VARIANTS(8)

typedef void (*vnni_kernel)(const void *, int64_t, const herd_a8x2 *, int64_t, float *, int64_t);
static const vnni_kernel kernels_q4_1[9] = {NULL, kq4_1_1, kq4_1_2, kq4_1_3, kq4_1_4, kq4_1_5, kq4_1_6, kq4_1_7, kq4_1_8};
static const vnni_kernel kernels_q4_0[9] = {NULL, kq4_0_1, kq4_0_2, kq4_0_3, kq4_0_4, kq4_0_5, kq4_0_6, kq4_0_7, kq4_0_8};
static const vnni_kernel kernels_q8_0[9] = {NULL, kq8_0_1, kq8_0_2, kq8_0_3, kq8_0_4, kq8_0_5, kq8_0_6, kq8_0_7, kq8_0_8};

// One activation row, four weight rows per call (`wrb` bytes apart); the tail of a chunk goes one by one.
VNNI static void cols4_q4_1(const char *w, size_t wrb, int64_t nb, const herd_a8x2 *a, float *y) { kernel_q4_cols(w, wrb, 1, nb, a, 4, y); }
VNNI static void cols4_q4_0(const char *w, size_t wrb, int64_t nb, const herd_a8x2 *a, float *y) { kernel_q4_cols(w, wrb, 0, nb, a, 4, y); }
VNNI static void cols4_q8_0(const char *w, size_t wrb, int64_t nb, const herd_a8x2 *a, float *y) { kernel_q8_cols(w, wrb, nb, a, 4, y); }
#endif

// MARK: - the driver

typedef struct {
    int wtype, path;
    int64_t k, m, nb;
    const float *x;
    int64_t ldx;
    void *xq;             // quantized activations (NULL: float or exact path)
    int64_t rows_per_q;   // quantization task size
    int n_outs;
    herd_mm_out outs[HERD_MM_MAX_OUTS];
    int64_t first_chunk[HERD_MM_MAX_OUTS + 1];  // output chunks of matrix o: first_chunk[o] ..< first_chunk[o + 1]
    int64_t nc, mc, m_chunks;
} mm_ctx;

static void quantize_task(void *vctx, int t, int worker) {
    (void)worker;
    mm_ctx *c = vctx;
    const int64_t r0 = t * c->rows_per_q, r1 = r0 + c->rows_per_q < c->m ? r0 + c->rows_per_q : c->m;
#ifdef HERD_X86
    if (c->path == PATH_VNNI) {
        const int64_t np = (c->nb + 1) / 2;
        for (int64_t r = r0; r < r1; r++)
            quantize_row_x2(c->x + r * c->ldx, (herd_a8x2 *)c->xq + r * np, c->nb, c->wtype == HERD_Q8_0);
        return;
    }
#endif
    for (int64_t r = r0; r < r1; r++) herd_quantize_row_q8(c->x + r * c->ldx, (herd_block_q8 *)c->xq + r * c->nb, c->k);
}

static void matmul_task(void *vctx, int t, int worker) {
    (void)worker;
    mm_ctx *c = vctx;
    const int64_t ni = t / c->m_chunks, mi = t % c->m_chunks;
    int o = 0;
    while (ni >= c->first_chunk[o + 1]) o++;
    const herd_mm_out *out = &c->outs[o];
    const char *w = out->w;
    const size_t wrb = out->row_bytes;
    const int64_t n0 = (ni - c->first_chunk[o]) * c->nc, n1 = n0 + c->nc < out->n ? n0 + c->nc : out->n;
    const int64_t m0 = mi * c->mc, m1 = m0 + c->mc < c->m ? m0 + c->mc : c->m;
#ifdef HERD_X86
    if (c->path == PATH_VNNI && c->xq) {
        const int64_t np = (c->nb + 1) / 2;
        const vnni_kernel *ks = c->wtype == HERD_Q4_1 ? kernels_q4_1 : c->wtype == HERD_Q4_0 ? kernels_q4_0 : kernels_q8_0;
        for (int64_t r = m0; r < m1; r += VNNI_ROWS) {
            const int64_t R = m1 - r < VNNI_ROWS ? m1 - r : VNNI_ROWS;
            const herd_a8x2 *a = (const herd_a8x2 *)c->xq + r * np;
            float *y = out->y + r * out->ldy;
            int64_t j = n0;
            if (R == 1) {  // one row (decode of one sequence): four weight rows at a time
                void (*cols4)(const char *, size_t, int64_t, const herd_a8x2 *, float *) =
                    c->wtype == HERD_Q4_1 ? cols4_q4_1 : c->wtype == HERD_Q4_0 ? cols4_q4_0 : cols4_q8_0;
                for (; j + 4 <= n1; j += 4) cols4(w + (size_t)j * wrb, wrb, c->nb, a, y + j);
            }
            const vnni_kernel kern = ks[R];
            for (; j < n1; j++) kern(w + (size_t)j * wrb, c->nb, a, np, y + j, out->ldy);
        }
        return;
    }
#endif
    const herd_block_q8 *xq = c->xq ? (const herd_block_q8 *)c->xq + m0 * c->nb : NULL;
    herd_matmul_rows(c->wtype, w, wrb, c->k, xq, c->x + m0 * c->ldx, c->ldx, m1 - m0,
                     out->y + m0 * out->ldy, out->ldy, n0, n1, c->path != PATH_SCALAR);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void herd_matmul_multi(herd_pool *pool, int wtype, int64_t k, const float *x, int64_t ldx, int64_t m,
                       const herd_mm_out *outs, int n_outs, void *scratch, int flags) {
    if (m <= 0 || n_outs <= 0) return;
    if (herd_is_kquant(wtype)) {  // Q4_K, Q6_K: kquants.c, one product at a time
        for (int o = 0; o < n_outs; o++)
            herd_matmul_kquant(pool, wtype, outs[o].w, outs[o].row_bytes, k, outs[o].n, x, ldx, m, outs[o].y, outs[o].ldy,
                               scratch, flags);
        return;
    }
    if (n_outs > HERD_MM_MAX_OUTS) {  // more matrices than one region holds: in groups
        herd_matmul_multi(pool, wtype, k, x, ldx, m, outs, HERD_MM_MAX_OUTS, scratch, flags);
        herd_matmul_multi(pool, wtype, k, x, ldx, m, outs + HERD_MM_MAX_OUTS, n_outs - HERD_MM_MAX_OUTS, scratch, flags);
        return;
    }
    const int threads = herd_pool_threads(pool);
    const int quantized = wtype == HERD_Q4_0 || wtype == HERD_Q4_1 || wtype == HERD_Q8_0;
    mm_ctx c = {
        .wtype = wtype, .path = pick_path(flags), .k = k, .m = m, .nb = k / 32, .x = x, .ldx = ldx, .xq = NULL,
        .n_outs = n_outs,
    };
    int64_t n_total = 0;
    for (int o = 0; o < n_outs; o++) { c.outs[o] = outs[o]; n_total += outs[o].n; }
    if (n_total <= 0) return;
    if (quantized && !(flags & HERD_MM_EXACT)) {
        c.xq = (void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        c.rows_per_q = m < 16 * threads ? (m + threads - 1) / threads : 16;
        if (c.rows_per_q < 1) c.rows_per_q = 1;
        herd_pool_run(m >= 8 ? pool : NULL, (int)ceil_div(m, c.rows_per_q), quantize_task, &c);
    }
    // Tasks: chunks of outputs x chunks of rows, enough of them to balance the threads. A chunk never spans
    // two matrices; the chunk size does not depend on which matrices share the region (only on their total).
    if (m <= 8) {
        c.mc = m;
        c.nc = ceil_div(n_total, threads * 8);
        c.nc = ceil_div(c.nc, 16) * 16;
    } else {
        c.mc = 64;
        c.nc = 64;
    }
    c.first_chunk[0] = 0;
    for (int o = 0; o < n_outs; o++) c.first_chunk[o + 1] = c.first_chunk[o] + ceil_div(outs[o].n, c.nc);
    c.m_chunks = ceil_div(m, c.mc);
    herd_pool_run(pool, (int)(c.first_chunk[n_outs] * c.m_chunks), matmul_task, &c);
}

void herd_matmul(herd_pool *pool, int wtype, const void *w, size_t w_row_bytes, int64_t k, int64_t n,
                 const float *x, int64_t ldx, int64_t m, float *y, int64_t ldy, void *scratch, int flags) {
    const herd_mm_out out = {.w = w, .row_bytes = w_row_bytes, .n = n, .y = y, .ldy = ldy};
    herd_matmul_multi(pool, wtype, k, x, ldx, m, &out, 1, scratch, flags);
}
