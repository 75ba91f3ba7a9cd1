// CPU kernels: scalar reference versions and AVX2 versions chosen at run time.
// Block layouts follow ggml (ggml-common.h): for Q4_0/Q4_1 byte j holds element j in its low nibble and
// element j + 16 in its high nibble.
#include "kernels_internal.h"
#include <math.h>
#include <string.h>

// MARK: - half and bfloat conversions

float herd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; }
        else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}

uint16_t herd_f32_to_f16(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

float herd_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f; memcpy(&f, &bits, 4); return f;
}

// MARK: - dispatch

static int have_avx2 = -1;

static int use_avx2(void) {
#ifdef HERD_X86
    if (have_avx2 < 0) {
        __builtin_cpu_init();
        have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return have_avx2;
#else
    return 0;
#endif
}

const char *herd_kernels_isa(void) { return use_avx2() ? "avx2" : "scalar"; }

int herd_use_avx2(void) { return use_avx2(); }


int herd_wtype_supported(int t) {
    return herd_is_kquant(t) || t == HERD_F32 || t == HERD_F16 || t == HERD_BF16 || t == HERD_Q4_0 || t == HERD_Q4_1 || t == HERD_Q8_0;
}

size_t herd_row_bytes(int t, int64_t k) {
    switch (t) {
    case HERD_F32: return (size_t)k * 4;
    case HERD_F16: case HERD_BF16: return (size_t)k * 2;
    case HERD_Q4_0: return (size_t)(k / 32) * sizeof(block_q4_0);
    case HERD_Q4_1: return (size_t)(k / 32) * sizeof(block_q4_1);
    case HERD_Q8_0: return (size_t)(k / 32) * sizeof(block_q8_0);
    default: return herd_kquant_row_bytes(t, k);
    }
}

// MARK: - dequantize

void herd_dequantize_row(int t, const void *row, float *out, int64_t k) {
    switch (t) {
    case HERD_F32: memcpy(out, row, (size_t)k * 4); break;
    case HERD_F16: { const uint16_t *h = row; for (int64_t i = 0; i < k; i++) out[i] = herd_f16_to_f32(h[i]); break; }
    case HERD_BF16: { const uint16_t *h = row; for (int64_t i = 0; i < k; i++) out[i] = herd_bf16_to_f32(h[i]); break; }
    case HERD_Q4_0: {
        const block_q4_0 *b = row;
        for (int64_t i = 0; i < k / 32; i++) {
            float d = herd_f16_to_f32(b[i].d);
            for (int j = 0; j < 16; j++) {
                out[i * 32 + j] = d * ((b[i].qs[j] & 0xf) - 8);
                out[i * 32 + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    case HERD_Q4_1: {
        const block_q4_1 *b = row;
        for (int64_t i = 0; i < k / 32; i++) {
            float d = herd_f16_to_f32(b[i].d), m = herd_f16_to_f32(b[i].m);
            for (int j = 0; j < 16; j++) {
                out[i * 32 + j] = d * (b[i].qs[j] & 0xf) + m;
                out[i * 32 + j + 16] = d * (b[i].qs[j] >> 4) + m;
            }
        }
        break;
    }
    case HERD_Q8_0: {
        const block_q8_0 *b = row;
        for (int64_t i = 0; i < k / 32; i++) {
            float d = herd_f16_to_f32(b[i].d);
            for (int j = 0; j < 32; j++) out[i * 32 + j] = d * b[i].qs[j];
        }
        break;
    }
    default: herd_kquant_dequantize_row(t, row, out, k);  // Q4_K, Q6_K; zeros for anything else
    }
}

// MARK: - activation quantization

void herd_quantize_row_q8(const float *x, herd_block_q8 *out, int64_t k) {
    for (int64_t i = 0; i < k / 32; i++) {
        const float *v = x + i * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) { float a = fabsf(v[j]); if (a > amax) amax = a; }
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)lrintf(v[j] * id);
            out[i].qs[j] = (int8_t)q;
            sum += q;
        }
        out[i].d = d;
        out[i].s = d * (float)sum;
    }
}

// MARK: - dot products, scalar

static float dot_q4_0_scalar(const block_q4_0 *w, const herd_block_q8 *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += (w[i].qs[j] & 0xf) * a[i].qs[j] + (w[i].qs[j] >> 4) * a[i].qs[j + 16];
        float d = herd_f16_to_f32(w[i].d);
        acc += d * (a[i].d * (float)sum - 8.0f * a[i].s);
    }
    return acc;
}

static float dot_q4_1_scalar(const block_q4_1 *w, const herd_block_q8 *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += (w[i].qs[j] & 0xf) * a[i].qs[j] + (w[i].qs[j] >> 4) * a[i].qs[j + 16];
        acc += herd_f16_to_f32(w[i].d) * a[i].d * (float)sum + herd_f16_to_f32(w[i].m) * a[i].s;
    }
    return acc;
}

