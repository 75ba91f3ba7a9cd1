// Herd's CPU numeric kernels. Plain C so that they are always compiled optimised and can use SIMD
// intrinsics with run-time dispatch. Swift (ComputeCPU) owns threading and memory; these functions only
// compute on the pointers they are given and never allocate.
#ifndef CHERD_KERNELS_H
#define CHERD_KERNELS_H

#include <stdint.h>
#include <stddef.h>
#include "CHerdKQuants.h"  // Q4_K, Q6_K (kquants.c)

#ifdef __cplusplus
extern "C" {
#endif

// Weight types understood by the kernels; values are ggml type ids (see Compute.DType).
enum herd_wtype {
    HERD_F32 = 0, HERD_F16 = 1, HERD_Q4_0 = 2, HERD_Q4_1 = 3, HERD_Q8_0 = 8, HERD_BF16 = 30,
};

// Activations are quantized per 32 values for the integer dot products: d = scale, s = d * sum(q).
typedef struct { float d; float s; int8_t qs[32]; } herd_block_q8;

// Which SIMD path the dispatcher picked ("avx2", "scalar"); for `herd info` and benchmarks.
const char *herd_kernels_isa(void);

float herd_f16_to_f32(uint16_t h);
uint16_t herd_f32_to_f16(float f);
float herd_bf16_to_f32(uint16_t h);

// True when the kernels can multiply weights of this type.
int herd_wtype_supported(int wtype);
// Bytes of one row of `k` elements of weight type `wtype` (k a multiple of the block size).
size_t herd_row_bytes(int wtype, int64_t k);

// Dequantizes one row of `k` elements to f32.
void herd_dequantize_row(int wtype, const void *row, float *out, int64_t k);

// Quantizes `k` floats (k % 32 == 0) to k/32 q8 blocks.
void herd_quantize_row_q8(const float *x, herd_block_q8 *out, int64_t k);

// y[m * ldy + n] = dot(W row n, x row m) for n in [n_begin, n_end) and m in [0, m_count).
// W: rows of `k` elements of `wtype`, `w_row_bytes` apart. For quantized W, `xq` holds the q8 activations
// (m_count rows of k/32 blocks); for float W, `xf` holds f32 activations (rows of k, `ldx` apart).
// Quantized W with `xq` NULL takes the exact path: blocks dequantized and multiplied with `xf` in f32.
// allow_simd = 0 forces the scalar twin (tests compare the two).
void herd_matmul_rows(int wtype, const void *w, size_t w_row_bytes, int64_t k,
                      const herd_block_q8 *xq, const float *xf, int64_t ldx, int64_t m_count,
                      float *y, int64_t ldy, int64_t n_begin, int64_t n_end, int allow_simd);

// out[i] = x[i] / rms(x) * weight[i] (weight may be NULL: no scale), rows of n.
void herd_rms_norm(const float *x, const float *weight, float *out, int64_t n, float eps);

// Rotary embedding on `heads` heads of `head_dim` at `x` for one token at `pos`.
// interleaved != 0: pairs (2i, 2i+1) (GGUF llama, Llama 4 HF); else pairs (i, i + head_dim/2) (NeoX / HF llama).
// inv_freq has head_dim/2 entries (already scaled, e.g. llama3 rope scaling).
void herd_rope(float *x, int64_t heads, int64_t head_dim, float pos, const float *inv_freq, int interleaved);

// out[i] = silu(gate[i]) * up[i]
void herd_swiglu(const float *gate, const float *up, float *out, int64_t n);

// y[i] += x[i]
void herd_add(float *y, const float *x, int64_t n);

// One query head against `n_ctx` cached positions: keys/values for context position j live at
// k_cache + slots[j] * kv_stride (+ head offset applied by the caller). scores is scratch of n_ctx.
void herd_attention_head(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                         const int32_t *slots, int64_t n_ctx, int64_t head_dim, float scale,
                         float *scores, float *out, int allow_simd);

// ---- Llama 4 (llama4.c) ----

// One FP8 E4M3 ("fn": no infinities) value as f32.
float herd_fp8_e4m3_to_f32(uint8_t v);
// dst[i] = bf16(fp8[i] * scale), rounded to nearest even: an FP8 weight row with its per-row scale.
void herd_dequantize_fp8_e4m3_row_bf16(const uint8_t *src, float scale, uint16_t *dst, int64_t n);

// MARK: - thread pool and whole matrix products (threadpool.c, matmul.c)

// A persistent pool of worker threads (pthreads). Idle workers spin for a few tens of microseconds, then
// sleep; one region runs at a time, issued from one thread.
typedef struct herd_pool herd_pool;
typedef void (*herd_task_fn)(void *ctx, int task, int worker);
// `threads` counts the calling thread: threads - 1 workers are started.
herd_pool *herd_pool_create(int threads);
void herd_pool_destroy(herd_pool *pool);
int herd_pool_threads(const herd_pool *pool);
// Runs fn(ctx, t, worker) for t in 0..<n_tasks on the caller (worker 0) and the workers (1..threads-1),
// returning when all have run. pool NULL runs them inline.
void herd_pool_run(herd_pool *pool, int n_tasks, herd_task_fn fn, void *ctx);

// Which integer matmul path herd_matmul takes for quantized weights: "avx512vnni", "avx2" or "scalar".
const char *herd_matmul_isa(int allow_simd);

// Scratch bytes herd_matmul needs for `m` activation rows of `k` (quantized activations).
size_t herd_matmul_scratch_bytes(int64_t k, int64_t m);

enum { HERD_MM_SIMD = 1, HERD_MM_EXACT = 2 };
// y[r * ldy + j] = dot(W row j, x row r) for j < n, r < m, split across the pool. Quantized W: x is quantized
// to 8 bits per block of 32 (unless flags has HERD_MM_EXACT) into `scratch` (herd_matmul_scratch_bytes,
// 64-byte aligned). Each output is computed with the same arithmetic whatever m, the row's place in the
// batch and the thread count (batch invariance).
void herd_matmul(herd_pool *pool, int wtype, const void *w, size_t w_row_bytes, int64_t k, int64_t n,
                 const float *x, int64_t ldx, int64_t m, float *y, int64_t ldy,
                 void *scratch, int flags);

// One matrix of a herd_matmul_multi call: W (n rows of k elements, row_bytes apart) and its outputs
// y[r * ldy + j].
typedef struct { const void *w; size_t row_bytes; int64_t n; float *y; int64_t ldy; } herd_mm_out;
enum { HERD_MM_MAX_OUTS = 4 };
// Several matrices of one weight type and row length times the same activations (q/k/v, gate/up): x is
// quantized once and all the products run in one pool region (a decoded token pays one handoff, not three).
// Every output has the bits herd_matmul would give it.
void herd_matmul_multi(herd_pool *pool, int wtype, int64_t k, const float *x, int64_t ldx, int64_t m,
                       const herd_mm_out *outs, int n_outs, void *scratch, int flags);

// Grouped-query attention for one token row and one KV head: the `group` query heads at q (head_dim apart,
// written to out likewise) share the keys/values at k_base/v_base + slots[j] * kv_stride. scores: scratch
// of group * n_ctx floats. Per head the same arithmetic as group == 1.
void herd_attention_group(const float *q, const float *k_base, const float *v_base, size_t kv_stride,
                          const int32_t *slots, int64_t n_ctx, int64_t head_dim, int64_t group, float scale,
                          float *scores, float *out, int allow_simd);

#ifdef __cplusplus
}
#endif
#endif
