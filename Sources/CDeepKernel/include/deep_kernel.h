#ifndef SWIFTCTR_DEEP_KERNEL_H
#define SWIFTCTR_DEEP_KERNEL_H

#include <stdint.h>

// DeepFM's matrix product (issue #14) for processors with AVX2 and FMA: a register-blocked
// micro-kernel (6 rows x 16 columns of C in twelve 256-bit accumulators, one fused
// multiply-add per accumulator and step of the inner dimension) over packed panels of B.
// Compiled with __attribute__((target("avx2,fma"))), so the package builds for baseline
// x86-64; DeepNet.swift calls it only when swiftctr_deep_has_avx2_fma() says so, and keeps
// its Swift product for other processors.

// Whether the processor and the operating system support AVX2 and FMA (CPUID leaves 1 and 7,
// XGETBV: XMM and YMM state saved). 0 on processors other than x86-64.
int swiftctr_deep_has_avx2_fma(void);

// C = A * B, or C += A * B with accumulate != 0, for the columns [n0, n1) of C (both
// multiples of 8): A is m x k with A(i, p) at a[i * a_row + p * a_col]; B is k x N with
// B(p, j) at b[p * b_row + j * b_col] (b_col 1: row-major; b_row 1: B given as its
// transpose); C is row-major with ldc floats a row. Every element of C is the same chain
// of fused multiply-adds in the order of p (in chunks of 256, each chunk added to C), so
// the result does not depend on n0, n1 or how callers split the columns.
void swiftctr_deep_sgemm(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                         const float *a, intptr_t a_row, intptr_t a_col,
                         const float *b, intptr_t b_row, intptr_t b_col,
                         float *c, intptr_t ldc, int accumulate);

// Whether the processor and the operating system support AVX-512F (CPUID leaf 7, XGETBV:
// opmask and both halves of the ZMM state saved). 0 on processors other than x86-64.
int swiftctr_deep_has_avx512f(void);

// Where the processor has AVX-512F, swiftctr_deep_sgemm (and swiftctr_deep_sgemm_bf16)
// computes blocks of 32 columns in 512-bit tiles (12 rows x 32 columns, 24 accumulators)
// and the rest in the 256-bit ones: the same chains, so the same bits, in half the
// instructions (a processor with full-width 512-bit units, such as Zen 5, does twice the
// work a cycle; Zen 4 splits them and runs both at the same speed). Tests call this with 256
// to compare the two; 512 selects the wide tiles where the processor has them.
void swiftctr_deep_sgemm_width(int bits);

// One AdamW step on 8 * chunks parameters (DeepNet.adamChunks): g' = g * scale,
// m1 = 0.9 m1 + 0.1 g', m2 = 0.999 m2 + 0.001 g'^2, w -= decay * w (when decayed),
// w -= step_size * m1 / (sqrt(m2) * rc2 + 1e-8), each operation rounded to fp32 in that order
// (no fused multiply-adds: the same bits as the Swift SIMD8 code, in 256-bit registers).
// Call only when swiftctr_deep_has_avx2_fma().
void swiftctr_deep_adamw(float *w, float *m1, float *m2, const float *g, intptr_t chunks, float scale,
                         float step_size, float rc2, float decay, int decayed);

// Whether the processor and the operating system support AVX512_BF16 with AVX512VL
// (VDPBF16PS on 256-bit registers): CPUID leaf 7 subleaves 0 and 1, XGETBV. 0 elsewhere.
int swiftctr_deep_has_avx512_bf16(void);

// The same product with A and B rounded to bfloat16 (to nearest, ties to even) and the
// products summed in fp32 (VDPBF16PS: pairs of the inner dimension into 8 fp32 sums),
// PyTorch's CPU autocast. Each element of C is the same chain whatever n0, n1 (A is
// converted once per call into a per-thread buffer, B packed per 16-column block and
// 256-step chunk). Call only when swiftctr_deep_has_avx512_bf16(). Returns 0, or -1 when
// the per-thread buffer for A cannot be allocated (C is then not written).
int swiftctr_deep_sgemm_bf16(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                             const float *a, intptr_t a_row, intptr_t a_col,
                             const float *b, intptr_t b_row, intptr_t b_col,
                             float *c, intptr_t ldc, int accumulate);

#endif
