// Shared between the kernel files; not part of the module's public header.
#ifndef CHERD_KERNELS_INTERNAL_H
#define CHERD_KERNELS_INTERNAL_H
#include "CHerdKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HERD_X86 1
#endif

// ggml block layouts (ggml-common.h): for Q4_0/Q4_1 byte j holds element j in its low nibble and element
// j + 16 in its high nibble.
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;
typedef struct { uint16_t d; uint16_t m; uint8_t qs[16]; } block_q4_1;
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;

// kernels.c: the AVX2 dispatcher test.
int herd_use_avx2(void);
// matmul.c: AVX-512 F/BW/VL/DQ + VNNI present (and not turned off by HERD_NO_AVX512).
int herd_use_avx512(void);

#endif