static float dot_q8_0_scalar(const block_q8_0 *w, const herd_block_q8 *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += w[i].qs[j] * a[i].qs[j];
        acc += herd_f16_to_f32(w[i].d) * a[i].d * (float)sum;
    }
    return acc;
}

static float dot_float_scalar(int t, const void *w, const float *x, int64_t k) {
    float acc = 0;
    if (t == HERD_F32) { const float *f = w; for (int64_t i = 0; i < k; i++) acc += f[i] * x[i]; }
    else if (t == HERD_F16) { const uint16_t *h = w; for (int64_t i = 0; i < k; i++) acc += herd_f16_to_f32(h[i]) * x[i]; }
    else { const uint16_t *h = w; for (int64_t i = 0; i < k; i++) acc += herd_bf16_to_f32(h[i]) * x[i]; }
    return acc;
}

// MARK: - dot products, AVX2

#ifdef HERD_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 bytes of nibbles -> 32 bytes 0..15: elements 0..15 (low nibbles) then 16..31 (high nibbles).
AVX2 static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

// sum over 32 lanes of unsigned(u) * signed(s), as 8 int32 lanes converted to float.
AVX2 static inline __m256 mul_us_sum(__m256i u, __m256i s) {
    __m256i p16 = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

AVX2 static float dot_q4_0_avx2(const block_q4_0 *w, const herd_block_q8 *a, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t i = 0; i < nb; i++) {
        float d = _cvtsh_ss(w[i].d);
        __m256 p = mul_us_sum(nibbles32(w[i].qs), _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a[i].d), p, acc);
        corr += d * a[i].s;
    }
    return hsum256(acc) - 8.0f * corr;
}

AVX2 static float dot_q4_1_avx2(const block_q4_1 *w, const herd_block_q8 *a, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        __m256 p = mul_us_sum(nibbles32(w[i].qs), _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[i].d) * a[i].d), p, acc);
        mins += _cvtsh_ss(w[i].m) * a[i].s;
    }
    return hsum256(acc) + mins;
}

AVX2 static float dot_q8_0_avx2(const block_q8_0 *w, const herd_block_q8 *a, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)w[i].qs);
        __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        // |x| * (y with x's sign): unsigned x signed for maddubs.
        __m256 p = mul_us_sum(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[i].d) * a[i].d), p, acc);
    }
    return hsum256(acc);
}

AVX2 static float dot_float_avx2(int t, const void *w, const float *x, int64_t k) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    if (t == HERD_F32) {
        const float *f = w;
        for (; i + 16 <= k; i += 16) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(f + i), _mm256_loadu_ps(x + i), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(f + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
        }
    } else if (t == HERD_F16) {
        const uint16_t *h = w;
        for (; i + 16 <= k; i += 16) {
            acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))), _mm256_loadu_ps(x + i), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i + 8))), _mm256_loadu_ps(x + i + 8), acc1);
        }
    } else {
        const uint16_t *h = w;
        for (; i + 16 <= k; i += 16) {
            __m256i a = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i))), 16);
            __m256i b = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i + 8))), 16);
            acc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(a), _mm256_loadu_ps(x + i), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(b), _mm256_loadu_ps(x + i + 8), acc1);
        }
    }
    float acc = hsum256(_mm256_add_ps(acc0, acc1));
    if (i < k) {
        size_t es = t == HERD_F32 ? 4 : 2;
        acc += dot_float_scalar(t, (const char *)w + i * es, x + i, k - i);
    }
    return acc;
}
#endif

// Quantized row times f32 activations, dequantizing one block at a time (the exact path: no activation
// rounding; used to check the integer path and where precision matters more than speed).
static float dot_dequant_f32(int t, const void *row, const float *x, int64_t k) {
    float tmp[32], acc = 0;
    size_t bb = herd_row_bytes(t, 32);
    for (int64_t i = 0; i < k / 32; i++) {
        herd_dequantize_row(t, (const char *)row + i * bb, tmp, 32);
        float s = 0;
        for (int j = 0; j < 32; j++) s += tmp[j] * x[i * 32 + j];
        acc += s;
    }
    return acc;
}

