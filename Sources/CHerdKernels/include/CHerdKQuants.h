// ggml's K-quants (Q4_K, Q6_K) on the CPU: dequantization and matrix products (kquants.c). Included by
// CHerdKernels.h; herd_dequantize_row, herd_row_bytes, herd_wtype_supported and herd_matmul forward these
// types here, so callers use the generic entry points.
#ifndef CHERD_KQUANTS_H
#define CHERD_KQUANTS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// ggml type ids (see Compute.DType): super-blocks of 256 weights.
enum { HERD_Q4_K = 12, HERD_Q6_K = 14 };

// True for the K-quant types these kernels handle.
int herd_is_kquant(int wtype);
// Bytes of one row of `k` elements (k a multiple of 256), 0 for other types.
size_t herd_kquant_row_bytes(int wtype, int64_t k);
// One row of `k` elements (k a multiple of 256) to f32, with ggml's formulas and float operation order.
void herd_kquant_dequantize_row(int wtype, const void *row, float *out, int64_t k);

struct herd_pool;
// herd_matmul for K-quant weights (same contract): y[r * ldy + j] = dot(W row j, x row r). Without
// HERD_MM_EXACT, x is quantized to 8 bits per 32 into `scratch` (herd_matmul_scratch_bytes) and each block
// is an integer dot product; with it, blocks are dequantized and multiplied with f32 x. HERD_MM_SIMD allows
// the AVX2 integer dot; scalar and AVX2 give the same bits (integer sums are exact, the float part is shared).
void herd_matmul_kquant(struct herd_pool *pool, int wtype, const void *w, size_t w_row_bytes, int64_t k, int64_t n,
                        const float *x, int64_t ldx, int64_t m, float *y, int64_t ldy, void *scratch, int flags);

#ifdef __cplusplus
}
#endif
#endif
