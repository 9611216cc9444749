#ifndef SWIFTCTR_CPREFETCH_H
#define SWIFTCTR_CPREFETCH_H

#include <stdint.h>

// C for the FFM trainer's hot loop, where Swift cannot go: software prefetch, and the
// update kernel at k <= 4 compiled for AVX alone (Swift compiles the whole module for one
// target; a function attribute lets this one use 256-bit operations while the build stays
// baseline x86-64, and FFMModel.updateLatent4 calls it only when CPUID says AVX is there).

// Software prefetch for the FFM trainer's hot loop. Swift has no prefetch of its own and
// cannot import _mm_prefetch (a macro); __builtin_prefetch compiles to PREFETCHT0 on
// x86-64 and PRFM on arm64, and to nothing where there is no such instruction.
static inline void swiftctr_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

// Whether the processor and the operating system support AVX (256-bit float operations
// and their registers): CPUID leaf 1 (AVX, OSXSAVE) and XGETBV (XMM and YMM state saved).
static inline int swiftctr_has_avx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_AVX) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}

// One pair's AdaGrad step on one chunk (4 weights, then their 4 accumulators) of its two
// vectors p1 and p2: the same operations in the same order as adaGradStep4 in Kernel.swift.
__attribute__((target("avx")))
static inline void swiftctr_ffm_step4(float *p1, float *p2, __m128 kv, __m128 l4, __m128 e4) {
    __m128 w1 = _mm_load_ps(p1), G1 = _mm_load_ps(p1 + 4);
    __m128 w2 = _mm_load_ps(p2), G2 = _mm_load_ps(p2 + 4);
    __m128 g1 = _mm_add_ps(_mm_mul_ps(l4, w1), _mm_mul_ps(kv, w2));
    __m128 g2 = _mm_add_ps(_mm_mul_ps(l4, w2), _mm_mul_ps(kv, w1));
    G1 = _mm_add_ps(G1, _mm_mul_ps(g1, g1));
    G2 = _mm_add_ps(G2, _mm_mul_ps(g2, g2));
    w1 = _mm_sub_ps(w1, _mm_mul_ps(_mm_mul_ps(e4, g1), _mm_rsqrt_ps(G1)));
    w2 = _mm_sub_ps(w2, _mm_mul_ps(_mm_mul_ps(e4, g2), _mm_rsqrt_ps(G2)));
    _mm_store_ps(p1, w1);
    _mm_store_ps(p2, w2);
    _mm_store_ps(p1 + 4, G1);
    _mm_store_ps(p2 + 4, G2);
}

// Two 4-float chunks at p and q as one 256-bit value (p low, q high), and back.
__attribute__((target("avx")))
static inline __m256 swiftctr_load2(const float *p, const float *q) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(p)), _mm_load_ps(q), 1);
}

__attribute__((target("avx")))
static inline void swiftctr_store2(float *p, float *q, __m256 x) {
    _mm_store_ps(p, _mm256_castps256_ps128(x));
    _mm_store_ps(q, _mm256_extractf128_ps(x, 1));
}

// The FFM AdaGrad update of a prepared row at k <= 4 (one chunk per vector), two pairs
// (a, b) and (a, b + 1) per 256-bit operation: each lane does exactly the operations of
// adaGradStep4 in Kernel.swift (no fused multiply-add: the target is AVX without FMA, so
// nothing can be contracted), so the results are those of the 4-wide loop. Only for rows
// whose two pairs done together touch four different vectors: fields strictly increasing
// along the row (offsets[i] < offsets[i + 1]) and neighbouring features on different rows
// (rows[i] != rows[i + 1]); Kernel.swift checks this before calling.
//   rows[i]     the latent row of feature i; offsets[i]: its field's offset in a row (floats)
//   values[i]   its scaled value; kappa, eta, lambda: as in FFMModel.update
__attribute__((target("avx")))
static inline void swiftctr_ffm_update4_avx(float *const *rows, const intptr_t *offsets, const float *values,
                                            intptr_t count, float kappa, float eta, float lambda) {
    const __m128 l4 = _mm_set1_ps(lambda), e4 = _mm_set1_ps(eta);
    const __m256 l8 = _mm256_set1_ps(lambda), e8 = _mm256_set1_ps(eta);
    for (intptr_t a = 0; a + 1 < count; a++) {
        float *ra = rows[a];
        const intptr_t fa = offsets[a];
        const float ka = kappa * values[a];
        intptr_t b = a + 1;
        for (; b + 1 < count; b += 2) {
            float *p1 = ra + offsets[b], *p2 = rows[b] + fa;
            float *p3 = ra + offsets[b + 1], *p4 = rows[b + 1] + fa;
            const __m256 kv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(ka * values[b])),
                                                   _mm_set1_ps(ka * values[b + 1]), 1);
            __m256 w1 = swiftctr_load2(p1, p3), G1 = swiftctr_load2(p1 + 4, p3 + 4);
            __m256 w2 = swiftctr_load2(p2, p4), G2 = swiftctr_load2(p2 + 4, p4 + 4);
            const __m256 g1 = _mm256_add_ps(_mm256_mul_ps(l8, w1), _mm256_mul_ps(kv, w2));
            const __m256 g2 = _mm256_add_ps(_mm256_mul_ps(l8, w2), _mm256_mul_ps(kv, w1));
            G1 = _mm256_add_ps(G1, _mm256_mul_ps(g1, g1));
            G2 = _mm256_add_ps(G2, _mm256_mul_ps(g2, g2));
            w1 = _mm256_sub_ps(w1, _mm256_mul_ps(_mm256_mul_ps(e8, g1), _mm256_rsqrt_ps(G1)));
            w2 = _mm256_sub_ps(w2, _mm256_mul_ps(_mm256_mul_ps(e8, g2), _mm256_rsqrt_ps(G2)));
            swiftctr_store2(p1, p3, w1);
            swiftctr_store2(p2, p4, w2);
            swiftctr_store2(p1 + 4, p3 + 4, G1);
            swiftctr_store2(p2 + 4, p4 + 4, G2);
        }
        if (b < count) swiftctr_ffm_step4(ra + offsets[b], rows[b] + fa, _mm_set1_ps(ka * values[b]), l4, e4);
    }
}
#else
static inline int swiftctr_has_avx(void) { return 0; }
static inline void swiftctr_ffm_update4_avx(float *const *rows, const intptr_t *offsets, const float *values,
                                            intptr_t count, float kappa, float eta, float lambda) {
    (void)rows; (void)offsets; (void)values; (void)count; (void)kappa; (void)eta; (void)lambda;
}
#endif

#endif