// MARK: - matmul over a row range

void herd_matmul_rows(int t, const void *w, size_t w_row_bytes, int64_t k,
                      const herd_block_q8 *xq, const float *xf, int64_t ldx, int64_t m_count,
                      float *y, int64_t ldy, int64_t n_begin, int64_t n_end, int allow_simd) {
    const int64_t nb = k / 32;
    const int avx2 = allow_simd && use_avx2();
    // Tile tokens so a weight row is reused from L1 across a group of activation rows.
    const int64_t tile = 8;
    for (int64_t m0 = 0; m0 < m_count; m0 += tile) {
        const int64_t m1 = m0 + tile < m_count ? m0 + tile : m_count;
        for (int64_t n = n_begin; n < n_end; n++) {
            const void *row = (const char *)w + (size_t)n * w_row_bytes;
            for (int64_t m = m0; m < m1; m++) {
                const herd_block_q8 *a = xq ? xq + m * nb : NULL;
                float v;
                if (!a && (t == HERD_Q4_0 || t == HERD_Q4_1 || t == HERD_Q8_0)) {
                    y[m * ldy + n] = dot_dequant_f32(t, row, xf + m * ldx, k);
                    continue;
                }
#ifdef HERD_X86
                if (avx2) {
                    switch (t) {
                    case HERD_Q4_0: v = dot_q4_0_avx2(row, a, nb); break;
                    case HERD_Q4_1: v = dot_q4_1_avx2(row, a, nb); break;
                    case HERD_Q8_0: v = dot_q8_0_avx2(row, a, nb); break;
                    default: v = dot_float_avx2(t, row, xf + m * ldx, k); break;
                    }
                    y[m * ldy + n] = v;
                    continue;
                }
#endif
                (void)avx2;
                switch (t) {
                case HERD_Q4_0: v = dot_q4_0_scalar(row, a, nb); break;
                case HERD_Q4_1: v = dot_q4_1_scalar(row, a, nb); break;
                case HERD_Q8_0: v = dot_q8_0_scalar(row, a, nb); break;
                default: v = dot_float_scalar(t, row, xf + m * ldx, k); break;
                }
                y[m * ldy + n] = v;
            }
        }
    }
}

// MARK: - elementwise and attention

void herd_rms_norm(const float *x, const float *weight, float *out, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    if (weight) for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
    else for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
}

void herd_rope(float *x, int64_t heads, int64_t head_dim, float pos, const float *inv_freq, int interleaved) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float angle = pos * inv_freq[i];
        float c = cosf(angle), s = sinf(angle);
        for (int64_t h = 0; h < heads; h++) {
            float *v = x + h * head_dim;
            int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static void swiglu_scalar(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void herd_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void attention_head_scalar(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                                  const int32_t *slots, int64_t n_ctx, int64_t head_dim, float scale,
                                  float *scores, float *out) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_ctx; j++) {
        const float *k = k_base + (size_t)slots[j] * kv_stride;
        float s = 0;
        for (int64_t d = 0; d < head_dim; d++) s += q[d] * k[d];
        s *= scale;
        scores[j] = s;
        if (s > mx) mx = s;
    }
    float sum = 0;
    for (int64_t j = 0; j < n_ctx; j++) { scores[j] = expf(scores[j] - mx); sum += scores[j]; }
    float inv = sum > 0 ? 1.0f / sum : 0.0f;
    for (int64_t d = 0; d < head_dim; d++) out[d] = 0;
    for (int64_t j = 0; j < n_ctx; j++) {
        const float *v = v_base + (size_t)slots[j] * kv_stride;
        float p = scores[j] * inv;
        for (int64_t d = 0; d < head_dim; d++) out[d] += p * v[d];
    }
}

#ifdef HERD_X86
// head_dim a multiple of 8 (every llama-family model: 64, 128).
AVX2 static void attention_head_avx2(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                                     const int32_t *slots, int64_t n_ctx, int64_t head_dim, float scale,
                                     float *scores, float *out) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_ctx; j++) {
        const float *k = k_base + (size_t)slots[j] * kv_stride;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
        float s = hsum256(acc) * scale;
        scores[j] = s;
        if (s > mx) mx = s;
    }
    float sum = 0;
    for (int64_t j = 0; j < n_ctx; j++) { scores[j] = expf(scores[j] - mx); sum += scores[j]; }
    float inv = sum > 0 ? 1.0f / sum : 0.0f;
    for (int64_t d = 0; d < head_dim; d += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_ctx; j++) {
            const float *v = v_base + (size_t)slots[j] * kv_stride;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[j]), _mm256_loadu_ps(v + d), acc);
        }
        _mm256_storeu_ps(out + d, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
    }
}
#endif

