// Kernels for Llama 4 checkpoints: FP8 E4M3 weights (Maverick FP8) dequantized at load.
#include "CHerdKernels.h"

#include <math.h>
#include <string.h>

// E4M3 "fn" (OCP FP8): 1 sign, 4 exponent bits (bias 7), 3 mantissa bits; no infinities, S.1111.111 is NaN.
float herd_fp8_e4m3_to_f32(uint8_t v) {
    int sign = v >> 7, exponent = (v >> 3) & 0xF, mantissa = v & 0x7;
    float magnitude;
    if (exponent == 0xF && mantissa == 0x7) return NAN;
    if (exponent == 0) magnitude = ldexpf((float)mantissa, -9);           // subnormal: m/8 * 2^-6
    else magnitude = ldexpf((float)(8 + mantissa), exponent - 10);       // (1 + m/8) * 2^(e-7)
    return sign ? -magnitude : magnitude;
}

// f32 -> bf16, rounding to nearest even (NaN stays NaN).
static uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

void herd_dequantize_fp8_e4m3_row_bf16(const uint8_t *src, float scale, uint16_t *dst, int64_t n) {
    // A table of the 256 values is cheaper than decoding each byte.
    float table[256];
    for (int i = 0; i < 256; i++) table[i] = herd_fp8_e4m3_to_f32((uint8_t)i);
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(table[src[i]] * scale);
}