void herd_attention_head(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                         const int32_t *slots, int64_t n_ctx, int64_t head_dim, float scale,
                         float *scores, float *out, int allow_simd) {
#ifdef HERD_X86
    if (allow_simd && use_avx2() && head_dim % 8 == 0) {
        attention_head_avx2(q, k_base, v_base, kv_stride, slots, n_ctx, head_dim, scale, scores, out);
        return;
    }
#endif
    attention_head_scalar(q, k_base, v_base, kv_stride, slots, n_ctx, head_dim, scale, scores, out);
}

// MARK: - grouped-query attention (one token row, one KV head, `group` query heads)

#ifdef HERD_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

// exp(x) for x <= 0 (softmax after subtracting the maximum): Cody-Waite range reduction and a degree-6
// polynomial, about 1 ulp; underflows to 0 below -87.
AVX512 static inline __m512 exp_512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// Lane j of the result = the sum of the 16 lanes of v[j], by the same tree for every j.
AVX512 static inline __m512 reduce16_512(const __m512 *v) {
    __m512 s[8], t[4];
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(s[2 * i]), b = _mm512_castps_pd(s[2 * i + 1]);
        t[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 u0 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 u1 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// out[a * ldo + 16 b + i] = inv[a] * sum_j p[a * n_ctx + j] * v_j[16 b + i] for a < GN heads, b < CN chunks.
AVX512 static inline __attribute__((always_inline))
void attn_values_512(const float *p, int64_t n_ctx, const float *v_base, size_t kv_stride, const int32_t *slots,
                     const float *inv, float *out, int64_t ldo, const int GN, const int CN) {
    __m512 acc[4][4];
    for (int a = 0; a < GN; a++) for (int b = 0; b < CN; b++) acc[a][b] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_ctx; j++) {
        const float *vv = v_base + (size_t)slots[j] * kv_stride;
        __m512 vc[4];
        for (int b = 0; b < CN; b++) vc[b] = _mm512_loadu_ps(vv + 16 * b);
        for (int a = 0; a < GN; a++) {
            const __m512 pa = _mm512_set1_ps(p[a * n_ctx + j]);
            for (int b = 0; b < CN; b++) acc[a][b] = _mm512_fmadd_ps(pa, vc[b], acc[a][b]);
        }
    }
    for (int a = 0; a < GN; a++) {
        const __m512 iv = _mm512_set1_ps(inv[a]);
        for (int b = 0; b < CN; b++) _mm512_storeu_ps(out + a * ldo + 16 * b, _mm512_mul_ps(acc[a][b], iv));
    }
}

// head_dim a multiple of 16. Scores 16 keys at a time per head; values accumulated for up to 4 heads x 64
// dims per pass over the context. Per head the arithmetic does not depend on `group`.
AVX512 static void attention_group_512(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                                       const int32_t *slots, int64_t n_ctx, int64_t head_dim, int64_t group,
                                       float scale, float *scores, float *out) {
    const int64_t chunks = head_dim / 16;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int64_t j0 = 0; j0 < n_ctx; j0 += 16) {
        const int64_t cnt = n_ctx - j0 < 16 ? n_ctx - j0 : 16;
        const __mmask16 mask = (__mmask16)((1u << cnt) - 1);
        const float *keys[16];
        for (int64_t jj = 0; jj < 16; jj++) keys[jj] = k_base + (size_t)slots[j0 + (jj < cnt ? jj : 0)] * kv_stride;
        for (int64_t g = 0; g < group; g++) {
            const float *qg = q + g * head_dim;
            __m512 v[16];
            if (chunks == 4) {
                const __m512 q0 = _mm512_loadu_ps(qg), q1 = _mm512_loadu_ps(qg + 16), q2 = _mm512_loadu_ps(qg + 32), q3 = _mm512_loadu_ps(qg + 48);
                for (int jj = 0; jj < 16; jj++) {
                    const float *k = keys[jj];
                    __m512 acc = _mm512_mul_ps(q0, _mm512_loadu_ps(k));
                    acc = _mm512_fmadd_ps(q1, _mm512_loadu_ps(k + 16), acc);
                    acc = _mm512_fmadd_ps(q2, _mm512_loadu_ps(k + 32), acc);
                    v[jj] = _mm512_fmadd_ps(q3, _mm512_loadu_ps(k + 48), acc);
                }
            } else {
                for (int jj = 0; jj < 16; jj++) {
                    const float *k = keys[jj];
                    __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qg), _mm512_loadu_ps(k));
                    for (int64_t c = 1; c < chunks; c++)
                        acc = _mm512_fmadd_ps(_mm512_loadu_ps(qg + 16 * c), _mm512_loadu_ps(k + 16 * c), acc);
                    v[jj] = acc;
                }
            }
            // Lanes past the context end hold a repeat of key 0 and are not stored.
            _mm512_mask_storeu_ps(scores + g * n_ctx + j0, mask, _mm512_mul_ps(reduce16_512(v), vscale));
        }
    }
    float inv[64];
    for (int64_t g = 0; g < group; g++) {
        float *s = scores + g * n_ctx;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        int64_t j = 0;
        for (; j + 16 <= n_ctx; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + j));
        if (j < n_ctx) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, (__mmask16)((1u << (n_ctx - j)) - 1), s + j));
        const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (j = 0; j + 16 <= n_ctx; j += 16) {
            __m512 e = exp_512(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));
            _mm512_storeu_ps(s + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        if (j < n_ctx) {
            const __mmask16 mask = (__mmask16)((1u << (n_ctx - j)) - 1);
            __m512 e = _mm512_maskz_mov_ps(mask, exp_512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), m)));
            _mm512_mask_storeu_ps(s + j, mask, e);
            sum = _mm512_add_ps(sum, e);
        }
        float total = _mm512_reduce_add_ps(sum);
        inv[g] = total > 0 ? 1.0f / total : 0.0f;
    }
    for (int64_t g0 = 0; g0 < group; g0 += 4) {
        const int64_t gn = group - g0 < 4 ? group - g0 : 4;
        for (int64_t c0 = 0; c0 < chunks; c0 += 4) {
            const int64_t cn = chunks - c0 < 4 ? chunks - c0 : 4;
            const float *p = scores + g0 * n_ctx;
            float *o = out + g0 * head_dim + 16 * c0;
            const float *vb = v_base + 16 * c0;
            switch (gn * 8 + cn) {
            case 1 * 8 + 4: attn_values_512(p, n_ctx, vb, kv_stride, slots, inv + g0, o, head_dim, 1, 4); break;
            case 2 * 8 + 4: attn_values_512(p, n_ctx, vb, kv_stride, slots, inv + g0, o, head_dim, 2, 4); break;
            case 3 * 8 + 4: attn_values_512(p, n_ctx, vb, kv_stride, slots, inv + g0, o, head_dim, 3, 4); break;
            case 4 * 8 + 4: attn_values_512(p, n_ctx, vb, kv_stride, slots, inv + g0, o, head_dim, 4, 4); break;
            default:
                for (int64_t a = 0; a < gn; a++)
                    for (int64_t b = 0; b < cn; b++)
                        attn_values_512(p + a * n_ctx, n_ctx, vb + 16 * b, kv_stride, slots, inv + g0 + a,
                                        o + a * head_dim + 16 * b, head_dim, 1, 1);
            }
        }
    }
}
#endif

void herd_attention_group(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                          const int32_t *slots, int64_t n_ctx, int64_t head_dim, int64_t group, float scale,
                          float *scores, float *out, int allow_simd) {
#ifdef HERD_X86
    if (allow_simd && group <= 64 && head_dim % 16 == 0 && herd_use_avx512()) {
        attention_group_512(q, k_base, v_base, kv_stride, slots, n_ctx, head_dim, group, scale, scores, out);
        return;
    }
#endif
    for (int64_t g = 0; g < group; g++)
        herd_attention_head(q + g * head_dim, k_base, v_base, kv_stride, slots, n_ctx, head_dim, scale,
                            scores, out + g * head_dim, allow_simd);
}

// MARK: - SwiGLU

#ifdef HERD_X86
AVX512 static void swiglu_512(const float *gate, const float *up, float *out, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), hi = _mm512_set1_ps(88.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 e = exp_512(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), g), hi));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 e = exp_512(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), g), hi));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i)));
    }
}
#endif

void herd_swiglu(const float *gate, const float *up, float *out, int64_t n) {
#ifdef HERD_X86
    if (herd_use_avx512()) { swiglu_512(gate, up, out, n); return; }
#endif
    swiglu_scalar(gate, up, out, n);
}
